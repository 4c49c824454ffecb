/*
 * fuzz_decode_github_audit.c - libFuzzer target: the GitHub audit log
 * decoder on whole inputs (streamed lines, the REST API's JSON arrays) cut
 * by the splitter, events enriched through the shipped models. A second
 * instance maps the key onto the actor and a status path. Checks: see
 * fuzz_decode.c.
 */
#include "fuzz.h"
#include "fuzz_decode.h"

static const struct kw_decoder_conf *confs[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const specs[] = {"api_key=actor",
					    "status=response.status"};

	(void)argc;
	(void)argv;
	fuzz_decode_setup(specs, 2, confs);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(&kw_decoder_github_audit, confs, 2, data, size);
	return 0;
}
