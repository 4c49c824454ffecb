/*
 * fuzz_engine.c - the engine harness of fuzz_engine.h.
 *
 * The fixed logs are read once at start; each run feeds them through
 * kw_engine_feed(), the path `watch` uses for what it read, in file order.
 * The router of each engine has one sink, made here with its own ops, that
 * renders and checks every alert: a sink is the only place where what the
 * detectors made of hostile state or config becomes output.
 */
#include "fuzz_engine.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/router.h"
#include "core/log.h"
#include "enrich/geoip.h"
#include "enrich/model.h"
#include "fuzz.h"
#include "sink/sink.h"

#define MAX_LOGS 4
#define MAX_KEYS 64

static const char *const log_names[MAX_LOGS] = {
	"geo.jsonl", "policy.jsonl", "ops.jsonl", "cloudtrail.jsonl"};

static struct {
	char *text[MAX_LOGS];
	size_t len[MAX_LOGS];
	char *keys[MAX_KEYS]; /* every full key of the logs */
	size_t nkeys;
	struct kw_models *models;
	struct kw_geoip *geoip;
	const uint8_t *data; /* the input being run, for reports */
	size_t size;
	uint64_t alerts; /* checked in this run */
} fx;

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "fuzz: cannot read %s\n", path);
		abort();
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		abort();
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Remember the value of every "api_key" or "accessKeyId" in text. */
static void collect_keys(const char *text)
{
	static const char *const names[] = {"\"api_key\":\"",
					    "\"accessKeyId\":\""};

	for (size_t k = 0; k < 2; k++) {
		const char *p = text;

		while ((p = strstr(p, names[k]))) {
			const char *v = p + strlen(names[k]);
			const char *end = strchr(v, '"');
			bool known = false;

			if (!end)
				break;
			for (size_t i = 0; i < fx.nkeys; i++)
				known |= strlen(fx.keys[i]) ==
						 (size_t)(end - v) &&
					 !strncmp(fx.keys[i], v, end - v);
			if (!known && fx.nkeys < MAX_KEYS)
				fx.keys[fx.nkeys++] = strndup(v, end - v);
			p = end;
		}
	}
}

void fuzz_engine_setup(void)
{
	static const char *const dbs[] = {
		KW_SOURCE_ROOT "/tests/fixtures/geoip/city.mmdb",
		KW_SOURCE_ROOT "/tests/fixtures/geoip/asn.mmdb",
		KW_SOURCE_ROOT "/tests/fixtures/geoip/anon.mmdb",
	};
	struct kw_error err;
	char path[1024];

	if (fx.models)
		return;
	for (size_t i = 0; i < MAX_LOGS; i++) {
		snprintf(path, sizeof(path), "%s/tests/fuzz/events/%s",
			 KW_SOURCE_ROOT, log_names[i]);
		fx.text[i] = slurp(path, &fx.len[i]);
		collect_keys(fx.text[i]);
	}
	if (kw_models_load(KW_SOURCE_ROOT "/models", NULL, 0, &fx.models,
			   &err) != KW_OK ||
	    kw_geoip_open(dbs, 3, &fx.geoip, &err) != KW_OK) {
		fprintf(stderr, "fuzz: %s\n", err.msg);
		abort();
	}
}

/* ---- the checking sink ---- */

static void check_text(const char *what, const char *text)
{
	for (size_t i = 0; i < fx.nkeys; i++) {
		if (strstr(text, fx.keys[i]))
			fuzz_fail(fx.data, fx.size,
				  "a full key in an alert's %s", what);
	}
}

static enum kw_sink_result check_deliver(void *self, const struct kw_alert *a,
					 const char *json, size_t len,
					 struct kw_error *err)
{
	char text[4096];
	char *again;

	(void)self;
	(void)err;
	fx.alerts++;
	fuzz_alert_json(fx.data, fx.size, json, len);
	check_text("JSON", json);
	kw_alert_to_text(a, true, text, sizeof(text));
	check_text("text", text);
	again = kw_alert_to_json(a);
	if (again && strcmp(again, json) != 0)
		fuzz_fail(fx.data, fx.size, "alert JSON not stable");
	free(again);
	return KW_SINK_OK;
}

static const struct kw_sink_ops check_ops = {
	.name = "fuzz-check",
	.options = NULL,
	.create = NULL, /* made by hand below, never from a config */
	.deliver = check_deliver,
};

/* ---- the engine ---- */

bool fuzz_engine_create(struct fuzz_engine *fe, const struct kw_config *cfg,
			struct kw_error *err)
{
	struct kw_sink *sink;
	struct kw_engine_opts eo;

	memset(fe, 0, sizeof(*fe));
	if (kw_router_create(cfg, KW_SEV_INFO, &fe->router, err) != KW_OK)
		abort();
	sink = calloc(1, sizeof(*sink));
	if (!sink)
		abort();
	sink->ops = &check_ops;
	snprintf(sink->name, sizeof(sink->name), "fuzz-check");
	kw_router_add_sink(fe->router, sink);
	eo = (struct kw_engine_opts){
		.cfg = cfg,
		.models = fx.models,
		.router = fe->router,
		.geoip = fx.geoip,
	};
	if (kw_engine_create(&eo, &fe->e, err) != KW_OK) {
		fuzz_engine_destroy(fe);
		return false;
	}
	return true;
}

void fuzz_engine_run(struct fuzz_engine *fe, const uint8_t *data, size_t size)
{
	fx.data = data;
	fx.size = size;
	fx.alerts = 0;
	for (size_t i = 0; i < MAX_LOGS; i++)
		kw_engine_feed(fe->e, fx.text[i], fx.len[i], log_names[i],
			       NULL);
	kw_engine_finish(fe->e);
	kw_router_drain(fe->router, 0);
	kw_log_debug("fuzz", "%llu alerts checked",
		     (unsigned long long)fx.alerts);
}

void fuzz_engine_destroy(struct fuzz_engine *fe)
{
	kw_engine_destroy(fe->e);
	kw_router_destroy(fe->router);
	fe->e = NULL;
	fe->router = NULL;
}
