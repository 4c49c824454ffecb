/*
 * router_impl.h - what the router's files share: the router itself and
 * its dedup table. Not for use outside src/alert/.
 *
 *   router.c   dedup, suppression, rate limits, routing, delivery
 *   memory.c   the router's memory across reloads and restarts
 */
#ifndef KW_ALERT_ROUTER_IMPL_H
#define KW_ALERT_ROUTER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert/router.h"

#define DEDUP_SLOTS (1u << 16)
#define MAX_SINKS 64

/* One alert id the router delivered recently. */
struct kw_router_dedup {
	uint64_t id;	  /* the id's 16 hex digits; 0: empty */
	int64_t last;	  /* event time of the last delivery */
	uint32_t repeats; /* folded since the last delivery */
};

struct kw_router {
	const struct kw_config *cfg;
	enum kw_severity min;
	struct kw_sink *sinks[MAX_SINKS];
	struct kw_delivery *queues[MAX_SINKS]; /* NULL: synchronous */
	bool drained;
	size_t nsinks;
	struct kw_router_dedup *dedup; /* DEDUP_SLOTS, open addressing */
	/* The table before the last compaction, the next one's room: a
	 * table allocated afresh each time is new memory, read (probed)
	 * before it is written, faulted in twice. NULL until then. */
	struct kw_router_dedup *dedup_spare;
	size_t dedup_used;
	/* A restart of the dedup table was warned of: said once a run,
	 * a reload's router included (kw_router_memory_adopt). */
	bool dedup_said;
	int64_t newest;			/* the newest alert time seen */
	struct kw_incidents *incidents; /* NULL: incidents are off */
	bool incidents_kept;		/* kw_router_keep_incidents */
	kw_router_pass_fn *on_pass;	/* NULL: none; deliveries not gated */
	void *pass_ctx;
	kw_router_alert_fn *on_alert; /* NULL: none (a report's tap) */
	void *alert_ctx;
	struct kw_router_stats stats;
};

/* The 64-bit value of an alert id ("kwa_" + 16 hex digits); never 0. */
uint64_t kw_router_id_value(const char *id);

/* The slot of id, or the empty slot where it would go. */
struct kw_router_dedup *kw_router_dedup_find(struct kw_router *r, uint64_t id);

/* Drop entries older than the window; start afresh past half full. */
void kw_router_dedup_compact(struct kw_router *r);

#endif
