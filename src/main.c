/*
 * main.c - dispatch to the commands in cli/.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
	{"scan", kw_cli_scan,
	 "analyse logs (files, directories, globs; '-' or none: stdin)"},
	{"watch", kw_cli_watch,
	 "run as a daemon: follow the config's inputs as they grow and "
	 "rotate"},
	{"check", kw_cli_check,
	 "validate config, models and GeoIP databases; print what would run"},
	{"test-sink", kw_cli_test_sink,
	 "send a test alert through each sink and say who took it"},
	{"version", kw_cli_version, "print the version"},
};

static void usage(FILE *f)
{
	fputs("usage: keywatch COMMAND [OPTIONS]\n\ncommands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fputs("\n'keywatch COMMAND --help' tells more; man keywatch tells "
	      "all.\n",
	      f);
}

int main(int argc, char **argv)
{
	const char *names[16];
	const char *near;
	const char *no = getenv("NO_COLOR");
	size_t n = 0;

	/* A file size limit (ulimit -f, LimitFSIZE=) makes a write fail with
	 * EFBIG, which the file sink and the spool handle; the signal would
	 * kill the process instead. */
	signal(SIGXFSZ, SIG_IGN);
	kw_log_set_colour(isatty(STDERR_FILENO) && !(no && no[0]));
	if (argc < 2) {
		usage(stderr);
		return KW_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return KW_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version"))
		return kw_cli_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	}
	_Static_assert(sizeof(commands) / sizeof(commands[0]) <
			       sizeof(names) / sizeof(names[0]),
		       "names[] holds every command and a NULL");
	for (; n < sizeof(commands) / sizeof(commands[0]); n++)
		names[n] = commands[n].name;
	names[n] = NULL;
	near = kw_config_suggest(argv[1], names);
	if (near)
		kw_log_error(NULL, "unknown command '%s' (did you mean '%s'?)",
			     argv[1], near);
	else
		kw_log_error(NULL, "unknown command '%s'", argv[1]);
	usage(stderr);
	return KW_EXIT_USAGE;
}
