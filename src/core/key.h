/*
 * key.h - API keys as secrets: the fingerprint that identifies a key, the
 * redacted id that shows it, and the config's `match` glob.
 *
 * The one idea: outside the decoder a full key is never written anywhere.
 * A key is identified by its fingerprint (the first 16 hex digits of the
 * SHA-256 of the key bytes exactly as in the log) and shown as its redacted
 * id ("sk_live_…4242"). Nothing in this header returns the key itself. Text
 * taken from a request (its path, user agent, request id, a value quoted in
 * a message) may hold the request's key too: kw_key_scrub() redacts it by
 * value before the text is shown anywhere.
 */
#ifndef KW_CORE_KEY_H
#define KW_CORE_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

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

/* OpenSSL's SHA-256, fetched from its provider once per process: OpenSSL 3
 * looks EVP_sha256() up again in every digest it starts (about 4,000
 * instructions, more than hashing a key), a fetched one it does not.
 * Never NULL (EVP_sha256() when the fetch failed). */
struct evp_md_st;
const struct evp_md_st *kw_sha256(void);

/* SHA-256 over the n byte ranges parts[i] (len[i] bytes each), one after
 * the other, into md (32 bytes): false when libcrypto could not (md is
 * then zeroed). Allocates nothing: what the fingerprints and alert ids,
 * one a new key and one an alert, take (see key.c). */
bool kw_sha256_parts(const void *const *parts, const size_t *len, size_t n,
		     unsigned char md[32]);

/* This thread's digest context, begun for SHA-256 (EVP_DigestInit_ex with
 * kw_sha256()): the caller updates and finishes it. One per thread, made
 * on its first use and freed when the thread ends (the main thread's is
 * kept to the end): a context made and freed for each digest (EVP_Digest
 * does so) costs an allocation, its clearing and a count on the method,
 * as much as hashing a key. NULL when no context can be had. */
struct evp_md_ctx_st;
struct evp_md_ctx_st *kw_sha256_begin(void);

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
 * The label alerts show for a principal an AWS key acts for, from its ARN:
 * the ARN less "arn:PARTITION:SERVICE:REGION:", so the account and the
 * resource ("arn:aws:iam::123456789012:role/ci" -> "123456789012:role/ci"),
 * and less an IAM role's or user's path (".../role/aws-reserved/sso.amazonaws
 * .com/X" -> "...:role/X": names are unique in an account). Not a secret.
 * Written into out (cap bytes, NUL included); a label that does not fit
 * drops the account, and if it still does not fit keeps the ARN's end
 * after "…". Bytes that are not printable ASCII become '?'.
 */
void kw_key_principal_label(const char *arn, size_t n, char *out, size_t cap);

/*
 * The config's `match` glob over the n bytes of key as written in the log:
 * '*' matches any run of bytes (including none), every other character of
 * the NUL-terminated pattern matches itself. No character classes, no
 * escapes. Iterative, O(len(pattern) * n) at worst: no exponential blow-up
 * on patterns like "*a*a*a*a*b".
 */
bool kw_key_glob(const char *pattern, const char *key, size_t n);

/* A piece of a key this long or longer counts as the key in text. */
#define KW_KEY_PIECE 16

/*
 * Whether text holds the key: as written, percent-encoded (upper- or
 * lower-case hex; only a key with bytes outside A-Z a-z 0-9 - . _ ~ has
 * such a form), or any piece of it of KW_KEY_PIECE bytes or more (a path
 * that splits the key at its '/', a value cut in the middle of it).
 */
bool kw_key_in(struct kw_str text, struct kw_str key);

/*
 * Text that may hold the key, made safe to show and bounded: copied into
 * out (cap bytes, NUL included; cap >= 8) with every occurrence of the key
 * and every piece of it (as kw_key_in finds them) replaced by id (its
 * redacted id), then, when it
 * does not fit, cut at a UTF-8 character boundary and marked with a
 * trailing "…" (the whole result, marker included, fits in cap). An
 * occurrence that begins before the cut is replaced whole, so no piece of
 * the key is left at the cut. key may be empty (nothing to redact: only
 * the bound applies). Returns the length written (without the NUL). Reads
 * text only as far as the output needs: a huge value costs what fits.
 */
size_t kw_key_scrub(char *out, size_t cap, struct kw_str text,
		    struct kw_str key, const char *id);

#endif
