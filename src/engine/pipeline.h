/*
 * pipeline.h - the engine's stages on several threads (engine_impl.h
 * says how the results stay those of one thread).
 */
#ifndef KW_ENGINE_PIPELINE_H
#define KW_ENGINE_PIPELINE_H

#include <stdbool.h>

#include "core/skips.h"
#include "core/status.h"
#include "ingest/decoder.h"
#include "ingest/reader.h"

struct kw_engine;
struct kw_merge;
struct kw_pipeline;

/* threads in all: the caller's and threads - 1 of the pipeline's own.
 * *out is owned by the engine (kw_pipeline_destroy). */
enum kw_status kw_pipeline_create(struct kw_engine *e, unsigned threads,
				  struct kw_pipeline **out,
				  struct kw_error *err);

/* Read r to its end into the pipeline (the caller's thread reads, and
 * works on the other stages while the batches are all taken). Returns
 * when every record is in a batch, not when it is analysed; the status is
 * the reader's, as kw_engine_read's. stream: of the records' event time
 * (kw_engine_stream). counted: a new input (not more of one, as watch
 * feeds). name is copied. */
enum kw_status kw_pipeline_read(struct kw_pipeline *p, struct kw_reader *r,
				const char *name,
				const struct kw_decoder_ops *dec,
				const struct kw_decoder_conf *conf,
				unsigned stream, bool counted);

/* Read a merge of several inputs (ingest/merge.h) to its end into the
 * pipeline, as kw_pipeline_read reads one. The merge's opened and failed
 * callbacks, told on the thread reading, call kw_pipeline_opened and
 * kw_pipeline_input_failed: the input is counted, and what failed told,
 * with the batch being read. */
void kw_pipeline_read_merge(struct kw_pipeline *p, struct kw_merge *m);
void kw_pipeline_opened(struct kw_pipeline *p);
void kw_pipeline_input_failed(struct kw_pipeline *p, enum kw_skip_reason r,
			      const char *msg);

/* An input that could not be opened: counted and told in its place among
 * the messages of the inputs before it. */
void kw_pipeline_failed(struct kw_pipeline *p, enum kw_skip_reason r,
			const char *msg);

/* Wait (working) until everything read has been through the ordered
 * stage. After it, and until the next read, the engine's state is the
 * caller's alone. */
void kw_pipeline_drain(struct kw_pipeline *p);

/* Drains first. NULL-safe. */
void kw_pipeline_destroy(struct kw_pipeline *p);

#endif
