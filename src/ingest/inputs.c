/*
 * inputs.c - PATH arguments to an ordered list of inputs (see inputs.h).
 *
 * The one idea: the order must be reproducible (a replay gives the same
 * alerts), so directories are read whole, sorted bytewise with strcmp (not
 * the locale's collation), and walked depth first in that order; pattern
 * matches are sorted the same way.
 */
#include "ingest/inputs.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ingest/pathglob.h"

#define INPUTS_MAX_DEPTH 64

struct expand {
	struct kw_inputs *out;
	size_t cap;
	size_t errcap;
	size_t max;
	struct kw_error *err;
};

static enum kw_status push(char ***arr, size_t *n, size_t *cap, char *s)
{
	char **grown;
	size_t ncap;

	if (*n == *cap) {
		ncap = *cap ? *cap * 2 : 16;
		grown = realloc(*arr, ncap * sizeof(*grown));
		if (!grown)
			return KW_ENOMEM;
		*arr = grown;
		*cap = ncap;
	}
	(*arr)[(*n)++] = s;
	return KW_OK;
}

enum kw_not_data kw_inputs_not_data(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (strstr(path, "/CloudTrail-Digest/") ||
	    !strncmp(path, "CloudTrail-Digest/", 18) ||
	    strstr(base, "_CloudTrail-Digest_"))
		return KW_NOT_DATA_CLOUDTRAIL_DIGEST;
	if (!strcmp(base, "aws-logs-write-test") ||
	    !strcmp(base, "ConfigWritabilityCheckFile"))
		return KW_NOT_DATA_WRITE_TEST;
	return KW_NOT_DATA_NONE;
}

const char *kw_not_data_name(enum kw_not_data k)
{
	switch (k) {
	case KW_NOT_DATA_CLOUDTRAIL_DIGEST:
		return "CloudTrail digest files";
	case KW_NOT_DATA_WRITE_TEST:
		return "export write tests";
	default:
		return "files";
	}
}

static enum kw_status add_path(struct expand *x, const char *path)
{
	enum kw_not_data nd = kw_inputs_not_data(path);
	char *copy;

	if (nd != KW_NOT_DATA_NONE) {
		x->out->not_data[nd]++;
		return KW_OK;
	}

	if (x->out->n >= x->max)
		return kw_error_set(x->err, KW_ETOOBIG,
				    "too many inputs (more than %zu)", x->max);
	copy = strdup(path);
	if (!copy || push(&x->out->paths, &x->out->n, &x->cap, copy) != KW_OK) {
		free(copy);
		return kw_error_set(x->err, KW_ENOMEM, "out of memory");
	}
	return KW_OK;
}

static enum kw_status add_error(struct expand *x, const char *path,
				const char *why)
{
	char *msg = NULL;

	if (asprintf(&msg, "%s: %s", path, why) < 0)
		msg = NULL;
	if (!msg ||
	    push(&x->out->errors, &x->out->nerr, &x->errcap, msg) != KW_OK) {
		free(msg);
		return kw_error_set(x->err, KW_ENOMEM, "out of memory");
	}
	return KW_OK;
}

static int skip_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static enum kw_status walk_dir(struct expand *x, const char *dir, int depth)
{
	struct dirent **list = NULL;
	char path[PATH_MAX];
	struct stat sb;
	enum kw_status st = KW_OK;
	int n;
	int i;
	int len;

	if (depth > INPUTS_MAX_DEPTH)
		return add_error(x, dir, "directories nested too deep");
	n = scandir(dir, &list, skip_hidden, by_name);
	if (n < 0)
		return add_error(x, dir, strerror(errno));
	for (i = 0; i < n && st == KW_OK; i++) {
		len = snprintf(path, sizeof(path), "%s%s%s", dir,
			       dir[strlen(dir) - 1] == '/' ? "" : "/",
			       list[i]->d_name);
		if (len < 0 || (size_t)len >= sizeof(path)) {
			st = add_error(x, dir, "a path under it is too long");
			continue;
		}
		if (lstat(path, &sb) != 0) {
			st = add_error(x, path, strerror(errno));
			continue;
		}
		if (S_ISDIR(sb.st_mode)) {
			st = walk_dir(x, path, depth + 1);
			continue;
		}
		/* A link to a regular file counts; a link to a directory,
		 * a FIFO or a socket under a directory does not. */
		if (S_ISLNK(sb.st_mode) && stat(path, &sb) != 0)
			continue;
		if (S_ISREG(sb.st_mode))
			st = add_path(x, path);
	}
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return st;
}

static enum kw_status expand_existing(struct expand *x, const char *path,
				      const struct stat *sb)
{
	if (S_ISDIR(sb->st_mode))
		return walk_dir(x, path, 0);
	return add_path(x, path);
}

static enum kw_status expand_glob(struct expand *x, const char *pattern)
{
	char **paths = NULL;
	size_t n = 0;
	struct stat sb;
	enum kw_status st;

	st = kw_pathglob_expand(pattern, x->max - x->out->n, &paths, &n);
	if (st == KW_ENOMEM) {
		st = kw_error_set(x->err, KW_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (st == KW_ETOOBIG) {
		st = kw_error_set(x->err, KW_ETOOBIG,
				  "too many inputs (more than %zu)", x->max);
		goto cleanup;
	}
	if (n == 0) {
		st = add_error(x, pattern, "no file matches the pattern");
		goto cleanup;
	}
	for (size_t i = 0; i < n && st == KW_OK; i++) {
		if (stat(paths[i], &sb) != 0)
			st = add_error(x, paths[i], strerror(errno));
		else
			st = expand_existing(x, paths[i], &sb);
	}
cleanup:
	kw_pathglob_free(paths, n);
	return st;
}

static enum kw_status expand_one(struct expand *x, const char *arg)
{
	struct stat sb;

	if (strcmp(arg, "-") == 0)
		return add_path(x, arg);
	if (stat(arg, &sb) == 0)
		return expand_existing(x, arg, &sb);
	if (errno == ENOENT && kw_pathglob_is_pattern(arg))
		return expand_glob(x, arg);
	return add_error(x, arg, strerror(errno));
}

enum kw_status kw_inputs_expand(const char *const *args, size_t nargs,
				size_t max_inputs, struct kw_inputs *out,
				struct kw_error *err)
{
	struct expand x = {
		.out = out,
		.max = max_inputs ? max_inputs : KW_INPUTS_MAX_DEFAULT,
		.err = err,
	};
	enum kw_status st = KW_OK;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < nargs && st == KW_OK; i++)
		st = expand_one(&x, args[i]);
	return st;
}

void kw_inputs_free(struct kw_inputs *in)
{
	size_t i;

	if (!in)
		return;
	for (i = 0; i < in->n; i++)
		free(in->paths[i]);
	for (i = 0; i < in->nerr; i++)
		free(in->errors[i]);
	free(in->paths);
	free(in->errors);
	memset(in, 0, sizeof(*in));
}
