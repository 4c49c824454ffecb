/*
 * fuzz_splitter.c - libFuzzer target: the record splitter (JSON lines,
 * texts over several lines, arrays, {"Records": [...]} and "logEvents"
 * documents, broken texts) over a whole input.
 *
 * Each input is split three times: with the default record bound, and with
 * a small one (64 bytes, so that over-long lines and elements are hit)
 * handing out records one at a time from a small first buffer, and in
 * batches of 1024 from the largest. Invariants:
 *   - a record is non-empty, within the bound, on a line >= 1, and line
 *     numbers never go back;
 *   - the status is OK, or the reader's error for a compressed input, and
 *     after it every call gives no records and OK;
 *   - the batch and buffer sizes change nothing: the same records (bytes,
 *     lines and kinds), the same skip counts, the same final status and
 *     message;
 *   - nor does the width of the pass that finds a line's end (two memchr,
 *     SSE2, AVX2: kw_splitter_set_step), each run at the default bound.
 * A splitter that never finishes is caught by libFuzzer's -timeout.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ingest/reader.h"
#include "ingest/splitter.h"

struct outcome {
	uint64_t hash;	  /* over every record's line, length and bytes */
	uint64_t records; /* handed out */
	struct kw_skips skips;
	enum kw_status st;
	char msg[KW_ERROR_MSG_MAX];
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ull; /* FNV-1a */
	return h;
}

/* False when this machine has no such step (nothing split). */
static bool split(const uint8_t *data, size_t size, size_t max_record,
		  size_t initial, size_t batch, enum kw_json_step step,
		  struct outcome *o)
{
	static struct kw_record recs[1024];
	struct kw_reader *r = NULL;
	struct kw_splitter *sp = NULL;
	struct kw_error err;
	uint64_t last_line = 0;
	enum kw_status st;
	size_t n;

	memset(o, 0, sizeof(*o));
	o->hash = 0xcbf29ce484222325ull;
	st = kw_reader_open_fd(fuzz_memfd(data, size), "fuzz-input", &r, &err);
	if (st != KW_OK) {
		o->st = st;
		snprintf(o->msg, sizeof(o->msg), "%s", err.msg);
		return true;
	}
	if (kw_splitter_create(r, "fuzz-input", max_record, initial, &sp) !=
	    KW_OK)
		abort();
	if (!kw_splitter_set_step(sp, step)) {
		kw_splitter_destroy(sp);
		kw_reader_close(r);
		return false;
	}
	for (;;) {
		memset(&err, 0, sizeof(err));
		st = kw_splitter_next(sp, recs, batch, &n, &o->skips, &err);
		if (st != KW_OK) {
			if (n != 0)
				fuzz_fail(data, size, "records with an error");
			if (o->st != KW_OK)
				fuzz_fail(data, size, "a second error");
			if (st == KW_EINVAL && strncmp(err.msg, "line ", 5))
				fuzz_fail(data, size, "message '%s'", err.msg);
			if (st != KW_EINVAL && st != KW_ECORRUPT &&
			    st != KW_EIO && st != KW_EUNSUPPORTED)
				fuzz_fail(data, size, "status %d", (int)st);
			o->st = st;
			snprintf(o->msg, sizeof(o->msg), "%s", err.msg);
			continue;
		}
		if (n == 0)
			break;
		if (n > batch)
			fuzz_fail(data, size, "%zu records for %zu", n, batch);
		for (size_t i = 0; i < n; i++) {
			const struct kw_record *rec = &recs[i];

			if (rec->n == 0 || rec->n > max_record)
				fuzz_fail(data, size, "record of %zu bytes",
					  rec->n);
			if (rec->line == 0 || rec->line < last_line)
				fuzz_fail(data, size, "line %llu after %llu",
					  (unsigned long long)rec->line,
					  (unsigned long long)last_line);
			last_line = rec->line;
			fuzz_touch(rec->p, rec->n);
			o->hash = mix(o->hash, &rec->line, sizeof(rec->line));
			o->hash = mix(o->hash, &rec->n, sizeof(rec->n));
			o->hash = mix(o->hash, &rec->kind, sizeof(rec->kind));
			o->hash = mix(o->hash, rec->p, rec->n);
			o->records++;
		}
	}
	kw_splitter_destroy(sp);
	kw_reader_close(r);
	return true;
}

static void compare(const uint8_t *data, size_t size, const struct outcome *a,
		    const struct outcome *b, size_t max_record)
{
	if (a->hash != b->hash || a->records != b->records)
		fuzz_fail(data, size,
			  "bound %zu: batches of 1 and 1024 give other "
			  "records (%llu, %llu)",
			  max_record, (unsigned long long)a->records,
			  (unsigned long long)b->records);
	if (memcmp(&a->skips, &b->skips, sizeof(a->skips)) != 0)
		fuzz_fail(data, size, "bound %zu: other skips", max_record);
	if (a->st != b->st || strcmp(a->msg, b->msg) != 0)
		fuzz_fail(data, size, "bound %zu: '%s' and '%s'", max_record,
			  a->msg, b->msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome one, many;

	static const enum kw_json_step steps[] = {KW_JSON_STEP_8,
						  KW_JSON_STEP_16};
	struct outcome best, other;

	/* The batch and buffer sizes are compared at the small bound, where
	 * over-long records and refills meet; the default bound runs once
	 * per step width. */
	split(data, size, KW_MAX_RECORD_DEFAULT, 0, 1024, KW_JSON_STEP_BEST,
	      &best);
	for (size_t k = 0; k < sizeof(steps) / sizeof(*steps); k++) {
		if (split(data, size, KW_MAX_RECORD_DEFAULT, 0, 1024, steps[k],
			  &other))
			compare(data, size, &best, &other,
				KW_MAX_RECORD_DEFAULT);
	}
	split(data, size, 64, KW_SPLITTER_SMALL, 1, KW_JSON_STEP_BEST, &one);
	split(data, size, 64, 0, 1024, KW_JSON_STEP_BEST, &many);
	compare(data, size, &one, &many, 64);
	return 0;
}
