/*
 * fuzz_scrub.c - libFuzzer target: kw_key_scrub and kw_key_in (core/key.c).
 *
 * The input: its first byte's low 7 bits are the key's length (at most
 * what follows), then the key, then the text.
 *
 * Invariants:
 *   - with room for the whole result, the scrub writes what the reference
 *     of its definition writes (tests/unit/scrub_reference.h, shared with
 *     test_key.c's differential test); key and text are exact-size copies,
 *     so that a read past either end is an ASan report;
 *   - kw_key_in says the text holds the key, a form of it or a piece
 *     exactly when the reference changes the text;
 *   - with less room (the input's length picks how much), the result is
 *     NUL-terminated within the room, and is the full result's start
 *     followed by the "…" marker when it was cut.
 * Seeds: corpus/scrub.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/key.h"
#include "fuzz.h"
#include "../unit/scrub_reference.h"

#define ID "<K>"

static char *copy_of(const uint8_t *p, size_t n)
{
	char *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, p, n);
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t kn, tn, cap, n, small, full;
	char *key, *text, *want, *got;

	if (size < 1)
		return 0;
	kn = data[0] & 0x7f;
	if (kn > size - 1)
		kn = size - 1;
	tn = size - 1 - kn;
	key = copy_of(data + 1, kn);
	text = copy_of(data + 1 + kn, tn);
	cap = tn * (sizeof(ID) - 1 + 1) + 1;
	want = malloc(cap);
	got = malloc(cap);
	if (!want || !got)
		abort();
	full = ref_scrub(want, text, tn, key, kn, ID);
	n = kw_key_scrub(got, cap, (struct kw_str){text, tn},
			 (struct kw_str){key, kn}, ID);
	if (n != full || memcmp(got, want, full + 1) != 0)
		fuzz_fail(data, size, "scrubbed to \"%s\", not \"%s\"", got,
			  want);
	if (kw_key_in((struct kw_str){text, tn}, (struct kw_str){key, kn}) !=
	    (full != tn || memcmp(want, text, tn) != 0))
		fuzz_fail(data, size, "kw_key_in disagrees with the reference");
	/* A room the input chooses, from the marker's size up. */
	small = 8 + (size_t)data[0] % 64;
	if (small < cap) {
		n = kw_key_scrub(got, small, (struct kw_str){text, tn},
				 (struct kw_str){key, kn}, ID);
		if (n >= small || got[n] != '\0')
			fuzz_fail(data, size, "%zu bytes in a room of %zu", n,
				  small);
		if (full < small
			    ? n != full || memcmp(got, want, full) != 0
			    : n < 3 || memcmp(got + n - 3, "\xe2\x80\xa6", 3) ||
				      memcmp(got, want, n - 3) != 0)
			fuzz_fail(data, size,
				  "in a room of %zu: \"%s\", the whole \"%s\"",
				  small, got, want);
	}
	free(want);
	free(got);
	free(text);
	free(key);
	return 0;
}
