/*
 * fuzz_decode_keywatch.c - libFuzzer target: the keywatch decoder (JSON
 * lines of API requests, with the aliases of doc/input-formats.md) and the
 * same decoder under a field map (--map), on whole inputs cut by the
 * splitter, events enriched through the shipped models.
 *
 * The map moves every field under nested paths, the way a foreign JSON-lines
 * log holds them; the corpus has records of both shapes. Checks: see
 * fuzz_decode.c (every event within the decoder contract, every record an
 * event or a counted skip).
 */
#include "fuzz.h"
#include "fuzz_decode.h"

/* A foreign log's layout: the API gateway of tests/golden/field-map, whose
 * gateway.jsonl is in the corpus. */
static const char *const map_specs[] = {
	"created=@timestamp",
	"api_key=request.headers.x-api-key",
	"method=request.method",
	"path=request.uri",
	"status=response.status",
	"ip=client.ip",
	"user_agent=request.headers.user-agent",
	"origin=request.headers.origin",
	"id=request.id",
};
#define NMAP (sizeof(map_specs) / sizeof(map_specs[0]))

static const struct kw_decoder_conf *confs[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_decode_setup(map_specs, NMAP, confs);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(&kw_decoder_keywatch, confs, 2, data, size);
	return 0;
}
