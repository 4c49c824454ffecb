/*
 * keyreport.c - a key's timeline and operations for the report (see
 * keyreport.h for the model).
 *
 * A point's count is stored in 16 bits as m * 2^e (m 12 bits, e 4 bits):
 * exact up to 4,095, then within half a step of 1/4,096. Counting one
 * request at a time in that form would stall (4,096 + 1 rounds back), so
 * the point being filled keeps its exact count apart (cur_n) and folds it
 * in when requests move on to another point.
 */
#include "state/keyreport.h"

#include <string.h>

#include "core/key.h"

/* Point widths in minutes, each a multiple of the one before, so that a
 * point of one width lies inside one point of the next; all divide a day
 * (or are whole days), so points start on the hour and at midnight UTC.
 * Past the table, whole days doubling. */
static const uint32_t widths[] = {1, 2, 10, 20, 60, 120, 360, 720, 1440};
#define NWIDTHS (sizeof(widths) / sizeof(widths[0]))
#define LEVEL_MAX 30

static uint32_t width_of(unsigned level)
{
	if (level < NWIDTHS)
		return widths[level];
	return widths[NWIDTHS - 1] << (level - NWIDTHS + 1);
}

#define M_BITS 12
#define M_MAX ((UINT32_C(1) << M_BITS) - 1)
#define E_MAX 15

static uint16_t count_put(uint64_t v)
{
	unsigned e = 0;

	while ((v >> e) > M_MAX && e < E_MAX + 1) {
		e++;
	}
	if (e > E_MAX)
		return (uint16_t)(E_MAX << M_BITS | M_MAX);
	if (e) {
		/* round half up on the dropped bits */
		uint64_t m = (v + (UINT64_C(1) << (e - 1))) >> e;

		if (m > M_MAX) {
			m >>= 1;
			e++;
		}
		if (e > E_MAX)
			return (uint16_t)(E_MAX << M_BITS | M_MAX);
		return (uint16_t)(e << M_BITS | m);
	}
	return (uint16_t)v;
}

static uint64_t count_get(uint16_t c)
{
	return (uint64_t)(c & M_MAX) << (c >> M_BITS);
}

static uint32_t minute_of(int64_t ts)
{
	int64_t m = ts / KW_KEYREPORT_MINUTE;

	if (m < 1)
		return 1;
	if (m > UINT32_MAX - 1)
		return UINT32_MAX - 1;
	return (uint32_t)m;
}

/* The exact count of the point being filled goes into its stored one. */
static void fold_cur(struct kw_keyreport *r)
{
	if (r->cur && r->cur_n) {
		uint16_t *t = &r->total[r->cur - 1];

		*t = count_put(count_get(*t) + r->cur_n);
	}
	r->cur = 0;
	r->cur_n = 0;
}

/* Re-bucket so that minutes lo..hi fit: the smallest width (at least the
 * current one) whose grid holds them in KW_KEYREPORT_POINTS points. */
static void refit(struct kw_keyreport *r, uint32_t lo, uint32_t hi)
{
	uint16_t peak[KW_KEYREPORT_POINTS], total[KW_KEYREPORT_POINTS];
	unsigned level = r->level;
	uint32_t start, w, ow = width_of(r->level);

	while (level < LEVEL_MAX &&
	       hi / width_of(level) - lo / width_of(level) >=
		       KW_KEYREPORT_POINTS)
		level++;
	w = width_of(level);
	start = lo / w * w;
	fold_cur(r);
	memset(peak, 0, sizeof(peak));
	memset(total, 0, sizeof(total));
	for (unsigned i = 0; r->start && i < KW_KEYREPORT_POINTS; i++) {
		uint32_t t = r->start + i * ow;
		unsigned j;

		if (!r->peak[i] && !r->total[i])
			continue;
		j = (t - start) / w;
		if (r->peak[i] > peak[j])
			peak[j] = r->peak[i];
		total[j] =
			count_put(count_get(total[j]) + count_get(r->total[i]));
	}
	memcpy(r->peak, peak, sizeof(peak));
	memcpy(r->total, total, sizeof(total));
	r->start = start;
	r->level = (uint8_t)level;
}

static void count_request(struct kw_keyreport *r, uint32_t m)
{
	uint32_t w = width_of(r->level);
	unsigned i;

	if (!r->start) {
		r->start = m / w * w;
	} else if (m < r->start) {
		unsigned n = kw_keyreport_npoints(r);

		refit(r, m, r->start + n * w - 1);
	} else if ((m - r->start) / w >= KW_KEYREPORT_POINTS) {
		refit(r, r->start, m);
	}
	i = (m - r->start) / width_of(r->level);
	if (r->cur != i + 1) {
		fold_cur(r);
		r->cur = i + 1;
	}
	if (r->cur_n < UINT32_MAX)
		r->cur_n++;
	if (m == r->minute) {
		if (r->minute_n < UINT32_MAX)
			r->minute_n++;
	} else if (m > r->minute) {
		r->minute = m;
		r->minute_n = 1;
	} else if (!r->peak[i]) {
		r->peak[i] = 1; /* late, into a minute no longer counted */
	}
	if (m == r->minute && r->minute_n > r->peak[i])
		r->peak[i] = r->minute_n > UINT16_MAX ? UINT16_MAX
						      : (uint16_t)r->minute_n;
}

/* ------------------------------------------------------------ operations */

static int find_op(const struct kw_keyreport *r, const char *p, size_t n)
{
	for (int i = 0; i < KW_KEYREPORT_OPS && r->ops[i].name[0]; i++) {
		if (strlen(r->ops[i].name) == n &&
		    !memcmp(r->ops[i].name, p, n))
			return i;
	}
	return -1;
}

/* A slot for a name not listed: a free one, else the least counted one,
 * whose count the newcomer inherits (space saving). */
static int take_slot(struct kw_keyreport *r, const char *name, size_t n,
		     uint32_t m)
{
	struct kw_keyreport_op *o;
	int i, min = 0;

	for (i = 0; i < KW_KEYREPORT_OPS && r->ops[i].name[0]; i++) {
		if (r->ops[i].n < r->ops[min].n)
			min = i;
	}
	if (i < KW_KEYREPORT_OPS) {
		o = &r->ops[i];
		o->n = 0;
		o->flags = 0;
	} else {
		i = min;
		o = &r->ops[i];
		o->flags |= KW_KEYREPORT_INHERITED;
	}
	memcpy(o->name, name, n);
	o->name[n] = '\0';
	o->first = m;
	return i;
}

static void count_op(struct kw_keyreport *r, const struct kw_event *ev,
		     uint32_t m)
{
	char name[sizeof(r->ops[0].name)], id[KW_KEY_ID_MAX];
	struct kw_keyreport_op *o;
	int i = -1;
	size_t n;

	if (ev->op.n < sizeof(name))
		i = find_op(r, ev->op.p, ev->op.n);
	if (i < 0) {
		/* Not as written: as it is kept (redacted, cut). */
		kw_key_redact(ev->key.p, ev->key.n, id, sizeof(id));
		n = kw_key_scrub(name, sizeof(name), ev->op, ev->key, id);
		i = find_op(r, name, n);
		if (i < 0)
			i = take_slot(r, name, n, m);
	}
	o = &r->ops[i];
	if (o->n < UINT32_MAX)
		o->n++;
	if (m < o->first && !(o->flags & KW_KEYREPORT_INHERITED))
		o->first = m;
}

/* ip into list (n of KW_KEYREPORT_IPS) unless it is there or the list
 * is full. */
static void note_ip(struct kw_ip *list, uint8_t *n, const struct kw_ip *ip)
{
	size_t len = ip->family == 4 ? 4 : 16;

	for (size_t i = 0; i < *n; i++) {
		if (list[i].family == ip->family &&
		    !memcmp(list[i].addr, ip->addr, len))
			return;
	}
	if (*n < KW_KEYREPORT_IPS)
		list[(*n)++] = *ip;
}

/* The first addresses and networks of the key. */
static void note_place(struct kw_keyreport *r, const struct kw_ip *ip)
{
	struct kw_ip net = {.family = ip->family};

	if (r->nnets == KW_KEYREPORT_IPS && r->nips == KW_KEYREPORT_IPS)
		return;
	memcpy(net.addr, ip->addr, ip->family == 4 ? 3 : 6);
	note_ip(r->ips, &r->nips, ip);
	note_ip(r->nets, &r->nnets, &net);
}

void kw_keyreport_observe(struct kw_keyreport *r, const struct kw_event *ev)
{
	uint32_t m = minute_of(ev->ts);

	count_request(r, m);
	if (ev->op.n)
		count_op(r, ev, m);
	if (ev->ip.family == 4 || ev->ip.family == 6)
		note_place(r, &ev->ip);
}

unsigned kw_keyreport_npoints(const struct kw_keyreport *r)
{
	unsigned n = KW_KEYREPORT_POINTS;

	if (!r->start)
		return 0;
	while (n && !r->peak[n - 1] && !r->total[n - 1] && r->cur != n)
		n--;
	return n;
}

uint64_t kw_keyreport_count(const struct kw_keyreport *r, unsigned i)
{
	if (i >= KW_KEYREPORT_POINTS)
		return 0;
	return count_get(r->total[i]) + (r->cur == i + 1 ? r->cur_n : 0);
}

int64_t kw_keyreport_time(const struct kw_keyreport *r, unsigned i)
{
	return ((int64_t)r->start + (int64_t)i * width_of(r->level)) *
	       KW_KEYREPORT_MINUTE;
}

int64_t kw_keyreport_width(const struct kw_keyreport *r)
{
	return (int64_t)width_of(r->level) * KW_KEYREPORT_MINUTE;
}
