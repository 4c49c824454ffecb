/*
 * fuzz_model.c - libFuzzer target: an API model (models/README.md), loaded
 * from DIR/NAME.json as the config's "models" list loads it (NAME: the
 * model's own "name", which must match its file's), then used:
 * every fixed request below is enriched through it (prefixes, routes,
 * placeholders, op_rules, normalised paths), and the queries `check` and
 * the detectors make of a model are asked.
 *
 * Invariants: a model is loaded or refused with KW_ECONFIG (or ENOMEM) and
 * a message naming the file; an enriched event has a kind, mode and access
 * within their enums, an operation and resource that are readable memory,
 * and an operation set by the decoder (CloudTrail) is kept as it was.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/log.h"
#include "enrich/model.h"
#include "fuzz.h"

static char path[600];
static const enum kw_status bad_model[] = {KW_ECONFIG, KW_OK};

struct req {
	const char *key, *method, *path, *op;
	int8_t livemode;
};

static const struct req reqs[] = {
	{"sk_live_51HxAbCdEfGhIjKlMn0pQrStUv4242", "POST", "/v1/refunds", NULL,
	 1},
	{"pk_test_51HxAbCdEfGhIjKlMn0pQrStUv9999", "get",
	 "/v1/customers/cus_NffrFeUfNV2Hib/sources?limit=3", NULL, 0},
	{"rk_live_51HxAbCdEfGhIjKlMn0pQrStUv1b2c", "DELETE",
	 "https://api.example.com/v1/webhook_endpoints/we_1Mr5jULkdIwHu7ix#f",
	 NULL, -1},
	{"sk_live_…4242", "GET", "/v1/customers/search", NULL, 1},
	{"sk_live_...4242", "POST", "/v1//charges/ch_3MxAbCdEf12/capture/",
	 NULL, 1},
	{"sk_test_x", "GET",
	 "/api/v2beta/things/123e4567-e89b-12d3-a456-426614174000/"
	 "deadbeefdeadbeefdead/AKIAIOSFODNN7EXAMPLE",
	 NULL, -1},
	{"unknown_key", "PATCH", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s", NULL,
	 -1},
	{"", "", "/", NULL, -1},
	{"AKIAIOSFODNN7EXAMPLE", "", "", "iam:CreateUser", -1},
	{"ASIAY34FZKBOKMUTVV7A", "", "", "s3:GetObject", -1},
	{"AKIAIOSFODNN7EXAMPLE", "", "", "cloudtrail:StopLogging", -1},
	{"sk_live_51HxAbCdEfGhIjKlMn0pQrStUv4242", "", "", "refunds.create", 1},
};
#define NREQS (sizeof(reqs) / sizeof(reqs[0]))

static struct kw_str str(const char *s)
{
	return (struct kw_str){.p = s, .n = strlen(s)};
}

static void enrich_all(const struct kw_models *m, const uint8_t *data,
		       size_t size)
{
	struct kw_arena arena;

	kw_arena_init(&arena, 1 << 16);
	for (size_t i = 0; i < NREQS; i++) {
		struct kw_event ev;
		enum kw_key_kind kind;
		enum kw_key_mode mode;

		memset(&ev, 0, sizeof(ev));
		ev.key = str(reqs[i].key);
		ev.method = str(reqs[i].method);
		ev.path = str(reqs[i].path);
		ev.livemode = reqs[i].livemode;
		if (reqs[i].op)
			ev.op = str(reqs[i].op);
		kw_models_enrich(m, &ev, &arena);
		if ((unsigned)ev.key_kind >= KW_KIND_MAX ||
		    (unsigned)ev.key_mode >= KW_MODE_MAX ||
		    (unsigned)ev.access >= KW_ACCESS_MAX)
			fuzz_fail(data, size, "request %zu: out of range", i);
		if (reqs[i].op && (ev.op.n != strlen(reqs[i].op) ||
				   memcmp(ev.op.p, reqs[i].op, ev.op.n)))
			fuzz_fail(data, size, "request %zu: op changed", i);
		if (ev.op.n)
			fuzz_touch(ev.op.p, ev.op.n);
		if (ev.resource.n)
			fuzz_touch(ev.resource.p, ev.resource.n);
		if (ev.op.n && kw_models_sensitive_reason(m, ev.op.p, ev.op.n))
			fuzz_touch(
				kw_models_sensitive_reason(m, ev.op.p, ev.op.n),
				1);
		kw_models_key_kind(m, ev.key.p, ev.key.n, &kind, &mode);
		if ((unsigned)kind >= KW_KIND_MAX ||
		    (unsigned)mode >= KW_MODE_MAX)
			fuzz_fail(data, size, "key kind out of range");
		kw_arena_reset(&arena);
	}
	kw_arena_destroy(&arena);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

/* A model must be named as its file: the file is named after the input's
 * "name" when it has one that can be a file name, else "fuzz". */
static void model_name(const uint8_t *data, size_t size, char *name, size_t cap)
{
	json_t *root = json_loadb((const char *)data, size, 0, NULL);
	const char *n = json_string_value(json_object_get(root, "name"));

	snprintf(name, cap, "fuzz");
	if (n && n[0] && n[0] != '.' && !strchr(n, '/') && strlen(n) < 64)
		snprintf(name, cap, "%s", n);
	json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_models *m = NULL;
	struct kw_model_info info;
	struct kw_error err;
	enum kw_status st;
	char name[64];
	const char *names[] = {name};

	model_name(data, size, name, sizeof(name));
	fuzz_clean_dir();
	snprintf(path, sizeof(path), "%s/%s.json", fuzz_dir(), name);
	fuzz_write_file(path, data, size);
	st = kw_models_load(fuzz_dir(), names, 1, &m, &err);
	if (st != KW_OK) {
		fuzz_refused(data, size, st, &err, path, bad_model);
		return 0;
	}
	if (kw_models_count(m) != 1)
		fuzz_fail(data, size, "%zu models", kw_models_count(m));
	kw_models_info(m, 0, &info);
	fuzz_touch(info.name, strlen(info.name));
	kw_models_has_resource(m, "charges");
	kw_models_has_resource(m, "iam");
	enrich_all(m, data, size);
	kw_models_destroy(m);
	return 0;
}
