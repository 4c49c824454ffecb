/*
 * log.h - the tiny logging API. Lines go to stderr as
 * "keywatch: <component>: <message>". Nothing here may ever be given a full
 * API key: pass the redacted id (see state/key.h).
 *
 * The level and whether to colour "warning:" and "error:" are the only
 * process-wide settings; they are written at start-up by the command line
 * and read everywhere after.
 */
#ifndef KW_CORE_LOG_H
#define KW_CORE_LOG_H

#include <stdbool.h>

enum kw_log_level {
	KW_LOG_DEBUG = 0,
	KW_LOG_INFO,
	KW_LOG_WARN,
	KW_LOG_ERROR,
	KW_LOG_QUIET,
};

void kw_log_set_level(enum kw_log_level level);
enum kw_log_level kw_log_get_level(void);
/* Colour "warning:" (yellow) and "error:" (red); off by default. */
void kw_log_set_colour(bool on);

void kw_log_msg(enum kw_log_level level, const char *component, const char *fmt,
		...) __attribute__((format(printf, 3, 4)));

#define kw_log_debug(comp, ...) kw_log_msg(KW_LOG_DEBUG, comp, __VA_ARGS__)
#define kw_log_info(comp, ...) kw_log_msg(KW_LOG_INFO, comp, __VA_ARGS__)
#define kw_log_warn(comp, ...) kw_log_msg(KW_LOG_WARN, comp, __VA_ARGS__)
#define kw_log_error(comp, ...) kw_log_msg(KW_LOG_ERROR, comp, __VA_ARGS__)

#endif
