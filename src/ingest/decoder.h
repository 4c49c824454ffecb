/*
 * decoder.h - format decoders: records (JSON texts) in, events out.
 *
 * A decoder is one .c file implementing struct kw_decoder_ops and listed in
 * the registry (decoder.c). Decoding is batch-shaped: the engine hands a
 * batch of records and gets back the events, so a queue can later sit
 * between the splitter and the decoders without changing either.
 *
 * Record-level problems (invalid JSON, a missing key or time, a field of the
 * wrong type, an impossible timestamp) are counted in the skips with the
 * file and line and the record is dropped; the batch goes on.
 */
#ifndef KW_INGEST_DECODER_H
#define KW_INGEST_DECODER_H

#include <stddef.h>

#include "core/arena.h"
#include "core/event.h"
#include "core/record.h"
#include "core/skips.h"
#include "core/status.h"
#include "ingest/splitter.h"

/* The event fields a log field can be mapped onto (spec/input-formats.md). */
enum kw_field {
	KW_FIELD_CREATED = 0,
	KW_FIELD_API_KEY,
	KW_FIELD_METHOD,
	KW_FIELD_PATH,
	KW_FIELD_STATUS,
	KW_FIELD_IP,
	KW_FIELD_ID,
	KW_FIELD_USER_AGENT,
	KW_FIELD_ORIGIN,
	KW_FIELD_LIVEMODE,
	KW_FIELD_SOURCE,
	KW_FIELD_DURATION_MS,
	KW_FIELD_MAX
};

/* "created", "api_key", ...; NULL past the end. */
const char *kw_field_name(enum kw_field f);
/* Look a field up by its name or one of its aliases; KW_FIELD_MAX if none. */
enum kw_field kw_field_lookup(const char *name);

/* One --map FIELD=PATH. */
struct kw_field_map {
	enum kw_field field;
	const char *path; /* dotted path; borrowed for the decoder's lifetime */
};

struct kw_decoder_conf {
	const struct kw_field_map *map; /* may be NULL */
	size_t nmap;
};

struct kw_decoder_ops {
	const char *name; /* "keywatch", "cloudtrail": the --format value */

	/* Required. How sure (0..100) this decoder is that a stream of the
	 * given shape whose first record is rec is its format. */
	int (*sniff)(enum kw_shape shape, const struct kw_record *rec);

	/* Required. Create an instance; *self is owned by the caller and freed
	 * with destroy. conf and what it points to must outlive the instance. */
	enum kw_status (*create)(const struct kw_decoder_conf *conf, void **self,
				 struct kw_error *err);

	/* Required. Decode recs[0..n) into out[] (room for n events) and
	 * return how many events were written. Strings in the events point
	 * into the records or into arena; the caller resets arena between
	 * batches. file names the input in skip messages and is stored in each
	 * event (it must outlive the events). */
	size_t (*decode)(void *self, const struct kw_record *recs, size_t n,
			 struct kw_event *out, struct kw_arena *arena,
			 struct kw_skips *skips, const char *file);

	/* Required. NULL-safe. */
	void (*destroy)(void *self);
};

/* The registry: NULL when no decoder has that name. */
const struct kw_decoder_ops *kw_decoder_find(const char *name);
/* The decoder that sniffs highest for this first record (never NULL: the
 * keywatch decoder is the default). */
const struct kw_decoder_ops *kw_decoder_sniff(enum kw_shape shape,
					      const struct kw_record *rec);
/* NULL-terminated list of all decoders, for help and check. */
const struct kw_decoder_ops *const *kw_decoder_all(void);

/* Parse "FIELD=PATH" (the --map syntax). The path points into spec. */
enum kw_status kw_field_map_parse(const char *spec, struct kw_field_map *out,
				  struct kw_error *err);

/* Shared helpers for decoders (decode_util.c). */

/* Time: a JSON number of unix seconds (fractions allowed; above 1e12 it is
 * milliseconds) or an RFC 3339 string. Returns false for anything else or a
 * time outside 1970..9999. */
struct kw_json_value;
bool kw_decode_time(const struct kw_json_value *v, int64_t *ts_us);

/* Reduce a full URL or a path with a query string to the path. */
struct kw_str kw_decode_path(struct kw_str s);

#endif
