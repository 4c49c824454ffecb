/*
 * fuzz_checkpoint.c - libFuzzer target: the `watch` checkpoint
 * (state/checkpoint.h) and the alert journal, each loaded from a file as
 * `watch` loads them at start.
 *
 * Invariants: the checkpoint loads, or is refused with KW_ECORRUPT (or
 * KW_EIO, KW_ENOMEM) and a message naming the file; what loaded has at
 * most KW_CHECKPOINT_ALERTS_MAX alerts and NUL-terminated paths, and is
 * saved and loaded back unchanged (files and alerts, in order). The same
 * bytes read as a journal load, or are refused the same way (a torn last
 * line is a crash's normal leftover and is not refused).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "fuzz.h"
#include "state/checkpoint.h"

static char in_path[600], out_path[600];
static const enum kw_status corrupt[] = {KW_ECORRUPT, KW_EIO, KW_OK};

static void same(const struct kw_checkpoint *a, const struct kw_checkpoint *b,
		 const uint8_t *data, size_t size)
{
	if (a->nfiles != b->nfiles || a->nalerts != b->nalerts)
		fuzz_fail(data, size,
			  "reloaded: %zu files %zu alerts, was "
			  "%zu and %zu",
			  b->nfiles, b->nalerts, a->nfiles, a->nalerts);
	for (size_t i = 0; i < a->nfiles; i++) {
		const struct kw_checkpoint_file *x = &a->files[i];
		const struct kw_checkpoint_file *y = &b->files[i];

		if (x->dev != y->dev || x->ino != y->ino ||
		    x->offset != y->offset || x->fplen != y->fplen ||
		    x->fphash != y->fphash || strcmp(x->path, y->path))
			fuzz_fail(data, size, "file record %zu changed", i);
	}
	for (size_t i = 0; i < a->nalerts; i++) {
		if (!kw_checkpoint_has_alert(b, a->alerts[i].id,
					     a->alerts[i].time))
			fuzz_fail(data, size, "alert %zu lost", i);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	snprintf(in_path, sizeof(in_path), "%s/checkpoint", fuzz_dir());
	snprintf(out_path, sizeof(out_path), "%s/checkpoint.saved", fuzz_dir());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_checkpoint c, back, journal;
	struct kw_error err;
	enum kw_status st;
	bool found = false;

	memset(&c, 0, sizeof(c));
	memset(&back, 0, sizeof(back));
	memset(&journal, 0, sizeof(journal));
	fuzz_write_file(in_path, data, size);
	st = kw_checkpoint_load(in_path, &c, &found, &err);
	if (!found)
		fuzz_fail(data, size, "an existing checkpoint not found");
	if (st != KW_OK) {
		fuzz_refused(data, size, st, &err, in_path, corrupt);
	} else {
		if (c.nalerts > KW_CHECKPOINT_ALERTS_MAX)
			fuzz_fail(data, size, "%zu alerts", c.nalerts);
		for (size_t i = 0; i < c.nfiles; i++) {
			if (!memchr(c.files[i].path, '\0',
				    sizeof(c.files[i].path)))
				fuzz_fail(data, size, "path not terminated");
		}
		if (kw_checkpoint_save(out_path, &c, &err) != KW_OK)
			fuzz_fail(data, size, "save: %s", err.msg);
		if (kw_checkpoint_load(out_path, &back, &found, &err) != KW_OK)
			fuzz_fail(data, size,
				  "what was saved does not load: "
				  "%s",
				  err.msg);
		same(&c, &back, data, size);
	}
	st = kw_checkpoint_journal_load(in_path, &journal, &err);
	if (st != KW_OK)
		fuzz_refused(data, size, st, &err, in_path, corrupt);
	if (journal.nalerts > KW_CHECKPOINT_ALERTS_MAX)
		fuzz_fail(data, size, "%zu journal alerts", journal.nalerts);
	kw_checkpoint_free(&c);
	kw_checkpoint_free(&back);
	kw_checkpoint_free(&journal);
	return 0;
}
