/*
 * test_ipwin.c - auth.failures' (IP, window) pairs for a stream out of
 * event-time order (daemon/ipwin.h): a pair is decided when its window is
 * over, about the key a scan in time order names, whatever order its
 * requests came in; a request seen again changes nothing; a request for a
 * window decided is late; the offsets of open pairs hold the commit back;
 * the table's bound decides the oldest pair early.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/ipwin.h"

#define S INT64_C(1000000)
#define W (300 * S)
#define T0 (INT64_C(1795766400) * S) /* a window's start */

struct fired {
	unsigned n;
	char fp[8][KW_KEY_FP_SIZE];
	char request[8][KW_IPWIN_REQUEST];
	unsigned nkeys[8], denied[8];
	int64_t ts[8];
};

static void on_fire(void *ctx, const struct kw_ipwin_rec *r, unsigned nkeys,
		    unsigned denied)
{
	struct fired *f = ctx;

	if (f->n < 8) {
		snprintf(f->fp[f->n], sizeof(f->fp[0]), "%s", r->fp);
		snprintf(f->request[f->n], sizeof(f->request[0]), "%s",
			 r->request);
		f->nkeys[f->n] = nkeys;
		f->denied[f->n] = denied;
		f->ts[f->n] = r->ts;
	}
	f->n++;
}

/* Key k's request (k 0: none) from ip at t. */
static struct kw_ipwin_rec rec(const char *ip, int k, int64_t t)
{
	struct kw_ipwin_rec r;

	memset(&r, 0, sizeof(r));
	r.ts = t;
	assert_true(kw_ip_parse(&r.ip, ip, strlen(ip)));
	r.status = 401;
	if (k)
		snprintf(r.fp, sizeof(r.fp), "%016x", 0xa000 + k);
	snprintf(r.request, sizeof(r.request), "req_%d_%lld", k,
		 (long long)((t - T0) / S));
	r.conf = -1;
	return r;
}

static struct kw_ipwin *table(void)
{
	struct kw_ipwin *t = NULL;

	assert_int_equal(kw_ipwin_create(W, 5, &t), KW_OK);
	return t;
}

/* Eight keys 2.5 s apart, arriving in another order: the fifth by time
 * is named, however they came; replayed, nothing changes. */
static void test_out_of_order(void **state)
{
	static const int order[] = {8, 3, 6, 1, 7, 2, 5, 4};
	struct kw_ipwin *t = table();
	struct fired f = {0};

	(void)state;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < 8; i++) {
			struct kw_ipwin_rec r =
				rec("45.155.3.4", order[i],
				    T0 + 20 * S + order[i] * 5 * S / 2);

			kw_ipwin_add(t, &r, pass * 8 + i, on_fire, &f);
		}
	assert_int_equal(f.n, 0);
	assert_int_equal(kw_ipwin_low(t), 0);
	kw_ipwin_close(t, T0 + W - 1, on_fire, &f); /* not over yet */
	assert_int_equal(f.n, 0);
	kw_ipwin_close(t, T0 + W, on_fire, &f);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.fp[0], "000000000000a005");
	assert_int_equal(f.nkeys[0], 5);
	assert_int_equal(f.denied[0], 5); /* the replay is not counted */
	assert_true(f.ts[0] == T0 + 20 * S + 25 * S / 2);
	assert_int_equal(kw_ipwin_pairs(t), 0);
	assert_int_equal(kw_ipwin_low(t), -1);
	assert_int_equal(kw_ipwin_stats(t)->fired, 1);
	kw_ipwin_destroy(t);
}

/* A request for a window decided is late; the next window is its own. */
static void test_late_and_windows(void **state)
{
	struct kw_ipwin *t = table();
	struct fired f = {0};
	struct kw_ipwin_rec r;

	(void)state;
	for (int k = 1; k <= 4; k++) {
		r = rec("45.155.3.4", k, T0 + k * S);
		kw_ipwin_add(t, &r, k, on_fire, &f);
		r = rec("45.155.3.4", k, T0 + W + k * S);
		kw_ipwin_add(t, &r, 10 + k, on_fire, &f);
	}
	assert_int_equal(kw_ipwin_low(t), 1);
	kw_ipwin_close(t, T0 + W + 10 * S, on_fire, &f);
	assert_int_equal(f.n, 0); /* window 0: four keys */
	assert_int_equal(kw_ipwin_low(t), 11);
	r = rec("45.155.3.4", 5, T0 + 30 * S);
	kw_ipwin_add(t, &r, 20, on_fire, &f);
	assert_int_equal(kw_ipwin_stats(t)->late, 1);
	r = rec("45.155.3.4", 5, T0 + W + 30 * S);
	kw_ipwin_add(t, &r, 21, on_fire, &f);
	kw_ipwin_close(t, INT64_MAX, on_fire, &f);
	assert_int_equal(f.n, 1);
	assert_true(f.ts[0] == T0 + W + 30 * S);
	kw_ipwin_destroy(t);
}

/* A request without a key counts as a key tried and raises nothing
 * itself: four keys and one without fire on the sixth. */
static void test_without_key(void **state)
{
	struct kw_ipwin *t = table();
	struct fired f = {0};
	struct kw_ipwin_rec r;

	(void)state;
	for (int k = 0; k <= 4; k++) {
		r = rec("2001:db8::7", k, T0 + (10 - k) * S);
		kw_ipwin_add(t, &r, k, on_fire, &f);
	}
	kw_ipwin_close(t, INT64_MAX, on_fire, &f);
	assert_int_equal(f.n, 0);
	kw_ipwin_destroy(t);
	t = table();
	r = rec("2001:db8::7", 0, T0 + 1 * S); /* ranked 5th below */
	kw_ipwin_add(t, &r, 0, on_fire, &f);
	for (int k = 1; k <= 5; k++) {
		r = rec("2001:db8::7", k, T0 + (k < 5 ? 0 : 9) * S);
		kw_ipwin_add(t, &r, k, on_fire, &f);
	}
	kw_ipwin_close(t, INT64_MAX, on_fire, &f);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.fp[0], "000000000000a005");
	assert_int_equal(f.nkeys[0], 6);
	kw_ipwin_destroy(t);
}

/* Past KW_IPWIN_PAIRS pairs the oldest window's pair is decided at once
 * (here with its alert), and the table holds no more. */
static void test_bound(void **state)
{
	struct kw_ipwin *t = table();
	struct fired f = {0};
	struct kw_ipwin_rec r;
	char ip[32];

	(void)state;
	for (int k = 1; k <= 5; k++) {
		r = rec("45.155.3.4", k, T0 + k * S);
		kw_ipwin_add(t, &r, k, on_fire, &f);
	}
	for (int i = 1; i < KW_IPWIN_PAIRS; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.1", i / 256, i % 256);
		r = rec(ip, 1, T0 + W + S);
		kw_ipwin_add(t, &r, 100 + i, on_fire, &f);
	}
	assert_int_equal(kw_ipwin_pairs(t), KW_IPWIN_PAIRS);
	assert_int_equal(f.n, 0);
	r = rec("10.200.0.1", 1, T0 + W + S);
	kw_ipwin_add(t, &r, 9999, on_fire, &f);
	assert_int_equal(kw_ipwin_pairs(t), KW_IPWIN_PAIRS);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.fp[0], "000000000000a005");
	assert_int_equal(kw_ipwin_stats(t)->early, 1);
	assert_int_equal(kw_ipwin_low(t), 101);
	kw_ipwin_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_late_and_windows),
		cmocka_unit_test(test_without_key),
		cmocka_unit_test(test_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
