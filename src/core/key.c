/*
 * key.c - fingerprint, redaction (of the key itself and by value, in text
 * taken from a request) and glob matching of API keys.
 *
 * The one idea: every function here looks at the key bytes only to derive
 * something that is safe to show (a hash prefix, a redacted id, a yes/no
 * answer); none of them copies more of the key than the redaction rules
 * allow, and the redaction re-checks its own output so that a degenerate key
 * can never come out whole.
 */
/* The low-level SHA-256 (kw_sha256_parts), deprecated in OpenSSL 3.0 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "core/key.h"

#include "core/glob.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static const char ellipsis[] = "\xe2\x80\xa6"; /* "…", 3 bytes */
#define ELLIPSIS_LEN 3

/* ---- fingerprint ------------------------------------------------------ */

/* Written once under pthread_once, then only read; kept to the end. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const struct evp_md_st *kw_sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md ? sha256_md : EVP_sha256();
}

/* Each thread's context (kw_sha256_begin), freed by the key's destructor
 * when the thread ends. The main thread's is kept to the end (its
 * destructors never run; the context stays reachable from its TLS). */
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;
static bool ctx_key_made;

static void ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void ctx_key_make(void)
{
	ctx_key_made = pthread_key_create(&ctx_key, ctx_free) == 0;
}

EVP_MD_CTX *kw_sha256_begin(void)
{
	static _Thread_local EVP_MD_CTX *ctx;

	if (!ctx) {
		EVP_MD_CTX *made = EVP_MD_CTX_new();

		pthread_once(&ctx_once, ctx_key_make);
		if (!made || !ctx_key_made ||
		    pthread_setspecific(ctx_key, made) != 0) {
			EVP_MD_CTX_free(made);
			return NULL;
		}
		ctx = made;
	}
	if (EVP_DigestInit_ex(ctx, kw_sha256(), NULL) != 1)
		return NULL;
	return ctx;
}

/* OpenSSL 3.0's EVP makes its provider's context anew at every
 * EVP_DigestInit_ex, reused context or not: a malloc and a free for each
 * digest, about 40% of hashing a key or an alert's id on this machine
 * (200 ns against 130), and more at millions of keys, where the free
 * lands on cold memory. The low-level functions, deprecated in 3.0 but
 * built in Debian's libcrypto, hash the same bytes in a context on the
 * stack; where they are left out (no-deprecated), the EVP way. */
bool kw_sha256_parts(const void *const *parts, const size_t *len, size_t n,
		     unsigned char md[32])
{
#ifndef OPENSSL_NO_DEPRECATED_3_0
	SHA256_CTX c;
	bool ok = SHA256_Init(&c) == 1;

	for (size_t i = 0; ok && i < n; i++)
		ok = SHA256_Update(&c, parts[i], len[i]) == 1;
	ok = SHA256_Final(md, &c) == 1 && ok;
	OPENSSL_cleanse(&c, sizeof(c));
#else
	EVP_MD_CTX *ctx = kw_sha256_begin();
	unsigned int mdlen = 0;
	bool ok = ctx != NULL;

	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, parts[i], len[i]) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
#endif
	if (!ok)
		memset(md, 0, 32);
	return ok;
}

void kw_key_fingerprint(const char *key, size_t n, char out[17])
{
	static const char hex[] = "0123456789abcdef";
	const void *part = n ? key : "";
	unsigned char md[32];

	out[0] = '\0';
	if (!kw_sha256_parts(&part, &n, 1, md))
		return;
	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[16] = '\0';
}

/* ---- is it redacted already? ------------------------------------------ */

/* Whether byte i of k[0..n) starts a mark of redaction: '*', "..." or
 * "…". */
static bool mark_at(const unsigned char *k, size_t i, size_t n)
{
	if (k[i] == '*')
		return true;
	if (i + 3 > n)
		return false;
	if (k[i] == '.' && k[i + 1] == '.' && k[i + 2] == '.')
		return true;
	return memcmp(k + i, ellipsis, ELLIPSIS_LEN) == 0;
}

bool kw_key_is_redacted(const char *key, size_t n)
{
	const unsigned char *k = (const unsigned char *)key;

	/* Only a byte that could start a mark is looked at ('*', '.' or the
	 * ellipsis' first byte), found sixteen bytes a step: a key met for
	 * the first time is looked at here, and most hold none. */
	for (size_t i = kw_str_find3(key, 0, n, '*', '.', '\xe2'); i < n;
	     i = kw_str_find3(key, i + 1, n, '*', '.', '\xe2')) {
		if (mark_at(k, i, n))
			return true;
	}
	return false;
}

/* ---- redaction -------------------------------------------------------- */

static bool is_lower(unsigned char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_upper(unsigned char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_print(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* Rule 1: [a-z]{1,12}_(live|test)_ ; returns the prefix length or 0. */
static size_t prefix_mode(const unsigned char *k, size_t n)
{
	size_t i = 0;

	while (i < n && i < 13 && is_lower(k[i]))
		i++;
	if (i == 0 || i > 12 || i + 6 > n || k[i] != '_')
		return 0;
	if (memcmp(k + i + 1, "live_", 5) != 0 &&
	    memcmp(k + i + 1, "test_", 5) != 0)
		return 0;
	return i + 6;
}

/* Rule 2: [A-Za-z]{1,11}_ ; returns the prefix length or 0. */
static size_t prefix_word(const unsigned char *k, size_t n)
{
	size_t i = 0;

	while (i < n && i < 12 && (is_lower(k[i]) || is_upper(k[i])))
		i++;
	if (i == 0 || i > 11 || i >= n || k[i] != '_')
		return 0;
	return i + 1;
}

/* Rule 3: [A-Z]{4}[A-Z0-9]+ over the whole key; returns 4 or 0. */
static size_t prefix_aws(const unsigned char *k, size_t n)
{
	if (n < 5)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_upper(k[i]) && (i < 4 || !is_digit(k[i])))
			return 0;
	}
	return 4;
}

/* The prefix to show: the first rule that matches and leaves at least one
 * byte of the key after it. */
static size_t key_prefix_len(const unsigned char *k, size_t n)
{
	size_t (*const rules[])(const unsigned char *, size_t) = {
		prefix_mode,
		prefix_word,
		prefix_aws,
	};

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		size_t p = rules[i](k, n);

		if (p > 0 && p < n)
			return p;
	}
	return 0;
}

/* Bounded writer into a local buffer of KW_KEY_ID_MAX bytes. */
struct idbuf {
	char b[KW_KEY_ID_MAX];
	size_t len;
};

static void id_putc(struct idbuf *id, unsigned char c)
{
	if (id->len + 1 < sizeof(id->b))
		id->b[id->len++] = (char)c;
}

static void id_put_ellipsis(struct idbuf *id)
{
	if (id->len + ELLIPSIS_LEN < sizeof(id->b)) {
		memcpy(id->b + id->len, ellipsis, ELLIPSIS_LEN);
		id->len += ELLIPSIS_LEN;
	}
}

/* Copy bytes, printable ASCII as is, everything else as '?'. */
static void id_put_clean(struct idbuf *id, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		id_putc(id, is_print(p[i]) ? p[i] : '?');
}

/* The redacted-in-log form: as it was, cleaned, cut to the buffer. */
static void redact_shown(struct idbuf *id, const unsigned char *k, size_t n)
{
	size_t i = 0;

	while (i < n && id->len + 1 < sizeof(id->b)) {
		if (i + ELLIPSIS_LEN <= n &&
		    memcmp(k + i, ellipsis, ELLIPSIS_LEN) == 0) {
			if (id->len + ELLIPSIS_LEN >= sizeof(id->b))
				break;
			id_put_ellipsis(id);
			i += ELLIPSIS_LEN;
			continue;
		}
		id_putc(id, is_print(k[i]) ? k[i] : '?');
		i++;
	}
}

static void redact_full(struct idbuf *id, const unsigned char *k, size_t n)
{
	size_t p = key_prefix_len(k, n);

	id_put_clean(id, k, p);
	id_put_ellipsis(id);
	if (n - p >= 16)
		id_put_clean(id, k + n - 4, 4);
	if (memmem(id->b, id->len, k, n) != NULL) {
		/*
		 * Only a degenerate key can get here: its prefix followed by
		 * one or two bytes of a "…" ("sk_\xe2"). "?" cannot contain
		 * such a key (a lone "?" key gets the id "…").
		 */
		id->len = 0;
		id_putc(id, '?');
	}
}

/* Copy id to out (cap bytes with the NUL), never cutting inside "…". */
static void id_emit(const struct idbuf *id, char *out, size_t cap)
{
	size_t len = id->len;

	if (len + 1 > cap) {
		/*
		 * Cut to cap - 1 bytes; if b[len] is a continuation byte the
		 * cut is inside a "…" (the only multibyte sequence an id
		 * holds): step back so that its lead byte is cut too.
		 */
		len = cap - 1;
		while (len > 0 && ((unsigned char)id->b[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(out, id->b, len);
	out[len] = '\0';
}

void kw_key_redact(const char *key, size_t n, char *out, size_t cap)
{
	const unsigned char *k = (const unsigned char *)key;
	struct idbuf id = {.len = 0};

	if (cap == 0)
		return;
	if (n == 0) {
		out[0] = '\0';
		return;
	}
	if (kw_key_is_redacted(key, n))
		redact_shown(&id, k, n);
	else
		redact_full(&id, k, n);
	id_emit(&id, out, cap);
}

/* ---- redaction by value -----------------------------------------------
 *
 * What counts as the key in a text: the key as written, its percent-encoded
 * forms, and any piece of it of KW_KEY_PIECE bytes or more (a path split at
 * the key's '/', a value cut before it reached us). Pieces are found with a
 * rolling hash: every KW_KEY_PIECE-byte window of the key sets a bit of a
 * small filter (the hash's top bits), and each window of the text tests
 * its bit, so a text costs one hash step and one test per byte of it that
 * could start a piece; only a set bit (the piece, or about one window in
 * 32 by chance) has the key searched for the window's bytes. A piece is
 * made of the key's own bytes, so a window holding a byte the key lacks (a
 * space, a '/' in most keys) is passed over without a hash. Only text long
 * enough to hold a piece or the key is searched at all.
 *
 * The filter is made for a key only once its texts have had DIRECT_MAX
 * such windows: before that, each window is looked for in the key itself.
 * At a million keys an alert has a new key, and its texts (a request id, a
 * path, a summary) hold few windows made of the key's bytes (one an alert
 * in the generated logs): looking for each in the key costs a fraction of
 * indexing the key's hundred windows. A long text, or a key that raises
 * many alerts, gets the filter.
 */

#define PIECE KW_KEY_PIECE
#define ROLL_BASE 0x100000001b3ull
/* Windows of a key's texts looked for in the key before it gets a filter:
 * a look costs some 130 instructions (the key's bytes searched for the
 * window's first, then the rest compared), the filter of a 107-byte key
 * some 3,000 (callgrind). */
#define DIRECT_MAX 24
/* The filter: at least 32 bits a window of the key, a power of two. */
#define GRAM_BITS_MIN 512
#define GRAM_BITS_MAX 16384
_Static_assert((GRAM_BITS_MIN & (GRAM_BITS_MIN - 1)) == 0 &&
		       GRAM_BITS_MIN >= 64,
	       "the filter's bits are the top bits of a hash: a power of two, "
	       "a word at least");
_Static_assert(GRAM_BITS_MAX >= 32 * (KW_KEY_MAX_LEN - KW_KEY_PIECE + 1),
	       "room for the longest key's windows");

/* Byte c's bit in its word of a 256-bit set (word c >> 6); bytes lo..hi
 * (in one word). */
#define BYTE_BIT(c) (UINT64_C(1) << ((c)&63))
#define BYTE_RUN(lo, hi) (((UINT64_C(1) << ((hi) - (lo) + 1)) - 1) << ((lo)&63))

struct needles {
	struct kw_str key;
	struct kw_str s[3]; /* the key and its percent-encoded forms */
	size_t n, longest;
	uint64_t grams[GRAM_BITS_MAX / 64]; /* the filter of its windows */
	unsigned shift;	   /* a hash's bit: h >> shift (with the filter) */
	bool pieces;	   /* the key has pieces (PIECE bytes or more) */
	bool indexed;	   /* grams, shift and top are made */
	unsigned direct;   /* windows looked for without the filter */
	uint64_t bytes[4]; /* the bytes the key holds, a bit each */
	/* the same, a byte each: 0x80 when the key holds it, else 0 */
	_Alignas(16) unsigned char holds[256];
	uint64_t top; /* ROLL_BASE^(PIECE-1), to roll a byte out */
	char enc[2][KW_KEY_MAX_LEN * 3];
};

static bool unreserved(unsigned char c)
{
	return is_lower(c) || is_upper(c) || is_digit(c) || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

/* The hash of the window at p: first (p[0..PIECE) hashed whole), or h
 * rolled on by one byte (p[-1] out, p[PIECE-1] in). */
static uint64_t roll(const struct needles *nd, uint64_t h, const char *p,
		     bool first)
{
	if (!first)
		return (h - (unsigned char)p[-1] * nd->top) * ROLL_BASE +
		       (unsigned char)p[PIECE - 1];
	h = 0;
	for (size_t i = 0; i < PIECE; i++)
		h = h * ROLL_BASE + (unsigned char)p[i];
	return h;
}

/* The filter's bit of a window's hash: its top bits (the low bits of a
 * product mix only the low bits of the bytes). */
static bool gram_in(const struct needles *nd, uint64_t h)
{
	uint64_t b = h >> nd->shift;

	return (nd->grams[b >> 6] >> (b & 63)) & 1;
}

static void encode_forms(struct needles *nd, struct kw_str key)
{
	static const char hex[2][17] = {"0123456789ABCDEF", "0123456789abcdef"};
	/* unreserved() as bits of bytes 0-63 and 64-127 (none above) */
	const uint64_t un0 = BYTE_BIT('-') | BYTE_BIT('.') | BYTE_RUN('0', '9');
	const uint64_t un1 = BYTE_RUN('A', 'Z') | BYTE_BIT('_') |
			     BYTE_RUN('a', 'z') | BYTE_BIT('~');

	/* all the key's bytes (nd->bytes) unreserved: no encoded form */
	if (!((nd->bytes[0] & ~un0) | (nd->bytes[1] & ~un1) | nd->bytes[2] |
	      nd->bytes[3]))
		return;
	for (int h = 0; h < 2; h++) {
		size_t e = 0;

		for (size_t i = 0; i < key.n; i++) {
			unsigned char c = (unsigned char)key.p[i];

			if (unreserved(c)) {
				nd->enc[h][e++] = (char)c;
				continue;
			}
			nd->enc[h][e++] = '%';
			nd->enc[h][e++] = hex[h][c >> 4];
			nd->enc[h][e++] = hex[h][c & 15];
		}
		nd->s[nd->n++] = (struct kw_str){nd->enc[h], e};
		nd->longest = e;
	}
}

static void gram_add(struct needles *nd, uint64_t h)
{
	uint64_t b = h >> nd->shift;

	nd->grams[b >> 6] |= UINT64_C(1) << (b & 63);
}

/* Every window of the key into the filter. */
static void index_grams(struct needles *nd)
{
	size_t ngrams = nd->key.n - PIECE + 1, bits = GRAM_BITS_MIN;
	uint64_t h = 0, h2 = 0;

	nd->shift = 64 - (unsigned)__builtin_ctz(GRAM_BITS_MIN);
	while (bits < 32 * ngrams) {
		bits *= 2;
		nd->shift--;
	}
	memset(nd->grams, 0, bits / 8);
	nd->top = 1;
	for (size_t i = 1; i < PIECE; i++)
		nd->top *= ROLL_BASE;
	/* two rolls, over each half of the windows: each step waits on the
	 * last one's product */
	for (size_t j = 0, half = ngrams / 2; j < ngrams - half; j++) {
		gram_add(nd, h = roll(nd, h, nd->key.p + half + j, j == 0));
		if (j < half)
			gram_add(nd, h2 = roll(nd, h2, nd->key.p + j, j == 0));
	}
}

/* The bytes key holds into seen, a flag byte each (0x80), stored without
 * reading (one byte's bit in a shared word would wait on the last one's
 * store), and into set, the flags' top bits gathered sixteen at a time. */
static void byte_set(uint64_t set[4], unsigned char seen[256],
		     struct kw_str key)
{
	memset(seen, 0, 256);
	for (size_t i = 0; i < key.n; i++)
		seen[(unsigned char)key.p[i]] = 0x80;
	for (unsigned w = 0; w < 4; w++) {
		uint64_t m = 0;

		for (unsigned k = 0; k < 4; k++) {
			const unsigned char *q = seen + 64 * w + 16 * k;
#if defined(__SSE2__)
			uint64_t bits = (uint64_t)_mm_movemask_epi8(
				_mm_load_si128((const __m128i *)q));
#else
			uint64_t bits = 0;

			for (unsigned b = 0; b < 16; b++)
				bits |= (uint64_t)(q[b] >> 7) << b;
#endif
			m |= bits << (16 * k);
		}
		set[w] = m;
	}
}

static void needles_init(struct needles *nd, struct kw_str key)
{
	nd->n = nd->longest = 0;
	nd->pieces = nd->indexed = false;
	nd->direct = 0;
	if (key.n > KW_KEY_MAX_LEN)
		key.n = KW_KEY_MAX_LEN; /* longer is no key (the decoder) */
	nd->key = key;
	byte_set(nd->bytes, nd->holds, key);
	if (!key.n)
		return;
	nd->s[nd->n++] = key;
	nd->longest = key.n;
	encode_forms(nd, key);
	nd->pieces = key.n >= PIECE;
}

/* The longest piece of the key that starts at p (n >= PIECE bytes); 0 when
 * none. Every place of the window in the key (where the key holds its
 * first byte, then the rest compared), each run on as far as the text and
 * the key agree. */
static size_t piece_search(const struct needles *nd, const char *p, size_t n)
{
	const char *k = nd->key.p, *end = nd->key.p + nd->key.n;
	const char *last = end - PIECE; /* the last place a window fits */
	size_t best = 0;

	for (; k <= last; k++) {
		size_t max, len = PIECE;

		k = memchr(k, p[0], (size_t)(last - k) + 1);
		if (!k)
			break;
		if (memcmp(k + 1, p + 1, PIECE - 1) != 0)
			continue;
		max = (size_t)(end - k) < n ? (size_t)(end - k) : n;
		while (len < max && p[len] == k[len])
			len++;
		if (len > best)
			best = len;
	}
	return best;
}

/* The same for the window at p whose hash is h (rolled by the caller),
 * once the key has its filter. */
static size_t piece_at(const struct needles *nd, uint64_t h, const char *p,
		       size_t n)
{
	return gram_in(nd, h) ? piece_search(nd, p, n) : 0;
}

/* Bit k of the result: whether the window of PIECE bytes ending at byte k
 * of a block is all the key's, given m (bit k: byte k is one of the key's)
 * and how many of the bytes just before the block are (carry, below
 * PIECE). The block's bits sit above the bits of the bytes before it (lo),
 * and each step keeps a bit where it and the run below it were set:
 * runs of 2, 4, 8, then PIECE bits, in four steps rather than fifteen. */
static uint64_t full_windows(uint64_t m, unsigned carry)
{
	uint64_t hi = m, lo = carry ? ~UINT64_C(0) << (64 - carry) : 0;

	for (unsigned run = 1; run < PIECE;) {
		unsigned s = run < PIECE - run ? run : PIECE - run;

		hi &= hi << s | lo >> (64 - s);
		lo &= lo << s;
		run += s;
	}
	return hi;
}

/* The first place in p[0..n) that holds the key (a form of it or a piece):
 * where, and its length in *len (the longest there). */
static const char *needles_find(struct needles *nd, const char *p, size_t n,
				size_t *len)
{
	const char *best = NULL;
	uint64_t h = 0;
	size_t rolled = SIZE_MAX; /* the window after the last one hashed */
	unsigned carry = 0;

	/* With pieces, not the key itself (nd->s[0]): the window at its
	 * start is a piece that runs on for the whole key, found below. */
	for (size_t i = nd->pieces ? 1 : 0; i < nd->n; i++) {
		const char *hit = memmem(p, n, nd->s[i].p, nd->s[i].n);

		if (hit && (!best || hit < best ||
			    (hit == best && nd->s[i].n > *len))) {
			best = hit;
			*len = nd->s[i].n;
		}
	}
	if (!nd->pieces || n < PIECE)
		return best;
	/* The windows whose PIECE bytes are all the key's, found 64 bytes at
	 * a time without a branch a byte, are looked up in order, each
	 * rolled on from the one before when that one was too. A piece can
	 * only matter where it starts before best. */
	for (size_t base = 0; base < n; base += 64) {
		size_t left = n - base < 64 ? n - base : 64;
		uint64_t m = 0, q;

		size_t k = 0;

		/* eight bytes' flags side by side, each brought down to its
		 * byte's low bit, then packed into bits (byte b's lands on
		 * bit b of the top byte) */
		for (; k + 8 <= left; k += 8) {
			uint64_t x = 0;

			for (unsigned b = 0; b < 8; b++)
				x |= (uint64_t)nd->holds[(
					     unsigned char)p[base + k + b]]
				     << (8 * b);
			m |= ((x >> 7) * UINT64_C(0x0102040810204080)) >>
			     56 << k;
		}
		for (; k < left; k++)
			m |= (uint64_t)(nd->holds[(unsigned char)p[base + k]] >>
					7)
			     << k;
		for (q = full_windows(m, carry); q; q &= q - 1) {
			size_t i =
				base + (size_t)__builtin_ctzll(q) + 1 - PIECE;
			size_t got;

			if (best && p + i > best)
				return best;
			if (!nd->indexed && nd->direct == DIRECT_MAX) {
				index_grams(nd);
				nd->indexed = true;
			}
			if (nd->indexed) {
				h = roll(nd, h, p + i, i != rolled);
				rolled = i + 1;
				got = piece_at(nd, h, p + i, n - i);
			} else {
				nd->direct++;
				got = piece_search(nd, p + i, n - i);
			}
			if (got && (!best || p + i < best || got > *len)) {
				*len = got;
				return p + i;
			}
		}
		carry = ~m ? (unsigned)__builtin_clzll(~m) : PIECE - 1;
		if (carry > PIECE - 1)
			carry = PIECE - 1;
	}
	return best;
}

/* The needles of the key last searched for on this thread. An alert
 * scrubs its summary and each text of its evidence with one key: its
 * byte set and forms are made once a key, not once a text, and so is its
 * filter when it gets one, and the windows looked for without it count
 * over all of the key's texts. The cache holds a copy of the key in this
 * thread's memory only, as the event did. */
static struct needles *needles_for(struct kw_str key)
{
	static _Thread_local struct {
		struct needles nd;
		char key[KW_KEY_MAX_LEN];
		bool built;
	} c;

	if (key.n > KW_KEY_MAX_LEN)
		key.n = KW_KEY_MAX_LEN; /* longer is no key (the decoder) */
	if (c.built && c.nd.key.n == key.n && !memcmp(c.key, key.p, key.n))
		return &c.nd;
	memcpy(c.key, key.p, key.n);
	needles_init(&c.nd, (struct kw_str){c.key, key.n});
	c.built = true;
	return &c.nd;
}

/* Whether text is too short to hold the key or a piece of it. */
static bool too_short(struct kw_str text, struct kw_str key)
{
	return !key.n || text.n < (key.n < PIECE ? key.n : PIECE);
}

bool kw_key_in(struct kw_str text, struct kw_str key)
{
	size_t len;

	if (too_short(text, key))
		return false;
	return needles_find(needles_for(key), text.p, text.n, &len) != NULL;
}

/* Bytes of p[0..n) that fit in out from *o up to lim, copied. False when
 * not all of them fit. */
static bool put(char *out, size_t *o, size_t lim, const char *p, size_t n)
{
	size_t take = n < lim - *o ? n : lim - *o;

	memcpy(out + *o, p, take);
	*o += take;
	return take == n;
}

size_t kw_key_scrub(char *out, size_t cap, struct kw_str text,
		    struct kw_str key, const char *id)
{
	struct needles *nd = too_short(text, key) ? NULL : needles_for(key);
	size_t longest = nd ? nd->longest : 0;
	size_t lim = cap - 1, o = 0, i = 0, idn = strlen(id);
	bool whole = true;

	while (i < text.n && whole) {
		/* What can still reach the output, and a key that starts
		 * there and runs past it. */
		size_t win = lim - o + 1 + longest;
		size_t end = text.n - i < win ? text.n : i + win;
		size_t len = 0;
		const char *hit = nd && nd->n ? needles_find(nd, text.p + i,
							     end - i, &len)
					      : NULL;
		size_t plain = hit ? (size_t)(hit - (text.p + i)) : end - i;

		whole = put(out, &o, lim, text.p + i, plain);
		i += plain;
		if (hit && whole) {
			whole = put(out, &o, lim, id, idn);
			i += len;
		}
	}
	if (!whole || i < text.n) {
		/* Cut: room for the marker, at a character boundary. */
		if (o > lim - ELLIPSIS_LEN)
			o = lim - ELLIPSIS_LEN;
		while (o > 0 && ((unsigned char)out[o] & 0xc0) == 0x80)
			o--;
		memcpy(out + o, ellipsis, ELLIPSIS_LEN);
		o += ELLIPSIS_LEN;
	}
	out[o] = '\0';
	return o;
}

/* ---- glob ------------------------------------------------------------- */

bool kw_key_glob(const char *pattern, const char *key, size_t n)
{
	/* One implementation of the config's glob: core/glob.c. */
	return kw_glob_match(pattern, key, n);
}

/* Append n bytes of s to out (cap, o in/out), printable ASCII only. */
static void label_put(char *out, size_t *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		out[(*o)++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
}

void kw_key_principal_label(const char *arn, size_t n, char *out, size_t cap)
{
	size_t start = 0, colons = 0, acct = 0, o = 0;
	size_t type_end = 0, name = 0, lens[3];
	const char *parts[3];
	size_t np = 0, len = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	if (n > 4 && !memcmp(arn, "arn:", 4)) {
		for (size_t i = 0; i < n && colons < 5; i++) {
			if (arn[i] != ':')
				continue;
			if (++colons == 4)
				start = i + 1;
			else if (colons == 5)
				acct = i + 1;
		}
		if (colons < 5 || acct >= n)
			start = acct = 0;
	}
	/* ACCOUNT:, then the resource; an IAM role's or user's path (the
	 * part between its type and its name) is left out: names are unique
	 * in an account whatever their path. */
	parts[np] = arn + start;
	lens[np++] = acct - start;
	name = acct;
	if (acct && ((n - acct > 5 && !memcmp(arn + acct, "role/", 5)) ||
		     (n - acct > 5 && !memcmp(arn + acct, "user/", 5)))) {
		type_end = acct + 5;
		name = n;
		while (name > type_end && arn[name - 1] != '/')
			name--;
		parts[np] = arn + acct;
		lens[np++] = 5;
	}
	parts[np] = arn + name;
	lens[np++] = n - name;
	for (size_t i = 0; i < np; i++)
		len += lens[i];
	/* Too long: without the account; still too long: its end. */
	if (len + 1 > cap && np > 1 && lens[0]) {
		len -= lens[0];
		lens[0] = 0;
	}
	if (len + 1 > cap) {
		if (cap < 5)
			return;
		memcpy(out, "\xe2\x80\xa6", 3);
		o = 3;
		label_put(out, &o, arn + n - (cap - 4), cap - 4);
		out[o] = '\0';
		return;
	}
	for (size_t i = 0; i < np; i++)
		label_put(out, &o, parts[i], lens[i]);
	out[o] = '\0';
}
