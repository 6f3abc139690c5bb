/* Writes one shard file (docs/SHARD_FORMAT.md) atomically: records stream into "PATH.tmp.<pid>"; the
 * index, class table and header are written by tsl_shard_writer_finish, which then fsyncs and renames
 * to PATH. A process killed before finish leaves no file at PATH. */
#ifndef TSL_SHARD_WRITER_H
#define TSL_SHARD_WRITER_H

#include "tsl_status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tsl_shard_writer tsl_shard_writer;

/* Compresses records for one thread: a zstd context and a filter buffer reused from image to image. */
typedef struct tsl_shard_compressor tsl_shard_compressor;

/* `compression` is TSL_SHARD_ZSTD or TSL_SHARD_ZSTD_UP with `level` -7..-1 or 1..19, or TSL_SHARD_RAW.
 * Negative levels are zstd's fast levels with the literals still Huffman-coded and a minimum match of 7
 * (made for filtered pixels); TSL_ERR_UNSUPPORTED if this libzstd refuses those parameters. */
tsl_status tsl_shard_compressor_create(uint32_t compression, int level, tsl_shard_compressor **out);
void tsl_shard_compressor_destroy(tsl_shard_compressor *c);

/* Compresses RGB8 pixels (width * height * 3 bytes) into one zstd frame (content size recorded), after
 * the compressor's filter; *stored is malloc'd (caller frees). */
tsl_status tsl_shard_compress(tsl_shard_compressor *c, const uint8_t *rgb, uint32_t width, uint32_t height,
                              void **stored, size_t *stored_size);

/* Starts a shard whose records are stored with `compression` (TSL_SHARD_ZSTD or TSL_SHARD_ZSTD_UP).
 * `class_names` (class_count of them, each 1..4096 bytes) is copied. */
tsl_status tsl_shard_writer_open(const char *path, uint32_t shard_index, uint32_t compression,
                                 uint32_t class_count, char *const *class_names, uint64_t source_hash,
                                 tsl_shard_writer **out);

/* Appends one record: the stored (compressed) bytes of a width x height image of class `label`.
 * TSL_ERR_INVALID_ARG for a label >= class_count or sizes outside the format's limits. */
tsl_status tsl_shard_writer_add(tsl_shard_writer *w, const void *stored, size_t stored_size, uint32_t label,
                                uint32_t width, uint32_t height);

/* Writes index, class table and header, then commits the file. Frees `w` in all cases. */
tsl_status tsl_shard_writer_finish(tsl_shard_writer *w);

/* Removes the temporary file and frees `w`. */
void tsl_shard_writer_abort(tsl_shard_writer *w);

#endif
