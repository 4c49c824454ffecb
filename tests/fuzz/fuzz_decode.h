/*
 * fuzz_decode.h - what the two decoder targets share: one input read whole
 * through the reader and the splitter, then the decoding stage
 * (ingest/dispatch.h) as the engine runs it, once per way of reading it,
 * and each event enriched through the shipped models.
 */
#ifndef KW_TESTS_FUZZ_DECODE_H
#define KW_TESTS_FUZZ_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "enrich/model.h"
#include "ingest/decoder.h"

/* The models of the source tree (every models/NAME.json), loaded once. */
const struct kw_models *fuzz_models(void);

/* The targets' set-up: confs[0] no field map, confs[1] the map of the
 * --map specs[0..n) (kept for the process; at most 16; aborts on a bad
 * spec), the shipped models loaded. */
void fuzz_decode_setup(const char *const *specs, size_t n,
		       const struct kw_decoder_conf *confs[2]);

/* Decode data[0..size) with the decoder forced (as --format does) under
 * each field map confs[0..n) (an entry may be NULL: no map), and once more
 * with every record recognised on its own (no --format, no map). Checks
 * every event against the decoder contract (decoder.h) and aborts with
 * fuzz_fail() on a breach. */
void fuzz_decode(const struct kw_decoder_ops *forced,
		 const struct kw_decoder_conf *const *confs, size_t n,
		 const uint8_t *data, size_t size);

#endif
