/*
 * status.c - kw_strerror() and the error struct helpers.
 */
#define KW_STATUS_DEFINES /* kw_error_set: no analyzer macro here */
#include "core/status.h"

#include <stdio.h>
#include <string.h>

static const char *const status_text[KW_STATUS_MAX] = {
	[KW_OK] = "ok",
	[KW_ENOMEM] = "out of memory",
	[KW_EIO] = "input/output error",
	[KW_ECORRUPT] = "corrupt or truncated data",
	[KW_EINVAL] = "invalid input",
	[KW_ETOOBIG] = "limit exceeded",
	[KW_ENOTFOUND] = "not found",
	[KW_EUNSUPPORTED] = "not supported",
	[KW_ECONFIG] = "configuration error",
	[KW_EUSAGE] = "usage error",
	[KW_ERETRY] = "temporary failure, retry later",
};

const char *kw_strerror(enum kw_status st)
{
	if ((unsigned)st >= KW_STATUS_MAX || !status_text[st])
		return "unknown status";
	return status_text[st];
}

enum kw_status kw_error_vset(struct kw_error *err, enum kw_status st,
			     const char *fmt, va_list ap)
{
	if (!err)
		return st;
	err->status = st;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return st;
}

enum kw_status kw_error_set(struct kw_error *err, enum kw_status st,
			    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kw_error_vset(err, st, fmt, ap);
	va_end(ap);
	return st;
}

enum kw_status kw_error_prefix(struct kw_error *err, const char *fmt, ...)
{
	char prefix[KW_ERROR_MSG_MAX];
	char old[KW_ERROR_MSG_MAX];
	va_list ap;

	if (!err)
		return KW_OK;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* The prefix is a name; keep most of the room for the message. */
	snprintf(err->msg, sizeof(err->msg), "%.200s: %.300s", prefix, old);
	return err->status;
}

void kw_error_clear(struct kw_error *err)
{
	if (!err)
		return;
	err->status = KW_OK;
	err->msg[0] = '\0';
}
