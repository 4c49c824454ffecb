/*
 * file.h - how keywatch opens the files it keeps and reads back (config,
 * models, GeoIP databases, `--state` snapshots, checkpoints, journals,
 * spools): every loader and every writer of such a file goes through here.
 *
 * The one idea: the kind of a file is checked on the descriptor before a
 * byte is read or written. Reading opens with O_NONBLOCK, so a FIFO or a
 * device given where a file belongs cannot block keywatch in open(); it is
 * refused by fstat with a message naming the file and what it is. Writing
 * never writes through a link that someone planted: a file is replaced by
 * creating "<path>.tmp" with O_CREAT|O_EXCL|O_NOFOLLOW (mode 0600), writing
 * and fsync'ing it, and renaming it over the path (then fsync'ing the
 * directory), so a crash leaves the old file or the new one. Files that
 * only grow (journals, spools, dead letters, lock files) are opened with
 * O_NOFOLLOW and must be regular files. One writer per file: a second
 * process writing the same path at the same moment makes one of them fail
 * (its temporary file was replaced), never a mix of both.
 *
 * Every function that fails fills err with "PATH: what went wrong".
 */
#ifndef KW_CORE_FILE_H
#define KW_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

/*
 * Open path for reading. Refuses (KW_EINVAL) what is not a regular file
 * ("PATH: not a regular file (a named pipe)"), and (KW_ETOOBIG) a file
 * larger than max bytes when max is not 0. A missing file is
 * KW_ENOTFOUND, other failures KW_EIO; both with a message. On success
 * *fd is a blocking descriptor (O_CLOEXEC) the caller closes, and *size
 * the file's size.
 */
enum kw_status kw_file_open_read(const char *path, uint64_t max, int *fd,
				 uint64_t *size, struct kw_error *err);

/* The same as a stdio stream ("rb"); the caller fcloses it. */
enum kw_status kw_file_fopen_read(const char *path, uint64_t max, FILE **f,
				  uint64_t *size, struct kw_error *err);

/* The whole file in memory, NUL-terminated (*buf is malloc'ed, the caller
 * frees it); files larger than max bytes are KW_ETOOBIG. */
enum kw_status kw_file_read_all(const char *path, size_t max, char **buf,
				size_t *len, struct kw_error *err);

/* For libraries that open a path themselves (libmaxminddb): KW_OK when
 * path is a regular file (links followed), the errors of
 * kw_file_open_read otherwise. Only stat(2): never blocks. */
enum kw_status kw_file_check_regular(const char *path, struct kw_error *err);

/* --- replacing a file ----------------------------------------------------
 */

/* A file being replaced: write to fd (or to the stream of
 * kw_file_replace_stream), then commit or abort. */
struct kw_file_replace {
	int fd;	 /* -1 once handed to a stream or closed */
	FILE *f; /* NULL unless kw_file_replace_stream was called */
	char *path;
	char *tmp; /* "<path>.tmp" */
};

/* Create "<path>.tmp" (a stale one, or a link planted there, is removed
 * first, never followed) with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600. r is
 * filled in either case; after an error kw_file_replace_abort is still
 * safe. */
enum kw_status kw_file_replace_begin(const char *path,
				     struct kw_file_replace *r,
				     struct kw_error *err);

/* The temporary file as a stdio stream ("w"), made once; NULL when out
 * of memory. Owned by r. */
FILE *kw_file_replace_stream(struct kw_file_replace *r);

/* Flush, fsync, close, rename over the path and fsync the directory. On
 * error the temporary file is removed and the old file is left as it
 * was. r is released in every case. */
enum kw_status kw_file_replace_commit(struct kw_file_replace *r,
				      struct kw_error *err);

/* Give up: close and remove the temporary file, release r. Safe on a
 * zeroed or released r, and twice. */
void kw_file_replace_abort(struct kw_file_replace *r);

/* Write the whole buffer to fd (EINTR and short writes retried); -1 with
 * errno on failure. */
int kw_file_write_all(int fd, const void *buf, size_t len);

/* --- files that only grow ------------------------------------------------
 */

/* Open (creating, mode 0600) path for appending (flags: O_APPEND is
 * added; O_RDWR may be given for a lock file, else O_WRONLY is used),
 * never through a link, and only when it is a regular file. -1 with err
 * set on failure. */
int kw_file_open_append(const char *path, int flags, struct kw_error *err);

#endif
