/*
 * status.h - the one status enum every fallible call returns, and the error
 * struct that carries the human-readable "what, where, why".
 *
 * A function returns enum kw_status; when it also takes a struct kw_error *,
 * it fills the message on failure (and leaves it untouched on success). The
 * message names the input (file, line or byte offset) and the cause; it is
 * written for a person and never contains a full API key.
 */
#ifndef KW_CORE_STATUS_H
#define KW_CORE_STATUS_H

#include <stdarg.h>
#include <stddef.h>

enum kw_status {
	KW_OK = 0,
	KW_ENOMEM,    /* allocation failed */
	KW_EIO,	      /* a read, write or open failed (errno in the message) */
	KW_ECORRUPT,  /* a compressed stream or file is damaged or cut short */
	KW_EINVAL,    /* input is not what it should be (bad JSON, bad field) */
	KW_ETOOBIG,   /* a bound was hit (line length, depth, table size) */
	KW_ENOTFOUND, /* a file, key or name does not exist */
	KW_EUNSUPPORTED, /* valid, but not handled by this code path */
	KW_ECONFIG,	 /* the config or a model is wrong */
	KW_EUSAGE,	 /* the command line is wrong */
	KW_ERETRY,	 /* try again later (sinks) */
	KW_STATUS_MAX
};

/* Static text for a status; never NULL. */
const char *kw_strerror(enum kw_status st);

#define KW_ERROR_MSG_MAX 512

struct kw_error {
	enum kw_status status;
	char msg[KW_ERROR_MSG_MAX];
};

/* Set err (if not NULL) to st with a printf-style message, truncated to fit.
 * Returns st so that callers can write `return kw_error_set(err, ...)`. */
enum kw_status kw_error_set(struct kw_error *err, enum kw_status st,
			    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
enum kw_status kw_error_vset(struct kw_error *err, enum kw_status st,
			     const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
#if defined(__clang_analyzer__) && !defined(KW_STATUS_DEFINES)
/* scan-build analyses one file at a time and cannot see that
 * kw_error_set returns its st: without this, every `return bad(...)` of
 * a loader is a path on which an error returned KW_OK (dozens of false
 * null dereferences). Only the analyzer sees this macro. */
#define kw_error_set(err, st, ...)                                             \
	__extension__({                                                        \
		enum kw_status kw_st_ = (st);                                  \
		kw_error_set(err, kw_st_, __VA_ARGS__);                        \
		kw_st_;                                                        \
	})
#endif

/* Prefix the existing message with "prefix: " (for adding the file name as
 * an error travels up). Returns err->status. */
enum kw_status kw_error_prefix(struct kw_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void kw_error_clear(struct kw_error *err);

#endif
