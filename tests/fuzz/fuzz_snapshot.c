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
#include "fuzz.h"
#include "fuzz_engine.h"

#define HEADER 24  /* magic, version, state size, layout */
#define TRAILER 16 /* count, CRC, "END\n" */

static struct kw_config *cfg;
static char in_path[600], out_path[600];
static const enum kw_status corrupt[] = {KW_ECORRUPT, KW_EIO, KW_OK};
static unsigned char header[HEADER]; /* as this engine writes it */

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
	memcpy(p + 12, header + 12, HEADER - 12);
	crc = crc32(0, p, (uInt)(size - 8));
	for (int i = 0; i < 4; i++)
		p[size - 8 + i] = (unsigned char)(crc >> (8 * i));
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *fixed = fix_up(data, size);
	struct fuzz_engine fe, again;
	struct kw_error err;
	enum kw_status st;

	fuzz_write_file(in_path, fixed, size);
	free(fixed);
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
