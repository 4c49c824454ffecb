/*
 * fuzz_decode.c - the pipeline of the decoder targets (fuzz_decode.h):
 * reader -> splitter -> decoding stage -> model enrichment, and the checks
 * of every event against what decoder.h promises. A fresh decoding stage
 * per way of reading, so that nothing (the decoders' key-order hints)
 * carries from one input to the next.
 */
#include "fuzz_decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/time.h"
#include "fuzz.h"
#include "ingest/dispatch.h"
#include "ingest/reader.h"
#include "ingest/splitter.h"

#define BATCH 64

const struct kw_models *fuzz_models(void)
{
	static struct kw_models *models;
	struct kw_error err;

	if (!models &&
	    kw_models_load(KW_SOURCE_ROOT "/models", NULL, 0, &models, &err)) {
		fprintf(stderr, "fuzz: models: %s\n", err.msg);
		abort();
	}
	return models;
}

void fuzz_decode_setup(const char *const *specs, size_t n,
		       const struct kw_decoder_conf *confs[2])
{
	static struct kw_field_map map[16];
	static struct kw_decoder_conf conf = {.map = map};
	struct kw_error err;

	fuzz_setup();
	if (n > 16)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (kw_field_map_parse(specs[i], &map[i], &err) != KW_OK)
			abort();
	}
	conf.nmap = n;
	confs[0] = NULL;
	confs[1] = &conf;
	fuzz_models();
}

static void touch_str(struct kw_str s)
{
	if (s.n)
		fuzz_touch(s.p, s.n);
}

static void check_event(const struct kw_event *ev, const struct kw_record *rec,
			size_t nrec, const uint8_t *data, size_t size)
{
	bool from_batch = false;

	if (ev->ts < KW_TIME_MIN || ev->ts > KW_TIME_MAX)
		fuzz_fail(data, size, "time %lld", (long long)ev->ts);
	/* An empty key is a request without one (dec_keywatch.c). */
	if (ev->key.n > KW_DECODE_KEY_MAX)
		fuzz_fail(data, size, "key of %zu bytes", ev->key.n);
	for (size_t i = 0; i < ev->key.n; i++) {
		unsigned char c = (unsigned char)ev->key.p[i];

		if (c < 0x20 || c == 0x7f)
			fuzz_fail(data, size, "control character in a key");
	}
	if (ev->status != 0 && (ev->status < 100 || ev->status > 599))
		fuzz_fail(data, size, "status %d", ev->status);
	if (ev->method.n > 32)
		fuzz_fail(data, size, "method of %zu bytes", ev->method.n);
	for (size_t i = 0; i < ev->method.n; i++) {
		if (ev->method.p[i] >= 'a' && ev->method.p[i] <= 'z')
			fuzz_fail(data, size, "lower-case method");
	}
	if (ev->ip.family != 0 && ev->ip.family != 4 && ev->ip.family != 6)
		fuzz_fail(data, size, "ip family %d", ev->ip.family);
	if (ev->livemode < -1 || ev->livemode > 1)
		fuzz_fail(data, size, "livemode %d", ev->livemode);
	if (strcmp(ev->file, "fuzz-input") != 0)
		fuzz_fail(data, size, "event file '%s'", ev->file);
	for (size_t i = 0; i < nrec; i++)
		from_batch |= rec[i].line == ev->line;
	if (!from_batch)
		fuzz_fail(data, size, "event line %llu is no record's",
			  (unsigned long long)ev->line);
	touch_str(ev->key);
	touch_str(ev->method);
	touch_str(ev->path);
	touch_str(ev->source);
	touch_str(ev->user_agent);
	touch_str(ev->origin);
	touch_str(ev->request_id);
	touch_str(ev->op);
	touch_str(ev->resource);
}

static void enrich(struct kw_event *ev, struct kw_arena *arena,
		   const uint8_t *data, size_t size)
{
	kw_models_enrich(fuzz_models(), ev, arena);
	if ((unsigned)ev->key_kind >= KW_KIND_MAX ||
	    (unsigned)ev->key_mode >= KW_MODE_MAX ||
	    (unsigned)ev->access >= KW_ACCESS_MAX)
		fuzz_fail(data, size, "enrichment out of range");
	touch_str(ev->op);
	touch_str(ev->resource);
}

/* One way of reading the input. */
static void decode_with(const struct kw_decoder_ops *forced,
			const struct kw_decoder_conf *conf, const uint8_t *data,
			size_t size)
{
	static struct kw_record recs[BATCH];
	static struct kw_event events[BATCH];
	struct kw_dispatch_stream ds;
	struct kw_dispatch *d = NULL;
	struct kw_reader *r = NULL;
	struct kw_splitter *sp = NULL;
	struct kw_arena arena;
	struct kw_skips skips;
	struct kw_error err;
	size_t nrec;

	memset(&skips, 0, sizeof(skips));
	kw_arena_init(&arena, 1 << 20);
	if (kw_dispatch_create(&d, &err) != KW_OK)
		abort();
	kw_dispatch_stream_init(&ds, forced, conf);
	if (kw_reader_open_fd(fuzz_memfd(data, size), "fuzz-input", &r, &err) !=
	    KW_OK)
		goto cleanup;
	if (kw_splitter_create(r, "fuzz-input", 0, KW_SPLITTER_SMALL, &sp) !=
	    KW_OK)
		abort();
	for (;;) {
		uint64_t before = skips.total;
		size_t got;

		if (kw_splitter_next(sp, recs, BATCH, &nrec, &skips, &err) !=
		    KW_OK)
			continue;
		if (nrec == 0)
			break;
		before = skips.total;
		kw_arena_reset(&arena);
		got = kw_dispatch_decode(d, &ds, recs, nrec, events, &arena,
					 &skips, "fuzz-input");
		if (got > nrec)
			fuzz_fail(data, size, "%zu events of %zu", got, nrec);
		if (got + (skips.total - before) != nrec)
			fuzz_fail(data, size,
				  "%zu records, %zu events and %llu skips",
				  nrec, got,
				  (unsigned long long)(skips.total - before));
		for (size_t i = 0; i < got; i++) {
			check_event(&events[i], recs, nrec, data, size);
			enrich(&events[i], &arena, data, size);
		}
	}
cleanup:
	kw_splitter_destroy(sp);
	kw_reader_close(r);
	kw_dispatch_destroy(d);
	kw_arena_destroy(&arena);
}

void fuzz_decode(const struct kw_decoder_ops *forced,
		 const struct kw_decoder_conf *const *confs, size_t n,
		 const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < n; i++)
		decode_with(forced, confs[i], data, size);
	decode_with(NULL, NULL, data, size);
}
