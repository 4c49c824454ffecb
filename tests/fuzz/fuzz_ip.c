/*
 * fuzz_ip.c - libFuzzer target: kw_ip_parse (core/ip.c), kw_ip_format and
 * kw_cidr_parse.
 *
 * Invariants:
 *   - kw_ip_parse answers as the reference built on inet_pton
 *     (tests/unit/ip_reference.h, shared with the differential test): the
 *     same texts, family and bytes; the input is parsed from an exact-size
 *     copy, so that a read past its end is an ASan report;
 *   - what it accepts formats and parses back to the same address;
 *   - a CIDR network parses to at most 32/128 bits, masked, and contains
 *     its own address.
 * Seeds: corpus/ip and ip_corpus.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/event.h"
#include "fuzz.h"
#include "../unit/ip_reference.h"

static void check_cidr(const uint8_t *data, size_t size)
{
	char *s = fuzz_strdup(data, size);
	struct kw_cidr c;

	if (kw_cidr_parse(s, &c)) {
		unsigned max = c.net.family == 4 ? 32 : 128;

		if (c.net.family != 4 && c.net.family != 6)
			fuzz_fail(data, size, "cidr family %d", c.net.family);
		if (c.bits > max)
			fuzz_fail(data, size, "cidr of %u bits", c.bits);
		for (unsigned b = c.bits; b < max; b++) {
			if (c.net.addr[b / 8] & (0x80 >> (b % 8)))
				fuzz_fail(data, size, "bit %u not masked", b);
		}
		if (!kw_cidr_contains(&c, &c.net))
			fuzz_fail(data, size, "a network without its address");
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	struct kw_ip ip, want, back;
	bool ok, ref;
	const char *why;
	char text[64];

	if (!copy)
		abort();
	memcpy(copy, data, size);
	ok = kw_ip_parse(&ip, copy, size);
	ref = ref_ip_parse(&want, (const char *)data, size);
	why = ip_compare(ok, &ip, ref, &want);
	if (why)
		fuzz_fail(data, size, "kw_ip_parse against inet_pton: %s", why);
	if (ok) {
		kw_ip_format(&ip, text, sizeof(text));
		if (!kw_ip_parse(&back, text, strlen(text)) ||
		    back.family != ip.family || memcmp(back.addr, ip.addr, 16))
			fuzz_fail(data, size, "'%s' does not read back", text);
	}
	free(copy);
	check_cidr(data, size);
	return 0;
}
