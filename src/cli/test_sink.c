/*
 * test_sink.c - `keywatch test-sink [-c CONFIG] [NAME]`: send one
 * synthetic alert, marked as a test in its title, summary and evidence,
 * through every configured sink (or the one NAME names) and say per sink
 * whether the receiver took it, with its answer ("HTTP 200: ok"). Sinks
 * for people get it as an incident opening, as they would a real one.
 *
 * One attempt per sink, synchronously, without the spool: a test that
 * fails says so now instead of being retried for minutes. The sinks'
 * filters (min_severity, detectors, rate_limit) are not applied: the test
 * is about the way to the receiver. Exit status: 0 when every sink took
 * it, 1 when one did not, 2 for a usage or config error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alert/incident.h"
#include "cli/cli.h"
#include "core/log.h"
#include "core/time.h"

static void usage(FILE *f)
{
	fputs("usage: keywatch test-sink [-c CONFIG] [NAME]\n"
	      "Send a synthetic alert, clearly marked as a test, through "
	      "each sink of the\n"
	      "config (or the one NAME names: its name, its type, sinks[N] "
	      "or N) and say\n"
	      "per sink "
	      "whether the receiver took it.\n"
	      "\n"
	      "  -c, --config FILE       JSON config (default: built-in "
	      "defaults)\n"
	      "      --color WHEN        auto (default), always or never\n"
	      "  -q, --quiet             no summary line\n"
	      "\n"
	      "Exit status: 0 every sink took it, 1 one did not, 2 usage or "
	      "config error.\n",
	      f);
}

/* Whether sink i (created as s) is the one name names: its identity (the
 * config's "name", else "webhook-3f2a9c01b2d4"), its type, its place
 * ("sinks[1]" or "1") or its whole name ("slack (sinks[1])"). */
static bool named(const struct kw_sink *s, size_t i, const char *name)
{
	char place[32];

	if (!name)
		return true;
	snprintf(place, sizeof(place), "sinks[%zu]", i);
	if (!strcmp(name, s->id) || !strcmp(name, s->ops->name) ||
	    !strcmp(name, place) || !strcmp(name, s->name))
		return true;
	snprintf(place, sizeof(place), "%zu", i);
	return !strcmp(name, place);
}

/* The test alert: detector keywatch.test, a test-mode key that is not
 * anyone's, the time it is sent, and "TEST" where a person looks first. */
static enum kw_status test_alert(struct kw_alert *a)
{
	struct kw_alert_key key = {.kind = KW_KIND_SECRET,
				   .mode = KW_MODE_TEST};
	char host[256] = "", subject[64];
	struct timespec now;
	int64_t t;

	clock_gettime(CLOCK_REALTIME, &now);
	t = (int64_t)now.tv_sec * 1000000;
	snprintf(key.id, sizeof(key.id), "sk_test_\xe2\x80\xa6TEST");
	snprintf(key.fp, sizeof(key.fp), "0000000000000000");
	snprintf(key.name, sizeof(key.name), "keywatch test-sink");
	if (kw_alert_init(a, "keywatch.test", KW_SEV_INFO, t, &key) != KW_OK)
		return KW_ENOMEM;
	gethostname(host, sizeof(host) - 1);
	kw_alert_summary(a,
			 "TEST: keywatch test-sink sent this synthetic alert "
			 "from %s to check that alerts reach this sink; no key "
			 "was used and nothing needs doing",
			 host[0] ? host : "this host");
	kw_alert_evidence_json(a, "test", json_true());
	kw_alert_evidence_str(a, "host", kw_str_c(host));
	kw_alert_add_request(a, kw_str_c("req_keywatch_test"));
	snprintf(subject, sizeof(subject), "test=%lld", (long long)t);
	kw_alert_set_id(a, subject);
	return KW_OK;
}

/* Sinks for people get the test as an incident opening. */
struct opening {
	struct kw_alert msg;
	bool got;
};

static void keep_opening(void *ctx, struct kw_incident_msg *m)
{
	struct opening *o = ctx;

	if (!o->got && kw_alert_copy(&o->msg, m->msg) == KW_OK) {
		o->msg.detector = "keywatch.test";
		o->got = true;
	}
}

static enum kw_status test_opening(const struct kw_alert *a, struct opening *o)
{
	struct kw_incident_opts io = {.close_after = 3600000000,
				      .digest = 3600000000,
				      .digest_max = 3600000000,
				      .max_open = 1};
	struct kw_incidents *in = NULL;
	struct kw_alert copy;

	if (kw_incidents_create(&io, keep_opening, o, &in) != KW_OK ||
	    kw_alert_copy(&copy, a) != KW_OK) {
		kw_incidents_destroy(in);
		return KW_ENOMEM;
	}
	kw_incidents_add(in, &copy);
	kw_incidents_tick(in, copy.time);
	kw_alert_clear(&copy);
	kw_incidents_destroy(in);
	return o->got ? KW_OK : KW_ENOMEM;
}

/* One attempt through s; prints its line. Returns whether it was taken. */
static bool try_sink(struct kw_sink *s, const struct kw_alert *a)
{
	struct kw_error err;
	char *json = kw_alert_to_json(a);
	char answer[512], desc[512];
	enum kw_sink_result r;

	kw_error_clear(&err);
	if (!json) {
		printf("%-24s failed     out of memory\n", s->name);
		return false;
	}
	r = kw_sink_deliver(s, a, json, strlen(json), &err);
	if (r == KW_SINK_OK)
		r = kw_sink_flush(s, &err);
	free(json);
	fflush(stdout);
	kw_sink_answer(s, answer, sizeof(answer));
	kw_sink_describe(s, desc, sizeof(desc));
	if (r == KW_SINK_OK)
		printf("%-24s delivered  %s\n", s->name,
		       answer[0] ? answer : desc);
	else
		printf("%-24s %-10s %s%s\n", s->name,
		       r == KW_SINK_FAIL ? "rejected" : "failed", err.msg,
		       r == KW_SINK_FAIL ? ""
					 : " (a real alert would be retried "
					   "and spooled)");
	return r == KW_SINK_OK;
}

static int parse(int argc, char **argv, struct kw_cli_common *c)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"color", required_argument, NULL, KW_OPT_COLOR},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:qh", longopts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			exit(KW_EXIT_OK);
		}
		if (kw_cli_common_opt(c, opt, optarg) > 0)
			continue;
		kw_cli_bad_option("test-sink", argc, argv, "c:qh", longopts);
		return KW_EXIT_USAGE;
	}
	if (argc - optind > 1) {
		kw_log_error(NULL, "test-sink: one NAME at most (see keywatch "
				   "test-sink --help)");
		return KW_EXIT_USAGE;
	}
	return KW_EXIT_OK;
}

int kw_cli_test_sink(int argc, char **argv)
{
	struct kw_cli_common c;
	struct kw_config *cfg = NULL;
	struct kw_alert a = {0};
	struct opening op = {0};
	struct kw_error err;
	const char *name;
	size_t tried = 0, taken = 0, i;
	json_t *conf;
	int rc;

	memset(&c, 0, sizeof(c));
	rc = parse(argc, argv, &c);
	if (rc != KW_EXIT_OK)
		return rc;
	name = optind < argc ? argv[optind] : NULL;
	kw_error_clear(&err);
	if ((c.config ? kw_config_load(c.config, &cfg, &err)
		      : kw_config_defaults(&cfg, &err)) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		return KW_EXIT_USAGE;
	}
	if (test_alert(&a) != KW_OK || test_opening(&a, &op) != KW_OK) {
		kw_log_error(NULL, "out of memory");
		rc = KW_EXIT_USAGE;
		goto cleanup;
	}
	json_array_foreach(cfg->sinks, i, conf)
	{
		struct kw_sink_env env = {
			.file = cfg->file,
			.output = KW_OUTPUT_JSON,
			.colour = false,
			.kafka = cfg->kafka,
		};
		struct kw_sink *s = NULL;

		kw_error_clear(&err);
		if (kw_sink_create(conf, i, &env, &s, &err) != KW_OK) {
			kw_log_error(NULL, "%s", err.msg);
			rc = KW_EXIT_USAGE;
			goto cleanup;
		}
		if (named(s, i, name)) {
			tried++;
			taken += try_sink(s,
					  s->incidents && cfg->incidents.enabled
						  ? &op.msg
						  : &a);
		}
		kw_sink_destroy(s);
	}
	if (!tried) {
		if (name)
			kw_log_error(NULL,
				     "%s: no sink named '%s' (a sink's name, a "
				     "type, sinks[N] or N)",
				     cfg->file, name);
		else
			kw_log_error(NULL, "%s: no sinks configured",
				     cfg->file);
		rc = KW_EXIT_USAGE;
		goto cleanup;
	}
	if (c.verbosity >= 0)
		fprintf(stderr,
			"keywatch: %zu of %zu sink%s took the test alert\n",
			taken, tried, tried == 1 ? "" : "s");
	rc = taken == tried ? KW_EXIT_OK : KW_EXIT_ALERTS;
cleanup:
	kw_alert_clear(&a);
	kw_alert_clear(&op.msg);
	kw_config_free(cfg);
	return rc;
}
