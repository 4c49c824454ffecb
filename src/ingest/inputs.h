/*
 * inputs.h - expanding the command line's PATH arguments into the list of
 * inputs a scan reads.
 *
 *   "-"          standard input (kept as "-"; kw_reader_open knows it)
 *   a file       itself (anything that is not a directory: a FIFO too)
 *   a directory  every regular file under it, recursively, each directory's
 *                entries sorted by name (bytewise), hidden names (".x")
 *                skipped, symbolic links to directories not followed
 *   a pattern    an argument with '*', '?' or '[' that is not an existing
 *                path is expanded with pathglob.h ('**' spans directories),
 *                sorted; each match is then treated as above
 *
 * Files of known export layouts that hold no logs (kw_inputs_not_data: a
 * CloudTrail digest file, CloudWatch Logs' write test) found under a
 * directory or through a pattern are left out and counted by kind; one
 * named on its own is left out too, and counted the same way.
 *
 * A problem with one argument (missing path, pattern matching nothing,
 * unreadable directory) does not stop the others: it is recorded in the
 * error list as "PATH: reason" and the expansion goes on, so the caller can
 * report each one and still scan the rest (and exit 3 at the end).
 */
#ifndef KW_INGEST_INPUTS_H
#define KW_INGEST_INPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define KW_INPUTS_MAX_DEFAULT ((size_t)1000000)

/* Kinds of files that hold no logs (kw_inputs_not_data). */
enum kw_not_data {
	KW_NOT_DATA_NONE = 0,
	KW_NOT_DATA_CLOUDTRAIL_DIGEST, /* CloudTrail-Digest/... */
	KW_NOT_DATA_WRITE_TEST,	       /* aws-logs-write-test, AWS Config's
					  ConfigWritabilityCheckFile */
	KW_NOT_DATA_MAX
};

struct kw_inputs {
	char **paths; /* n paths, in scan order; "-" is standard input */
	size_t n;
	char **errors; /* nerr messages, "PATH: reason" */
	size_t nerr;
	uint64_t not_data[KW_NOT_DATA_MAX]; /* files left out, by kind */
};

/* Whether path names a file of a known export layout that holds no logs:
 * a CloudTrail digest file (a "CloudTrail-Digest" directory, or
 * "_CloudTrail-Digest_" in the name), CloudWatch Logs' "aws-logs-write-test"
 * or AWS Config's "ConfigWritabilityCheckFile". */
enum kw_not_data kw_inputs_not_data(const char *path);

/* "CloudTrail digest files", ...: for summaries. */
const char *kw_not_data_name(enum kw_not_data k);

/* Expand args[0..nargs) into *out (which the call initialises; the caller
 * frees it with kw_inputs_free, whatever the result). max_inputs 0 means
 * KW_INPUTS_MAX_DEFAULT; going past it stops the expansion with KW_ETOOBIG
 * ("too many inputs (more than N)"), keeping the first max_inputs paths.
 * Per-argument problems do not fail the call: they are in out->errors and
 * the call returns KW_OK. Only KW_ENOMEM and KW_ETOOBIG are returned, with
 * err set. */
enum kw_status kw_inputs_expand(const char *const *args, size_t nargs,
				size_t max_inputs, struct kw_inputs *out,
				struct kw_error *err);

/* Free the paths, the messages and the arrays; leaves *in empty. NULL-safe,
 * and safe to call twice. */
void kw_inputs_free(struct kw_inputs *in);

#endif
