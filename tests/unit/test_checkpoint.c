/*
 * test_checkpoint.c - the watch checkpoint and its alert journal: a save
 * and load give back exactly what was saved, damaged files are refused
 * with messages naming the file (and line), the ring of recent alerts
 * drops the oldest past its bound, and a torn journal line is ignored.
 *
 * The one idea: every file is written by the test in a mkdtemp directory,
 * and damage is made by hand at a known place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/checkpoint.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kw_ckpt_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	return 0;
}

static int teardown(void **state)
{
	char p[160];

	(void)state;
	unlink(path);
	snprintf(p, sizeof(p), "%s/journal", dir);
	unlink(p);
	return rmdir(dir);
}

static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_roundtrip(void **state)
{
	struct kw_checkpoint c = {0}, d = {0};
	struct kw_checkpoint_file f = {
		.dev = 64768,
		.ino = 1234567,
		.offset = 9945,
		.fplen = 512,
		.fphash = 0x9903f3c207a6b7a3ull,
	};
	struct kw_error err;
	struct stat sb;
	char tmp[160];
	bool found = true;

	(void)state;
	snprintf(f.path, sizeof(f.path), "/var/log/api/requests log.1.gz");
	assert_int_equal(kw_checkpoint_add_file(&c, &f), KW_OK);
	f.ino = 7;
	f.offset = 0;
	f.fplen = 3;
	f.fphash = 1;
	snprintf(f.path, sizeof(f.path), "/var/log/api/requests.log");
	assert_int_equal(kw_checkpoint_add_file(&c, &f), KW_OK);
	assert_true(kw_checkpoint_add_alert(&c, "kwa_a05d2682651c3b4e",
					    INT64_C(1795766401000000)));
	assert_true(kw_checkpoint_add_alert(&c, "kwa_f3c9670eef3ab5cf",
					    INT64_C(-5)));
	kw_error_clear(&err);
	assert_int_equal(kw_checkpoint_save(path, &c, &err), KW_OK);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(stat(tmp, &sb), -1); /* renamed away */
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	assert_int_equal(kw_checkpoint_load(path, &d, &found, &err), KW_OK);
	assert_true(found);
	assert_int_equal(d.nfiles, 2);
	assert_int_equal(d.files[0].dev, 64768);
	assert_int_equal(d.files[0].ino, 1234567);
	assert_int_equal(d.files[0].offset, 9945);
	assert_int_equal(d.files[0].fplen, 512);
	assert_true(d.files[0].fphash == 0x9903f3c207a6b7a3ull);
	assert_string_equal(d.files[0].path, "/var/log/api/requests log.1.gz");
	assert_string_equal(d.files[1].path, "/var/log/api/requests.log");
	assert_int_equal(d.files[1].fplen, 3);
	assert_int_equal(d.nalerts, 2);
	assert_true(kw_checkpoint_has_alert(&d, "kwa_a05d2682651c3b4e",
					    INT64_C(1795766401000000)));
	assert_true(kw_checkpoint_has_alert(&d, "kwa_f3c9670eef3ab5cf", -5));
	/* Same id, other time: another alert. */
	assert_false(kw_checkpoint_has_alert(&d, "kwa_a05d2682651c3b4e", 0));
	kw_checkpoint_free(&c);
	kw_checkpoint_free(&d);
	kw_checkpoint_free(&d); /* twice is fine */
	kw_checkpoint_free(NULL);
}

static void test_missing_and_damaged(void **state)
{
	struct kw_checkpoint c = {0};
	struct kw_error err;
	char want[256];
	bool found = true;

	(void)state;
	assert_int_equal(kw_checkpoint_load(path, &c, &found, &err), KW_OK);
	assert_false(found);

	write_file(path, "keywatch-checkpoint 1\nfile 1 2 3 4 00ff /x\n");
	assert_int_equal(kw_checkpoint_load(path, &c, &found, &err),
			 KW_ECORRUPT);
	snprintf(want, sizeof(want), "%s: cut short (no end line)", path);
	assert_string_equal(err.msg, want);
	kw_checkpoint_free(&c);

	write_file(path, "KWSTATE\n");
	assert_int_equal(kw_checkpoint_load(path, &c, &found, &err),
			 KW_ECORRUPT);
	snprintf(want, sizeof(want), "%s: not a keywatch checkpoint", path);
	assert_string_equal(err.msg, want);
	kw_checkpoint_free(&c);

	write_file(path, "keywatch-checkpoint 1\nfile 1 2 x 4 00ff /x\nend\n");
	assert_int_equal(kw_checkpoint_load(path, &c, &found, &err),
			 KW_ECORRUPT);
	snprintf(want, sizeof(want), "%s:2: unreadable record", path);
	assert_string_equal(err.msg, want);
	kw_checkpoint_free(&c);

	write_file(path, "keywatch-checkpoint 1\nend");
	assert_int_equal(kw_checkpoint_load(path, &c, &found, &err),
			 KW_ECORRUPT);
	snprintf(want, sizeof(want), "%s:2: line cut short or too long", path);
	assert_string_equal(err.msg, want);
	kw_checkpoint_free(&c);
}

static void test_ring(void **state)
{
	struct kw_checkpoint c = {0}, d = {0};
	struct kw_error err;
	char id[32];
	bool found;

	(void)state;
	for (int i = 0; i <= KW_CHECKPOINT_ALERTS_MAX; i++) {
		snprintf(id, sizeof(id), "kwa_%016x", i);
		assert_true(kw_checkpoint_add_alert(&c, id, i));
	}
	assert_int_equal(c.nalerts, KW_CHECKPOINT_ALERTS_MAX);
	assert_false(kw_checkpoint_has_alert(&c, "kwa_0000000000000000", 0));
	assert_true(kw_checkpoint_has_alert(&c, "kwa_0000000000000001", 1));
	snprintf(id, sizeof(id), "kwa_%016x", KW_CHECKPOINT_ALERTS_MAX);
	assert_true(kw_checkpoint_has_alert(&c, id, KW_CHECKPOINT_ALERTS_MAX));
	/* Saved oldest first: one more after the reload drops alert 1. */
	assert_int_equal(kw_checkpoint_save(path, &c, &err), KW_OK);
	assert_int_equal(kw_checkpoint_load(path, &d, &found, &err), KW_OK);
	assert_true(kw_checkpoint_add_alert(&d, "kwa_ffffffffffffffff", 99));
	assert_false(kw_checkpoint_has_alert(&d, "kwa_0000000000000001", 1));
	assert_true(kw_checkpoint_has_alert(&d, "kwa_0000000000000002", 2));
	assert_true(kw_checkpoint_has_alert(&d, "kwa_ffffffffffffffff", 99));
	kw_checkpoint_free(&c);
	kw_checkpoint_free(&d);
}

static void test_journal(void **state)
{
	struct kw_checkpoint c = {0};
	struct kw_error err;
	char jpath[160];
	struct stat sb;
	int fd;

	(void)state;
	snprintf(jpath, sizeof(jpath), "%s/journal", dir);
	assert_int_equal(kw_checkpoint_journal_load(jpath, &c, &err), KW_OK);
	assert_int_equal(c.nalerts, 0);
	fd = kw_checkpoint_journal_open(jpath, &err);
	assert_true(fd >= 0);
	kw_checkpoint_journal_append(fd, "kwa_1111111111111111", 10);
	kw_checkpoint_journal_append(fd, "kwa_2222222222222222", 20);
	assert_int_equal(write(fd, "alert kwa_33333", 15), 15); /* torn */
	assert_int_equal(kw_checkpoint_journal_load(jpath, &c, &err), KW_OK);
	assert_int_equal(c.nalerts, 2);
	assert_true(kw_checkpoint_has_alert(&c, "kwa_1111111111111111", 10));
	assert_true(kw_checkpoint_has_alert(&c, "kwa_2222222222222222", 20));
	kw_checkpoint_journal_reset(fd);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	/* O_APPEND: the next line goes to the start of the emptied file. */
	kw_checkpoint_journal_append(fd, "kwa_4444444444444444", 40);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(sb.st_size, strlen("alert kwa_4444444444444444 40\n"));
	close(fd);
	assert_int_equal(kw_checkpoint_journal_open("/nonexistent/dir/j", &err),
			 -1);
	assert_string_equal(err.msg, "/nonexistent/dir/j: cannot write: No "
				     "such file or directory");
	kw_checkpoint_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_damaged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
