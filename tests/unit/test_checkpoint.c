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

#include "core/time.h"
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
					    KW_TIME_MAX));
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
	assert_true(kw_checkpoint_has_alert(&d, "kwa_f3c9670eef3ab5cf",
					    KW_TIME_MAX));
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

static void expect_load_error(const char *text, const char *msg)
{
	struct kw_checkpoint c = {0};
	struct kw_error err;
	char want[512];
	bool found;

	write_file(path, text);
	kw_error_clear(&err);
	assert_int_equal(kw_checkpoint_load(path, &c, &found, &err),
			 KW_ECORRUPT);
	snprintf(want, sizeof(want), "%s%s", path, msg);
	assert_string_equal(err.msg, want);
	kw_checkpoint_free(&c);
}

/* Every value is checked against its range before use: an offset past
 * what a file can have, a fingerprint longer than the tailer takes, an
 * alert id that is not one, a time outside event time, a record count
 * past the bound (a crafted checkpoint of a few MB made watch take
 * hundreds: 2.7 KB per file record, with no limit). */
static void test_values_in_range(void **state)
{
	struct kw_checkpoint c = {0};
	struct kw_checkpoint_file fr = {.fplen = 1};
	FILE *f;

	(void)state;
	expect_load_error("keywatch-checkpoint 1\n"
			  "file 1 2 9223372036854775808 4 00ff /x\nend\n",
			  ":2: unreadable record");
	expect_load_error("keywatch-checkpoint 1\nfile 1 2 3 513 00ff /x\n"
			  "end\n",
			  ":2: unreadable record");
	expect_load_error("keywatch-checkpoint 1\nalert kwa_0123 5\nend\n",
			  ":2: unreadable record");
	expect_load_error("keywatch-checkpoint 1\n"
			  "alert kwa_0123456789abcdeX 5\nend\n",
			  ":2: unreadable record");
	expect_load_error("keywatch-checkpoint 1\n"
			  "alert kwa_0123456789abcdef -1\nend\n",
			  ":2: unreadable record");
	expect_load_error("keywatch-checkpoint 1\n"
			  "alert kwa_0123456789abcdef 5 junk\nend\n",
			  ":2: unreadable record");
	/* Numbers past 64 bits, or with a sign, are not read as some other
	 * number (sscanf read them, undefined behaviour in C; glibc gave
	 * 2^64 - 1, or wrapped a minus sign round). */
	expect_load_error("keywatch-checkpoint 1\n"
			  "file 18446744073709551616 2 3 4 00ff /x\nend\n",
			  ":2: unreadable record");
	expect_load_error("keywatch-checkpoint 1\nfile -1 2 3 4 00ff /x\n"
			  "end\n",
			  ":2: unreadable record");
	expect_load_error("keywatch-checkpoint 1\n"
			  "file 1 2 3 4 10000000000000000 /x\nend\n",
			  ":2: unreadable record");
	expect_load_error("keywatch-checkpoint 1\n"
			  "alert kwa_0123456789abcdef 99999999999999999999\n"
			  "end\n",
			  ":2: unreadable record");

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("keywatch-checkpoint 1\n", f);
	for (int i = 0; i <= KW_CHECKPOINT_FILES_MAX; i++)
		fprintf(f, "file 1 %d 0 1 00ff /var/log/a%d\n", i, i);
	fputs("end\n", f);
	fclose(f);
	{
		struct kw_error err;
		char want[256];
		bool found;

		assert_int_equal(kw_checkpoint_load(path, &c, &found, &err),
				 KW_ECORRUPT);
		snprintf(want, sizeof(want),
			 "%s:%d: more than %d files (the most keywatch follows "
			 "and remembers)",
			 path, KW_CHECKPOINT_FILES_MAX + 2,
			 KW_CHECKPOINT_FILES_MAX);
		assert_string_equal(err.msg, want);
		assert_true(c.capfiles <= KW_CHECKPOINT_FILES_MAX);
		kw_checkpoint_free(&c);
	}
	for (int i = 0; i < KW_CHECKPOINT_FILES_MAX; i++)
		assert_int_equal(kw_checkpoint_add_file(&c, &fr), KW_OK);
	assert_int_equal(kw_checkpoint_add_file(&c, &fr), KW_ETOOBIG);
	kw_checkpoint_free(&c);
}

/* A FIFO at the checkpoint's or the journal's path is refused at once,
 * naming it (a blocking open would wait for a writer forever). */
static void test_special_files_refused(void **state)
{
	struct kw_checkpoint c = {0};
	struct kw_error err;
	char jpath[160], want[256];
	bool found;

	(void)state;
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(kw_checkpoint_load(path, &c, &found, &err), KW_EINVAL);
	snprintf(want, sizeof(want), "%s: not a regular file (a named pipe)",
		 path);
	assert_string_equal(err.msg, want);
	snprintf(jpath, sizeof(jpath), "%s/journal", dir);
	assert_int_equal(mkfifo(jpath, 0600), 0);
	assert_int_equal(kw_checkpoint_journal_load(jpath, &c, &err),
			 KW_EINVAL);
	assert_int_equal(kw_checkpoint_journal_open(jpath, &err), -1);
	snprintf(want, sizeof(want),
		 "%s: cannot write: No such device or "
		 "address",
		 jpath);
	assert_string_equal(err.msg, want);
	unlink(jpath);
	kw_checkpoint_free(&c);
}

/* A link planted at the temporary name (state_dir/checkpoint.tmp) was
 * written through; now it is removed and its target left alone. A link at
 * the journal's path is refused. */
static void test_planted_links(void **state)
{
	struct kw_checkpoint c = {0}, d = {0};
	struct kw_error err;
	char tmp[160], victim[160], jpath[160], want[256];
	struct stat sb;
	bool found;

	(void)state;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	write_file(victim, "precious\n");
	assert_int_equal(symlink(victim, tmp), 0);
	assert_true(kw_checkpoint_add_alert(&c, "kwa_0123456789abcdef", 5));
	assert_int_equal(kw_checkpoint_save(path, &c, &err), KW_OK);
	assert_int_equal(stat(victim, &sb), 0);
	assert_int_equal(sb.st_size, 9);
	assert_int_equal(lstat(tmp, &sb), -1);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(kw_checkpoint_load(path, &d, &found, &err), KW_OK);
	assert_true(kw_checkpoint_has_alert(&d, "kwa_0123456789abcdef", 5));

	snprintf(jpath, sizeof(jpath), "%s/journal", dir);
	assert_int_equal(symlink(victim, jpath), 0);
	assert_int_equal(kw_checkpoint_journal_open(jpath, &err), -1);
	snprintf(want, sizeof(want),
		 "%s: a symbolic link; keywatch does not write through links",
		 jpath);
	assert_string_equal(err.msg, want);
	assert_int_equal(stat(victim, &sb), 0);
	assert_int_equal(sb.st_size, 9);
	unlink(jpath);
	unlink(victim);
	kw_checkpoint_free(&c);
	kw_checkpoint_free(&d);
}

/* A torn last journal line is a write the process died in; a bad line
 * before the last is damage, named with its line. */
static void test_journal_damage(void **state)
{
	struct kw_checkpoint c = {0};
	struct kw_error err;
	char jpath[160], want[256];

	(void)state;
	snprintf(jpath, sizeof(jpath), "%s/journal", dir);
	write_file(jpath, "alert kwa_1111111111111111 10\nalert kwa_22\n"
			  "alert kwa_3333333333333333 30\n");
	assert_int_equal(kw_checkpoint_journal_load(jpath, &c, &err),
			 KW_ECORRUPT);
	snprintf(want, sizeof(want), "%s:2: unreadable record", jpath);
	assert_string_equal(err.msg, want);
	kw_checkpoint_free(&c);
	write_file(jpath, "alert kwa_1111111111111111 10\nalert kwa_22");
	assert_int_equal(kw_checkpoint_journal_load(jpath, &c, &err), KW_OK);
	assert_int_equal(c.nalerts, 1);
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
		cmocka_unit_test_setup_teardown(test_values_in_range, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_special_files_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_planted_links, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_journal_damage, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
