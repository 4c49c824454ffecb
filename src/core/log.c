/*
 * log.c - stderr logging with a component prefix and a level threshold.
 * One fprintf per line so concurrent writers do not interleave mid-line.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum kw_log_level log_level = KW_LOG_INFO;

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
	char line[2048];
	va_list ap;

	if (level < log_level || level >= KW_LOG_QUIET)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (component && component[0])
		fprintf(stderr, "keywatch: %s%s: %s\n", names[level], component,
			line);
	else
		fprintf(stderr, "keywatch: %s%s\n", names[level], line);
}
