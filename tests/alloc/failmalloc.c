/*
 * failmalloc.c - allocation failure injection for the test build
 * keywatch-failmalloc (tests/meson.build), linked with
 * -Wl,--wrap=malloc,... so that every allocation keywatch's own code makes
 * comes through here; jansson's are routed here too (json_set_alloc_funcs,
 * at start). Production builds never link this file.
 *
 *   KW_FAILMALLOC=N        allocation number N (1-based, in call order)
 *                          fails as it would when memory runs out: NULL
 *                          (or -1, or EOF) with errno ENOMEM. Only that one.
 *   KW_FAILMALLOC_COUNT=F  at exit, write the number of allocations made
 *                          to file F (the range tests/alloc/run.py sweeps).
 *
 * The failing call prints "failmalloc: allocation N fails" and its stack
 * on stderr, so that a failure the test reports can be found in the code.
 * Besides the allocators proper, the calls that allocate inside the C
 * library and report ENOMEM to their caller are wrapped too (fopen,
 * fdopen, getline, realpath, open_memstream, asprintf), and jansson's
 * parsers, each failing as a whole (see in_parser).
 *
 * Test code: the state below is process-wide by nature.
 */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_vasprintf(char **out, const char *fmt, va_list ap);
FILE *__real_fopen(const char *path, const char *mode);
FILE *__real_fdopen(int fd, const char *mode);
ssize_t __real_getline(char **line, size_t *cap, FILE *f);
char *__real_realpath(const char *path, char *resolved);
FILE *__real_open_memstream(char **buf, size_t *size);
json_t *__real_json_loads(const char *s, size_t flags, json_error_t *e);
json_t *__real_json_loadb(const char *s, size_t n, size_t flags,
			  json_error_t *e);
json_t *__real_json_load_file(const char *path, size_t flags, json_error_t *e);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
int __wrap_vasprintf(char **out, const char *fmt, va_list ap);
int __wrap_asprintf(char **out, const char *fmt, ...);
FILE *__wrap_fopen(const char *path, const char *mode);
FILE *__wrap_fdopen(int fd, const char *mode);
ssize_t __wrap_getline(char **line, size_t *cap, FILE *f);
char *__wrap_realpath(const char *path, char *resolved);
FILE *__wrap_open_memstream(char **buf, size_t *size);
json_t *__wrap_json_loads(const char *s, size_t flags, json_error_t *e);
json_t *__wrap_json_loadb(const char *s, size_t n, size_t flags,
			  json_error_t *e);
json_t *__wrap_json_load_file(const char *path, size_t flags, json_error_t *e);

static atomic_ulong calls;
/* Inside jansson's parser: its allocations are not failed one by one
 * (Debian's jansson 2.14 crashes on some of them, upstream issue #362: a
 * library bug, not keywatch's); the parse as a whole fails instead, as one
 * allocation, the way jansson reports running out of memory. */
static _Thread_local int in_parser;
static unsigned long fail_at; /* 0: never */
static const char *count_file;

/* One line per frame, "failmalloc:   FILE+0xOFFSET", which addr2line
 * turns into a function and a line (run.py does). */
static void print_stack(void *const *frames, int n)
{
	for (int i = 1; i < n; i++) {
		Dl_info info;
		char line[600];
		int len;

		if (!dladdr(frames[i], &info) || !info.dli_fname)
			continue;
		len = snprintf(line, sizeof(line), "failmalloc:   %s+0x%lx\n",
			       info.dli_fname,
			       (unsigned long)((uintptr_t)frames[i] -
					       (uintptr_t)info.dli_fbase - 1));
		if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0)
			return;
	}
}

/* Count one allocation; true when this one must fail. */
static int failing(const char *what)
{
	unsigned long n = atomic_fetch_add(&calls, 1) + 1;
	void *frames[32];
	char head[96];
	int len;

	if (n != fail_at)
		return 0;
	len = snprintf(head, sizeof(head),
		       "failmalloc: allocation %lu (%s) fails here:\n", n,
		       what);
	if (write(STDERR_FILENO, head, (size_t)len) < 0)
		return 1;
	print_stack(frames, backtrace(frames, 32));
	errno = ENOMEM;
	return 1;
}

void *__wrap_malloc(size_t n)
{
	return failing("malloc") ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return failing("calloc") ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return failing("realloc") ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return failing("strdup") ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return failing("strndup") ? NULL : __real_strndup(s, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	return failing("aligned_alloc") ? NULL : __real_aligned_alloc(align, n);
}

int __wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
	return failing("vasprintf") ? -1 : __real_vasprintf(out, fmt, ap);
}

int __wrap_asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (failing("asprintf"))
		return -1;
	va_start(ap, fmt);
	r = __real_vasprintf(out, fmt, ap);
	va_end(ap);
	return r;
}

FILE *__wrap_fopen(const char *path, const char *mode)
{
	return failing("fopen") ? NULL : __real_fopen(path, mode);
}

FILE *__wrap_fdopen(int fd, const char *mode)
{
	return failing("fdopen") ? NULL : __real_fdopen(fd, mode);
}

ssize_t __wrap_getline(char **line, size_t *cap, FILE *f)
{
	return failing("getline") ? -1 : __real_getline(line, cap, f);
}

char *__wrap_realpath(const char *path, char *resolved)
{
	if (!resolved && failing("realpath"))
		return NULL;
	return __real_realpath(path, resolved);
}

FILE *__wrap_open_memstream(char **buf, size_t *size)
{
	return failing("open_memstream") ? NULL
					 : __real_open_memstream(buf, size);
}

static void *json_alloc(size_t n)
{
	if (in_parser)
		return __real_malloc(n);
	return failing("jansson") ? NULL : __real_malloc(n);
}

static json_t *parse_fails(json_error_t *e)
{
	if (e) {
		memset(e, 0, sizeof(*e));
		e->line = -1;
		e->column = -1;
		snprintf(e->text, sizeof(e->text), "out of memory");
		e->text[JSON_ERROR_TEXT_LENGTH - 1] =
			(char)json_error_out_of_memory;
	}
	return NULL;
}

json_t *__wrap_json_loads(const char *s, size_t flags, json_error_t *e)
{
	json_t *r;

	if (failing("json_loads"))
		return parse_fails(e);
	in_parser++;
	r = __real_json_loads(s, flags, e);
	in_parser--;
	return r;
}

json_t *__wrap_json_loadb(const char *s, size_t n, size_t flags,
			  json_error_t *e)
{
	json_t *r;

	if (failing("json_loadb"))
		return parse_fails(e);
	in_parser++;
	r = __real_json_loadb(s, n, flags, e);
	in_parser--;
	return r;
}

json_t *__wrap_json_load_file(const char *path, size_t flags, json_error_t *e)
{
	json_t *r;

	if (failing("json_load_file"))
		return parse_fails(e);
	in_parser++;
	r = __real_json_load_file(path, flags, e);
	in_parser--;
	return r;
}

static void write_count(void)
{
	FILE *f = __real_fopen(count_file, "w");

	if (!f)
		return;
	fprintf(f, "%lu\n", atomic_load(&calls));
	fclose(f);
}

__attribute__((constructor)) static void failmalloc_init(void)
{
	const char *n = getenv("KW_FAILMALLOC");
	void *frames[1];

	/* The first backtrace() loads libgcc: do it before anything fails. */
	backtrace(frames, 1);
	if (n)
		fail_at = strtoul(n, NULL, 10);
	count_file = getenv("KW_FAILMALLOC_COUNT");
	if (count_file)
		atexit(write_count);
	json_set_alloc_funcs(json_alloc, free);
}
