/*
 * fuzz.c - the helpers of fuzz.h: log level, a private temporary directory,
 * memfds, and the failure report.
 *
 * Test code only: the process-wide state here (the directory's name) is
 * set once by fuzz_setup() and read after.
 */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"

static char tmpdir[512];

static int remove_entry(const char *path, const struct stat *sb, int flag,
			struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

void fuzz_clean_dir(void)
{
	if (tmpdir[0])
		nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_dir(void)
{
	fuzz_clean_dir();
	if (tmpdir[0])
		rmdir(tmpdir);
}

void fuzz_setup(void)
{
	static const char *const names[] = {"debug", "info", "warn", "error",
					    "quiet"};
	const char *level = getenv("KW_FUZZ_LOG");
	const char *base = getenv("TMPDIR");

	if (tmpdir[0])
		return;
	kw_log_set_level(KW_LOG_DEBUG);
	for (size_t i = 0; level && i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(level, names[i]))
			kw_log_set_level((enum kw_log_level)i);
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/kwfuzz.XXXXXX",
		 base && base[0] ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "fuzz: mkdtemp %s: %s\n", tmpdir,
			strerror(errno));
		abort();
	}
	atexit(remove_dir);
}

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

const char *fuzz_dir(void)
{
	return tmpdir;
}

static void write_all(int fd, const void *data, size_t size, const char *what)
{
	const char *p = data;

	while (size) {
		ssize_t w = write(fd, p, size);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "fuzz: write %s: %s\n", what,
				strerror(errno));
			abort();
		}
		p += w;
		size -= (size_t)w;
	}
}

int fuzz_memfd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-input", MFD_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "fuzz: memfd_create: %s\n", strerror(errno));
		abort();
	}
	write_all(fd, data, size, "memfd");
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	return fd;
}

void fuzz_write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		fprintf(stderr, "fuzz: %s: %s\n", path, strerror(errno));
		abort();
	}
	write_all(fd, data, size, path);
	close(fd);
}

unsigned fuzz_touch(const void *p, size_t n)
{
	const volatile unsigned char *c = p;
	unsigned sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += c[i];
	return sum;
}

void fuzz_fail(const uint8_t *data, size_t size, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz: invariant broken: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nfuzz: input (%zu bytes): \"", size);
	for (size_t i = 0; i < size && i < 1024; i++) {
		if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"' &&
		    data[i] != '\\')
			fputc(data[i], stderr);
		else
			fprintf(stderr, "\\x%02x", data[i]);
	}
	fprintf(stderr, "%s\"\n", size > 1024 ? "..." : "");
	abort();
}

char *fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

void fuzz_refused(const uint8_t *data, size_t size, enum kw_status st,
		  const struct kw_error *err, const char *path,
		  const enum kw_status *allowed)
{
	bool ok = st == KW_ENOMEM;

	kw_log_debug("fuzz", "refused: %s", err->msg);
	for (size_t i = 0; allowed[i] != KW_OK; i++)
		ok |= st == allowed[i];
	if (!ok)
		fuzz_fail(data, size, "status %d (%s)", (int)st, err->msg);
	if (strncmp(err->msg, path, strlen(path)) != 0)
		fuzz_fail(data, size, "message '%s' without the file",
			  err->msg);
}

void fuzz_alert_json(const uint8_t *data, size_t size, const char *json,
		     size_t len)
{
	json_t *root;

	if (strlen(json) != len || memchr(json, '\n', len))
		fuzz_fail(data, size, "alert JSON is not one line of %zu bytes",
			  len);
	root = json_loadb(json, len, 0, NULL);
	if (!json_is_object(root))
		fuzz_fail(data, size, "alert JSON does not parse: %.*s",
			  (int)len, json);
	json_decref(root);
}
