#include "tsl_shard_format.h"
#include "tsl_crc32.h"

#include <string.h>

void tsl_shard_header_encode(const tsl_shard_header *h, uint8_t out[TSL_SHARD_HEADER_SIZE]) {
    memset(out, 0, TSL_SHARD_HEADER_SIZE);
    memcpy(out, TSL_SHARD_MAGIC, 8);
    tsl_le_put_u32(out + 8, h->version);
    tsl_le_put_u32(out + 12, h->header_size);
    tsl_le_put_u32(out + 16, h->shard_index);
    tsl_le_put_u32(out + 20, h->record_count);
    tsl_le_put_u32(out + 24, h->class_count);
    tsl_le_put_u32(out + 28, h->pixel_format);
    tsl_le_put_u32(out + 32, h->compression);
    tsl_le_put_u32(out + 36, h->table_crc32);
    tsl_le_put_u64(out + 40, h->index_offset);
    tsl_le_put_u64(out + 48, h->class_table_offset);
    tsl_le_put_u64(out + 56, h->source_hash);
    tsl_le_put_u64(out + 64, h->file_size);
    tsl_le_put_u32(out + 72, 0);
    tsl_le_put_u32(out + 76, tsl_crc32(0, out, 76));
}

const char *tsl_shard_header_decode(const uint8_t in[TSL_SHARD_HEADER_SIZE], tsl_shard_header *h) {
    if (memcmp(in, TSL_SHARD_MAGIC, 8) != 0)
        return "not a tessl shard (bad magic)";
    h->version = tsl_le_get_u32(in + 8);
    if (h->version != TSL_SHARD_VERSION)
        return "unknown shard version";
    h->header_size = tsl_le_get_u32(in + 12);
    if (h->header_size != TSL_SHARD_HEADER_SIZE)
        return "wrong header size";
    h->header_crc32 = tsl_le_get_u32(in + 76);
    if (h->header_crc32 != tsl_crc32(0, in, 76))
        return "header checksum mismatch";
    h->shard_index = tsl_le_get_u32(in + 16);
    h->record_count = tsl_le_get_u32(in + 20);
    h->class_count = tsl_le_get_u32(in + 24);
    h->pixel_format = tsl_le_get_u32(in + 28);
    h->compression = tsl_le_get_u32(in + 32);
    h->table_crc32 = tsl_le_get_u32(in + 36);
    h->index_offset = tsl_le_get_u64(in + 40);
    h->class_table_offset = tsl_le_get_u64(in + 48);
    h->source_hash = tsl_le_get_u64(in + 56);
    h->file_size = tsl_le_get_u64(in + 64);
    return 0;
}

void tsl_shard_index_encode(const tsl_shard_index_entry *e, uint8_t out[TSL_SHARD_INDEX_ENTRY]) {
    tsl_le_put_u64(out, e->offset);
    tsl_le_put_u32(out + 8, e->stored_size);
    tsl_le_put_u32(out + 12, e->label);
    tsl_le_put_u32(out + 16, e->width);
    tsl_le_put_u32(out + 20, e->height);
    tsl_le_put_u32(out + 24, e->crc32);
    tsl_le_put_u32(out + 28, 0);
}

void tsl_shard_index_decode(const uint8_t in[TSL_SHARD_INDEX_ENTRY], tsl_shard_index_entry *e) {
    e->offset = tsl_le_get_u64(in);
    e->stored_size = tsl_le_get_u32(in + 8);
    e->label = tsl_le_get_u32(in + 12);
    e->width = tsl_le_get_u32(in + 16);
    e->height = tsl_le_get_u32(in + 20);
    e->crc32 = tsl_le_get_u32(in + 24);
}
