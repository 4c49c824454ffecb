/*
 * watch.c - `keywatch watch -c CONFIG`: the command line of the daemon
 * (daemon/daemon.h). It parses the options, checks the config for -n, and
 * gives the daemon a loader that turns the options into a loaded config,
 * models, GeoIP databases and a router with its sinks (cli/common.c), at
 * the start and on every SIGHUP.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "daemon/daemon.h"

static void usage(FILE *f)
{
	fputs("usage: keywatch watch [OPTIONS] -c CONFIG\n"
	      "Follow the config's inputs as they grow and rotate; alert in "
	      "real time.\n"
	      "\n"
	      "  -c, --config FILE       JSON config (inputs, state_dir, "
	      "sinks, ...)\n"
	      "  -n, --check             check the config and exit\n"
	      "  -f, --format NAME       auto (default), keywatch, "
	      "cloudtrail,\n"
	      "                          gcp-audit, github-audit\n"
	      "      --map FIELD=PATH    map a log field onto an event field "
	      "(repeatable)\n"
	      "  -m, --models DIR        where the API models are\n"
	      "      --geoip FILE        a MaxMind DB file (repeatable)\n"
	      "      --state FILE        learned state (default: "
	      "<state_dir>/learned.state)\n"
	      "      --learn DURATION    learning period per key (default "
	      "72h)\n"
	      "      --lateness DURATION how long late events still count "
	      "(default 2m;\n"
	      "                          15m once CloudTrail is read)\n"
	      "      --min-severity LVL  drop alerts below LVL\n"
	      "      --color WHEN        colour text on a terminal: auto "
	      "(default), always, never\n"
	      "      --max-line BYTES    longest line or record (default "
	      "1048576)\n"
	      "      --max-keys N        keys tracked at once (default "
	      "1000000)\n"
	      "  -j, --threads N         threads that analyse (default: one "
	      "per core)\n"
	      "  -q, --quiet             only errors\n"
	      "  -v, --verbose           debug logging\n"
	      "\n"
	      "Signals: HUP reloads the config, TERM/INT stop (drain and "
	      "checkpoint),\nUSR1 logs counters.\n",
	      f);
}

struct watch {
	struct kw_cli_common common;
	bool check_only;
};

/* ------------------------------------------------------------ options */

static int parse(int argc, char **argv, struct watch *w)
{
	static const struct option longopts[] = {
		KW_CLI_COMMON_LONG,
		{"check", no_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, KW_CLI_COMMON_SHORT "hn", longopts,
				NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(KW_EXIT_OK);
		}
		if (c == 'n') {
			w->check_only = true;
			continue;
		}
		r = kw_cli_common_opt(&w->common, c, optarg);
		if (r < 0)
			return KW_EXIT_USAGE;
		if (r == 0) {
			kw_cli_bad_option("watch", argc, argv,
					  KW_CLI_COMMON_SHORT "hn", longopts);
			return KW_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		kw_log_error(NULL,
			     "watch: unexpected argument '%s': the files to "
			     "follow are the config's inputs",
			     argv[optind]);
		return KW_EXIT_USAGE;
	}
	if (!w->common.config) {
		kw_log_error(NULL, "watch: -c CONFIG is required (the config "
				   "names the inputs to follow)");
		return KW_EXIT_USAGE;
	}
	return KW_EXIT_OK;
}

/* ------------------------------------------------------------ loader */

/* The daemon's loader (struct kw_daemon_loader): the handle of a loaded
 * conf is its struct kw_cli_setup. */
static void unload(void *ctx, struct kw_daemon_conf *c)
{
	struct kw_cli_setup *s = c->handle;

	(void)ctx;
	kw_router_destroy(c->router);
	if (s)
		kw_cli_teardown(s);
	free(s);
	memset(c, 0, sizeof(*c));
}

static enum kw_status load_checked(struct watch *w, bool check_only,
				   struct kw_daemon_conf *out)
{
	struct kw_cli_setup *s = calloc(1, sizeof(*s));

	memset(out, 0, sizeof(*out));
	if (!s) {
		kw_log_error(NULL, "out of memory");
		return KW_ENOMEM;
	}
	out->handle = s;
	if (kw_cli_setup(&w->common, s) != KW_EXIT_OK ||
	    kw_daemon_check_config(s->cfg, check_only) != KW_OK ||
	    kw_cli_router(s, false, &out->router) != KW_EXIT_OK)
		return KW_ECONFIG;
	out->cfg = s->cfg;
	out->models = s->models;
	out->geoip = s->geoip;
	out->map = s->map;
	out->nmap = s->nmap;
	return KW_OK;
}

static enum kw_status load(void *ctx, struct kw_daemon_conf *out)
{
	return load_checked(ctx, false, out);
}

static enum kw_status deliver(void *ctx, struct kw_daemon_conf *c)
{
	(void)ctx;
	return kw_cli_start_delivery(c->handle, c->router) == KW_EXIT_OK
		       ? KW_OK
		       : KW_ECONFIG;
}

/* -n: check the config, say what would run. */
static int check(struct watch *w)
{
	struct kw_daemon_conf c;
	int rc = KW_EXIT_USAGE;

	if (load_checked(w, true, &c) == KW_OK) {
		printf("%s: config OK (%zu input%s, %zu sink%s)\n", c.cfg->file,
		       c.cfg->ninputs, c.cfg->ninputs == 1 ? "" : "s",
		       kw_router_nsinks(c.router),
		       kw_router_nsinks(c.router) == 1 ? "" : "s");
		rc = KW_EXIT_OK;
	}
	unload(w, &c);
	return rc;
}

int kw_cli_watch(int argc, char **argv)
{
	struct watch w;
	struct kw_daemon_opts o = {
		.loader = {.load = load,
			   .deliver = deliver,
			   .unload = unload,
			   .ctx = &w},
	};
	bool lost = false;
	int rc;

	memset(&w, 0, sizeof(w));
	rc = parse(argc, argv, &w);
	if (rc != KW_EXIT_OK)
		return rc;
	if (!w.common.output)
		w.common.output = "json";
	if (w.check_only)
		return check(&w);
	o.config = w.common.config;
	o.format = w.common.format;
	o.state = w.common.state;
	if (kw_daemon_run(&o, &lost) != KW_OK)
		return KW_EXIT_USAGE; /* it could not start */
	return lost ? KW_EXIT_INPUT : KW_EXIT_OK;
}
