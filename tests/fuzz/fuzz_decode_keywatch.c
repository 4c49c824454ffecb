/*
 * fuzz_decode_keywatch.c - libFuzzer target: the keywatch decoder (JSON
 * lines of API requests, with the aliases of doc/input-formats.md) and the
 * same decoder under a field map (--map), on whole inputs cut by the
 * splitter, events enriched through the shipped models.
 *
 * The map moves every field under nested paths, the way a foreign JSON-lines
 * log holds them, the key also inside an Authorization header (Basic, a
 * regex); the corpus has records of each shape. Checks: see
 * fuzz_decode.c (every event within the decoder contract, every record an
 * event or a counted skip).
 */
#include <stdlib.h>
#include <string.h>

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

/* The same layout with the key inside an Authorization header, in the
 * forms that decode or match (ingest/keyform.h): tests/golden/
 * key-in-header-* are in the corpus. */
static const char *const key_forms[] = {
	"api_key=request.headers.authorization|basic",
	"api_key=request.headers.authorization|regex:^Token "
	"token=\"([^\"]+)\"",
};
#define NFORMS (sizeof(key_forms) / sizeof(key_forms[0]))

static const struct kw_decoder_conf *confs[2 + NFORMS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct kw_field_map map[NFORMS][NMAP];
	static struct kw_decoder_conf conf[NFORMS];
	struct kw_error err;

	(void)argc;
	(void)argv;
	fuzz_decode_setup(map_specs, NMAP, confs);
	for (size_t c = 0; c < NFORMS; c++) {
		for (size_t i = 0; i < NMAP; i++) {
			const char *spec = map_specs[i];

			if (!strncmp(spec, "api_key=", 8))
				spec = key_forms[c];
			if (kw_field_map_parse(spec, &map[c][i], &err) != KW_OK)
				abort();
		}
		conf[c] = (struct kw_decoder_conf){.map = map[c], .nmap = NMAP};
		confs[2 + c] = &conf[c];
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(&kw_decoder_keywatch, confs, 2 + NFORMS, data, size);
	return 0;
}
