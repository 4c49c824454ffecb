/*
 * fuzz_decode_gcp_audit.c - libFuzzer target: the GCP Cloud Audit Logs
 * decoder on whole inputs (LogEntry lines, BigQuery rows, gcloud's JSON
 * arrays) cut by the splitter, events enriched through the shipped models.
 * A second instance maps the key onto the principal (a mapped key is taken
 * as it is) and the status onto an HTTP status path. Checks: see
 * fuzz_decode.c.
 */
#include "fuzz.h"
#include "fuzz_decode.h"

static const struct kw_decoder_conf *confs[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const specs[] = {
		"api_key=protoPayload.authenticationInfo.principalEmail",
		"status=httpRequest.status"};

	(void)argc;
	(void)argv;
	fuzz_decode_setup(specs, 2, confs);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(&kw_decoder_gcp_audit, confs, 2, data, size);
	return 0;
}
