/*
 * inflate.c - bench/run's references: inflate gzip files and throw the
 * bytes away, through zlib or ISA-L (the two libraries keywatch's gzip
 * reader uses), so that keywatch's speed can be put next to what merely
 * decompressing the same files costs on the same machine, in the same run.
 *
 * usage: kw-inflate zlib|isal FILE...
 * Prints the bytes inflated. Every member of a multi-member file is read.
 * Exit 1 on damage or a missing library, 2 on usage.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#ifdef KW_INFLATE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#define IN_SIZE (256 * 1024)
#define OUT_SIZE (1024 * 1024)

static int by_zlib(FILE *f, unsigned char *in, unsigned char *out,
		   uint64_t *total)
{
	z_stream z;
	int rc = Z_OK, status = 0;
	int full = 0; /* the output filled up: more may come without input */

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return 1;
	for (;;) {
		if (z.avail_in == 0 && !full) {
			size_t n = fread(in, 1, IN_SIZE, f);

			if (n == 0)
				break;
			z.next_in = in;
			z.avail_in = (uInt)n;
		}
		z.next_out = out;
		z.avail_out = OUT_SIZE;
		rc = inflate(&z, Z_NO_FLUSH);
		*total += OUT_SIZE - z.avail_out;
		full = z.avail_out == 0;
		if (rc == Z_STREAM_END) {
			inflateReset(&z); /* another member may follow */
			continue;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR) {
			status = 1;
			break;
		}
	}
	inflateEnd(&z);
	return status;
}

#ifdef KW_INFLATE_ISAL
static int by_isal(FILE *f, unsigned char *in, unsigned char *out,
		   uint64_t *total)
{
	struct inflate_state *st = malloc(sizeof(*st));
	int status = 0, full = 0;

	if (!st)
		return 1;
	isal_inflate_init(st);
	st->crc_flag = ISAL_GZIP;
	for (;;) {
		int rc;

		if (st->avail_in == 0 && !full) {
			size_t n = fread(in, 1, IN_SIZE, f);

			if (n == 0)
				break;
			st->next_in = in;
			st->avail_in = (uint32_t)n;
		}
		st->next_out = out;
		st->avail_out = OUT_SIZE;
		rc = isal_inflate(st);
		*total += OUT_SIZE - st->avail_out;
		full = st->avail_out == 0;
		if (rc != ISAL_DECOMP_OK) {
			status = 1;
			break;
		}
		if (st->block_state == ISAL_BLOCK_FINISH) {
			/* Another member may follow: keep what is read. */
			uint8_t *next = st->next_in;
			uint32_t left = st->avail_in;

			isal_inflate_reset(st);
			st->crc_flag = ISAL_GZIP;
			st->next_in = next;
			st->avail_in = left;
		}
	}
	free(st);
	return status;
}
#endif

int main(int argc, char **argv)
{
	unsigned char *in = malloc(IN_SIZE), *out = malloc(OUT_SIZE);
	uint64_t total = 0;
	int status = 0;

	if (argc < 3 || (strcmp(argv[1], "zlib") && strcmp(argv[1], "isal"))) {
		fprintf(stderr, "usage: kw-inflate zlib|isal FILE...\n");
		return 2;
	}
#ifndef KW_INFLATE_ISAL
	if (!strcmp(argv[1], "isal")) {
		fprintf(stderr, "kw-inflate: built without ISA-L\n");
		return 1;
	}
#endif
	if (!in || !out)
		return 1;
	for (int i = 2; i < argc && !status; i++) {
		FILE *f = fopen(argv[i], "rb");

		if (!f) {
			perror(argv[i]);
			status = 1;
			break;
		}
#ifdef KW_INFLATE_ISAL
		if (!strcmp(argv[1], "isal"))
			status = by_isal(f, in, out, &total);
		else
#endif
			status = by_zlib(f, in, out, &total);
		if (status)
			fprintf(stderr, "kw-inflate: %s: damaged\n", argv[i]);
		fclose(f);
	}
	printf("%llu\n", (unsigned long long)total);
	free(in);
	free(out);
	return status;
}
