/*
 * fuzz_ip_parse.c - libFuzzer target: kw_ip_parse against inet_pton.
 *
 * Every input is given to the hand-written parser (core/ip.c, as an
 * exact-size copy so a read past the end is an ASan report) and to the
 * reference built on inet_pton (tests/unit/ip_reference.h); any
 * disagreement in the answer, the family or the address bytes prints the
 * case and abort()s.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined
 *   ninja -C build-fuzz tests/fuzz/fuzz_ip_parse
 *   build-fuzz/tests/fuzz/fuzz_ip_parse -max_total_time=300 \
 *           CORPUS_DIR tests/fuzz/ip_corpus
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "../unit/ip_reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_ip a, b;
	char *copy;
	bool ok_a, ok_b;
	const char *why;

	if (size > 256)
		return 0; /* no address is longer; keeps runs fast */
	copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	ok_a = kw_ip_parse(&a, copy, size);
	ok_b = ref_ip_parse(&b, (const char *)data, size);
	why = ip_compare(ok_a, &a, ok_b, &b);
	if (why) {
		fprintf(stderr, "kw_ip_parse disagrees with inet_pton: %s\n",
			why);
		for (size_t i = 0; i < size; i++)
			fprintf(stderr, "\\x%02x", data[i]);
		fprintf(stderr, "\n");
		abort();
	}
	free(copy);
	return 0;
}
