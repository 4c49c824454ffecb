/*
 * tmpdir.h - for tests: a fresh directory under /tmp and its removal with
 * everything in it (links are removed, never followed).
 */
#ifndef KW_TEST_TMPDIR_H
#define KW_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int tmpdir_rm_one(const char *p, const struct stat *sb, int flag,
			 struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* "/tmp/kw_<what>_XXXXXX" made into dir (>= 64 bytes); 0 or -1. */
static inline int tmpdir_make(char *dir, size_t cap, const char *what)
{
	snprintf(dir, cap, "/tmp/kw_%s_XXXXXX", what);
	return mkdtemp(dir) ? 0 : -1;
}

static inline int tmpdir_remove(const char *dir)
{
	chmod(dir, 0700);
	return nftw(dir, tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
