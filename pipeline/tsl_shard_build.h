/* `tessl shard` as a library call: decodes, resizes and packs an ImageFolder tree into shards.
 *
 * SRC is one ImageFolder (SRC/<class>/...), written to OUT/shard-*.tss; or, when SRC/train or SRC/val
 * exist, each of them is sharded to OUT/train and OUT/val (a class folder literally named "train" or
 * "val" is therefore not supported). Each input is decoded and resized (tsl_image_decode), compressed and
 * appended in ImageFolder order by worker threads, output order fixed. Inputs that cannot be decoded
 * are skipped and listed with the reason in OUT/report.txt (never a crash). Shards are atomic; a shard
 * that already exists complete with the same inputs and settings (source_hash) is kept as it is. */
#ifndef TSL_SHARD_BUILD_H
#define TSL_SHARD_BUILD_H

#include "tsl_resize.h"
#include "tsl_status.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *src_dir;
    const char *out_dir;
    tsl_resize_target target;
    int level;      /* zstd level, -7..19; 0: pixels stored uncompressed (shard compression 3) */
    bool filter;    /* the up-difference filter before zstd (shard compression 2) */
    int threads;    /* worker threads; <= 0: one per online CPU */
    int shard_size; /* inputs per shard, >= 1 */
    bool progress;  /* progress line with img/s and ETA on stderr */
} tsl_shard_options;

typedef struct {
    uint64_t inputs;          /* files found */
    uint64_t written;         /* records written in this run */
    uint64_t skipped;         /* inputs skipped in this run (listed in report.txt) */
    uint64_t resumed_records; /* records in shards kept from an earlier run */
    uint32_t shards_written, shards_resumed;
    uint64_t raw_bytes, stored_bytes; /* pixels before / after compression, this run */
} tsl_shard_summary;

/* Defaults: short side 256, level 0 (uncompressed: the only form that meets the loader's per-core goal,
 * docs/SHARD_FORMAT.md "Choosing a level"), filter on (for zstd levels), threads = CPUs, 1024 inputs
 * per shard. */
void tsl_shard_options_default(tsl_shard_options *o);

/* Runs the whole job. A skipped input is not an error (see summary->skipped); errors are bad options
 * (TSL_ERR_INVALID_ARG), an unreadable SRC tree, or failing to write OUT (TSL_ERR_IO). */
tsl_status tsl_shard_build(const tsl_shard_options *o, tsl_shard_summary *summary);

#endif
