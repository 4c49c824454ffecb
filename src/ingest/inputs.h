/*
 * inputs.h - expanding the command line's PATH arguments into the ordered
 * list of inputs a scan reads.
 *
 *   "-"          standard input (kept as "-"; kw_reader_open knows it)
 *   a file       itself (anything that is not a directory: a FIFO too)
 *   a directory  every regular file under it, recursively, each directory's
 *                entries sorted by name (bytewise), hidden names (".x")
 *                skipped, symbolic links to directories not followed
 *   a pattern    an argument with '*', '?' or '[' that is not an existing
 *                path is expanded with glob(3), sorted; each match is then
 *                treated as above
 *
 * A problem with one argument (missing path, pattern matching nothing,
 * unreadable directory) does not stop the others: it is recorded in the
 * error list as "PATH: reason" and the expansion goes on, so the caller can
 * report each one and still scan the rest (and exit 3 at the end).
 */
#ifndef KW_INGEST_INPUTS_H
#define KW_INGEST_INPUTS_H

#include <stddef.h>

#include "core/status.h"

#define KW_INPUTS_MAX_DEFAULT ((size_t)1000000)

struct kw_inputs {
	char **paths; /* n paths, in scan order; "-" is standard input */
	size_t n;
	char **errors; /* nerr messages, "PATH: reason" */
	size_t nerr;
};

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
