/*
 * fuzz_config.c - libFuzzer target: the JSON config, loaded from a file as
 * `scan -c` and `watch -c` load it, then checked and used the way they use
 * it: the detectors' options (kw_detect_check_config), every sink created
 * from its object (a file sink's path is moved into the target's temporary
 * directory; nothing is ever delivered through them), the keys' globs and
 * permissions, and an engine built on it that reads the fixed logs of
 * tests/fuzz/events with the config's keys, suppressions, learning period,
 * bounds and detector options.
 *
 * Invariants: a config is loaded or refused with KW_ECONFIG (or ENOMEM)
 * and a message that starts with the file's name; a refused sink or
 * detector option is the same; no alert the config lets through holds a
 * full key (fuzz_engine.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "detect/detector.h"
#include "core/log.h"
#include "fuzz.h"
#include "fuzz_engine.h"
#include "sink/sink.h"

static char path[600], alerts[600];

static const enum kw_status bad_config[] = {KW_ECONFIG, KW_EUSAGE, KW_OK};

static void try_sinks(const struct kw_config *cfg, const uint8_t *data,
		      size_t size)
{
	struct kw_sink_env env = {
		.file = cfg->file, .where = "sinks", .output = KW_OUTPUT_NONE};
	json_t *conf;
	size_t i;

	json_array_foreach(cfg->sinks, i, conf)
	{
		json_t *copy = json_deep_copy(conf);
		struct kw_sink *s = NULL;
		struct kw_error err;
		enum kw_status st;
		const char *type;
		char desc[512];

		if (!copy)
			abort();
		type = json_string_value(json_object_get(copy, "type"));
		if (type && !strcmp(type, "file") &&
		    json_object_get(copy, "path"))
			json_object_set_new(copy, "path", json_string(alerts));
		st = kw_sink_create(copy, i, &env, &s, &err);
		if (st != KW_OK) {
			fuzz_refused(data, size, st, &err, path, bad_config);
		} else {
			kw_sink_describe(s, desc, sizeof(desc));
			fuzz_touch(desc, strlen(desc));
		}
		kw_sink_destroy(s);
		json_decref(copy);
	}
}

static void try_keys(const struct kw_config *cfg)
{
	static const char *const keys[] = {
		"sk_live_51HgeoBackendKeyForGoldenTests0LDN",
		"pk_live_51HgeoCheckoutWebKeyGoldenTestsPk9",
		"rk_live_51HgeoAnalyticsKeyGoldenTestsA1b2",
		"AKIAIOSFODNN7EXAMPLE",
		"sk_live_…0LDN",
	};
	static const char *const resources[] = {"charges", "customers",
						"refunds", "iam"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct kw_keyconf *k =
			kw_config_key(cfg, keys[i], strlen(keys[i]));

		for (size_t j = 0; k && k->has_perms && j < 4; j++)
			kw_keyconf_access(k, resources[j],
					  strlen(resources[j]));
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	fuzz_engine_setup();
	snprintf(path, sizeof(path), "%s/keywatch.json", fuzz_dir());
	snprintf(alerts, sizeof(alerts), "%s/alerts.jsonl", fuzz_dir());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_config *cfg = NULL;
	struct fuzz_engine fe;
	struct kw_error err;
	enum kw_status st;

	fuzz_write_file(path, data, size);
	st = kw_config_load(path, &cfg, &err);
	if (st != KW_OK) {
		fuzz_refused(data, size, st, &err, path, bad_config);
		return 0;
	}
	if (!cfg || strcmp(cfg->file, path) != 0 || !cfg->detectors ||
	    !cfg->sinks || !cfg->map)
		fuzz_fail(data, size, "loaded config incomplete");
	st = kw_detect_check_config(cfg, &err);
	if (st != KW_OK) {
		fuzz_refused(data, size, st, &err, path, bad_config);
		goto cleanup;
	}
	try_sinks(cfg, data, size);
	try_keys(cfg);
	if (fuzz_engine_create(&fe, cfg, &err)) {
		fuzz_engine_run(&fe, data, size);
		fuzz_engine_destroy(&fe);
	} else {
		fuzz_refused(data, size, err.status, &err, path, bad_config);
	}
cleanup:
	kw_config_free(cfg);
	return 0;
}
