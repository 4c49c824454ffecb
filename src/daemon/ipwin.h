/*
 * ipwin.h - auth.failures counted from a stream that is out of event-time
 * order (daemon/byip.c: one repartition partition, written by several
 * instances, each at its own pace, and replayed after a takeover): a
 * bounded table of (source IP, window) pairs, each with the set of keys
 * the IP was denied for, decided when the stream's watermark has passed
 * the window rather than when the fifth key arrives.
 *
 * The one idea: a pair is decided only when nothing more can come for it,
 * so the decision depends on the set of requests, not on the order they
 * came in. Its keys are ranked by (time of their earliest request,
 * fingerprint, request id); the alert is about the first key ranked at or
 * past the threshold that is a key (a request made without a key counts
 * as one more key tried but raises nothing, as in the errors family): the
 * key a scan of the same requests in time order names. A request seen
 * again (a replay re-produces records) changes nothing: keys are a set,
 * and the requests counted for the "denied" evidence are told apart by
 * (key, time, request id).
 *
 * Bounded: KW_IPWIN_PAIRS pairs (a pair past that decides the oldest
 * window's pair at once), the KW_IPWIN_KEYS earliest keys of a pair, and
 * KW_IPWIN_SEEN requests told apart per pair (more are not counted in
 * "denied"). A pair costs about 2.5 KB and is made on demand.
 *
 * Each pair remembers the smallest offset of the records it holds, so the
 * caller commits no offset past a record of a pair still open
 * (kw_ipwin_low): an instance that takes the partition over reads every
 * open pair's records again and rebuilds the table exactly.
 */
#ifndef KW_DAEMON_IPWIN_H
#define KW_DAEMON_IPWIN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/event.h"
#include "core/key.h"
#include "core/status.h"

#define KW_IPWIN_PAIRS 2048
#define KW_IPWIN_KEYS 8
#define KW_IPWIN_SEEN 64
#define KW_IPWIN_REQUEST 64 /* a request id's bytes kept, NUL included */

/* One denied request (or one made without a key) as the stage keyed by IP
 * gets it: never a full key. */
struct kw_ipwin_rec {
	int64_t ts;
	struct kw_ip ip;
	int status;
	char request[KW_IPWIN_REQUEST]; /* request id, scrubbed */
	char fp[KW_KEY_FP_SIZE];	/* "": a request without a key */
	char id[KW_KEY_ID_MAX];		/* the key's redacted id */
	uint8_t kind, mode;		/* enum kw_key_kind, kw_key_mode */
	int32_t conf;			/* its config keys[] entry; -1: none */
};

/* A pair decided with an alert: about r (the key that made nkeys keys
 * tried), denied requests from the IP in the window up to r's time. */
typedef void kw_ipwin_fire_fn(void *ctx, const struct kw_ipwin_rec *r,
			      unsigned nkeys, unsigned denied);

struct kw_ipwin_stats {
	uint64_t records; /* taken */
	uint64_t late;	  /* for a window already decided: not counted */
	uint64_t decided; /* pairs decided */
	uint64_t early;	  /* of them before their window was over (the
			     table was full) */
	uint64_t fired;	  /* of them with an alert */
};

struct kw_ipwin;

/* window: the windows' length (us, > 0); keys: how many keys fire (2 to
 * KW_IPWIN_KEYS). */
enum kw_status kw_ipwin_create(int64_t window, unsigned keys,
			       struct kw_ipwin **out);

/* One record, at offset (its place in the stream, >= 0). Late for a
 * window the table has decided: counted in stats.late, nothing else. */
void kw_ipwin_add(struct kw_ipwin *t, const struct kw_ipwin_rec *r,
		  int64_t offset, kw_ipwin_fire_fn *fire, void *ctx);

/* The stream's event time is complete up to wm: decide every pair whose
 * window ends at or before it, in (window, IP) order. */
void kw_ipwin_close(struct kw_ipwin *t, int64_t wm, kw_ipwin_fire_fn *fire,
		    void *ctx);

/* The smallest offset of a record of a pair still open; -1 when none. */
int64_t kw_ipwin_low(const struct kw_ipwin *t);

size_t kw_ipwin_pairs(const struct kw_ipwin *t);
const struct kw_ipwin_stats *kw_ipwin_stats(const struct kw_ipwin *t);

/* NULL-safe. */
void kw_ipwin_destroy(struct kw_ipwin *t);

#endif
