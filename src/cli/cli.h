/*
 * cli.h - the commands (one file each) and what they share: the options
 * common to scan and watch, and turning them into a loaded config, models,
 * GeoIP databases, field map and router with its sinks.
 */
#ifndef KW_CLI_CLI_H
#define KW_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "alert/router.h"
#include "core/config.h"
#include "engine/engine.h"
#include "enrich/geoip.h"
#include "enrich/model.h"
#include "ingest/decoder.h"
#include "sink/sink.h"

enum kw_exit {
	KW_EXIT_OK = 0,
	KW_EXIT_ALERTS = 1, /* alerts at or above --fail-on */
	KW_EXIT_USAGE = 2,  /* usage or config error; nothing was read */
	KW_EXIT_INPUT = 3,  /* some input could not be read or was corrupt */
};

#define KW_CLI_MAX_MAPS 32
#define KW_CLI_MAX_GEOIP 8

/* Options shared by scan and watch, as given on the command line. */
struct kw_cli_common {
	const char *config;
	const char *format;
	const char *models_dir;
	const char *maps[KW_CLI_MAX_MAPS];
	size_t nmaps;
	const char *geoip[KW_CLI_MAX_GEOIP];
	size_t ngeoip;
	const char *learn;
	const char *output; /* "text", "json", "none"; NULL: by terminal */
	const char *min_severity;
	const char *max_line;
	const char *max_keys;
	const char *state; /* --state FILE, or NULL */
	const char *color; /* --color: "auto", "always", "never"; NULL: auto */
	const char *lateness;
	const char *threads; /* -j N */
	int verbosity;	     /* -1 quiet, 0 normal, 1 verbose */
};

/* Everything the common options lead to. */
struct kw_cli_setup {
	struct kw_config *cfg;
	struct kw_models *models;
	struct kw_geoip *geoip;
	struct kw_field_map map[KW_FIELD_MAX + KW_CLI_MAX_MAPS];
	size_t nmap;
	enum kw_severity min_severity;
	enum kw_output output;
	bool colour; /* colour the text on stdout (--color, NO_COLOR) */
	char models_path[4096];
};

/* Read the inputs args[0..nargs) name (files, directories, globs; none:
 * standard input) through e, as one stream; paths that cannot be expanded
 * are logged and counted as failed inputs. not_data[KW_NOT_DATA_MAX] gets
 * the files left out as not logs. KW_EXIT_USAGE when the arguments
 * themselves are wrong, else KW_EXIT_OK. */
int kw_cli_read_inputs(struct kw_engine *e, int nargs, char **args,
		       uint64_t *not_data);

/* After reading input: warn, in one line, of the keys[] entries of the
 * config (decoys left out: they are meant to match nothing) whose match
 * glob matched no key of the input, naming at most 8. Returns how many
 * there were. */
size_t kw_cli_unmatched_keys(struct kw_engine *e, const struct kw_config *cfg);

/* Handle a shared option (getopt_long's val and optarg). Returns 1 when it
 * was one, 0 when not, -1 on a usage error (printed). */
int kw_cli_common_opt(struct kw_cli_common *c, int opt, const char *arg);

/* The long options of kw_cli_common_opt, to append to a command's own. */
#define KW_CLI_COMMON_SHORT "c:f:j:m:o:qv"
enum {
	KW_OPT_MAP = 1000,
	KW_OPT_GEOIP,
	KW_OPT_LEARN,
	KW_OPT_MIN_SEVERITY,
	KW_OPT_MAX_LINE,
	KW_OPT_MAX_KEYS,
	KW_OPT_REPORT,
	KW_OPT_FAIL_ON,
	KW_OPT_HELP,
	KW_OPT_STATE,
	KW_OPT_COLOR,
	KW_OPT_LATENESS,
	KW_OPT_REPORT_FORMAT,
};
#define KW_CLI_COMMON_LONG                                                     \
	{"config", required_argument, NULL, 'c'},                              \
		{"format", required_argument, NULL, 'f'},                      \
		{"threads", required_argument, NULL, 'j'},                     \
		{"models", required_argument, NULL, 'm'},                      \
		{"output", required_argument, NULL, 'o'},                      \
		{"quiet", no_argument, NULL, 'q'},                             \
		{"verbose", no_argument, NULL, 'v'},                           \
		{"map", required_argument, NULL, KW_OPT_MAP},                  \
		{"geoip", required_argument, NULL, KW_OPT_GEOIP},              \
		{"learn", required_argument, NULL, KW_OPT_LEARN},              \
		{"min-severity", required_argument, NULL,                      \
		 KW_OPT_MIN_SEVERITY},                                         \
		{"max-line", required_argument, NULL, KW_OPT_MAX_LINE},        \
		{"max-keys", required_argument, NULL, KW_OPT_MAX_KEYS},        \
		{"state", required_argument, NULL, KW_OPT_STATE},              \
		{"color", required_argument, NULL, KW_OPT_COLOR},              \
		{"lateness", required_argument, NULL, KW_OPT_LATENESS},        \
	{                                                                      \
		"help", no_argument, NULL, 'h'                                 \
	}

/* Whether to colour what goes to fd: --color always, never, or auto (a
 * terminal, and NO_COLOR unset or empty). */
bool kw_cli_colour(const struct kw_cli_common *c, int fd);

/* After getopt_long answered '?': say what was wrong with the option at
 * argv[optind - 1] (unknown: with the nearest known one, "did you mean
 * '--output'?"; known: it needs a value), naming the command. shortopts
 * and longopts are what getopt_long was given. */
void kw_cli_bad_option(const char *cmd, int argc, char **argv,
		       const char *shortopts, const struct option *longopts);

/* Load config, models and databases; errors are printed. Returns
 * KW_EXIT_OK or KW_EXIT_USAGE. kw_cli_teardown frees it (also after a
 * failure). */
int kw_cli_setup(const struct kw_cli_common *c, struct kw_cli_setup *s);
void kw_cli_teardown(struct kw_cli_setup *s);

/* A router with the config's sinks (the stdout sink always first for
 * scan, rendering per s->output). Errors are printed. */
int kw_cli_router(struct kw_cli_setup *s, bool with_stdout,
		  struct kw_router **out);

/* Start the delivery layer of r's sinks with the config's spool and retry
 * settings. Errors are printed; KW_EXIT_OK or KW_EXIT_USAGE. */
int kw_cli_start_delivery(struct kw_cli_setup *s, struct kw_router *r);

int kw_cli_scan(int argc, char **argv);
int kw_cli_watch(int argc, char **argv);
int kw_cli_check(int argc, char **argv);
int kw_cli_version(int argc, char **argv);
int kw_cli_test_sink(int argc, char **argv);

#endif
