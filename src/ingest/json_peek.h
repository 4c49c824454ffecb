/*
 * json_peek.h - a quick look at one member of a JSON object without reading
 * the whole of it.
 *
 * kw_json_scan() (json_scan.h) validates a record completely and is what
 * decoders use. Some questions come before decoding and must cost little:
 * which format is this record (is there an "eventVersion" key?), where is
 * the record inside its envelope (the span of "detail"), what time is it
 * (for the merge of several inputs). A peek walks the object's members in
 * order, skipping values by their brackets and quotes, and stops at the
 * first member it was asked for: for a request log whose time is its second
 * key that is a few dozen bytes.
 *
 * A peek checks structure only as far as it walks (quotes, brackets), not
 * values; whatever it finds is validated later by the decoder that reads
 * it. Keys are compared as written: a key with an escape never matches.
 */
#ifndef KW_INGEST_JSON_PEEK_H
#define KW_INGEST_JSON_PEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

/* The value of the first member of the object text[0..len) whose key is
 * one of names[0..nnames) (each NUL-terminated), as raw text (a string
 * with its quotes); its index in names, or -1 when none is there or the
 * text is not an object. */
int kw_json_peek(const char *text, size_t len, const char *const *names,
		 size_t nnames, struct kw_str *val);

/* The value at a dotted path ("detail", "request.headers.x-api-key"):
 * false when a step is missing or not an object. */
bool kw_json_peek_path(const char *text, size_t len, const char *path,
		       struct kw_str *val);

/* A raw value as a time, in microseconds since the epoch: a number of
 * seconds (milliseconds above 1e12) or an RFC 3339 string without
 * escapes. False for anything else. */
bool kw_json_peek_time(struct kw_str val, int64_t *ts_us);

#endif
