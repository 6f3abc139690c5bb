/* The on-disk shard format, version 1 (docs/SHARD_FORMAT.md is the specification; these structs mirror
 * its tables field for field). The structs are the decoded, host-order form: files are always written
 * and read through tsl_shard_header_encode/decode and tsl_shard_index_encode/decode, which do the
 * little-endian packing, so struct padding and host byte order never reach the disk. */
#ifndef TSL_SHARD_FORMAT_H
#define TSL_SHARD_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

#define TSL_SHARD_MAGIC          "TSLSHARD" /* 8 bytes, no terminator on disk */
#define TSL_SHARD_VERSION        1u
#define TSL_SHARD_HEADER_SIZE    80u
#define TSL_SHARD_INDEX_ENTRY    32u
#define TSL_SHARD_PIXEL_RGB8     1u
#define TSL_SHARD_ZSTD           1u /* one zstd frame of the RGB8 pixels per record */
#define TSL_SHARD_ZSTD_UP        2u /* the same, of the pixels after the up-difference filter */
#define TSL_SHARD_RAW            3u /* no compression: each record is the RGB8 pixels themselves */
#define TSL_SHARD_MAX_SIDE       32768u
#define TSL_SHARD_MAX_PIXELS     100000000ull
#define TSL_SHARD_MAX_CLASS_NAME 4096u
#define TSL_SHARD_FILE_SUFFIX    ".tss"

typedef struct {
    uint32_t version;
    uint32_t header_size;
    uint32_t shard_index;
    uint32_t record_count;
    uint32_t class_count;
    uint32_t pixel_format;
    uint32_t compression;
    uint32_t table_crc32;
    uint64_t index_offset;
    uint64_t class_table_offset;
    uint64_t source_hash;
    uint64_t file_size;
    uint32_t header_crc32; /* filled by encode; checked by decode */
} tsl_shard_header;

typedef struct {
    uint64_t offset;
    uint32_t stored_size;
    uint32_t label;
    uint32_t width;
    uint32_t height;
    uint32_t crc32;
} tsl_shard_index_entry;

/* Packs `h` into 80 bytes, computing header_crc32 (h->header_crc32 is ignored). */
void tsl_shard_header_encode(const tsl_shard_header *h, uint8_t out[TSL_SHARD_HEADER_SIZE]);

/* Unpacks 80 bytes. Returns 0 on success, or a static string naming the first problem: bad magic,
 * unknown version, wrong header size, header checksum mismatch. Values are not range-checked here. */
const char *tsl_shard_header_decode(const uint8_t in[TSL_SHARD_HEADER_SIZE], tsl_shard_header *h);

void tsl_shard_index_encode(const tsl_shard_index_entry *e, uint8_t out[TSL_SHARD_INDEX_ENTRY]);
void tsl_shard_index_decode(const uint8_t in[TSL_SHARD_INDEX_ENTRY], tsl_shard_index_entry *e);

/* True for the `compression` values this version reads and writes. */
static inline bool tsl_shard_compression_known(uint32_t compression) {
    return compression == TSL_SHARD_ZSTD || compression == TSL_SHARD_ZSTD_UP || compression == TSL_SHARD_RAW;
}

/* Little-endian field access, shared by the writer and the reader. */
static inline void tsl_le_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void tsl_le_put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void tsl_le_put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t tsl_le_get_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t tsl_le_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t tsl_le_get_u64(const uint8_t *p) {
    return (uint64_t)tsl_le_get_u32(p) | ((uint64_t)tsl_le_get_u32(p + 4) << 32);
}

#endif
