/*
 * json_dump.h - JSON text written by keywatch itself, byte for byte as
 * jansson 2.14's json_dumps() writes it, all or nothing.
 *
 * Two reasons for our own writer. jansson 2.14's json_dumps() can return a
 * malformed text when an allocation fails while it writes an object's key:
 * do_dump() in its src/dump.c ignores what dump_string() returns for keys,
 * and the writes after it go on. An alert or a chat message would go out
 * garbled instead of not at all. And it is slow for what an alert needs:
 * a callback per piece, a hash table of parents to catch cycles, a tree
 * built only to be written. kw_json_buf writes into one growing buffer
 * whose first failure is sticky, so every later write fails and the whole
 * text with it; alert.c writes an alert straight into it, without a tree.
 *
 * The bytes are jansson's (tests/unit/test_json_dump.c and the fuzz target
 * json_dump compare them): strings as UTF-8, with \" \\ \b \f \n \r \t and
 * \u00XX (upper-case hex) for the other control characters, nothing else
 * escaped; integers as "%lld"; reals as "%.17g" with ".0" added when the
 * text has neither '.' nor 'e', and the exponent without '+' or leading
 * zeros; objects in their iteration order (insertion order), or sorted by
 * key bytes with JSON_SORT_KEYS. Flags the writer does not do itself
 * (JSON_INDENT, JSON_ENSURE_ASCII, JSON_ESCAPE_SLASH, JSON_REAL_PRECISION,
 * JSON_EMBED) go to jansson, through the same sticky buffer.
 */
#ifndef KW_CORE_JSON_DUMP_H
#define KW_CORE_JSON_DUMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting kw_json_buf_value writes (jansson's parser takes 2048
 * levels); deeper, or a cycle, fails the text. */
#define KW_JSON_DUMP_DEPTH 2048

/* A text being written. Start it zeroed ({0}); it owns p until
 * kw_json_buf_finish or kw_json_buf_free. */
struct kw_json_buf {
	char *p;
	size_t len, cap; /* cap counts the NUL's place */
	bool failed;	 /* an allocation failed or a value could not be
			  * written: the text is lost */
};

/* Room for n more bytes; false (and failed) when there is none. */
bool kw_json_buf_reserve(struct kw_json_buf *b, size_t n);

/* s[0..n) as it is (JSON punctuation, text already escaped). */
void kw_json_buf_raw(struct kw_json_buf *b, const char *s, size_t n);

/* s[0..n) as a JSON string, quoted and escaped as above. false when it is
 * not valid UTF-8 (as jansson checks it): then nothing is written and the
 * buffer is not marked failed, so the caller chooses (fail the text, or
 * write a repaired copy). */
bool kw_json_buf_string(struct kw_json_buf *b, const char *s, size_t n);

/* A JSON integer. */
void kw_json_buf_int(struct kw_json_buf *b, int64_t v);

/* Any jansson value, as json_dumps(v, flags | JSON_ENCODE_ANY) writes it
 * (flags: JSON_COMPACT, JSON_SORT_KEYS, JSON_PRESERVE_ORDER; others are
 * ignored here, kw_json_dump hands them to jansson). A NULL value, a
 * string that is not valid UTF-8 or nesting past KW_JSON_DUMP_DEPTH marks
 * the buffer failed. */
void kw_json_buf_value(struct kw_json_buf *b, const json_t *v, size_t flags);

/* The text, NUL-terminated and malloc'ed (the caller frees it), with its
 * length in *len when len is not NULL; NULL when anything failed. Either
 * way b is left empty. */
char *kw_json_buf_finish(struct kw_json_buf *b, size_t *len);

/* Drop what b holds; b is left empty. */
void kw_json_buf_free(struct kw_json_buf *b);

/* json_dumps(v, flags), malloc'ed (the caller frees); NULL when v cannot be
 * written (as json_dumps) or memory ran out at any point. */
char *kw_json_dump(const json_t *v, size_t flags);

#endif
