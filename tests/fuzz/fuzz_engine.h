/*
 * fuzz_engine.h - what the targets that drive the whole engine share (the
 * config and the --state targets): fixed request logs of the repository
 * (tests/fuzz/events/), the shipped models, the MaxMind test databases,
 * and a sink that checks every alert the router passes.
 *
 * The sink renders each alert as JSON and as text and aborts when either
 * holds one of the full keys of the fixed logs (no full key in any output:
 * DESIGN.md, "Keys are secrets") or when the JSON does not parse.
 */
#ifndef KW_TESTS_FUZZ_ENGINE_H
#define KW_TESTS_FUZZ_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert/router.h"
#include "core/config.h"
#include "engine/engine.h"

/* Load the fixed logs, models and databases; once, after fuzz_setup(). */
void fuzz_engine_setup(void);

struct fuzz_engine {
	struct kw_engine *e;
	struct kw_router *router; /* with the checking sink */
};

/* Create an engine over cfg (borrowed) with the checking sink. false with
 * err set when the engine refuses the config (fe is then empty). Free with
 * fuzz_engine_destroy. */
bool fuzz_engine_create(struct fuzz_engine *fe, const struct kw_config *cfg,
			struct kw_error *err);

/* Read the fixed logs through the engine, then finish (close every window)
 * and send the rate limits' digests. data and size name the fuzz input for
 * failure reports. */
void fuzz_engine_run(struct fuzz_engine *fe, const uint8_t *data, size_t size);

/* Safe on an empty fe, and twice. */
void fuzz_engine_destroy(struct fuzz_engine *fe);

#endif
