/*
 * stderr_capture.h - for tests: catch what keywatch writes to stderr (its
 * log lines) in a temporary file, to compare with the expected messages.
 * Include after cmocka.h.
 */
#ifndef KW_TEST_STDERR_CAPTURE_H
#define KW_TEST_STDERR_CAPTURE_H

#include <stdio.h>
#include <unistd.h>

struct capture {
	FILE *tmp;
	int saved;
};

static inline void capture_begin(struct capture *c)
{
	fflush(stderr);
	c->tmp = tmpfile();
	assert_non_null(c->tmp);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(fileno(c->tmp), STDERR_FILENO) >= 0);
}

/* Restores stderr and returns what was written (at most cap-1 bytes). */
static inline const char *capture_end(struct capture *c, char *buf, size_t cap)
{
	size_t n;

	fflush(stderr);
	assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
	close(c->saved);
	rewind(c->tmp);
	n = fread(buf, 1, cap - 1, c->tmp);
	buf[n] = '\0';
	fclose(c->tmp);
	return buf;
}

#endif
