/*
 * test_delivery.c - the delivery layer (alert/delivery.h): retries with
 * backoff, Retry-After honoured, dead letters with the reason, the spool
 * (write-ahead records, replay on start in order, cut when everything is
 * done, a line cut short by a crash skipped), the memory bound (spill to
 * the spool and read back in order; without a spool, drop and count), one
 * process per spool (a lock file), SIGPIPE blocked in delivery threads,
 * an alert rebuilt from its JSON renders the same bytes, and the config
 * keys of delivery (spool_dir, spool_max, drain_timeout, retry_initial,
 * retry_max) with their defaults and errors.
 *
 * The one idea: a scripted sink answers from a list (OK, RETRY, FAIL) and
 * records the ids it was handed and when, so every test checks what
 * arrived, in what order, and the time between attempts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <errno.h>

#include <cmocka.h>

#include "alert/delivery.h"
#include "core/config.h"
#include "core/log.h"
#include "str_count.h"

#define ELLIPSIS "\xe2\x80\xa6"
#define T0 (INT64_C(1795770843) * 1000000) /* 2026-11-27T09:14:03Z */
#define MAXCALLS 64

/* ---- a scripted sink ----------------------------------------------------- */

struct script {
	enum kw_sink_result answers[MAXCALLS]; /* then OK */
	size_t nanswers;
	unsigned slow_us;    /* each call takes this long (a slow reader) */
	int64_t retry_after; /* ms, with every RETRY */
	char ids[MAXCALLS][KW_ALERT_ID_LEN + 1];
	int64_t at[MAXCALLS]; /* monotonic ms of each call */
	size_t ncalls;
	size_t flushes;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum kw_sink_result sc_deliver(void *self, const struct kw_alert *a,
				      const char *json, size_t len,
				      struct kw_error *err)
{
	struct script *s = self;
	size_t i = s->ncalls;
	enum kw_sink_result r = i < s->nanswers ? s->answers[i] : KW_SINK_OK;

	assert_true(i < MAXCALLS);
	assert_int_equal(strlen(json), len);
	memcpy(s->ids[i], a->id, sizeof(s->ids[i]));
	s->at[i] = mono_ms();
	s->ncalls++;
	if (s->slow_us)
		usleep(s->slow_us);
	if (r == KW_SINK_RETRY)
		kw_error_set(err, KW_ERETRY, "HTTP 503: try later");
	if (r == KW_SINK_FAIL)
		kw_error_set(err, KW_EINVAL, "HTTP 400: {\"error\":\"bad\"}");
	return r;
}

static enum kw_sink_result sc_flush(void *self, struct kw_error *err)
{
	(void)err;
	((struct script *)self)->flushes++;
	return KW_SINK_OK;
}

static int64_t sc_retry_after(void *self)
{
	return ((struct script *)self)->retry_after;
}

static const struct kw_sink_ops script_ops = {
	.name = "script",
	.deliver = sc_deliver,
	.flush = sc_flush,
	.retry_after = sc_retry_after,
};

static struct kw_sink sink_of(struct script *s)
{
	struct kw_sink k;

	memset(&k, 0, sizeof(k));
	k.ops = &script_ops;
	k.self = s;
	snprintf(k.name, sizeof(k.name), "script (sinks[0])");
	return k;
}

/* ---- helpers ------------------------------------------------------------- */

static void make(struct kw_alert *a, int n)
{
	struct kw_alert_key k;
	char subject[32];

	memset(&k, 0, sizeof(k));
	snprintf(k.id, sizeof(k.id), "sk_live_" ELLIPSIS "%04d", n);
	snprintf(k.fp, sizeof(k.fp), "%016x", n + 1);
	snprintf(k.name, sizeof(k.name), "decoy%d", n);
	k.kind = KW_KIND_SECRET;
	k.mode = KW_MODE_LIVE;
	assert_int_equal(
		kw_alert_init(a, "key.honey", KW_SEV_CRITICAL, T0 + n, &k),
		KW_OK);
	kw_alert_summary(a, "decoy %d used", n);
	kw_alert_evidence_str(a, "ip", kw_str_c("45.134.26.91"));
	kw_alert_evidence_int(a, "status", 401);
	kw_alert_add_request(a, kw_str_c("req_1"));
	snprintf(subject, sizeof(subject), "n=%d", n);
	kw_alert_set_id(a, subject);
}

/* Submit alert n; its id goes to id (may be NULL). */
static void submit(struct kw_delivery *d, int n, char *id)
{
	struct kw_alert a;
	char *json;

	make(&a, n);
	json = kw_alert_to_json(&a);
	assert_non_null(json);
	kw_delivery_submit(d, &a, json, strlen(json));
	if (id)
		memcpy(id, a.id, KW_ALERT_ID_LEN + 1);
	free(json);
	kw_alert_clear(&a);
}

static struct kw_delivery *start_opts(struct kw_sink *k,
				      struct kw_delivery_opts o)
{
	struct kw_delivery *d = NULL;
	struct kw_error err;

	kw_error_clear(&err);
	if (kw_delivery_start(k, "script-sinks-0", &o, &d, &err) != KW_OK)
		fail_msg("%s", err.msg);
	return d;
}

static struct kw_delivery *start(struct kw_sink *k, const char *dir,
				 size_t queue_max)
{
	struct kw_delivery_opts o = {
		.spool_dir = dir,
		.queue_max = queue_max,
		.retry_min_ms = 20,
		.retry_max_ms = 80,
	};

	return start_opts(k, o);
}

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/kw_delivery_XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static void rmtree(char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return n;
}

/* ---- tests --------------------------------------------------------------- */

static void test_retry_then_ok(void **state)
{
	struct script s = {
		.answers = {KW_SINK_RETRY, KW_SINK_RETRY, KW_SINK_OK,
			    KW_SINK_RETRY},
		.nanswers = 4,
	};
	struct kw_sink k = sink_of(&s);
	struct kw_delivery *d;
	struct kw_delivery_stats st;
	char ids[3][KW_ALERT_ID_LEN + 1];

	(void)state;
	d = start(&k, NULL, 0);
	for (int i = 0; i < 3; i++)
		submit(d, i, ids[i]);
	kw_delivery_stop(d, 5000);
	kw_delivery_stats(d, &st);
	/* a, a, a (OK), b (RETRY), b, c: in order, each until it is taken */
	assert_int_equal(s.ncalls, 6);
	assert_string_equal(s.ids[0], ids[0]);
	assert_string_equal(s.ids[2], ids[0]);
	assert_string_equal(s.ids[3], ids[1]);
	assert_string_equal(s.ids[4], ids[1]);
	assert_string_equal(s.ids[5], ids[2]);
	/* Backoff: 20 ms then 40 ms, each with jitter in its upper half. */
	assert_true(s.at[1] - s.at[0] >= 10);
	assert_true(s.at[2] - s.at[1] >= 20);
	assert_int_equal(st.delivered, 3);
	assert_int_equal(st.retries, 3);
	assert_int_equal(st.dead, 0);
	assert_int_equal(st.pending, 0);
	assert_string_equal(st.spool, "");
	assert_true(s.flushes >= 1);
	kw_delivery_destroy(d);
	kw_delivery_destroy(NULL);
}

static void test_retry_after(void **state)
{
	struct script s = {
		.answers = {KW_SINK_RETRY},
		.nanswers = 1,
		.retry_after = 300,
	};
	struct kw_sink k = sink_of(&s);
	struct kw_delivery *d;

	(void)state;
	d = start(&k, NULL, 0);
	submit(d, 1, NULL);
	kw_delivery_stop(d, 5000);
	assert_int_equal(s.ncalls, 2);
	/* 300 ms asked, not the 20 ms backoff. */
	assert_true(s.at[1] - s.at[0] >= 295);
	kw_delivery_destroy(d);
}

static void test_dead_letter(void **state)
{
	struct script s = {
		.answers = {KW_SINK_OK, KW_SINK_FAIL},
		.nanswers = 2,
	};
	struct kw_sink k = sink_of(&s);
	char *dir = tmpdir();
	struct kw_delivery *d;
	struct kw_delivery_stats st;
	char ids[3][KW_ALERT_ID_LEN + 1];
	char buf[8192], want[256];
	struct stat sb;

	(void)state;
	d = start(&k, dir, 0);
	for (int i = 0; i < 3; i++)
		submit(d, i, ids[i]);
	kw_delivery_stop(d, 5000);
	kw_delivery_stats(d, &st);
	assert_int_equal(s.ncalls, 3); /* a FAIL is not retried */
	assert_int_equal(st.delivered, 2);
	assert_int_equal(st.dead, 1);
	assert_int_equal(st.pending, 0);
	snprintf(want, sizeof(want), "%s/script-sinks-0.dead.jsonl", dir);
	assert_string_equal(st.dead_path, want);
	read_file(st.dead_path, buf, sizeof(buf));
	assert_int_equal(str_count(buf, "\n"), 1);
	assert_non_null(strstr(buf,
			       "\"sink\":\"script (sinks[0])\","
			       "\"error\":\"HTTP 400: "
			       "{\\\"error\\\":\\\"bad\\\"}\","
			       "\"alert\":{\"schema\":\"keywatch.alert/1\","
			       "\"id\":\""));
	assert_non_null(strstr(buf, ids[1]));
	assert_int_equal(stat(st.dead_path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* Everything finished: the spool was cut. */
	assert_int_equal(stat(st.spool, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	kw_delivery_destroy(d);
	rmtree(dir);
}

static void test_spool_replay(void **state)
{
	struct script down = {.answers = {KW_SINK_RETRY}, .nanswers = 1};
	struct script up = {0};
	struct kw_sink k1, k2;
	char *dir = tmpdir();
	struct kw_delivery *d;
	struct kw_delivery_stats st;
	char ids[3][KW_ALERT_ID_LEN + 1];
	char buf[16384];

	(void)state;
	for (size_t i = 0; i < MAXCALLS; i++)
		down.answers[i] = KW_SINK_RETRY;
	down.nanswers = MAXCALLS;
	k1 = sink_of(&down);
	d = start(&k1, dir, 0);
	for (int i = 0; i < 3; i++)
		submit(d, i, ids[i]);
	kw_delivery_stop(d, 50);
	kw_delivery_stats(d, &st);
	assert_int_equal(st.pending, 3);
	assert_int_equal(st.delivered, 0);
	read_file(st.spool, buf, sizeof(buf));
	assert_int_equal(str_count(buf, "{\"seq\":"), 3);
	assert_int_equal(strncmp(buf, "{\"seq\":1,\"alert\":{\"schema\":", 27),
			 0);
	assert_int_equal(str_count(buf, "\"done\""), 0);
	kw_delivery_destroy(d);

	/* The next start delivers them first, in order, once. */
	k2 = sink_of(&up);
	d = start(&k2, dir, 0);
	kw_delivery_stop(d, 5000);
	kw_delivery_stats(d, &st);
	assert_int_equal(st.replayed, 3);
	assert_int_equal(st.delivered, 3);
	assert_int_equal(st.pending, 0);
	assert_int_equal(up.ncalls, 3);
	for (int i = 0; i < 3; i++)
		assert_string_equal(up.ids[i], ids[i]);
	assert_int_equal(read_file(st.spool, buf, sizeof(buf)), 0);
	kw_delivery_destroy(d);

	/* And a third start has nothing to do. */
	memset(&up, 0, sizeof(up));
	d = start(&k2, dir, 0);
	kw_delivery_stop(d, 5000);
	kw_delivery_stats(d, &st);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(up.ncalls, 0);
	kw_delivery_destroy(d);
	rmtree(dir);
}

/* A spool as a crash leaves it: records, a done mark, a cut line. */
static void test_spool_after_crash(void **state)
{
	struct script s = {0};
	struct kw_sink k = sink_of(&s);
	char *dir = tmpdir();
	struct kw_delivery *d;
	struct kw_delivery_stats st;
	char path[512], buf[4096];
	char *json[3];
	char ids[3][KW_ALERT_ID_LEN + 1];
	FILE *f;

	(void)state;
	for (int i = 0; i < 3; i++) {
		struct kw_alert a;

		make(&a, i);
		json[i] = kw_alert_to_json(&a);
		memcpy(ids[i], a.id, sizeof(ids[i]));
		kw_alert_clear(&a);
	}
	snprintf(path, sizeof(path), "%s/script-sinks-0.spool.jsonl", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{\"seq\":7,\"alert\":%s}\n{\"seq\":8,\"alert\":%s}\n",
		json[0], json[1]);
	fprintf(f, "{\"done\":7}\n{\"seq\":9,\"alert\":%s}\n", json[2]);
	fprintf(f, "{\"seq\":10,\"alert\":{\"schema\":\"keyw");
	fclose(f);
	d = start(&k, dir, 0);
	submit(d, 5, NULL); /* new alerts continue the numbering */
	kw_delivery_stop(d, 5000);
	kw_delivery_stats(d, &st);
	assert_int_equal(st.replayed, 2);
	assert_int_equal(s.ncalls, 3);
	assert_string_equal(s.ids[0], ids[1]);
	assert_string_equal(s.ids[1], ids[2]);
	kw_delivery_destroy(d);
	assert_int_equal(read_file(path, buf, sizeof(buf)), 0);
	for (int i = 0; i < 3; i++)
		free(json[i]);
	rmtree(dir);
}

static void test_memory_bound_spills(void **state)
{
	struct script s = {
		.answers = {KW_SINK_RETRY, KW_SINK_RETRY},
		.nanswers = 2,
	};
	struct kw_sink k = sink_of(&s);
	char *dir = tmpdir();
	struct kw_delivery *d;
	struct kw_delivery_stats st;
	char ids[7][KW_ALERT_ID_LEN + 1];

	(void)state;
	d = start(&k, dir, 2);
	for (int i = 0; i < 7; i++)
		submit(d, i, ids[i]);
	kw_delivery_stop(d, 5000);
	kw_delivery_stats(d, &st);
	assert_int_equal(st.delivered, 7);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(s.ncalls, 9);
	for (int i = 0; i < 7; i++)
		assert_string_equal(s.ids[i + 2], ids[i]);
	kw_delivery_destroy(d);
	rmtree(dir);
}

/* A sink that answers RETRY for good, queue 2, no spool: of 5 alerts, 3 are
 * dropped at once and 2 wait, whether or not the sink is one whose
 * submitters wait for room (they do not wait behind a RETRY). */
static void drops_behind_retry(bool wait_for_room)
{
	struct script s = {.retry_after = 10000};
	struct kw_sink k = sink_of(&s);
	struct kw_delivery_opts o = {.queue_max = 2,
				     .retry_min_ms = 20,
				     .retry_max_ms = 80,
				     .wait_for_room = wait_for_room};
	enum kw_log_level lvl = kw_log_get_level();
	struct kw_delivery *d;
	struct kw_delivery_stats st;
	int64_t t0 = mono_ms();

	for (size_t i = 0; i < MAXCALLS; i++)
		s.answers[i] = KW_SINK_RETRY;
	s.nanswers = MAXCALLS;
	kw_log_set_level(KW_LOG_QUIET);
	d = start_opts(&k, o);
	for (int i = 0; i < 5; i++)
		submit(d, i, NULL);
	kw_delivery_stop(d, 0);
	kw_log_set_level(lvl);
	kw_delivery_stats(d, &st);
	assert_true(mono_ms() - t0 < 5000);
	assert_int_equal(st.dropped, 3);
	assert_int_equal(st.pending, 2);
	assert_int_equal(st.delivered, 0);
	kw_delivery_destroy(d);
}

static void test_no_spool_drops(void **state)
{
	(void)state;
	drops_behind_retry(false);
}

/* A local sink (stdout, a file) slower than the alerts come: with no
 * spool and a full queue, submit waits for the reader and nothing is
 * dropped, in order. */
static void test_wait_for_room(void **state)
{
	struct script s = {.slow_us = 2000};
	struct kw_sink k = sink_of(&s);
	struct kw_delivery_opts o = {.queue_max = 2,
				     .retry_min_ms = 20,
				     .retry_max_ms = 80,
				     .wait_for_room = true};
	struct kw_delivery *d;
	struct kw_delivery_stats st;
	char ids[40][KW_ALERT_ID_LEN + 1];

	(void)state;
	d = start_opts(&k, o);
	for (int i = 0; i < 40; i++)
		submit(d, i, ids[i]);
	kw_delivery_stop(d, 5000);
	kw_delivery_stats(d, &st);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.delivered, 40);
	assert_int_equal(s.ncalls, 40);
	for (int i = 0; i < 40; i++)
		assert_string_equal(s.ids[i], ids[i]);
	kw_delivery_destroy(d);
}

/* ...but not behind a sink backing off after a RETRY (a full disk): the
 * alerts past the bound are dropped as without waiting, at once. */
static void test_wait_for_room_not_on_retry(void **state)
{
	(void)state;
	drops_behind_retry(true);
}

static void test_spool_errors(void **state)
{
	struct script s = {0};
	struct kw_sink k = sink_of(&s);
	struct kw_delivery_opts o = {.spool_dir = "/proc/kw_no_such/spool"};
	struct kw_delivery *d = (struct kw_delivery *)&d;
	struct kw_error err;

	(void)state;
	kw_error_clear(&err);
	assert_int_equal(kw_delivery_start(&k, "x", &o, &d, &err), KW_EIO);
	assert_null(d);
	assert_string_equal(err.msg, "script (sinks[0]): spool: "
				     "/proc/kw_no_such: No such file or "
				     "directory");
}

/* A spool is outside keywatch's control: sequence numbers that would
 * wrap the counter, signs and blanks, a line longer than any alert, and
 * an alert that does not read are skipped (and counted); the pending
 * records are numbered afresh, so what is spooled after a start is never
 * taken for done at the next one. */
static void test_spool_hostile(void **state)
{
	struct script down = {0}, up = {0};
	struct kw_sink k1 = sink_of(&down), k2 = sink_of(&up);
	char *dir = tmpdir();
	struct kw_delivery *d;
	struct kw_delivery_stats st;
	char path[512], buf[8192], good[KW_ALERT_ID_LEN + 1],
		fresh[KW_ALERT_ID_LEN + 1];
	enum kw_log_level lvl = kw_log_get_level();
	struct kw_alert a;
	char *json, *big;
	FILE *f;

	(void)state;
	for (size_t i = 0; i < MAXCALLS; i++)
		down.answers[i] = KW_SINK_RETRY;
	down.nanswers = MAXCALLS;
	make(&a, 1);
	json = kw_alert_to_json(&a);
	memcpy(good, a.id, sizeof(good));
	kw_alert_clear(&a);
	snprintf(path, sizeof(path), "%s/script-sinks-0.spool.jsonl", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{\"seq\":18446744073709551615,\"alert\":%s}\n", json);
	fprintf(f, "{\"seq\":-1,\"alert\":%s}\n", json);
	fprintf(f, "{\"seq\": 3,\"alert\":%s}\n", json);
	big = malloc((3u << 20) + 1);
	assert_non_null(big);
	memset(big, 'x', 3u << 20);
	big[3u << 20] = '\0';
	fprintf(f, "{\"seq\":4,\"alert\":\"%s\"}\n", big);
	free(big);
	fprintf(f, "{\"seq\":5,\"alert\":{\"id\":\"kwa_../../../etc/pwd\"}}\n");
	fprintf(f, "{\"seq\":4611686018427387903,\"alert\":%s}\n", json);
	fprintf(f, "{\"done\":2}\n");
	fclose(f);

	kw_log_set_level(KW_LOG_QUIET);
	d = start(&k1, dir, 0);
	submit(d, 2, fresh);
	kw_delivery_stop(d, 50);
	kw_delivery_stats(d, &st);
	assert_int_equal(st.replayed, 1);
	assert_int_equal(st.pending, 2);
	assert_int_equal(down.ncalls > 0, 1);
	assert_string_equal(down.ids[0], good);
	kw_delivery_destroy(d);
	read_file(path, buf, sizeof(buf));
	assert_int_equal(strncmp(buf, "{\"seq\":1,\"alert\":", 17), 0);
	assert_non_null(strstr(buf, "{\"seq\":2,\"alert\":"));
	assert_int_equal(str_count(buf, "{\"seq\":"), 2);

	/* The next start delivers both, in order, once. */
	d = start(&k2, dir, 0);
	kw_delivery_stop(d, 5000);
	kw_delivery_stats(d, &st);
	kw_log_set_level(lvl);
	assert_int_equal(st.replayed, 2);
	assert_int_equal(up.ncalls, 2);
	assert_string_equal(up.ids[0], good);
	assert_string_equal(up.ids[1], fresh);
	kw_delivery_destroy(d);
	free(json);
	rmtree(dir);
}

/* A FIFO at a spool's path is refused at once, naming it; a link planted
 * at the spool's temporary name is not written through; a link at the
 * lock file's path is refused. */
static void test_spool_special_files(void **state)
{
	struct script s = {0};
	struct kw_sink k = sink_of(&s);
	char *dir = tmpdir();
	struct kw_delivery_opts o = {.spool_dir = dir};
	struct kw_delivery *d = NULL;
	struct kw_error err;
	char path[512], victim[512], want[1024];
	struct stat sb;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/script-sinks-0.spool.jsonl", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	kw_error_clear(&err);
	assert_int_equal(kw_delivery_start(&k, "script-sinks-0", &o, &d, &err),
			 KW_EINVAL);
	snprintf(want, sizeof(want),
		 "script (sinks[0]): spool: %s: not a regular file (a named "
		 "pipe)",
		 path);
	assert_string_equal(err.msg, want);
	unlink(path);

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	f = fopen(victim, "w");
	assert_non_null(f);
	fputs("precious\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/script-sinks-0.spool.jsonl.tmp", dir);
	assert_int_equal(symlink(victim, path), 0);
	d = start(&k, dir, 0);
	submit(d, 1, NULL);
	kw_delivery_stop(d, 5000);
	kw_delivery_destroy(d);
	assert_int_equal(s.ncalls, 1);
	assert_int_equal(stat(victim, &sb), 0);
	assert_int_equal(sb.st_size, 9);
	assert_int_equal(lstat(path, &sb), -1);

	snprintf(path, sizeof(path), "%s/script-sinks-1.lock", dir);
	assert_int_equal(symlink(victim, path), 0);
	d = NULL;
	assert_int_equal(kw_delivery_start(&k, "script-sinks-1", &o, &d, &err),
			 KW_EIO);
	snprintf(want, sizeof(want),
		 "script (sinks[0]): spool: %s: a symbolic link; keywatch "
		 "does not write through links",
		 path);
	assert_string_equal(err.msg, want);
	rmtree(dir);
}

static char replayed_ids[8][KW_ALERT_ID_LEN + 1];
static size_t nreplayed;

static void on_replayed(void *ctx, const char *id, int64_t time)
{
	(void)ctx;
	assert_true(time >= T0);
	assert_true(nreplayed < 8);
	snprintf(replayed_ids[nreplayed++], sizeof(replayed_ids[0]), "%s", id);
}

/* Gated: an alert is spooled at once but delivered only once released
 * (the daemon journals it in between, so no sink has an alert the journal
 * lacks after a kill -9); stop releases what is left. What a spool holds
 * at start is told to the replayed hook and goes at once. */
static void test_gated(void **state)
{
	struct script s = {0}, down = {0};
	struct kw_sink k = sink_of(&s), kd = sink_of(&down);
	char *dir = tmpdir();
	struct kw_delivery_opts o = {
		.spool_dir = dir,
		.retry_min_ms = 20,
		.retry_max_ms = 80,
		.gated = true,
		.replayed = on_replayed,
	};
	struct kw_delivery *d = NULL;
	struct kw_delivery_stats st;
	struct kw_error err;
	char ids[3][KW_ALERT_ID_LEN + 1];

	(void)state;
	assert_int_equal(kw_delivery_start(&k, "gated", &o, &d, &err), KW_OK);
	submit(d, 0, ids[0]);
	submit(d, 1, ids[1]);
	usleep(200000);
	assert_int_equal(s.ncalls, 0); /* held */
	kw_delivery_stats(d, &st);
	assert_int_equal(st.pending, 2);
	kw_delivery_release(d);
	for (int i = 0; i < 200 && s.ncalls < 2; i++)
		usleep(10000);
	assert_int_equal(s.ncalls, 2);
	submit(d, 2, ids[2]);
	kw_delivery_stop(d, 5000); /* releases it */
	assert_int_equal(s.ncalls, 3);
	assert_string_equal(s.ids[2], ids[2]);
	kw_delivery_destroy(d);

	/* Spooled and not delivered (the sink is down); the next start tells
	 * the hook of both and delivers them without a release. */
	for (size_t i = 0; i < MAXCALLS; i++)
		down.answers[i] = KW_SINK_RETRY;
	down.nanswers = MAXCALLS;
	assert_int_equal(kw_delivery_start(&kd, "gated", &o, &d, &err), KW_OK);
	submit(d, 3, ids[0]);
	submit(d, 4, ids[1]);
	kw_delivery_release(d);
	kw_delivery_stop(d, 50);
	kw_delivery_destroy(d);
	memset(&s, 0, sizeof(s));
	nreplayed = 0;
	assert_int_equal(kw_delivery_start(&k, "gated", &o, &d, &err), KW_OK);
	assert_int_equal(nreplayed, 2);
	assert_string_equal(replayed_ids[0], ids[0]);
	assert_string_equal(replayed_ids[1], ids[1]);
	for (int i = 0; i < 200 && s.ncalls < 2; i++)
		usleep(10000);
	assert_int_equal(s.ncalls, 2);
	kw_delivery_destroy(d);
	rmtree(dir);
}

/* One process (one delivery) per spool. */
static void test_spool_locked(void **state)
{
	struct script s = {0};
	struct kw_sink k = sink_of(&s);
	char *dir = tmpdir();
	struct kw_delivery_opts o = {.spool_dir = dir};
	struct kw_delivery *a = start(&k, dir, 0);
	struct kw_delivery *b = (struct kw_delivery *)&b;
	struct kw_error err;
	char want[512];

	(void)state;
	kw_error_clear(&err);
	assert_int_equal(kw_delivery_start(&k, "script-sinks-0", &o, &b, &err),
			 KW_EIO);
	assert_null(b);
	snprintf(want, sizeof(want),
		 "script (sinks[0]): spool: %s/script-sinks-0.lock is in use "
		 "by another keywatch process (give each its own spool_dir)",
		 dir);
	assert_string_equal(err.msg, want);
	/* Another sink's spool in the same directory is fine. */
	assert_int_equal(kw_delivery_start(&k, "script-sinks-1", &o, &b, &err),
			 KW_OK);
	kw_delivery_destroy(b);
	kw_delivery_destroy(a);
	b = start(&k, dir, 0); /* released with its owner */
	kw_delivery_destroy(b);
	rmtree(dir);
}

/* A sink that writes into a pipe nobody reads: SIGPIPE must not end the
 * process; the sink sees EPIPE instead. */
static int epipe_seen;

static enum kw_sink_result pipe_deliver(void *self, const struct kw_alert *a,
					const char *json, size_t len,
					struct kw_error *err)
{
	int fds[2];

	(void)self;
	(void)a;
	(void)json;
	(void)len;
	(void)err;
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	if (write(fds[1], "x", 1) < 0 && errno == EPIPE)
		epipe_seen++;
	close(fds[1]);
	return KW_SINK_OK;
}

static void test_sigpipe_blocked(void **state)
{
	static const struct kw_sink_ops pipe_ops = {
		.name = "pipe",
		.deliver = pipe_deliver,
	};
	struct kw_sink k;
	struct kw_delivery *d;

	(void)state;
	memset(&k, 0, sizeof(k));
	k.ops = &pipe_ops;
	snprintf(k.name, sizeof(k.name), "pipe (sinks[0])");
	d = start(&k, NULL, 0);
	submit(d, 1, NULL);
	submit(d, 2, NULL);
	kw_delivery_stop(d, 5000);
	assert_int_equal(epipe_seen, 2);
	kw_delivery_destroy(d);
}

static void test_alert_from_json(void **state)
{
	struct kw_alert a, b;
	char det[64];
	char *j1, *j2;

	(void)state;
	make(&a, 42);
	kw_alert_evidence_json(&a, "known", json_pack("[s,s]", "US", "IE"));
	a.key.kind = KW_KIND_RESTRICTED;
	a.key.mode = KW_MODE_TEST;
	j1 = kw_alert_to_json(&a);
	assert_int_equal(kw_delivery_alert_from_json(j1, strlen(j1), &b, det,
						     sizeof(det)),
			 KW_OK);
	assert_ptr_equal(b.detector, det);
	assert_int_equal(b.severity, KW_SEV_CRITICAL);
	assert_int_equal(b.key.kind, KW_KIND_RESTRICTED);
	assert_int_equal(b.key.mode, KW_MODE_TEST);
	j2 = kw_alert_to_json(&b);
	assert_string_equal(j1, j2);
	free(j2);
	kw_alert_clear(&b);
	assert_int_equal(kw_delivery_alert_from_json("{\"id\":1}", 8, &b, det,
						     sizeof(det)),
			 KW_EINVAL);
	assert_null(b.evidence);
	assert_int_equal(kw_delivery_alert_from_json(j1, strlen(j1) - 1, &b,
						     det, sizeof(det)),
			 KW_EINVAL);
	free(j1);
	kw_alert_clear(&a);
}

static void config_err(const char *text, const char *want)
{
	struct kw_config *c = NULL;
	struct kw_error err;

	kw_error_clear(&err);
	assert_int_equal(kw_config_load_string(text, "t.json", &c, &err),
			 KW_ECONFIG);
	assert_null(c);
	assert_string_equal(err.msg, want);
}

/* The delivery keys of the config: defaults, values, errors. */
static void test_config_keys(void **state)
{
	struct kw_config *c = NULL;
	struct kw_error err;

	(void)state;
	assert_int_equal(kw_config_load_string("{}", "t.json", &c, &err),
			 KW_OK);
	assert_null(c->spool_dir);
	assert_int_equal(c->spool_max, (size_t)64 << 20);
	assert_int_equal(c->drain_timeout, INT64_C(30) * 1000000);
	assert_true(c->retry_initial == 1.0);
	assert_true(c->retry_max == 300.0);
	kw_config_free(c);
	assert_int_equal(
		kw_config_load_string(
			"{\"spool_dir\": \"/var/spool/kw\", \"spool_max\": "
			"4096, \"drain_timeout\": \"2m\", \"retry_initial\": "
			"0.25, \"retry_max\": 10}",
			"t.json", &c, &err),
		KW_OK);
	assert_string_equal(c->spool_dir, "/var/spool/kw");
	assert_int_equal(c->spool_max, 4096);
	assert_int_equal(c->drain_timeout, INT64_C(120) * 1000000);
	assert_true(c->retry_initial == 0.25);
	assert_true(c->retry_max == 10.0);
	kw_config_free(c);
	config_err("{\"spool_max\": 100}",
		   "t.json: spool_max must be at least 4096");
	config_err("{\"retry_initial\": 0}",
		   "t.json: retry_initial must be between 0.01 and 86400 "
		   "seconds, and retry_max between retry_initial and 86400");
	config_err("{\"retry_initial\": 5, \"retry_max\": 1}",
		   "t.json: retry_initial must be between 0.01 and 86400 "
		   "seconds, and retry_max between retry_initial and 86400");
	config_err("{\"drain_timeout\": 5}",
		   "t.json: drain_timeout: expected a duration such as "
		   "\"15m\", \"72h\" or \"7d\"");
	config_err("{\"spool_dri\": \"x\"}",
		   "t.json: unknown key 'spool_dri' (did you mean "
		   "'spool_dir'?)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_then_ok),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_dead_letter),
		cmocka_unit_test(test_spool_replay),
		cmocka_unit_test(test_spool_after_crash),
		cmocka_unit_test(test_memory_bound_spills),
		cmocka_unit_test(test_no_spool_drops),
		cmocka_unit_test(test_wait_for_room),
		cmocka_unit_test(test_wait_for_room_not_on_retry),
		cmocka_unit_test(test_spool_errors),
		cmocka_unit_test(test_spool_locked),
		cmocka_unit_test(test_spool_hostile),
		cmocka_unit_test(test_gated),
		cmocka_unit_test(test_spool_special_files),
		cmocka_unit_test(test_sigpipe_blocked),
		cmocka_unit_test(test_alert_from_json),
		cmocka_unit_test(test_config_keys),
	};

	kw_log_set_level(KW_LOG_QUIET);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
