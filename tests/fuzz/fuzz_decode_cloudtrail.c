/*
 * fuzz_decode_cloudtrail.c - libFuzzer target: the CloudTrail decoder on
 * whole inputs ({"Records": [...]} documents, arrays, one record a line)
 * cut by the splitter, events enriched through the shipped models (the
 * AWS model's operation rules). A second instance maps the status onto an
 * integer path, which CloudTrail's decoder accepts besides errorCode.
 * Checks: see fuzz_decode.c.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "fuzz_decode.h"

static const struct kw_decoder_conf *confs[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct kw_field_map map[2];
	static struct kw_decoder_conf conf = {.map = map, .nmap = 2};
	struct kw_error err;

	(void)argc;
	(void)argv;
	fuzz_setup();
	if (kw_field_map_parse("status=additionalEventData.status", &map[0],
			       &err) != KW_OK ||
	    kw_field_map_parse("ip=tlsDetails.clientProvidedHostHeader",
			       &map[1], &err) != KW_OK)
		abort();
	confs[0] = NULL;
	confs[1] = &conf;
	fuzz_models();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(&kw_decoder_cloudtrail, confs, 2, data, size);
	return 0;
}
