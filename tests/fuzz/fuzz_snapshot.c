/*
 * fuzz_snapshot.c - libFuzzer target: a learned-state file (`--state`,
 * state/snapshot.h), loaded by an engine that then reads the fixed logs of
 * tests/fuzz/events, whose keys are the ones the seed files hold state for,
 * so that every detector takes its saved state back and goes on from it.
 * The engine's state is then saved and the saved file loaded again.
 *
 * The file's checksum and its detector layout only prove that it is intact
 * and written by the same detectors, not that it is sane: the target writes
 * the engine's own layout into the header and the right CRC into the
 * trailer of every input, so that mutations reach the records' contents
 * (counts, indexes, times) instead of dying at the checksum.
 *
 * Version 4 inputs (sections, state/snapshot.h) keep their header and
 * sections as they are (only the CRC is fixed up), and every input is
 * also loaded by snapshots with sections: the detector families' layout
 * as the engine lays their state out (with the engine's header layout as
 * the legacy one, so version 3 files are moved through it), and the same
 * with geo's layout version raised and ops.harvest gone (so that a file of
 * the first is moved, one family reset, one dropped). What such a load
 * accepts is written back as version 4 and must load again, as many
 * records.
 *
 * Each record of a version 4 input is also imported by an engine as a
 * changelog record of the input's layout (kw_engine_import_key).
 *
 * Invariants: the load answers OK or KW_ECORRUPT/KW_EIO/KW_ENOMEM with a
 * message naming the file; whatever was loaded, reading the logs raises
 * only alerts without a full key (fuzz_engine.c), and the state written
 * afterwards loads again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/config.h"
#include "core/log.h"
#include "detect/detector.h"
#include "fuzz.h"
#include "fuzz_engine.h"
#include "state/snapshot.h"

#define HEADER 24  /* magic, version, state size, layout */
#define TRAILER 16 /* count, CRC, "END\n" */

static struct kw_config *cfg;
static char in_path[600], out_path[600];
static const enum kw_status corrupt[] = {KW_ECORRUPT, KW_EIO, KW_OK};
static unsigned char header[HEADER]; /* as this engine writes it */

/* The families' layout as the engine lays it out (16-byte aligned, in
 * the registry's order), and a later one (geo's version raised,
 * ops.harvest gone). */
static struct kw_snap_section secs[KW_SNAPSHOT_SECTIONS_MAX];
static struct kw_snap_section later_secs[KW_SNAPSHOT_SECTIONS_MAX];
static struct kw_snap_layout now, legacy, later;

static uint32_t u32_at(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void make_layouts(void)
{
	const struct kw_detector_ops *const *all = kw_detect_all();
	size_t off = 0, n = 0, m = 0;
	uint64_t hash = 0;

	for (int i = 0; i < 8; i++)
		hash |= (uint64_t)header[16 + i] << (8 * i);
	for (size_t i = 0; all[i]; i++) {
		if (!all[i]->state_size)
			continue;
		secs[n] = (struct kw_snap_section){
			all[i]->name, all[i]->state_version, (uint32_t)off,
			(uint32_t)all[i]->state_size};
		if (strcmp(all[i]->name, "ops.harvest") != 0) {
			later_secs[m] = secs[n];
			if (!strcmp(all[i]->name, "geo"))
				later_secs[m].version++;
			m++;
		}
		n++;
		off += (all[i]->state_size + 15) & ~(size_t)15;
	}
	if (off != u32_at(header + 12))
		abort(); /* the engine lays state out otherwise now */
	now = (struct kw_snap_layout){secs, n, off, hash ^ 1};
	legacy = (struct kw_snap_layout){secs, n, off, hash};
	later = (struct kw_snap_layout){later_secs, m, off, hash ^ 2};
}

static void read_header(const char *path)
{
	FILE *f = fopen(path, "rb");

	if (!f || fread(header, 1, HEADER, f) != HEADER)
		abort();
	fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct fuzz_engine fe;
	struct kw_error err;

	(void)argc;
	(void)argv;
	fuzz_setup();
	fuzz_engine_setup();
	snprintf(in_path, sizeof(in_path), "%s/in.state", fuzz_dir());
	snprintf(out_path, sizeof(out_path), "%s/out.state", fuzz_dir());
	if (kw_config_load(KW_SOURCE_ROOT "/tests/fuzz/events/keywatch.json",
			   &cfg, &err) != KW_OK ||
	    !fuzz_engine_create(&fe, cfg, &err) ||
	    kw_engine_save_state(fe.e, out_path, &err) != KW_OK) {
		fprintf(stderr, "fuzz: %s\n", err.msg);
		abort();
	}
	fuzz_engine_destroy(&fe);
	read_header(out_path);
	make_layouts();
	return 0;
}

/* The input with this engine's header fields and the right checksum. */
static unsigned char *fix_up(const uint8_t *data, size_t size)
{
	unsigned char *p = malloc(size ? size : 1);
	uLong crc;

	if (!p)
		abort();
	memcpy(p, data, size);
	if (size < HEADER + TRAILER)
		return p;
	if (u32_at(p + 8) != 4) /* version 4's sections say its layout */
		memcpy(p + 12, header + 12, HEADER - 12);
	crc = crc32(0, p, (uInt)(size - 8));
	for (int i = 0; i < 4; i++)
		p[size - 8 + i] = (unsigned char)(crc >> (8 * i));
	return p;
}

/* The input (in in_path) loaded with layout l (and the legacy one); what
 * loads is written back with l and loaded again, as many records. */
static void with_sections(const uint8_t *data, size_t size,
			  const struct kw_snap_layout *l)
{
	struct kw_snapshot *s = NULL, *again = NULL;
	struct kw_snapshot_writer *w = NULL;
	struct kw_error err;
	enum kw_status st;
	bool found;

	if (kw_snapshot_create_layout(l, &legacy, 1000, &s) != KW_OK)
		abort();
	st = kw_snapshot_load(s, in_path, &found, &err);
	if (st != KW_OK) {
		fuzz_refused(data, size, st, &err, in_path, corrupt);
		kw_snapshot_destroy(s);
		return;
	}
	if (kw_snapshot_write_begin_layout(out_path, l, &w, &err) != KW_OK)
		fuzz_fail(data, size, "write: %s", err.msg);
	kw_snapshot_write_pending(w, s);
	if (kw_snapshot_write_commit(w, &err) != KW_OK)
		fuzz_fail(data, size, "write: %s", err.msg);
	if (kw_snapshot_create_layout(l, NULL, 1000, &again) != KW_OK)
		abort();
	if (kw_snapshot_load(again, out_path, &found, &err) != KW_OK)
		fuzz_fail(data, size, "what was written does not load: %s",
			  err.msg);
	if (kw_snapshot_count(again) != kw_snapshot_count(s))
		fuzz_fail(data, size, "%zu records written, %zu loaded",
			  kw_snapshot_count(s), kw_snapshot_count(again));
	kw_snapshot_destroy(again);
	kw_snapshot_destroy(s);
}

/* A version 4 input's records, each imported by an engine as a changelog
 * record of the input's layout (its state size and sections, as the
 * keywatch.layout header carries them): the engine reads each as it
 * reads such a file's (moved, upgraded, reset or refused with a reason),
 * and then the logs. Records are taken as their bitmaps say, the last
 * cut at the trailer. */
static void as_changelog(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	size_t off = HEADER + 4, end = size - TRAILER, nlay, words, bitmap;
	unsigned char *layout;
	struct fuzz_engine fe;
	struct kw_error err;

	if (size < HEADER + TRAILER + 4 || u32_at(p + 8) != 4)
		return;
	for (uint32_t i = 0; i < u32_at(p + HEADER) && off + 13 <= end; i++)
		off += 13 + p[off + 12];
	if (off > end)
		return;
	nlay = 4 + off - HEADER;
	layout = malloc(nlay);
	if (!layout || !fuzz_engine_create(&fe, cfg, &err))
		abort();
	memcpy(layout, p + 12, 4);
	memcpy(layout + 4, p + HEADER, off - HEADER);
	words = ((size_t)u32_at(p + 12) + 7) / 8;
	bitmap = (words + 7) / 8;
	for (int k = 0; k < 64 && off < end; k++) {
		size_t len = 48 + bitmap;
		enum kw_status st;

		for (size_t i = 0; off + len <= end && i < bitmap; i++)
			len += 8 * (size_t)__builtin_popcount(p[off + 48 + i]);
		if (len > end - off)
			len = end - off;
		kw_error_clear(&err);
		st = kw_engine_import_key(fe.e, 1, layout, nlay,
					  "changelog fuzz/0", p + off, len,
					  &err);
		if (st != KW_OK && st != KW_ECORRUPT && st != KW_ETOOBIG &&
		    st != KW_ENOMEM)
			fuzz_fail(data, size, "import: status %d", (int)st);
		if (st != KW_OK && !err.msg[0])
			fuzz_fail(data, size,
				  "a record refused without a "
				  "reason");
		off += len;
	}
	fuzz_engine_run(&fe, data, size);
	fuzz_engine_destroy(&fe);
	free(layout);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *fixed = fix_up(data, size);
	struct fuzz_engine fe, again;
	struct kw_error err;
	enum kw_status st;

	fuzz_write_file(in_path, fixed, size);
	free(fixed);
	with_sections(data, size, &now);
	with_sections(data, size, &later);
	as_changelog(data, size);
	if (!fuzz_engine_create(&fe, cfg, &err))
		abort();
	st = kw_engine_load_state(fe.e, in_path, &err);
	if (st != KW_OK) {
		fuzz_refused(data, size, st, &err, in_path, corrupt);
		fuzz_engine_destroy(&fe);
		return 0;
	}
	fuzz_engine_run(&fe, data, size);
	if (kw_engine_save_state(fe.e, out_path, &err) != KW_OK)
		fuzz_fail(data, size, "save: %s", err.msg);
	fuzz_engine_destroy(&fe);
	if (!fuzz_engine_create(&again, cfg, &err))
		abort();
	if (kw_engine_load_state(again.e, out_path, &err) != KW_OK)
		fuzz_fail(data, size, "what was saved does not load: %s",
			  err.msg);
	fuzz_engine_destroy(&again);
	return 0;
}
