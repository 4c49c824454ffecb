/*
 * common.c - what scan, watch and check share: the common options and the
 * set-up they lead to (config, models, GeoIP databases, field map, router).
 * Errors are printed here, once, as "keywatch: error: ...".
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/key.h"
#include "core/log.h"
#include "core/time.h"
#include "detect/detector.h"
#include "ingest/inputs.h"
#include "kw_config.h"

static int usage_error(const char *fmt, const char *arg)
{
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, arg);
	kw_log_error(NULL, "%s", msg);
	return -1;
}

int kw_cli_common_opt(struct kw_cli_common *c, int opt, const char *arg)
{
	switch (opt) {
	case 'c':
		c->config = arg;
		return 1;
	case 'f':
		c->format = arg;
		return 1;
	case 'j':
		c->threads = arg;
		return 1;
	case 'm':
		c->models_dir = arg;
		return 1;
	case 'o':
		if (strcmp(arg, "text") && strcmp(arg, "json") &&
		    strcmp(arg, "none"))
			return usage_error("-o %s: expected text, json or none",
					   arg);
		c->output = arg;
		return 1;
	case 'q':
		c->verbosity = -1;
		return 1;
	case 'v':
		c->verbosity = 1;
		return 1;
	case KW_OPT_MAP:
		if (c->nmaps == KW_CLI_MAX_MAPS)
			return usage_error("--map %s: too many --map options",
					   arg);
		c->maps[c->nmaps++] = arg;
		return 1;
	case KW_OPT_GEOIP:
		if (c->ngeoip == KW_CLI_MAX_GEOIP)
			return usage_error("--geoip %s: too many databases",
					   arg);
		c->geoip[c->ngeoip++] = arg;
		return 1;
	case KW_OPT_LEARN:
		c->learn = arg;
		return 1;
	case KW_OPT_MIN_SEVERITY:
		c->min_severity = arg;
		return 1;
	case KW_OPT_MAX_LINE:
		c->max_line = arg;
		return 1;
	case KW_OPT_MAX_KEYS:
		c->max_keys = arg;
		return 1;
	case KW_OPT_STATE:
		c->state = arg;
		return 1;
	case KW_OPT_COLOR:
		if (strcmp(arg, "auto") && strcmp(arg, "always") &&
		    strcmp(arg, "never"))
			return usage_error(
				"--color %s: expected auto, always or never",
				arg);
		c->color = arg;
		kw_log_set_colour(kw_cli_colour(c, STDERR_FILENO));
		return 1;
	case KW_OPT_LATENESS:
		c->lateness = arg;
		return 1;
	default:
		return 0;
	}
}

bool kw_cli_colour(const struct kw_cli_common *c, int fd)
{
	const char *no = getenv("NO_COLOR");

	if (c->color && !strcmp(c->color, "always"))
		return true;
	if (c->color && !strcmp(c->color, "never"))
		return false;
	return isatty(fd) && !(no && no[0]);
}

void kw_cli_bad_option(const char *cmd, int argc, char **argv,
		       const char *shortopts, const struct option *longopts)
{
	const char *known = optopt > 0 ? strchr(shortopts, optopt) : NULL;
	const char *arg = optind - 1 < argc ? argv[optind - 1] : "";
	const char *names[64];
	char name[64], want[80];
	const char *near;
	size_t n = 0, len;

	if (strncmp(arg, "--", 2) != 0) {
		/* A short option: getopt knows whether it exists. */
		if (known && known[1] == ':')
			kw_log_error(NULL,
				     "%s: option -%c needs a value (see "
				     "keywatch %s --help)",
				     cmd, optopt, cmd);
		else
			kw_log_error(NULL,
				     "%s: unknown option '%s' (see keywatch "
				     "%s --help)",
				     cmd, arg, cmd);
		return;
	}
	len = strcspn(arg + 2, "=");
	snprintf(name, sizeof(name), "%.*s", (int)len, arg + 2);
	for (size_t i = 0; longopts[i].name && n < 63; i++) {
		if (!strcmp(longopts[i].name, name)) {
			kw_log_error(NULL,
				     "%s: option '--%s' needs a value (see "
				     "keywatch %s --help)",
				     cmd, name, cmd);
			return;
		}
		names[n++] = longopts[i].name;
	}
	names[n] = NULL;
	near = kw_config_suggest(name, names);
	snprintf(want, sizeof(want), " (did you mean '--%s'?)",
		 near ? near : "");
	kw_log_error(NULL,
		     "%s: unknown option '--%s'%s; see keywatch %s --help", cmd,
		     name, near ? want : "", cmd);
}

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* -m, $KEYWATCH_MODELS, the installed models, the models beside the
 * binary's source tree (running from a build directory), ./models. */
static bool find_models(const char *opt, char *buf, size_t cap)
{
	char exe[2048];
	const char *env = getenv("KEYWATCH_MODELS");
	ssize_t n;

	if (opt) {
		snprintf(buf, cap, "%s", opt);
		return true;
	}
	if (env && env[0]) {
		snprintf(buf, cap, "%s", env);
		return true;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(buf, cap, "%s/../models", exe);
			if (is_dir(buf))
				return true;
		}
	}
	if (is_dir(KW_MODELS_DIR)) {
		snprintf(buf, cap, "%s", KW_MODELS_DIR);
		return true;
	}
	snprintf(buf, cap, "models");
	return is_dir(buf);
}

static bool parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || s[0] < '0' || s[0] > '9')
		return false;
	v = strtoull(s, &end, 10);
	if (*end || v == 0 || v > SIZE_MAX)
		return false;
	*out = (size_t)v;
	return true;
}

/* A command-line value against the maximum of the config key it
 * overrides (one maximum for both). */
static bool within(const char *key, double v)
{
	return kw_option_within_max(kw_config_top_option(key), v);
}

static int apply_overrides(const struct kw_cli_common *c,
			   struct kw_cli_setup *s)
{
	int64_t us;

	if (c->learn) {
		if (!kw_duration_parse(c->learn, &us) ||
		    !within("learn", (double)us)) {
			kw_log_error(NULL,
				     "--learn %s: expected a duration such as "
				     "72h, at most " KW_LEARN_LIMIT,
				     c->learn);
			return KW_EXIT_USAGE;
		}
		s->cfg->learn = us;
	}
	if (c->lateness) {
		if (!kw_duration_parse(c->lateness, &us) ||
		    !within("lateness", (double)us)) {
			kw_log_error(NULL,
				     "--lateness %s: expected a duration such "
				     "as 15m, at most 1d",
				     c->lateness);
			return KW_EXIT_USAGE;
		}
		s->cfg->lateness = us;
	}
	if (c->max_line && (!parse_size(c->max_line, &s->cfg->max_line) ||
			    s->cfg->max_line < 64 ||
			    !within("max_line", (double)s->cfg->max_line))) {
		kw_log_error(
			NULL,
			"--max-line %s: expected a number of bytes from 64 "
			"to " KW_STR(KW_MAX_LINE_LIMIT),
			c->max_line);
		return KW_EXIT_USAGE;
	}
	if (c->max_keys && (!parse_size(c->max_keys, &s->cfg->max_keys) ||
			    !within("max_keys", (double)s->cfg->max_keys))) {
		kw_log_error(NULL,
			     "--max-keys %s: expected a number of keys from 1 "
			     "to " KW_STR(KW_MAX_KEYS_LIMIT),
			     c->max_keys);
		return KW_EXIT_USAGE;
	}
	if (c->threads) {
		size_t n = 0;

		if (!parse_size(c->threads, &n) ||
		    !within("threads", (double)n)) {
			kw_log_error(NULL,
				     "-j %s: expected a number of threads from "
				     "1 to " KW_STR(KW_THREADS_LIMIT),
				     c->threads);
			return KW_EXIT_USAGE;
		}
		s->cfg->threads = (unsigned)n;
	}
	s->min_severity = KW_SEV_INFO;
	if (c->min_severity &&
	    !kw_severity_parse(c->min_severity, &s->min_severity)) {
		kw_log_error(NULL,
			     "--min-severity %s: expected info, low, medium, "
			     "high or critical",
			     c->min_severity);
		return KW_EXIT_USAGE;
	}
	if (!c->output)
		s->output =
			isatty(STDOUT_FILENO) ? KW_OUTPUT_TEXT : KW_OUTPUT_JSON;
	else if (!strcmp(c->output, "text"))
		s->output = KW_OUTPUT_TEXT;
	else if (!strcmp(c->output, "json"))
		s->output = KW_OUTPUT_JSON;
	else
		s->output = KW_OUTPUT_NONE;
	return KW_EXIT_OK;
}

/* The config's "map" first, then --map (a later mapping of the same field
 * replaces an earlier one). */
static int build_map(const struct kw_cli_common *c, struct kw_cli_setup *s)
{
	struct kw_error err;
	const char *field;
	json_t *path;

	json_object_foreach(s->cfg->map, field, path)
	{
		struct kw_field_map m;
		char spec[1024];
		int w;

		/* The same checks as --map, on "FIELD=PATH". */
		w = snprintf(spec, sizeof(spec), "%s=%s", field,
			     json_is_string(path) ? json_string_value(path)
						  : "");
		kw_error_clear(&err);
		if (w < 0 || (size_t)w >= sizeof(spec))
			kw_error_set(&err, KW_EUSAGE,
				     "'%.64s': longer than %zu "
				     "bytes",
				     field, sizeof(spec) - 1);
		if (err.msg[0] || s->nmap == KW_FIELD_MAX ||
		    kw_field_map_parse(spec, &m, &err) != KW_OK) {
			kw_log_error(NULL, "%s: map: %s", s->cfg->file,
				     err.msg[0] ? err.msg : "too many fields");
			return KW_EXIT_USAGE;
		}
		s->map[s->nmap++] = m;
	}
	for (size_t i = 0; i < c->nmaps; i++) {
		struct kw_field_map m;
		size_t j;

		kw_error_clear(&err);
		if (kw_field_map_parse(c->maps[i], &m, &err) != KW_OK) {
			kw_log_error(NULL, "%s", err.msg);
			return KW_EXIT_USAGE;
		}
		for (j = 0; j < s->nmap && s->map[j].field != m.field; j++)
			;
		s->map[j] = m;
		if (j == s->nmap)
			s->nmap++;
	}
	return KW_EXIT_OK;
}

/* Neither --geoip nor the config named a database: use the *.mmdb files
 * where geoipupdate writes. One that does not open is skipped with a
 * warning (nobody asked for it); $KEYWATCH_NO_DEFAULT_GEOIP turns the search
 * off (tests). */
static enum kw_status open_default_geoip(struct kw_cli_setup *s)
{
	char *found[KW_GEOIP_MAX_DBS];
	const char *ok[KW_GEOIP_MAX_DBS];
	size_t n = 0, nok = 0;
	struct kw_geoip *g = NULL;
	struct kw_error err;
	enum kw_status st;

	if (!getenv("KEYWATCH_NO_DEFAULT_GEOIP"))
		n = kw_geoip_find(kw_geoip_default_dirs, kw_geoip_ndefault_dirs,
				  found, KW_GEOIP_MAX_DBS);
	for (size_t i = 0; i < n; i++) {
		kw_error_clear(&err);
		if (kw_geoip_open((const char *const *)&found[i], 1, &g,
				  &err) != KW_OK) {
			kw_log_warn(NULL, "%s (skipped)", err.msg);
			continue;
		}
		kw_geoip_close(g);
		g = NULL;
		ok[nok++] = found[i];
	}
	kw_error_clear(&err);
	st = kw_geoip_open(ok, nok, &s->geoip, &err);
	if (st != KW_OK)
		kw_log_error(NULL, "%s", err.msg);
	for (size_t i = 0; i < n; i++)
		free(found[i]);
	return st;
}

int kw_cli_setup(const struct kw_cli_common *c, struct kw_cli_setup *s)
{
	char resolved[PATH_MAX];
	const char *geo[KW_CLI_MAX_GEOIP + 16];
	struct kw_error err;
	size_t ngeo = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	kw_error_clear(&err);
	if (c->verbosity < 0)
		kw_log_set_level(KW_LOG_ERROR);
	else if (c->verbosity > 0)
		kw_log_set_level(KW_LOG_DEBUG);
	if ((c->config ? kw_config_load(c->config, &s->cfg, &err)
		       : kw_config_defaults(&s->cfg, &err)) != KW_OK ||
	    kw_detect_check_config(s->cfg, &err) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		return KW_EXIT_USAGE;
	}
	rc = apply_overrides(c, s);
	if (rc != KW_EXIT_OK)
		return rc;
	s->colour = kw_cli_colour(c, STDOUT_FILENO);
	if (!find_models(c->models_dir, s->models_path,
			 sizeof(s->models_path))) {
		kw_log_error(NULL,
			     "no models directory found (looked for --models, "
			     "$KEYWATCH_MODELS, %s and ./models)",
			     KW_MODELS_DIR);
		return KW_EXIT_USAGE;
	}
	/* "build/../models" reads better as the folder it is. */
	if (realpath(s->models_path, resolved))
		snprintf(s->models_path, sizeof(s->models_path), "%s",
			 resolved);
	if (kw_models_load(s->models_path, (const char *const *)s->cfg->models,
			   s->cfg->nmodels, &s->models, &err) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		return KW_EXIT_USAGE;
	}
	for (size_t i = 0; i < s->cfg->ngeoip && ngeo < 16; i++)
		geo[ngeo++] = s->cfg->geoip[i];
	for (size_t i = 0; i < c->ngeoip; i++)
		geo[ngeo++] = c->geoip[i];
	if (ngeo == 0)
		return open_default_geoip(s) == KW_OK ? build_map(c, s)
						      : KW_EXIT_USAGE;
	if (kw_geoip_open(geo, ngeo, &s->geoip, &err) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		return KW_EXIT_USAGE;
	}
	return build_map(c, s);
}

void kw_cli_teardown(struct kw_cli_setup *s)
{
	kw_geoip_close(s->geoip);
	kw_models_destroy(s->models);
	kw_config_free(s->cfg);
	s->geoip = NULL;
	s->models = NULL;
	s->cfg = NULL;
}

int kw_cli_router(struct kw_cli_setup *s, bool with_stdout,
		  struct kw_router **out)
{
	struct kw_sink_env env = {
		.file = s->cfg->file,
		.output = s->output,
		.colour = s->output == KW_OUTPUT_TEXT && s->colour,
		.kafka = s->cfg->kafka,
	};
	struct kw_router *r = NULL;
	struct kw_sink *sink = NULL;
	struct kw_error err;
	json_t *stdout_conf = json_pack("{s:s}", "type", "stdout");
	size_t i;
	json_t *conf;
	bool has_stdout = false;
	int rc = KW_EXIT_USAGE;

	*out = NULL;
	kw_error_clear(&err);
	if (!stdout_conf ||
	    kw_router_create(s->cfg, s->min_severity, &r, &err) != KW_OK)
		goto cleanup;
	json_array_foreach(s->cfg->sinks, i, conf)
	{
		const char *type =
			json_string_value(json_object_get(conf, "type"));

		if (type && !strcmp(type, "stdout"))
			has_stdout = true;
	}
	/* scan always writes to stdout: with the config's stdout sink (and
	 * its filters) when it has one, else with a plain one. */
	if ((with_stdout && !has_stdout) || !json_array_size(s->cfg->sinks)) {
		if (kw_sink_create(stdout_conf, 0, &env, &sink, &err) != KW_OK)
			goto cleanup;
		kw_router_add_sink(r, sink);
	}
	json_array_foreach(s->cfg->sinks, i, conf)
	{
		if (kw_sink_create(conf, i, &env, &sink, &err) != KW_OK)
			goto cleanup;
		/* Spools and rate-limit windows are kept under a sink's
		 * identity: two sinks cannot share one. */
		for (size_t j = 0; j < kw_router_nsinks(r); j++) {
			if (kw_sink_check_distinct(kw_router_sink(r, j), sink,
						   s->cfg->file,
						   &err) != KW_OK) {
				kw_sink_destroy(sink);
				goto cleanup;
			}
		}
		kw_router_add_sink(r, sink);
	}
	*out = r;
	r = NULL;
	rc = KW_EXIT_OK;
cleanup:
	if (rc != KW_EXIT_OK)
		kw_log_error(NULL, "%s",
			     err.msg[0] ? err.msg : "out of memory");
	json_decref(stdout_conf);
	kw_router_destroy(r);
	return rc;
}

/* Queues, threads and spools in front of the sinks (alert/delivery.h):
 * spools in spool_dir, else state_dir/spool, else none. */
int kw_cli_start_delivery(struct kw_cli_setup *s, struct kw_router *r)
{
	struct kw_delivery_opts o = {
		.spool_dir = s->cfg->spool_dir,
		.spool_max = s->cfg->spool_max,
		.retry_min_ms = (int64_t)(s->cfg->retry_initial * 1000),
		.retry_max_ms = (int64_t)(s->cfg->retry_max * 1000),
	};
	char dir[4096];
	struct kw_error err;

	if (!o.spool_dir && s->cfg->state_dir) {
		snprintf(dir, sizeof(dir), "%s/spool", s->cfg->state_dir);
		o.spool_dir = dir;
	}
	kw_error_clear(&err);
	if (kw_router_start_delivery(r, &o, &err) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		return KW_EXIT_USAGE;
	}
	return KW_EXIT_OK;
}

/* ---- reading input ---- */

int kw_cli_read_inputs(struct kw_engine *e, int nargs, char **args,
		       uint64_t *not_data)
{
	static const char *const stdin_only[] = {"-"};
	struct kw_inputs in = {0};
	struct kw_error err;
	bool progress = kw_engine_has_progress(e);

	kw_error_clear(&err);
	if (kw_inputs_expand(nargs ? (const char *const *)args : stdin_only,
			     nargs ? (size_t)nargs : 1, KW_INPUTS_MAX_DEFAULT,
			     &in, &err) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		return KW_EXIT_USAGE;
	}
	for (size_t i = 0; i < in.nerr; i++) {
		kw_log_error(NULL, "%s", in.errors[i]);
		kw_engine_count_failed(e);
	}
	kw_engine_read_paths(e, (const char *const *)in.paths, in.n);
	if (progress && in.n)
		fputs("\r\033[K", stderr);
	memcpy(not_data, in.not_data, sizeof(in.not_data));
	kw_inputs_free(&in);
	return KW_EXIT_OK;
}

/* ---- keys[] entries that matched nothing ---- */

/* "keys[2] 'sk_live_*dead' (old-backend)"; a whole key pasted into match
 * (no '*') shown as its redacted id, in the name too. */
static void keyconf_label(const struct kw_keyconf *k, char *out, size_t cap)
{
	const char *match = k->match;
	const char *name = k->name;
	char id[KW_KEY_ID_MAX], safe[256];

	if (!strchr(match, '*') && !kw_key_is_redacted(match, strlen(match))) {
		kw_key_redact(match, strlen(match), id, sizeof(id));
		if (name) {
			kw_key_scrub(safe, sizeof(safe), kw_str_c(name),
				     kw_str_c(match), id);
			name = safe;
		}
		match = id;
	}
	snprintf(out, cap, "keys[%zu] '%.100s'%s%.64s%s", k->index, match,
		 name ? " (" : "", name ? name : "", name ? ")" : "");
}

size_t kw_cli_unmatched_keys(struct kw_engine *e, const struct kw_config *cfg)
{
	enum { SHOWN = 8 };
	char list[SHOWN * 300], label[300], more[32];
	size_t n = 0, used = 0, entries = 0;

	if (!kw_engine_stats(e)->records)
		return 0; /* nothing read: nothing to say about matches */
	list[0] = '\0';
	for (size_t i = 0; i < cfg->nkeys; i++) {
		const struct kw_keyconf *k = &cfg->keys[i];

		if (k->honey)
			continue; /* a decoy is meant to match nothing */
		entries++;
		if (kw_engine_conf_matched(e, i))
			continue;
		if (n++ < SHOWN) {
			int w;

			keyconf_label(k, label, sizeof(label));
			w = snprintf(list + used, sizeof(list) - used, "%s%s",
				     used ? ", " : "", label);
			if (w > 0 && (size_t)w < sizeof(list) - used)
				used += (size_t)w;
		}
	}
	if (!n)
		return 0;
	more[0] = '\0';
	if (n > SHOWN)
		snprintf(more, sizeof(more), ", and %zu more", n - SHOWN);
	kw_log_warn(NULL,
		    "%zu of %zu keys[] entries matched no key in the input: "
		    "%s%s (is the key in another field, or inside a header: "
		    "--map 'api_key=PATH|bearer'?)",
		    n, entries, list, more);
	return n;
}
