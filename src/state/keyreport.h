/*
 * keyreport.h - what a key keeps for the report a person reads (--report),
 * and only when one is asked for: its requests per minute over the whole
 * run, at a resolution that halves as the run grows, and the operations it
 * performed.
 *
 * The one idea: fixed size, like every other part of a key's state. The
 * timeline is KW_KEYREPORT_POINTS points of one width (1 minute at
 * first); when a request falls outside them, the points are merged into
 * the next wider ones (1, 2, 10, 20 minutes, 1, 2, 6, 12 hours, then
 * days doubling: each width a multiple of the one before, and points start
 * on the hour and at midnight UTC) until it fits, so the timeline always
 * spans the key's whole run, in at least a fifth of its points. Each point
 * keeps its busiest minute (so a one-minute spike stays as tall however wide
 * the point) and its number of requests. The operations are a "space saving"
 * top list: a new name takes a free slot, or the least counted one (inheriting
 * its count plus one, and marked so: its count is then an upper bound and its
 * first sighting unknown). And the key's first KW_KEYREPORT_IPS distinct
 * addresses and networks (/24, /48), in the order first seen (the geo
 * detectors keep only hashes of them).
 *
 * This state is the report's alone: it lives after the detectors' part of
 * the key's state area, and is never saved to a --state file. Everything
 * here is plain bytes that a report reads after the run.
 *
 * Text taken from requests (operation names) is redacted by value (the
 * request's key never kept) and cut at a UTF-8 boundary, marked "…".
 */
#ifndef KW_STATE_KEYREPORT_H
#define KW_STATE_KEYREPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/event.h"

#define KW_KEYREPORT_POINTS 128
#define KW_KEYREPORT_OPS 8
#define KW_KEYREPORT_OP_LEN 40 /* an operation's name, NUL included */
#define KW_KEYREPORT_MINUTE (INT64_C(60) * 1000000)
#define KW_KEYREPORT_IPS 8

enum {
	/* The slot was taken over from a less used operation: its count is
	 * an upper bound, its first minute when it took the slot. */
	KW_KEYREPORT_INHERITED = 1u << 0,
};

struct kw_keyreport_op {
	char name[KW_KEYREPORT_OP_LEN - 1]; /* "" when the slot is free */
	uint8_t flags;			    /* KW_KEYREPORT_* */
	uint32_t n;			    /* requests, saturating */
	uint32_t first;			    /* minute (since the epoch) */
};

struct kw_keyreport {
	uint32_t start;	   /* minute where point 0 begins; 0: no request */
	uint32_t minute;   /* the newest minute with a request */
	uint32_t minute_n; /* requests in it */
	uint32_t cur;	   /* 1 + the point whose exact count is in cur_n;
			      0: none */
	uint32_t cur_n;	   /* requests of that point not yet in total[] */
	uint8_t level;	   /* the width of a point (keyreport.c) */
	uint8_t pad[3];
	uint16_t peak[KW_KEYREPORT_POINTS];  /* busiest minute, saturating */
	uint16_t total[KW_KEYREPORT_POINTS]; /* requests, kw_keyreport_count
						encoding */
	struct kw_keyreport_op ops[KW_KEYREPORT_OPS];
	uint8_t nips, nnets;
	struct kw_ip ips[KW_KEYREPORT_IPS];
	struct kw_ip nets[KW_KEYREPORT_IPS]; /* the prefix, zero-padded */
};

/* One request of the key (event time ev->ts, operation ev->op; ev->key is
 * read only to redact what is copied). */
void kw_keyreport_observe(struct kw_keyreport *r, const struct kw_event *ev);

/* Points in use: the last one with a request, plus one (0: none). */
unsigned kw_keyreport_npoints(const struct kw_keyreport *r);

/* Requests in point i (exact up to 4,095; within 1/2,048 above). */
uint64_t kw_keyreport_count(const struct kw_keyreport *r, unsigned i);

/* Where point i begins, in microseconds since the epoch, and how long a
 * point is. */
int64_t kw_keyreport_time(const struct kw_keyreport *r, unsigned i);
int64_t kw_keyreport_width(const struct kw_keyreport *r);

#endif
