/*
 * ipwin.c - the (IP, window) pairs of a stream out of event-time order
 * (ipwin.h). Pairs are found through a chained hash of (IP, window);
 * each holds its keys sorted by rank, so a decision walks them once.
 */
#include "daemon/ipwin.h"

#include <stdlib.h>
#include <string.h>

#include "detect/learned.h"

#define BUCKETS 1024

struct seen {
	uint64_t h;
	int64_t ts;
};

struct pair {
	struct pair *next; /* in its bucket */
	uint64_t iph;
	uint32_t win;
	int64_t low; /* the smallest offset of its records */
	unsigned nkeys, nseen;
	struct kw_ipwin_rec keys[KW_IPWIN_KEYS]; /* by rank */
	struct seen seen[KW_IPWIN_SEEN];
};

struct kw_ipwin {
	int64_t window;
	unsigned keys;
	uint32_t upto; /* windows below this index are decided */
	bool any_decided;
	size_t npairs;
	struct pair *bucket[BUCKETS];
	struct kw_ipwin_stats st;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static uint64_t ip_hash(const struct kw_ip *ip)
{
	uint64_t h = fnv(1469598103934665603ull, &ip->family, 1);

	return fnv(h, ip->addr, sizeof(ip->addr));
}

static size_t bucket_of(uint64_t iph, uint32_t win)
{
	return (size_t)((iph ^ (uint64_t)win * 0x9e3779b97f4a7c15u) >> 7) &
	       (BUCKETS - 1);
}

/* a before b in rank: earlier, then by fingerprint, then request id. */
static int rank_cmp(const struct kw_ipwin_rec *a, const struct kw_ipwin_rec *b)
{
	int c;

	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	c = strcmp(a->fp, b->fp);
	return c ? c : strcmp(a->request, b->request);
}

enum kw_status kw_ipwin_create(int64_t window, unsigned keys,
			       struct kw_ipwin **out)
{
	struct kw_ipwin *t;

	*out = NULL;
	if (window <= 0 || keys < 2 || keys > KW_IPWIN_KEYS)
		return KW_EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return KW_ENOMEM;
	t->window = window;
	t->keys = keys;
	*out = t;
	return KW_OK;
}

/* Decide p: the first key ranked at or past the threshold fires. */
static void decide(struct kw_ipwin *t, struct pair *p, bool early,
		   kw_ipwin_fire_fn *fire, void *ctx)
{
	t->st.decided++;
	if (early)
		t->st.early++;
	for (unsigned i = t->keys - 1; i < p->nkeys; i++) {
		unsigned denied = 0;

		if (!p->keys[i].fp[0])
			continue;
		for (unsigned j = 0; j < p->nseen; j++)
			denied += p->seen[j].ts <= p->keys[i].ts;
		t->st.fired++;
		fire(ctx, &p->keys[i], i + 1, denied);
		return;
	}
}

static void unlink_pair(struct kw_ipwin *t, struct pair *p)
{
	struct pair **pp = &t->bucket[bucket_of(p->iph, p->win)];

	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	t->npairs--;
	free(p);
}

/* The pair of the oldest window (then the smallest IP hash): decided at
 * once to make room. */
static void make_room(struct kw_ipwin *t, kw_ipwin_fire_fn *fire, void *ctx)
{
	struct pair *old = NULL;

	for (size_t b = 0; b < BUCKETS; b++) {
		for (struct pair *p = t->bucket[b]; p; p = p->next) {
			if (!old || p->win < old->win ||
			    (p->win == old->win && p->iph < old->iph))
				old = p;
		}
	}
	if (!old)
		return;
	decide(t, old, true, fire, ctx);
	unlink_pair(t, old);
}

static struct pair *find(struct kw_ipwin *t, uint64_t iph, uint32_t win,
			 kw_ipwin_fire_fn *fire, void *ctx)
{
	size_t b = bucket_of(iph, win);
	struct pair *p;

	for (p = t->bucket[b]; p; p = p->next) {
		if (p->iph == iph && p->win == win)
			return p;
	}
	if (t->npairs == KW_IPWIN_PAIRS)
		make_room(t, fire, ctx);
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->iph = iph;
	p->win = win;
	p->low = INT64_MAX;
	p->next = t->bucket[b];
	t->bucket[b] = p;
	t->npairs++;
	return p;
}

/* r among p's keys: its key's earliest request, the KW_IPWIN_KEYS
 * earliest keys, by rank. */
static void add_key(struct pair *p, const struct kw_ipwin_rec *r)
{
	unsigned i, at;

	for (i = 0; i < p->nkeys; i++) {
		if (strcmp(p->keys[i].fp, r->fp))
			continue;
		if (rank_cmp(r, &p->keys[i]) >= 0)
			return;
		/* An earlier request of a key already there: out, and in
		 * again at its place. */
		memmove(&p->keys[i], &p->keys[i + 1],
			(p->nkeys - i - 1) * sizeof(p->keys[0]));
		p->nkeys--;
		break;
	}
	for (at = 0; at < p->nkeys && rank_cmp(&p->keys[at], r) < 0; at++)
		;
	if (at == KW_IPWIN_KEYS)
		return; /* later than the earliest keys kept */
	if (p->nkeys == KW_IPWIN_KEYS)
		p->nkeys--; /* the latest goes */
	memmove(&p->keys[at + 1], &p->keys[at],
		(p->nkeys - at) * sizeof(p->keys[0]));
	p->keys[at] = *r;
	p->nkeys++;
}

static void add_seen(struct pair *p, const struct kw_ipwin_rec *r)
{
	uint64_t h = fnv(1469598103934665603ull, r->fp, strlen(r->fp) + 1);

	h = fnv(h, &r->ts, sizeof(r->ts));
	h = fnv(h, r->request, strlen(r->request));
	for (unsigned i = 0; i < p->nseen; i++) {
		if (p->seen[i].h == h)
			return;
	}
	if (p->nseen < KW_IPWIN_SEEN) {
		p->seen[p->nseen].h = h;
		p->seen[p->nseen].ts = r->ts;
		p->nseen++;
	}
}

void kw_ipwin_add(struct kw_ipwin *t, const struct kw_ipwin_rec *r,
		  int64_t offset, kw_ipwin_fire_fn *fire, void *ctx)
{
	uint32_t win = kw_win_index(r->ts, t->window);
	struct pair *p;

	if (!r->ip.family)
		return;
	if (t->any_decided && win < t->upto) {
		t->st.late++;
		return;
	}
	p = find(t, ip_hash(&r->ip), win, fire, ctx);
	if (!p)
		return; /* out of memory: not counted */
	t->st.records++;
	if (offset < p->low)
		p->low = offset;
	add_seen(p, r);
	add_key(p, r);
}

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = *(const struct pair *const *)a;
	const struct pair *y = *(const struct pair *const *)b;

	if (x->win != y->win)
		return x->win < y->win ? -1 : 1;
	return x->iph < y->iph ? -1 : x->iph > y->iph;
}

void kw_ipwin_close(struct kw_ipwin *t, int64_t wm, kw_ipwin_fire_fn *fire,
		    void *ctx)
{
	struct pair *due[256];
	size_t n;
	uint32_t upto;

	if (wm == INT64_MIN)
		return;
	/* Window i ends at (i + 1) * window: over once wm reaches it. */
	upto = kw_win_upto(wm, t->window);
	if (t->any_decided && upto <= t->upto)
		return;
	do {
		n = 0;
		for (size_t b = 0; b < BUCKETS && n < 256; b++) {
			for (struct pair *p = t->bucket[b]; p && n < 256;
			     p = p->next) {
				if (p->win < upto)
					due[n++] = p;
			}
		}
		qsort(due, n, sizeof(due[0]), pair_cmp);
		for (size_t i = 0; i < n; i++) {
			decide(t, due[i], false, fire, ctx);
			unlink_pair(t, due[i]);
		}
	} while (n == 256);
	t->upto = upto;
	t->any_decided = true;
}

int64_t kw_ipwin_low(const struct kw_ipwin *t)
{
	int64_t low = INT64_MAX;

	for (size_t b = 0; b < BUCKETS; b++) {
		for (const struct pair *p = t->bucket[b]; p; p = p->next) {
			if (p->low < low)
				low = p->low;
		}
	}
	return low == INT64_MAX ? -1 : low;
}

size_t kw_ipwin_pairs(const struct kw_ipwin *t)
{
	return t->npairs;
}

const struct kw_ipwin_stats *kw_ipwin_stats(const struct kw_ipwin *t)
{
	return &t->st;
}

void kw_ipwin_destroy(struct kw_ipwin *t)
{
	if (!t)
		return;
	for (size_t b = 0; b < BUCKETS; b++) {
		while (t->bucket[b]) {
			struct pair *p = t->bucket[b];

			t->bucket[b] = p->next;
			free(p);
		}
	}
	free(t);
}
