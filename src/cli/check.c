/*
 * check.c - `keywatch check -c CONFIG`: load and check the config, the
 * models and the GeoIP databases exactly as scan and watch would, and print
 * what would run. Nothing is read or written besides them: sinks are
 * checked, not created (a file sink's file is not touched). Secrets are
 * never printed, and neither is a key: a key pasted whole into the config
 * (a `match` or a suppression's `key` without '*') is shown as its redacted
 * id, wherever it appears, with a warning. Detectors are shown as they
 * would really run: a geo detector whose data no GeoIP database gives is
 * off, with why. Exit 0 when everything is in order, 2 otherwise.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/json_dump.h"
#include "core/key.h"
#include "core/kafka.h"
#include "core/log.h"
#include "core/time.h"
#include "detect/detector.h"
#include "enrich/geoip.h"
#include "ingest/inputs.h"

/* How long `check` waits for the brokers of a Kafka input or sink. */
#define KAFKA_PROBE_MS 5000

/* ---- keys pasted whole into the config ----------------------------------
 *
 * `match` is a glob over the key as written in the log, so one without '*'
 * is the key itself; a suppression's `key` is a glob over the redacted id,
 * so one without '*' or "…" is a key pasted where its id belongs (and
 * matches nothing). Either is a secret in the config: shown redacted, and
 * redacted by value in everything else check prints.
 */

struct whole_keys {
	const char **v; /* borrowed from the config */
	size_t n;
};

static bool whole_key(const char *v)
{
	return v && v[0] && strcmp(v, "?") && !strchr(v, '*') &&
	       !kw_key_is_redacted(v, strlen(v));
}

/* "sk_live_…4242" -> "sk_live_*4242": the glob to write instead, or ""
 * when the id shows too little of the key to make one. */
static void glob_of(const char *id, char *out, size_t cap)
{
	const char *e = strstr(id, "\xe2\x80\xa6");

	if (!e || !e[3])
		snprintf(out, cap, "%s", "");
	else
		snprintf(out, cap, "%.*s*%s", (int)(e - id), id, e + 3);
}

static void find_whole_keys(const struct kw_config *cfg, struct whole_keys *w)
{
	w->n = 0;
	w->v = calloc(cfg->nkeys + cfg->nsuppress + 1, sizeof(*w->v));
	for (size_t i = 0; w->v && i < cfg->nkeys; i++) {
		if (whole_key(cfg->keys[i].match))
			w->v[w->n++] = cfg->keys[i].match;
	}
	for (size_t i = 0; w->v && i < cfg->nsuppress; i++) {
		if (whole_key(cfg->suppress[i].key))
			w->v[w->n++] = cfg->suppress[i].key;
	}
}

/* text with every whole key of the config in it shown as its redacted
 * id; buf (cap bytes) may be used. Returns what to print. */
static const char *shown(const struct whole_keys *w, const char *text,
			 char *buf, size_t cap)
{
	const char *cur = text ? text : "";
	char tmp[2048], id[KW_KEY_ID_MAX];

	for (size_t i = 0; i < w->n; i++) {
		struct kw_str key = kw_str_c(w->v[i]);

		if (!kw_key_in(kw_str_c(cur), key))
			continue;
		kw_key_redact(key.p, key.n, id, sizeof(id));
		kw_key_scrub(tmp, sizeof(tmp), kw_str_c(cur), key, id);
		snprintf(buf, cap, "%s", tmp);
		cur = buf;
	}
	return cur;
}

static void warn_whole_key(const struct kw_config *cfg, const char *where,
			   size_t i, const char *key, const char *why)
{
	char id[KW_KEY_ID_MAX], glob[KW_KEY_ID_MAX];

	kw_key_redact(key, strlen(key), id, sizeof(id));
	glob_of(id, glob, sizeof(glob));
	kw_log_warn(NULL,
		    "%s: %s[%zu] holds a whole key (shown as %s)%s: write a "
		    "glob%s%s%s instead, so that the config does not hold the "
		    "secret",
		    cfg->file, where, i, id, why, glob[0] ? " such as \"" : "",
		    glob,
		    glob[0] ? "\""
			    : " (its prefix, '*', its last "
			      "characters)");
}

/* "  " and s padded to width characters (not bytes: "…" is one). */
static void print_padded(const char *s, size_t width)
{
	size_t chars = 0;

	for (const char *p = s; *p; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	printf("  %s%*s", s, (int)(chars < width ? width - chars : 0), "");
}

static void print_keys(const struct kw_config *cfg, const struct whole_keys *w)
{
	char ip[64], b1[2048], b2[2048];

	printf("keys: %zu configured\n", cfg->nkeys);
	for (size_t i = 0; i < cfg->nkeys; i++) {
		const struct kw_keyconf *k = &cfg->keys[i];

		if (whole_key(k->match))
			warn_whole_key(cfg, "keys", i, k->match, "");
		print_padded(shown(w, k->match, b1, sizeof(b1)), 20);
		printf(" %s",
		       k->name ? shown(w, k->name, b2, sizeof(b2)) : "-");
		if (k->honey)
			printf("; decoy");
		if (k->has_expires) {
			char t[32];

			printf("; rolled at %s",
			       kw_time_format(k->expires, t, sizeof(t)));
		}
		if (k->has_perms) {
			printf("; permissions:");
			for (size_t j = 0; j < k->nperms; j++)
				printf(" %s=%s", k->perms[j].resource,
				       kw_access_name(k->perms[j].access));
			if (!k->nperms)
				printf(" none");
		}
		if (k->nallow_ips) {
			printf("; allow_ips:");
			for (size_t j = 0; j < k->nallow_ips; j++)
				printf(" %s/%u",
				       kw_ip_format(&k->allow_ips[j].net, ip,
						    sizeof(ip)),
				       k->allow_ips[j].bits);
		}
		if (k->nallow_countries) {
			printf("; allow_countries:");
			for (size_t j = 0; j < k->nallow_countries; j++)
				printf(" %s", k->allow_countries[j]);
		}
		putchar('\n');
	}
}

/* Permissions name model resources: a typo would silently deny. */
static int check_permissions(const struct kw_cli_setup *s)
{
	int bad = 0;

	for (size_t i = 0; i < s->cfg->nkeys; i++) {
		const struct kw_keyconf *k = &s->cfg->keys[i];

		for (size_t j = 0; j < k->nperms; j++) {
			if (kw_models_has_resource(s->models,
						   k->perms[j].resource))
				continue;
			kw_log_error(NULL,
				     "%s: keys[%zu].permissions: '%s' is not a "
				     "resource of the loaded models",
				     s->cfg->file, i, k->perms[j].resource);
			bad = 1;
		}
	}
	return bad;
}

/* What the loaded databases give, KW_GEOIP_HAS_* or'ed. */
static unsigned geo_data(const struct kw_geoip *g)
{
	unsigned have = 0;

	for (size_t i = 0; i < kw_geoip_count(g); i++)
		have |= kw_geoip_provides(g, i);
	return have;
}

/* Whether detector name really runs, and why not (or how) in why. */
static bool runs(const struct kw_config *cfg, const char *name, unsigned have,
		 bool any_db, char *why, size_t cap)
{
	unsigned missing = kw_detect_geo_needs(name) & ~have;

	why[0] = '\0';
	if (!kw_detect_enabled(cfg, name)) {
		snprintf(why, cap, " (switched off in the config)");
		return false;
	}
	if (missing) {
		snprintf(why, cap, " (needs a GeoIP database with %s; %s)",
			 missing & KW_GEOIP_HAS_COUNTRY	   ? "countries"
			 : missing & KW_GEOIP_HAS_LOCATION ? "locations"
							   : "networks (ASN)",
			 any_db ? "the loaded ones have none: add one with "
				  "--geoip FILE"
				: "none is loaded: give one with --geoip FILE");
		return false;
	}
	if (!strcmp(name, "geo.new_ip") && !any_db)
		snprintf(why, cap, " (no GeoIP database: on addresses alone)");
	return true;
}

static void print_detectors(const struct kw_config *cfg,
			    const struct kw_geoip *geoip)
{
	const struct kw_detector_ops *const *all = kw_detect_all();
	unsigned have = geo_data(geoip);
	bool any_db = kw_geoip_count(geoip) > 0;
	char why[128];

	printf("detectors:\n");
	for (size_t i = 0; all[i]; i++) {
		for (size_t j = 0; all[i]->detectors[j]; j++) {
			const char *name = all[i]->detectors[j];
			bool on =
				runs(cfg, name, have, any_db, why, sizeof(why));

			printf("  %-4s %-24s %s%s\n", on ? "on" : "off", name,
			       all[i]->kind == KW_DETECTOR_POLICY ? "policy"
								  : "learned",
			       why);
		}
	}
}

static void print_suppress(const struct kw_config *cfg,
			   const struct whole_keys *w)
{
	time_t now = time(NULL);
	char t[32], b1[2048], b2[2048], b3[2048];

	printf("suppressions: %zu\n", cfg->nsuppress);
	for (size_t i = 0; i < cfg->nsuppress; i++) {
		const struct kw_suppress *s = &cfg->suppress[i];
		char *subject =
			kw_json_dump(s->subject, JSON_COMPACT | JSON_SORT_KEYS);

		if (whole_key(s->key))
			warn_whole_key(cfg, "suppress", i, s->key,
				       ", and as a suppression's key is "
				       "matched against the redacted id, it "
				       "matches nothing");
		printf("  %s %s %s",
		       shown(w, s->detector ? s->detector : "*", b1,
			     sizeof(b1)),
		       shown(w, s->key ? s->key : "*", b2, sizeof(b2)),
		       shown(w, subject ? subject : "{}", b3, sizeof(b3)));
		free(subject);
		if (s->has_until)
			printf(" until %s",
			       kw_time_format(s->until, t, sizeof(t)));
		if (s->reason)
			printf(" (%s)", shown(w, s->reason, b1, sizeof(b1)));
		putchar('\n');
		if (s->has_until && s->until / 1000000 < (int64_t)now)
			kw_log_warn(NULL,
				    "%s: suppress[%zu] expired at %s and no "
				    "longer applies to new alerts",
				    cfg->file, i, t);
	}
}

static int check_sinks(struct kw_cli_setup *s)
{
	struct kw_router *r = NULL;
	char desc[512];
	int rc;

	/* Create the sinks with output "none" so nothing is written; the
	 * file sink opens (and may create) its file, which is what watch
	 * would need to do anyway. */
	s->output = KW_OUTPUT_NONE;
	rc = kw_cli_router(s, false, &r);
	if (rc != KW_EXIT_OK)
		return rc;
	printf("sinks:\n");
	for (size_t i = 0; i < kw_router_nsinks(r); i++) {
		struct kw_sink *k = kw_router_sink(r, i);

		kw_sink_describe(k, desc, sizeof(desc));
		if (strncmp(desc, "stdout", 6) == 0)
			snprintf(desc, sizeof(desc), "stdout");
		printf("  %s (min_severity %s)\n", desc,
		       kw_severity_name(k->min_severity));
	}
	kw_router_destroy(r);
	return KW_EXIT_OK;
}

/* check -c CONFIG PATH...: read the input as scan would (format, map),
 * with no sink, and say what came of it: events, keys, and which keys[]
 * entries matched no key. KW_EXIT_INPUT when some input had problems. */
static int check_input(struct kw_cli_setup *s, const struct kw_cli_common *c,
		       int nargs, char **args)
{
	struct kw_router *router = NULL;
	struct kw_engine *engine = NULL;
	const struct kw_engine_stats *st;
	struct kw_engine_opts eo;
	struct kw_error err;
	uint64_t not_data[KW_NOT_DATA_MAX] = {0};
	size_t matched = 0, entries = 0;
	uint64_t problems;
	int rc = KW_EXIT_USAGE;

	kw_error_clear(&err);
	if (kw_router_create(s->cfg, s->min_severity, &router, &err) != KW_OK)
		goto cleanup;
	eo = (struct kw_engine_opts){
		.cfg = s->cfg,
		.models = s->models,
		.format = c->format,
		.map = s->map,
		.nmap = s->nmap,
		.router = router,
		.geoip = s->geoip,
	};
	if (kw_engine_create(&eo, &engine, &err) != KW_OK)
		goto cleanup;
	rc = kw_cli_read_inputs(engine, nargs, args, not_data);
	if (rc != KW_EXIT_OK)
		goto cleanup;
	kw_engine_finish(engine);
	st = kw_engine_stats(engine);
	for (size_t i = 0; i < s->cfg->nkeys; i++) {
		entries += !s->cfg->keys[i].honey;
		matched += !s->cfg->keys[i].honey &&
			   kw_engine_conf_matched(engine, i);
	}
	kw_cli_unmatched_keys(engine, s->cfg);
	problems = kw_skips_problems(&st->skips);
	printf("input: %llu input%s read, %llu event%s from %s%llu key%s, %llu "
	       "request%s without a key, %llu problem%s; %zu of %zu keys[] "
	       "entries (decoys aside) matched a key\n",
	       (unsigned long long)st->inputs, st->inputs == 1 ? "" : "s",
	       (unsigned long long)st->events, st->events == 1 ? "" : "s",
	       st->keys_estimated ? "about " : "",
	       (unsigned long long)st->keys_distinct,
	       st->keys_distinct == 1 ? "" : "s",
	       (unsigned long long)st->unauthenticated,
	       st->unauthenticated == 1 ? "" : "s",
	       (unsigned long long)problems, problems == 1 ? "" : "s", matched,
	       entries);
	if (problems || st->inputs_failed)
		rc = KW_EXIT_INPUT;
cleanup:
	if (err.msg[0])
		kw_log_error(NULL, "%s", err.msg);
	kw_engine_destroy(engine);
	kw_router_destroy(router);
	return rc;
}

#if KW_HAVE_KAFKA
/* "  WHERE: topic T, N partitions on B brokers; group G: STATE, ..." */
static void print_group(const char *where, const char *topic, const char *group,
			const struct kw_kafka_probe *p)
{
	printf("  %s: topic %s, %d partitions on %d brokers; group %s: %s, "
	       "%d members, %d of %d partitions committed",
	       where, topic, p->partitions, p->brokers, group, p->group_state,
	       p->members, p->committed, p->partitions);
	if (p->lag >= 0)
		printf(", %lld messages behind", (long long)p->lag);
	putchar('\n');
}

/* A Kafka input's changelog and repartition topics (watch creates each
 * when missing, with the input's ninput partitions; a changelog with
 * fewer it refuses). KW_EXIT_INPUT when one cannot be asked or would be
 * refused. */
static int check_topics(const struct kw_config *cfg, const struct kw_input *in,
			const char *where, const struct kw_kafka_client *c,
			int ninput)
{
	struct kw_kafka_probe p;
	struct kw_error err;
	char group[300], at[48];
	enum kw_status st;
	int rc = KW_EXIT_OK;

	if (in->changelog) {
		snprintf(at, sizeof(at), "%s.changelog", where);
		kw_error_clear(&err);
		st = kw_kafka_probe(c, in->changelog, NULL, KAFKA_PROBE_MS, &p,
				    &err);
		if (st == KW_ENOTFOUND) {
			printf("  %s: topic %s: none yet (watch creates it, "
			       "compacted, with %d partitions)\n",
			       at, in->changelog, ninput);
		} else if (st != KW_OK) {
			kw_log_error(NULL, "%s: %s", cfg->file, err.msg);
			rc = KW_EXIT_INPUT;
		} else if (p.partitions < ninput) {
			kw_log_error(NULL,
				     "%s: %s: topic %s has %d partitions, "
				     "fewer than %s's %d: watch refuses it",
				     cfg->file, at, in->changelog, p.partitions,
				     in->topic, ninput);
			rc = KW_EXIT_INPUT;
		} else {
			printf("  %s: topic %s, %d partitions\n", at,
			       in->changelog, p.partitions);
		}
	}
	if (in->repartition) {
		snprintf(at, sizeof(at), "%s.repartition", where);
		snprintf(group, sizeof(group), "%s" KW_REPARTITION_GROUP_SUFFIX,
			 in->group);
		kw_error_clear(&err);
		st = kw_kafka_probe(c, in->repartition, group, KAFKA_PROBE_MS,
				    &p, &err);
		if (st == KW_ENOTFOUND) {
			printf("  %s: topic %s: none yet (watch creates it "
			       "with %d partitions)\n",
			       at, in->repartition, ninput);
		} else if (st != KW_OK) {
			kw_log_error(NULL, "%s: %s", cfg->file, err.msg);
			rc = KW_EXIT_INPUT;
		} else {
			print_group(at, in->repartition, group, &p);
		}
	}
	return rc;
}
#endif

/* Each Kafka input and sink: what its brokers say of its topic (and the
 * input's group, changelog and repartition topics). KW_EXIT_INPUT when
 * one cannot be asked. */
static int check_kafka(const struct kw_config *cfg)
{
	int rc = KW_EXIT_OK;
#if KW_HAVE_KAFKA
	struct kw_kafka_probe p;
	struct kw_error err;
	char where[32];
	size_t i;
	json_t *conf;

	for (i = 0; i < cfg->ninputs; i++) {
		const struct kw_input *in = &cfg->inputs[i];
		struct kw_kafka_client c = {
			.brokers = in->brokers,
			.top = cfg->kafka,
			.own = in->kafka,
			.file = cfg->file,
			.where = where,
		};

		if (in->type != KW_INPUT_KAFKA)
			continue;
		snprintf(where, sizeof(where), "inputs[%zu]", i);
		kw_error_clear(&err);
		if (kw_kafka_probe(&c, in->topic, in->group, KAFKA_PROBE_MS, &p,
				   &err) != KW_OK) {
			kw_log_error(NULL, "%s: %s", cfg->file, err.msg);
			rc = KW_EXIT_INPUT;
			continue;
		}
		print_group(where, in->topic, in->group, &p);
		if (check_topics(cfg, in, where, &c, p.partitions) !=
		    KW_EXIT_OK)
			rc = KW_EXIT_INPUT;
	}
	json_array_foreach(cfg->sinks, i, conf)
	{
		const char *type =
			json_string_value(json_object_get(conf, "type"));
		const char *topic =
			json_string_value(json_object_get(conf, "topic"));
		struct kw_kafka_client c = {
			.brokers = json_string_value(
				json_object_get(conf, "brokers")),
			.top = cfg->kafka,
			.own = json_object_get(conf, "kafka"),
			.file = cfg->file,
			.where = where,
		};

		if (!type || strcmp(type, "kafka") != 0)
			continue;
		snprintf(where, sizeof(where), "sinks[%zu]", i);
		kw_error_clear(&err);
		if (kw_kafka_probe(&c, topic, NULL, KAFKA_PROBE_MS, &p, &err) !=
		    KW_OK) {
			kw_log_error(NULL, "%s: %s", cfg->file, err.msg);
			rc = KW_EXIT_INPUT;
			continue;
		}
		printf("  %s: topic %s, %d partitions on %d brokers\n", where,
		       topic, p.partitions, p.brokers);
	}
#else
	(void)cfg;
#endif
	return rc;
}

int kw_cli_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		KW_CLI_COMMON_LONG,
		{NULL, 0, NULL, 0},
	};
	struct kw_cli_common c;
	struct kw_cli_setup s;
	struct kw_model_info mi;
	struct whole_keys w = {NULL, 0};
	char desc[512];
	int opt, rc;

	memset(&c, 0, sizeof(c));
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, KW_CLI_COMMON_SHORT "h", longopts,
				  NULL)) != -1) {
		if (opt == 'h') {
			puts("usage: keywatch check -c CONFIG [OPTIONS] "
			     "[PATH...]\n"
			     "Validate the config, models and GeoIP databases; "
			     "print what would run.\n"
			     "With PATHs, read them as scan would (no alerts, "
			     "no sinks) and say\n"
			     "which keys[] entries matched no key.\n"
			     "\n"
			     "  -f, --format NAME       auto (default), "
			     "keywatch, cloudtrail,\n"
			     "                          gcp-audit, "
			     "github-audit\n"
			     "  -c, --config FILE       the JSON config to "
			     "check\n"
			     "  -m, --models DIR        where the API models "
			     "are\n"
			     "      --geoip FILE        a MaxMind DB file "
			     "(repeatable)\n"
			     "      --map FIELD=PATH    map a log field onto "
			     "an "
			     "event field (repeatable)\n"
			     "      --color WHEN        colour text on a "
			     "terminal: "
			     "auto (default), always, never\n"
			     "  -q, --quiet             only errors\n"
			     "  -v, --verbose           debug logging");
			return KW_EXIT_OK;
		}
		rc = kw_cli_common_opt(&c, opt, optarg);
		if (rc < 0)
			return KW_EXIT_USAGE;
		if (rc == 0) {
			kw_cli_bad_option("check", argc, argv,
					  KW_CLI_COMMON_SHORT "h", longopts);
			return KW_EXIT_USAGE;
		}
	}
	if (!c.config) {
		kw_log_error(NULL, "check: -c CONFIG is required");
		return KW_EXIT_USAGE;
	}
	rc = kw_cli_setup(&c, &s);
	if (rc != KW_EXIT_OK)
		goto cleanup;
	printf("config: %s\n", s.cfg->file);
	printf("models: %s\n", s.models_path);
	for (size_t i = 0; i < kw_models_count(s.models); i++) {
		kw_models_info(s.models, i, &mi);
		printf("  %-8s %zu key prefixes, %zu routes, %zu resources, "
		       "%zu sensitive operations (%s)\n",
		       mi.name, mi.prefixes, mi.routes, mi.resources,
		       mi.sensitive, mi.path);
	}
	printf("geoip: %zu database%s\n", kw_geoip_count(s.geoip),
	       kw_geoip_count(s.geoip) == 1 ? "" : "s");
	for (size_t i = 0; i < kw_geoip_count(s.geoip); i++) {
		kw_geoip_describe(s.geoip, i, desc, sizeof(desc));
		printf("  %s\n", desc);
	}
	printf("learn: %lld h\n", (long long)(s.cfg->learn / 3600000000LL));
	find_whole_keys(s.cfg, &w);
	print_keys(s.cfg, &w);
	if (check_permissions(&s)) {
		rc = KW_EXIT_USAGE;
		goto cleanup;
	}
	print_detectors(s.cfg, s.geoip);
	print_suppress(s.cfg, &w);
	rc = check_sinks(&s);
	if (rc != KW_EXIT_OK)
		goto cleanup;
	printf("inputs: %zu\n", s.cfg->ninputs);
	for (size_t i = 0; i < s.cfg->ninputs; i++)
		printf("  %s (%s)\n", s.cfg->inputs[i].path,
		       s.cfg->inputs[i].format ? s.cfg->inputs[i].format
					       : "auto");
	rc = check_kafka(s.cfg);
	if (rc != KW_EXIT_OK)
		goto cleanup;
	printf("config OK\n");
	if (optind < argc)
		rc = check_input(&s, &c, argc - optind, argv + optind);
cleanup:
	free(w.v);
	kw_cli_teardown(&s);
	return rc;
}
