/*
 * test_merge.c - several inputs as one stream in event-time order: files
 * that overlap in time are interleaved record by record, files that follow
 * one another are read one after the other, CloudTrail file names give the
 * order without a peek, records without a time keep their place, an input
 * that cannot be opened is reported and the rest read, and with fewer open
 * slots than overlapping inputs the late ones are counted.
 *
 * The one idea: each test writes small files whose records carry their
 * own expected position ("n"), drains the merge in small batches (so that
 * inputs run out in the middle of a batch) and checks the order of n.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/time.h"
#include "ingest/merge.h"
#include "tmpdir.h"

#define T0 INT64_C(1795766400) /* 2026-11-27T08:00:00Z */

static char dir[64];

static int setup(void **state)
{
	(void)state;
	return tmpdir_make(dir, sizeof(dir), "merge");
}

static int teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

static char *path_of(const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);

	assert_non_null(p);
	sprintf(p, "%s/%s", dir, name);
	return p;
}

/* A file of records {"n":N,"created":T} for the (n, t) pairs. */
static char *write_records(const char *name, const int *n, const int *t,
			   size_t count)
{
	char *p = path_of(name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	for (size_t i = 0; i < count; i++)
		fprintf(f, "{\"n\":%d,\"created\":%lld}\n", n[i],
			(long long)(T0 + t[i]));
	fclose(f);
	return p;
}

struct run {
	uint64_t opened;
	char failed[512];
	int nfailed;
	int *order;
	uint32_t *from;
	size_t n;
};

static void on_open(void *ctx, uint32_t input, const char *name, void *user)
{
	struct run *r = ctx;

	(void)input;
	assert_non_null(name);
	if (user)
		assert_int_equal(*(int *)user, 0); /* zeroed */
	r->opened++;
}

static void on_fail(void *ctx, enum kw_skip_reason reason, const char *msg)
{
	struct run *r = ctx;

	assert_int_equal(reason, KW_SKIP_UNREADABLE);
	snprintf(r->failed, sizeof(r->failed), "%s", msg);
	r->nfailed++;
}

/* Merge paths, max records per call, and collect each record's "n". */
static const struct kw_merge_stats *drain(char **paths, size_t npaths,
					  size_t max_open, size_t max,
					  struct run *r, struct kw_merge **mp)
{
	static const char *const names[] = {"created", "eventTime", NULL};
	struct kw_merge_opts o = {
		.max_open = max_open,
		.time_names = names,
		.user_size = sizeof(int),
		.opened = on_open,
		.failed = on_fail,
		.ctx = r,
	};
	struct kw_record recs[64];
	uint32_t input[64];
	struct kw_skips skips = {0};
	struct kw_error err;
	size_t got;

	memset(r, 0, sizeof(*r));
	assert_true(max <= 64);
	assert_int_equal(kw_merge_create((const char *const *)paths, npaths, &o,
					 mp, &err),
			 KW_OK);
	for (;;) {
		kw_merge_next(*mp, recs, input, max, &got, &skips);
		if (!got)
			break;
		assert_true(got <= max);
		r->order = realloc(r->order, (r->n + got) * sizeof(int));
		r->from = realloc(r->from, (r->n + got) * sizeof(uint32_t));
		for (size_t i = 0; i < got; i++) {
			const char *nn = strstr(recs[i].p, "\"n\":");

			assert_non_null(kw_merge_user(*mp, input[i]));
			assert_non_null(kw_merge_name(*mp, input[i]));
			r->order[r->n] = nn ? atoi(nn + 4) : -1;
			r->from[r->n] = input[i];
			r->n++;
		}
	}
	return kw_merge_stats(*mp);
}

static void done(struct run *r, struct kw_merge *m, char **paths, size_t n)
{
	kw_merge_destroy(m);
	for (size_t i = 0; i < n; i++) {
		free(paths[i]);
	}
	free(r->order);
	free(r->from);
}

/* Three files that overlap, records every few seconds in each: one stream
 * in time order, whatever the batch size. */
static void test_interleave(void **state)
{
	enum { PER = 200 };
	int n[3][PER], t[3][PER];
	char *paths[3];
	struct kw_merge *m;
	struct run r;
	static const size_t batches[] = {1, 7, 64};

	(void)state;
	for (int f = 0; f < 3; f++) {
		for (int i = 0; i < PER; i++) {
			t[f][i] = i * 3 + f; /* file f holds times = f mod 3 */
			n[f][i] = t[f][i];
		}
	}
	/* given in another order than their times */
	paths[0] = write_records("c.log", n[2], t[2], PER);
	paths[1] = write_records("a.log", n[0], t[0], PER);
	paths[2] = write_records("b.log", n[1], t[1], PER);
	for (size_t b = 0; b < 3; b++) {
		const struct kw_merge_stats *st =
			drain(paths, 3, 0, batches[b], &r, &m);

		assert_int_equal(r.n, 3 * PER);
		for (size_t i = 0; i < r.n; i++)
			assert_int_equal(r.order[i], (int)i);
		assert_int_equal(r.from[0], 1);
		assert_int_equal(r.from[1], 2);
		assert_int_equal(r.from[2], 0);
		assert_int_equal(st->inputs, 3);
		assert_int_equal(st->opened, 3);
		assert_int_equal(st->peeked, 3);
		assert_int_equal(st->most_open, 3);
		assert_int_equal(st->opened_late, 0);
		assert_int_equal(r.opened, 3);
		kw_merge_destroy(m);
		free(r.order);
		free(r.from);
	}
	for (int i = 0; i < 3; i++)
		free(paths[i]);
}

/* Files that follow one another are read one at a time; records without
 * a time keep their place. */
static void test_sequence(void **state)
{
	static const int n1[] = {0, 1, 2}, t1[] = {0, 10, 20};
	static const int n2[] = {4, 5}, t2[] = {100, 110};
	static const int want[] = {0, 1, 2, 4, 5, 3, 6};
	char *paths[3];
	struct kw_merge *m;
	struct run r;
	const struct kw_merge_stats *st;
	FILE *f;

	(void)state;
	paths[0] = write_records("2.log", n2, t2, 2);
	paths[1] = write_records("1.log", n1, t1, 3);
	paths[2] = path_of("1b.log");
	f = fopen(paths[2], "w");
	/* a line without a time, then one after 2.log's last time: the
	 * file starts at its first time, and the line keeps its place */
	fprintf(f, "{\"n\":3}\n{\"n\":6,\"created\":%lld}\n",
		(long long)(T0 + 120));
	fclose(f);
	st = drain(paths, 3, 0, 64, &r, &m);
	assert_int_equal(r.n, 7);
	for (size_t i = 0; i < r.n; i++)
		assert_int_equal(r.order[i], want[i]);
	assert_int_equal(st->opened, 3);
	assert_int_equal(st->most_open, 1); /* one after the other */
	done(&r, m, paths, 3);
}

static void test_names(void **state)
{
	int64_t ts;

	(void)state;
	assert_true(kw_merge_name_time(
		"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/27/"
		"111122223333_CloudTrail_us-east-1_20261127T0805Z_"
		"Xh3kQ9bLz0Tf2VmA.json.gz",
		&ts));
	assert_int_equal(ts, (T0 + 300) * 1000000);
	assert_true(kw_merge_name_time(
		"111122223333_CloudTrail_ap-southeast-2_20261231T2359Z_a.json",
		&ts));
	assert_false(kw_merge_name_time(
		"x_CloudTrail_us-east-1_20261127T0805Z_a.json.gz", &ts));
	assert_false(kw_merge_name_time(
		"111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_"
		"20261127T090000Z.json.gz",
		&ts));
	assert_false(kw_merge_name_time(
		"111122223333_CloudTrail_us-east-1_20261327T0805Z_a.json.gz",
		&ts));
	assert_false(kw_merge_name_time("requests.jsonl.gz", &ts));
}

/* CloudTrail files are ordered by the time in their names, not peeked;
 * their records (eventTime) are interleaved all the same. */
static void test_cloudtrail_names(void **state)
{
	static const char *const name[2] = {
		"111122223333_CloudTrail_us-east-1_20261127T0810Z_a.json",
		"111122223333_CloudTrail_eu-west-1_20261127T0810Z_b.json",
	};
	char *paths[2];
	struct kw_merge *m;
	struct run r;
	const struct kw_merge_stats *st;

	(void)state;
	for (int k = 0; k < 2; k++) {
		FILE *f;

		paths[k] = path_of(name[k]);
		f = fopen(paths[k], "w");
		fputs("{\"Records\":[", f);
		for (int i = 0; i < 5; i++) {
			int64_t t = T0 + i * 60 + k * 30;
			char iso[32];

			kw_time_format(t * 1000000, iso, sizeof(iso));
			fprintf(f, "%s{\"n\":%d,\"eventTime\":\"%s\"}",
				i ? "," : "", i * 2 + k, iso);
		}
		fputs("]}", f);
		fclose(f);
	}
	st = drain(paths, 2, 0, 3, &r, &m);
	assert_int_equal(r.n, 10);
	for (size_t i = 0; i < r.n; i++)
		assert_int_equal(r.order[i], (int)i);
	assert_int_equal(st->peeked, 0);
	done(&r, m, paths, 2);
}

/* More overlapping inputs than open slots: all are read, the late ones
 * counted; an unreadable input is reported and the others read. */
static void test_bounds(void **state)
{
	static const int n[] = {0, 1, 2, 3}, t[] = {0, 10, 20, 30};
	char *paths[4];
	struct kw_merge *m;
	struct run r;
	const struct kw_merge_stats *st;

	(void)state;
	paths[0] = write_records("a.log", n, t, 4);
	paths[1] = write_records("b.log", n, t, 4);
	paths[2] = write_records("c.log", n, t, 4);
	paths[3] = path_of("missing.log");
	st = drain(paths, 4, 2, 64, &r, &m);
	assert_int_equal(r.n, 12);
	assert_int_equal(st->most_open, 2);
	assert_int_equal(st->opened_late, 1);
	assert_int_equal(r.nfailed, 1);
	assert_non_null(strstr(r.failed, "missing.log: No such file"));
	assert_int_equal(r.opened, 4);
	done(&r, m, paths, 4);
}

/* Times from the other kinds of records: a CloudWatch Logs export line
 * and a subscription payload's logEvents. */
static void test_kinds(void **state)
{
	char *paths[2];
	struct kw_merge *m;
	struct run r;
	FILE *f;

	(void)state;
	paths[0] = path_of("export.log");
	f = fopen(paths[0], "w");
	fputs("2026-11-27T08:00:10.000Z {\"n\":1}\n"
	      "2026-11-27T08:00:30.000Z {\"n\":3}\n",
	      f);
	fclose(f);
	paths[1] = path_of("payload.json");
	f = fopen(paths[1], "w");
	fputs("{\"logEvents\":[{\"timestamp\":1795766400000,\"n\":0},"
	      "{\"timestamp\":1795766420000,\"n\":2},"
	      "{\"timestamp\":1795766440000,\"n\":4}]}",
	      f);
	fclose(f);
	drain(paths, 2, 0, 64, &r, &m);
	assert_int_equal(r.n, 5);
	for (size_t i = 0; i < r.n; i++)
		assert_int_equal(r.order[i], (int)i);
	done(&r, m, paths, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_interleave, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sequence, setup, teardown),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_cloudtrail_names, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kinds, setup, teardown),
	};

	kw_log_set_level(KW_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
