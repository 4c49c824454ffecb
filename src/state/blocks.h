/*
 * blocks.h - a pool of fixed-size zeroed blocks, each known by a 32-bit
 * handle: the part of keys' state that the detector families make only on
 * first need (kw_detector_ops.parts), one block per key that
 * needed it. A handle fits where a pointer would not (the key table's
 * entry has four bytes free) and stays valid however the pool grows.
 *
 * Bounded: at most `max` blocks are out at once (the table's keys, each
 * holding one at most), so kw_blocks_new past that fails instead of
 * growing. Memory comes in chunks of KW_BLOCKS_CHUNK blocks, taken as
 * blocks are first needed and kept until the pool is destroyed; a freed
 * block is reused (zeroed again) before a new one is taken.
 *
 * Not thread-safe: one pool per shard, used by its thread.
 */
#ifndef KW_STATE_BLOCKS_H
#define KW_STATE_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define KW_BLOCKS_CHUNK 1024

struct kw_blocks;

/* A pool of blocks of size bytes (a multiple of 16, at most 64 KiB),
 * at most max (at most 2^31) out at once. */
enum kw_status kw_blocks_create(size_t size, size_t max,
				struct kw_blocks **out);
/* NULL-safe. */
void kw_blocks_destroy(struct kw_blocks *p);

/* A new block of zeroes and its handle (never 0) in *handle; NULL (and
 * *handle 0) when max blocks are out or memory is short. */
void *kw_blocks_new(struct kw_blocks *p, uint32_t *handle);
/* The block of a handle kw_blocks_new gave and not yet freed. */
void *kw_blocks_at(const struct kw_blocks *p, uint32_t handle);
/* Give a block back; handle 0 is nothing. */
void kw_blocks_free(struct kw_blocks *p, uint32_t handle);

/* Blocks out now. */
size_t kw_blocks_count(const struct kw_blocks *p);

#endif
