/*
 * log.c - stderr logging with a component prefix and a level threshold.
 * One fprintf per line so concurrent writers do not interleave mid-line.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum kw_log_level log_level = KW_LOG_INFO;
static bool log_colour;

void kw_log_set_colour(bool on)
{
	log_colour = on;
}

void kw_log_set_level(enum kw_log_level level)
{
	log_level = level;
}

enum kw_log_level kw_log_get_level(void)
{
	return log_level;
}

void kw_log_msg(enum kw_log_level level, const char *component, const char *fmt,
		...)
{
	static const char *const names[] = {"debug: ", "",
					    "warning: ", "error: "};
	static const char *const coloured[] = {"\033[2mdebug:\033[0m ", "",
					       "\033[33mwarning:\033[0m ",
					       "\033[31merror:\033[0m "};
	char line[2048];
	va_list ap;

	if (level < log_level || level >= KW_LOG_QUIET)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (component && component[0])
		fprintf(stderr, "keywatch: %s%s: %s\n",
			(log_colour ? coloured : names)[level], component,
			line);
	else
		fprintf(stderr, "keywatch: %s%s\n",
			(log_colour ? coloured : names)[level], line);
}
