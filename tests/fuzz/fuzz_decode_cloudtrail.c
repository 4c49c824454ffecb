/*
 * fuzz_decode_cloudtrail.c - libFuzzer target: the CloudTrail decoder on
 * whole inputs ({"Records": [...]} documents, arrays, one record a line)
 * cut by the splitter, events enriched through the shipped models (the
 * AWS model's operation rules). A second instance maps the status onto an
 * integer path, which CloudTrail's decoder accepts besides errorCode.
 * Checks: see fuzz_decode.c.
 */
#include "fuzz.h"
#include "fuzz_decode.h"

static const struct kw_decoder_conf *confs[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const specs[] = {
		"status=additionalEventData.status",
		"ip=tlsDetails.clientProvidedHostHeader"};

	(void)argc;
	(void)argv;
	fuzz_decode_setup(specs, 2, confs);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(&kw_decoder_cloudtrail, confs, 2, data, size);
	return 0;
}
