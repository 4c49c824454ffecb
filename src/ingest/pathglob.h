/*
 * pathglob.h - file name patterns with '**', for scan's PATH arguments and
 * watch's inputs[].path.
 *
 * A pattern is matched component by component ('/' separates them):
 *   '*', '?', '[...]'  inside one component, as fnmatch(3) and glob(3)
 *                      match them; a name starting with '.' only matches a
 *                      component that starts with '.' too
 *   '**'               a whole component: zero or more directories (the
 *                      components AWSLogs, '**', '*.json.gz' match every
 *                      .json.gz at any depth under AWSLogs); a last
 *                      '**' matches every file below. Hidden directories
 *                      and symbolic links to directories are not walked
 *                      under it, so a link back up cannot make the walk
 *                      endless.
 * glob(3) has no '**'; the shell's globstar is not on in scripts and cron
 * jobs, so keywatch expands it itself.
 */
#ifndef KW_INGEST_PATHGLOB_H
#define KW_INGEST_PATHGLOB_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

/* Directories deeper than this below the pattern's fixed part are not
 * walked. */
#define KW_PATHGLOB_MAX_DEPTH 64

/* Whether path matches pattern (both as written: no file system access). */
bool kw_pathglob_match(const char *pattern, const char *path);

/* Every existing path that matches pattern (files and directories), in
 * bytewise order, into a malloc'ed array of malloc'ed strings (*out, *n;
 * free with kw_pathglob_free). Directories that cannot be read are
 * skipped. KW_ETOOBIG when more than max paths match (the first max are
 * kept); KW_ENOMEM. */
enum kw_status kw_pathglob_expand(const char *pattern, size_t max, char ***out,
				  size_t *n);

/* NULL-safe. */
void kw_pathglob_free(char **paths, size_t n);

/* Whether s has a pattern character ('*', '?', '['). */
bool kw_pathglob_is_pattern(const char *s);

#endif
