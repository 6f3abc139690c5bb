/* Reads shard files (docs/SHARD_FORMAT.md). The reader never trusts the file: open checks the header,
 * its checksum, the file size, every offset and size against the file size, and the index/class-table
 * checksum before anything is allocated from them; reading a record checks its CRC32 and its
 * decompressed size before decompressing. Every error names the shard path (and the record). */
#ifndef TSL_SHARD_READER_H
#define TSL_SHARD_READER_H

#include "tsl_shard_format.h"
#include "tsl_status.h"

#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

typedef struct tsl_shard_reader tsl_shard_reader;

/* Opens and validates a shard's header, index and class table (not the records' data).
 * Errors: TSL_ERR_IO / TSL_ERR_NOT_FOUND (cannot open or read), TSL_ERR_FORMAT (not a shard, unknown
 * version, inconsistent offsets or fields), TSL_ERR_CORRUPT (header or table checksum mismatch). */
tsl_status tsl_shard_reader_open(const char *path, tsl_shard_reader **out);

void tsl_shard_reader_close(tsl_shard_reader *r);

const char *tsl_shard_reader_path(const tsl_shard_reader *r);
const tsl_shard_header *tsl_shard_reader_header(const tsl_shard_reader *r);
/* Entry i < record_count (already range-checked at open). */
const tsl_shard_index_entry *tsl_shard_reader_entry(const tsl_shard_reader *r, uint32_t i);
/* Name of class k < class_count, NUL-terminated. */
const char *tsl_shard_reader_class_name(const tsl_shard_reader *r, uint32_t k);

/* Checks record i's CRC32. TSL_ERR_CORRUPT naming the shard and the record on mismatch. */
tsl_status tsl_shard_reader_verify_record(tsl_shard_reader *r, uint32_t i);

/* Reads, checks (CRC32) and decompresses record i into a malloc'd width*height*3 buffer (caller frees).
 * TSL_ERR_CORRUPT naming the shard and record for a checksum mismatch or an undecodable frame. */
tsl_status tsl_shard_reader_read_pixels(tsl_shard_reader *r, uint32_t i, uint8_t **rgb);

/* Like read_pixels, without allocating (the loader's hot path): the stored bytes are read into `scratch`
 * (>= the entry's stored_size bytes), checked, and decompressed with `dctx` (NULL: a one-off context)
 * straight into `rgb` (>= width*height*3 bytes). Same errors as read_pixels; TSL_ERR_INVALID_ARG when a
 * buffer is too small. Safe to call from several threads at once on one reader (pread, no shared state),
 * each with its own `dctx` and buffers. */
tsl_status tsl_shard_reader_read_pixels_into(tsl_shard_reader *r, uint32_t i, ZSTD_DCtx *dctx,
                                             uint8_t *scratch, size_t scratch_size, uint8_t *rgb,
                                             size_t rgb_size);

#endif
