/*
 * key.h - API keys as secrets: the fingerprint that identifies a key, the
 * redacted id that shows it, and the config's `match` glob.
 *
 * The one idea: outside the decoder a full key is never written anywhere.
 * A key is identified by its fingerprint (the first 16 hex digits of the
 * SHA-256 of the key bytes exactly as in the log) and shown as its redacted
 * id ("sk_live_…4242"). Nothing in this header returns the key itself.
 */
#ifndef KW_CORE_KEY_H
#define KW_CORE_KEY_H

#include <stdbool.h>
#include <stddef.h>

/* Size of a redacted id buffer, NUL included. */
#define KW_KEY_ID_MAX 64
/* Size of a fingerprint buffer: 16 hex digits and a NUL. */
#define KW_KEY_FP_SIZE 17
/* Longest key the per-key table accepts, in bytes. */
#define KW_KEY_MAX_LEN 512

/*
 * The first 16 hex digits (lower case) of SHA-256 over the n bytes at key,
 * NUL-terminated in out. If libcrypto cannot compute SHA-256 (a broken
 * OpenSSL configuration), out is the empty string.
 */
void kw_key_fingerprint(const char *key, size_t n, char out[17]);

/*
 * True when the log already hides the key: it contains the UTF-8 ellipsis
 * "…" (e2 80 a6), three dots "...", or a '*'.
 */
bool kw_key_is_redacted(const char *key, size_t n);

/*
 * Write the redacted id of the n bytes at key into out (cap bytes, NUL
 * included; cap >= KW_KEY_ID_MAX always fits; a smaller cap cuts the id, never
 * inside the "…"). cap 0 writes nothing.
 *
 * id = prefix + "…" + tail. The prefix is the first rule that matches and
 * leaves at least one byte after it:
 *   1. [a-z]{1,12}_(live|test)_  -> through the second '_' ("sk_live_")
 *   2. [A-Za-z]{1,11}_            -> through that '_' ("ghp_", "whsec_")
 *   3. [A-Z]{4} then only [A-Z0-9] to the end -> those 4 ("AKIA", "ASIA")
 *   4. otherwise no prefix.
 * The tail is the last four bytes, shown only when the part after the prefix
 * is at least 16 bytes long, so a short key never shows most of its secret;
 * bytes of the tail that are not printable ASCII become '?'.
 *
 * A key already redacted in the log (kw_key_is_redacted) is shown as it was,
 * cut to fit, with every byte that is neither printable ASCII nor part of a
 * complete "…" replaced by '?'.
 *
 * For a key that is not already redacted, the id never contains the whole
 * key (if an odd byte sequence would make it so, the id is just "?").
 */
void kw_key_redact(const char *key, size_t n, char *out, size_t cap);

/*
 * The config's `match` glob over the n bytes of key as written in the log:
 * '*' matches any run of bytes (including none), every other character of
 * the NUL-terminated pattern matches itself. No character classes, no
 * escapes. Iterative, O(len(pattern) * n) at worst: no exponential blow-up
 * on patterns like "*a*a*a*a*b".
 */
bool kw_key_glob(const char *pattern, const char *key, size_t n);

#endif
