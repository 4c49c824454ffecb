/*
 * check.c - `keywatch check -c CONFIG`: load and check the config, the
 * models and the GeoIP databases exactly as scan and watch would, and print
 * what would run. Nothing is read or written besides them: sinks are
 * checked, not created (a file sink's file is not touched). Secrets are
 * never printed. Exit 0 when everything is in order, 2 otherwise.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/time.h"
#include "detect/detector.h"

static void print_keys(const struct kw_config *cfg)
{
	char ip[64];

	printf("keys: %zu configured\n", cfg->nkeys);
	for (size_t i = 0; i < cfg->nkeys; i++) {
		const struct kw_keyconf *k = &cfg->keys[i];

		printf("  %-20s %s", k->match, k->name ? k->name : "-");
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

static void print_detectors(const struct kw_config *cfg)
{
	const struct kw_detector_ops *const *all = kw_detect_all();

	printf("detectors:\n");
	for (size_t i = 0; all[i]; i++) {
		for (size_t j = 0; all[i]->detectors[j]; j++) {
			const char *name = all[i]->detectors[j];

			printf("  %-4s %-24s %s\n",
			       kw_detect_enabled(cfg, name) ? "on" : "off",
			       name,
			       all[i]->kind == KW_DETECTOR_POLICY ? "policy"
								  : "learned");
		}
	}
}

static void print_suppress(const struct kw_config *cfg)
{
	time_t now = time(NULL);
	char t[32];

	printf("suppressions: %zu\n", cfg->nsuppress);
	for (size_t i = 0; i < cfg->nsuppress; i++) {
		const struct kw_suppress *s = &cfg->suppress[i];
		char *subject =
			json_dumps(s->subject, JSON_COMPACT | JSON_SORT_KEYS);

		printf("  %s %s %s", s->detector ? s->detector : "*",
		       s->key ? s->key : "*", subject ? subject : "{}");
		free(subject);
		if (s->has_until)
			printf(" until %s",
			       kw_time_format(s->until, t, sizeof(t)));
		if (s->reason)
			printf(" (%s)", s->reason);
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

int kw_cli_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		KW_CLI_COMMON_LONG,
		{NULL, 0, NULL, 0},
	};
	struct kw_cli_common c;
	struct kw_cli_setup s;
	struct kw_model_info mi;
	char desc[512];
	int opt, rc;

	memset(&c, 0, sizeof(c));
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, KW_CLI_COMMON_SHORT "h", longopts,
				  NULL)) != -1) {
		if (opt == 'h') {
			puts("usage: keywatch check -c CONFIG [--models DIR] "
			     "[--geoip FILE]...\n"
			     "Validate the config, models and GeoIP databases; "
			     "print what would run.");
			return KW_EXIT_OK;
		}
		rc = kw_cli_common_opt(&c, opt, optarg);
		if (rc < 0)
			return KW_EXIT_USAGE;
		if (rc == 0) {
			kw_log_error(NULL,
				     "check: unknown option '%s' (see keywatch "
				     "check --help)",
				     argv[optind - 1]);
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
	print_keys(s.cfg);
	if (check_permissions(&s)) {
		rc = KW_EXIT_USAGE;
		goto cleanup;
	}
	print_detectors(s.cfg);
	print_suppress(s.cfg);
	rc = check_sinks(&s);
	if (rc != KW_EXIT_OK)
		goto cleanup;
	printf("inputs: %zu\n", s.cfg->ninputs);
	for (size_t i = 0; i < s.cfg->ninputs; i++)
		printf("  %s (%s)\n", s.cfg->inputs[i].path,
		       s.cfg->inputs[i].format ? s.cfg->inputs[i].format
					       : "auto");
	printf("config OK\n");
cleanup:
	kw_cli_teardown(&s);
	return rc;
}
