/*
 * pathglob.c - '**' patterns (pathglob.h): matching a path as written, and
 * walking the file system for the paths that match.
 *
 * The one idea: a pattern is a list of components, and each component is
 * matched by fnmatch(3) on one name; '**' is the only thing that spans
 * components. Matching is a table over (pattern component, path component)
 * filled from the end, so several '**' in one pattern cost the product of
 * the lengths, never an exponential backtrack. The walk starts at the pattern's
 * fixed leading directories and reads only the directories a component can
 * still match; results are sorted bytewise and made unique at the end.
 */
#include "ingest/pathglob.h"

#include <dirent.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_COMPONENTS 128

bool kw_pathglob_is_pattern(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* Split s (modified in place) at '/' into non-empty components. */
static size_t split(char *s, char **comp, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *t = strtok_r(s, "/", &save); t;
	     t = strtok_r(NULL, "/", &save)) {
		if (n == max)
			return SIZE_MAX;
		comp[n++] = t;
	}
	return n;
}

static bool is_globstar(const char *c)
{
	return c[0] == '*' && c[1] == '*' && c[2] == '\0';
}

bool kw_pathglob_match(const char *pattern, const char *path)
{
	char pbuf[PATH_MAX], sbuf[PATH_MAX];
	char *pc[MAX_COMPONENTS], *sc[MAX_COMPONENTS];
	/* ok[i][j]: pattern components i.. match path components j.. */
	static const size_t W = MAX_COMPONENTS + 1;
	bool *ok = NULL;
	size_t np, ns;
	bool res = false;

	if ((pattern[0] == '/') != (path[0] == '/') ||
	    strlen(pattern) >= sizeof(pbuf) || strlen(path) >= sizeof(sbuf))
		return false;
	strcpy(pbuf, pattern);
	strcpy(sbuf, path);
	np = split(pbuf, pc, MAX_COMPONENTS);
	ns = split(sbuf, sc, MAX_COMPONENTS);
	if (np == SIZE_MAX || ns == SIZE_MAX)
		return false;
	ok = calloc(W * W, sizeof(*ok));
	if (!ok)
		return false;
	ok[np * W + ns] = true;
	for (size_t i = np + 1; i-- > 0;) {
		for (size_t j = ns + 1; j-- > 0;) {
			if (i == np)
				continue;
			if (is_globstar(pc[i]))
				/* no directory, or one more */
				ok[i * W + j] = ok[(i + 1) * W + j] ||
						(j < ns && sc[j][0] != '.' &&
						 ok[i * W + j + 1]);
			else
				ok[i * W + j] =
					j < ns && ok[(i + 1) * W + j + 1] &&
					fnmatch(pc[i], sc[j], FNM_PERIOD) == 0;
		}
	}
	res = ok[0];
	free(ok);
	return res;
}

/* ---- walking ---- */

struct walk {
	char **comp;
	size_t ncomp;
	char **out;
	size_t n, cap, max;
	enum kw_status st;
};

static void add(struct walk *w, const char *path)
{
	char *copy;

	if (w->st != KW_OK)
		return;
	if (w->n == w->max) {
		w->st = KW_ETOOBIG;
		return;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		char **grown = realloc(w->out, cap * sizeof(*grown));

		if (!grown) {
			w->st = KW_ENOMEM;
			return;
		}
		w->out = grown;
		w->cap = cap;
	}
	copy = strdup(path);
	if (!copy) {
		w->st = KW_ENOMEM;
		return;
	}
	w->out[w->n++] = copy;
}

/* dir joined with name; false when too long. An empty dir is the current
 * directory, written as nothing ("name", not "./name"). */
static bool join(char *buf, size_t cap, const char *dir, const char *name)
{
	int n;

	if (!dir[0])
		n = snprintf(buf, cap, "%s", name);
	else
		n = snprintf(buf, cap, "%s%s%s", dir,
			     dir[strlen(dir) - 1] == '/' ? "" : "/", name);
	return n >= 0 && (size_t)n < cap;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") && strcmp(d->d_name, "..");
}

/* A directory (following links) / a real directory (not a link). */
static bool is_dir(const char *path, bool follow)
{
	struct stat sb;

	if ((follow ? stat(path, &sb) : lstat(path, &sb)) != 0)
		return false;
	return S_ISDIR(sb.st_mode);
}

static void walk(struct walk *w, const char *dir, size_t ci, int depth);

/* Every entry of dir that component ci matches, and, for '**', every
 * directory below it. */
static void walk_entries(struct walk *w, const char *dir, size_t ci, int depth)
{
	const char *comp = w->comp[ci];
	bool star = is_globstar(comp);
	bool last = ci + 1 == w->ncomp;
	struct dirent **list = NULL;
	char path[PATH_MAX];
	int n;

	n = scandir(dir[0] ? dir : ".", &list, not_dots, by_name);
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;

		if (w->st != KW_OK || !join(path, sizeof(path), dir, name))
			continue;
		if (star) {
			/* '**' spans directories, never hidden ones or links;
			 * a trailing '**' is every file below. */
			if (name[0] == '.')
				continue;
			if (is_dir(path, false))
				walk(w, path, ci, depth + 1);
			else if (last && !is_dir(path, true))
				add(w, path);
			continue;
		}
		if (fnmatch(comp, name, FNM_PERIOD) != 0)
			continue;
		if (last)
			add(w, path);
		else if (is_dir(path, true))
			walk(w, path, ci + 1, depth + 1);
	}
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* dir matched components 0..ci; match the rest under it. */
static void walk(struct walk *w, const char *dir, size_t ci, int depth)
{
	char path[PATH_MAX];
	struct stat sb;

	if (w->st != KW_OK || depth > KW_PATHGLOB_MAX_DEPTH)
		return;
	if (ci == w->ncomp) {
		add(w, dir[0] ? dir : ".");
		return;
	}
	if (is_globstar(w->comp[ci])) {
		/* zero directories: the rest of the pattern right here (a
		 * trailing '**' is the files below, not the directory) */
		if (ci + 1 < w->ncomp)
			walk(w, dir, ci + 1, depth);
		walk_entries(w, dir, ci, depth);
		return;
	}
	if (kw_pathglob_is_pattern(w->comp[ci])) {
		walk_entries(w, dir, ci, depth);
		return;
	}
	if (!join(path, sizeof(path), dir, w->comp[ci]))
		return;
	if (ci + 1 == w->ncomp) {
		if (lstat(path, &sb) == 0)
			add(w, path);
	} else if (is_dir(path, true)) {
		walk(w, path, ci + 1, depth + 1);
	}
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum kw_status kw_pathglob_expand(const char *pattern, size_t max, char ***out,
				  size_t *n)
{
	char buf[PATH_MAX];
	char *comp[MAX_COMPONENTS];
	struct walk w = {.comp = comp, .max = max, .st = KW_OK};
	size_t nc, k = 0;

	*out = NULL;
	*n = 0;
	if (strlen(pattern) >= sizeof(buf))
		return KW_ETOOBIG;
	strcpy(buf, pattern);
	nc = split(buf, comp, MAX_COMPONENTS);
	if (nc == SIZE_MAX)
		return KW_ETOOBIG;
	w.ncomp = nc;
	walk(&w, pattern[0] == '/' ? "/" : "", 0, 0);
	if (w.n > 1)
		qsort(w.out, w.n, sizeof(*w.out), by_str);
	/* '**' twice can reach a path two ways */
	for (size_t i = 0; i < w.n; i++) {
		if (k && !strcmp(w.out[k - 1], w.out[i]))
			free(w.out[i]);
		else
			w.out[k++] = w.out[i];
	}
	*out = w.out;
	*n = k;
	return w.st;
}

void kw_pathglob_free(char **paths, size_t n)
{
	for (size_t i = 0; paths && i < n; i++)
		free(paths[i]);
	free(paths);
}
