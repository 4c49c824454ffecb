/*
 * fuzz.h - what the libFuzzer targets in tests/fuzz share.
 *
 * Every target defines LLVMFuzzerTestOneInput() and is linked either with
 * libFuzzer (clang, -Dfuzz=true: it mutates and searches) or with driver.c
 * (any compiler: it runs the committed corpus and regression inputs once,
 * as a plain test). A target must behave the same in both: no state that
 * survives from one input to the next besides what it sets up once.
 *
 * The one idea: targets go through the public entry points of the modules
 * (a memfd stands in for an input file, a private temporary directory for
 * the state and spool directories), so they keep working while the modules
 * change inside, and what they find is what a user's file would trigger.
 *
 * A target checks more than "no crash": each states the invariants of what
 * it parses (a status from the documented set, a message naming the input,
 * the same result when the same bytes are read in other chunk sizes) and
 * abort()s with fuzz_fail() when one is broken, so libFuzzer keeps the
 * input.
 */
#ifndef KW_TESTS_FUZZ_H
#define KW_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* fuzz.c has a default that calls fuzz_setup(); a target that needs more
 * defines its own, which calls fuzz_setup() first. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Once per process: the log level (KW_FUZZ_LOG=debug|info|warn|error|quiet;
 * default debug, so that every message is formatted: the fuzz script hides
 * the output with -close_fd_mask) and the process's temporary directory
 * (removed at exit). */
void fuzz_setup(void);

/* The temporary directory (under $TMPDIR, else /tmp); fuzz_setup() first. */
const char *fuzz_dir(void);

/* A file descriptor open on a memfd holding data[0..size), positioned at 0.
 * The caller closes it (or hands it to a reader that does). */
int fuzz_memfd(const uint8_t *data, size_t size);

/* Write data[0..size) to path (created or truncated, 0600). */
void fuzz_write_file(const char *path, const void *data, size_t size);

/* Remove every entry of fuzz_dir() (the directory itself stays). */
void fuzz_clean_dir(void);

/* Read every byte of p[0..n), so that the sanitizers check the memory is
 * what it claims to be; returns a value the optimiser cannot drop. */
unsigned fuzz_touch(const void *p, size_t n);

/* A broken invariant: print what, and the input, then abort(). */
void fuzz_fail(const uint8_t *data, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

/* A file refused by its loader: st must be KW_ENOMEM or one of the
 * statuses in the 0-terminated list `allowed`, and the message must start
 * with the file's path. Logged at debug level. */
void fuzz_refused(const uint8_t *data, size_t size, enum kw_status st,
		  const struct kw_error *err, const char *path,
		  const enum kw_status *allowed);

/* An alert's JSON as a sink gets it: len bytes, one line, valid JSON. */
void fuzz_alert_json(const uint8_t *data, size_t size, const char *json,
		     size_t len);

/* A copy of data with a NUL after it (malloc'ed; the caller frees). */
char *fuzz_strdup(const uint8_t *data, size_t size);

#endif
