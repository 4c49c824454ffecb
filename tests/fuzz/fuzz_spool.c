/*
 * fuzz_spool.c - libFuzzer target: a sink's spool (alert/delivery.h), the
 * file of alerts waiting for delivery that `scan` and `watch` read back at
 * start, and the alert JSON parser the spool is read with.
 *
 * Each input is first parsed as one alert (kw_delivery_alert_from_json);
 * an alert it accepts renders to JSON that parses back to the same
 * rendering. Then the input is the spool file of a delivery with a small
 * memory queue (so that alerts spill and are read back), one more alert is
 * submitted behind what it holds, and the delivery is stopped. The sink
 * answers OK, RETRY once, or FAIL (dead letter) by the alert's id.
 *
 * Invariants: every alert handed to the sink is one line of valid JSON;
 * after the stop nothing is pending; every dead letter is one line of
 * valid JSON; the same spool opened again holds no more pending alerts
 * than before (what was delivered is marked done, never replayed).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alert/delivery.h"
#include "fuzz.h"
#include "sink/sink.h"

static char spool_dir[600], spool_path[700], dead_path[700];
static const uint8_t *cur_data;
static size_t cur_size;

struct fuzz_sink {
	char retried[KW_ALERT_ID_LEN + 1];
	uint64_t seen;
};

static enum kw_sink_result fs_deliver(void *self, const struct kw_alert *a,
				      const char *json, size_t len,
				      struct kw_error *err)
{
	struct fuzz_sink *s = self;
	size_t n = strlen(a->id);

	s->seen++;
	fuzz_alert_json(cur_data, cur_size, json, len);
	if (n && a->id[n - 1] == 'a' && strcmp(s->retried, a->id)) {
		snprintf(s->retried, sizeof(s->retried), "%s", a->id);
		kw_error_set(err, KW_ERETRY, "fuzz: try again");
		return KW_SINK_RETRY;
	}
	if (n && strchr("13579bdf", a->id[n - 1])) {
		kw_error_set(err, KW_EINVAL, "fuzz: rejected");
		return KW_SINK_FAIL;
	}
	return KW_SINK_OK;
}

static const struct kw_sink_ops fuzz_ops = {
	.name = "fuzz-spool",
	.options = NULL,
	.create = NULL, /* made by hand below, never from a config */
	.deliver = fs_deliver,
};

static void round_trip(const uint8_t *data, size_t size)
{
	struct kw_alert a, b;
	char det_a[64], det_b[64];
	char *first = NULL, *second = NULL;

	if (kw_delivery_alert_from_json((const char *)data, size, &a, det_a,
					sizeof(det_a)) != KW_OK)
		return;
	first = kw_alert_to_json(&a);
	if (!first)
		abort();
	if (kw_delivery_alert_from_json(first, strlen(first), &b, det_b,
					sizeof(det_b)) != KW_OK)
		fuzz_fail(data, size, "a rendered alert does not parse: %s",
			  first);
	second = kw_alert_to_json(&b);
	if (!second || strcmp(first, second))
		fuzz_fail(data, size, "rendering not stable:\n%s\n%s", first,
			  second ? second : "(null)");
	free(first);
	free(second);
	kw_alert_clear(&a);
	kw_alert_clear(&b);
}

static void check_dead_letters(const uint8_t *data, size_t size)
{
	FILE *f = fopen(dead_path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return;
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *root = json_loadb(line, (size_t)n, 0, NULL);

		if (!json_is_object(root) ||
		    !json_is_object(json_object_get(root, "alert")))
			fuzz_fail(data, size, "a dead letter is not JSON: %s",
				  line);
		json_decref(root);
	}
	free(line);
	fclose(f);
}

/* Open the spool, optionally submit one alert, drain, and return how many
 * alerts the spool held at the start. */
static uint64_t drain(bool submit, const uint8_t *data, size_t size)
{
	struct kw_delivery_opts o = {
		.spool_dir = spool_dir,
		.queue_max = 2,
		.retry_min_ms = 1,
		.retry_max_ms = 2,
	};
	struct fuzz_sink fs = {.seen = 0};
	struct kw_sink sink = {.ops = &fuzz_ops, .self = &fs};
	struct kw_delivery_stats st;
	struct kw_delivery *d = NULL;
	struct kw_error err;

	snprintf(sink.name, sizeof(sink.name), "fuzz-spool");
	if (kw_delivery_start(&sink, "fuzz", &o, &d, &err) != KW_OK)
		fuzz_fail(data, size, "start: %s", err.msg);
	if (submit) {
		static const struct kw_alert_key key = {
			.id = "sk_live_…4242", .fp = "0123456789abcdef"};
		struct kw_alert a;
		char *json;

		if (kw_alert_init(&a, "fuzz.submitted", KW_SEV_HIGH,
				  1795132800000000, &key) != KW_OK)
			abort();
		kw_alert_set_id(&a, "subject=fuzz");
		json = kw_alert_to_json(&a);
		if (!json)
			abort();
		kw_delivery_submit(d, &a, json, strlen(json));
		free(json);
		kw_alert_clear(&a);
	}
	kw_delivery_stop(d, 60000);
	kw_delivery_stats(d, &st);
	if (st.pending != 0)
		fuzz_fail(data, size, "%zu alerts pending after the stop",
			  st.pending);
	if (st.delivered + st.dead > st.replayed + submit)
		fuzz_fail(data, size, "%llu delivered of %llu",
			  (unsigned long long)(st.delivered + st.dead),
			  (unsigned long long)st.replayed + submit);
	kw_delivery_destroy(d);
	return st.replayed;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	snprintf(spool_dir, sizeof(spool_dir), "%s/spool", fuzz_dir());
	snprintf(spool_path, sizeof(spool_path), "%s/fuzz.spool.jsonl",
		 spool_dir);
	snprintf(dead_path, sizeof(dead_path), "%s/fuzz.dead.jsonl", spool_dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t before, after;

	cur_data = data;
	cur_size = size;
	round_trip(data, size);
	fuzz_clean_dir();
	if (mkdir(spool_dir, 0700) != 0)
		abort();
	fuzz_write_file(spool_path, data, size);
	before = drain(true, data, size);
	check_dead_letters(data, size);
	after = drain(false, data, size);
	if (after > before)
		fuzz_fail(data, size, "%llu alerts pending again, %llu before",
			  (unsigned long long)after,
			  (unsigned long long)before);
	return 0;
}
