/*
 * simd.h - the vector steps the scanners of ingest/ choose from at run time
 * (json_scan.c: where a string stops; splitter.c: where a line ends): 8
 * bytes a step in plain C on any machine, 16 with SSE2 (always there on
 * x86-64), 32 with AVX2 (functions built with target("avx2"), run only on
 * a CPU that has it). Every step gives the same answer; the tests run each
 * one this machine has (kw_json_paths_set_step, kw_splitter_set_step).
 */
#ifndef KW_INGEST_SIMD_H
#define KW_INGEST_SIMD_H

#include <stdbool.h>

#include "ingest/json_scan.h" /* enum kw_json_step */

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_STEP 1
#endif

/* The step to take when want is asked for: KW_JSON_STEP_BEST is the
 * widest this build and CPU run; a step they lack is KW_JSON_STEP_BEST
 * back (none). */
static inline enum kw_json_step kw_step_pick(enum kw_json_step want)
{
#ifdef HAVE_AVX2_STEP
	bool avx2 = __builtin_cpu_supports("avx2");
#else
	bool avx2 = false;
#endif
#ifdef __SSE2__
	bool sse2 = true;
#else
	bool sse2 = false;
#endif

	switch (want) {
	case KW_JSON_STEP_BEST:
		return avx2   ? KW_JSON_STEP_32
		       : sse2 ? KW_JSON_STEP_16
			      : KW_JSON_STEP_8;
	case KW_JSON_STEP_8:
		return want;
	case KW_JSON_STEP_16:
		return sse2 ? want : KW_JSON_STEP_BEST;
	case KW_JSON_STEP_32:
		return avx2 ? want : KW_JSON_STEP_BEST;
	}
	return KW_JSON_STEP_BEST;
}

#endif
