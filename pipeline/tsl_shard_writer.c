#include "tsl_shard_writer.h"
#include "tsl_crc32.h"
#include "tsl_file.h"
#include "tsl_pixel_filter.h"
#include "tsl_shard_format.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* For ZSTD_c_literalCompressionMode, an experimental parameter: the shared library is asked whether it
 * accepts it (tsl_shard_compressor_create fails clearly if not). */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

struct tsl_shard_writer {
    tsl_atomic_file file;
    tsl_shard_header header;
    uint64_t offset; /* where the next record goes */
    tsl_shard_index_entry *entries;
    size_t n_entries, cap_entries;
    uint8_t *class_table; /* encoded */
    size_t class_table_size;
};

struct tsl_shard_compressor {
    uint32_t compression;
    int level;
    ZSTD_CCtx *zstd;
    uint8_t *filtered; /* TSL_SHARD_ZSTD_UP: the filtered pixels of the current image */
    size_t filtered_size;
};

/* Sets one zstd parameter, naming it in the error when this libzstd refuses it. */
static tsl_status set_param(ZSTD_CCtx *z, ZSTD_cParameter p, int value, const char *name, int level) {
    size_t r = ZSTD_CCtx_setParameter(z, p, value);
    if (ZSTD_isError(r))
        return tsl_error(TSL_ERR_UNSUPPORTED,
                         "zstd level %d needs %s = %d, which libzstd %s refuses (%s); use level 1 or higher",
                         level, name, value, ZSTD_versionString(), ZSTD_getErrorName(r));
    return TSL_OK;
}

/* Negative levels: zstd's fastest match finder, but with the literals still Huffman-coded (zstd turns
 * that off below level 1) and a minimum match of 7 bytes. Up-filtered pixels gain almost everything
 * from entropy coding and little from matches: on the synthetic sets level -3 this way stores within 2
 * to 7% of level 1's bytes for two thirds of its compression time and decompresses 12 to 20% faster,
 * where plain level -3 stores 1.24:1 instead of 1.6 to 1.9:1 (docs/PERFORMANCE.md, 2026-11-25). */
static tsl_status set_params(ZSTD_CCtx *z, int level) {
    TSL_TRY(set_param(z, ZSTD_c_compressionLevel, level, "ZSTD_c_compressionLevel", level));
    if (level >= 1)
        return TSL_OK;
#if ZSTD_VERSION_NUMBER >= 10502
    const int huffman_literals = ZSTD_ps_enable;
#else
    const int huffman_literals = ZSTD_lcm_huffman;
#endif
    TSL_TRY(set_param(z, ZSTD_c_literalCompressionMode, huffman_literals, "ZSTD_c_literalCompressionMode",
                      level));
    return set_param(z, ZSTD_c_minMatch, 7, "ZSTD_c_minMatch", level);
}

tsl_status tsl_shard_compressor_create(uint32_t compression, int level, tsl_shard_compressor **out) {
    bool zstd = compression != TSL_SHARD_RAW;
    if (!tsl_shard_compression_known(compression) || (zstd && (level < -7 || level == 0 || level > 19)))
        return tsl_error(TSL_ERR_INVALID_ARG, "shard compressor: compression %u / level %d not supported",
                         compression, level);
    tsl_shard_compressor *c = calloc(1, sizeof *c);
    if (c)
        c->zstd = ZSTD_createCCtx();
    if (!c || !c->zstd) {
        free(c);
        return tsl_error(TSL_ERR_NOMEM, "out of memory for a zstd context");
    }
    c->compression = compression;
    c->level = level;
    tsl_status st = zstd ? set_params(c->zstd, level) : TSL_OK;
    if (st != TSL_OK) {
        tsl_shard_compressor_destroy(c);
        return st;
    }
    *out = c;
    return TSL_OK;
}

void tsl_shard_compressor_destroy(tsl_shard_compressor *c) {
    if (!c)
        return;
    ZSTD_freeCCtx(c->zstd);
    free(c->filtered);
    free(c);
}

/* The bytes to compress: the pixels themselves, or their filtered copy. */
static tsl_status filter_input(tsl_shard_compressor *c, const uint8_t *rgb, uint32_t width, uint32_t height,
                               const uint8_t **input) {
    size_t raw = (size_t)width * height * 3;
    if (c->compression == TSL_SHARD_ZSTD) {
        *input = rgb;
        return TSL_OK;
    }
    if (c->filtered_size < raw) {
        uint8_t *grown = realloc(c->filtered, raw);
        if (!grown)
            return tsl_error(TSL_ERR_NOMEM, "out of memory filtering a %ux%u image", width, height);
        c->filtered = grown;
        c->filtered_size = raw;
    }
    tsl_pixel_filter_up(rgb, width, height, c->filtered);
    *input = c->filtered;
    return TSL_OK;
}

static tsl_status copy_pixels(const uint8_t *rgb, size_t raw, void **stored, size_t *stored_size) {
    void *out = malloc(raw ? raw : 1);
    if (!out)
        return tsl_error(TSL_ERR_NOMEM, "out of memory storing a %zu-byte image", raw);
    memcpy(out, rgb, raw);
    *stored = out;
    *stored_size = raw;
    return TSL_OK;
}

tsl_status tsl_shard_compress(tsl_shard_compressor *c, const uint8_t *rgb, uint32_t width, uint32_t height,
                              void **stored, size_t *stored_size) {
    size_t raw = (size_t)width * height * 3;
    if (c->compression == TSL_SHARD_RAW)
        return copy_pixels(rgb, raw, stored, stored_size);
    const uint8_t *input = NULL;
    TSL_TRY(filter_input(c, rgb, width, height, &input));
    size_t bound = ZSTD_compressBound(raw);
    void *out = malloc(bound);
    if (!out)
        return tsl_error(TSL_ERR_NOMEM, "out of memory compressing a %ux%u image", width, height);
    size_t n = ZSTD_compress2(c->zstd, out, bound, input, raw); /* with the parameters set at create */
    if (ZSTD_isError(n)) {
        free(out);
        return tsl_error(TSL_ERR_FORMAT, "zstd compression failed: %s", ZSTD_getErrorName(n));
    }
    *stored = out;
    *stored_size = n;
    return TSL_OK;
}

static tsl_status encode_class_table(tsl_shard_writer *w, uint32_t class_count, char *const *names) {
    size_t size = 0;
    for (uint32_t k = 0; k < class_count; k++) {
        size_t n = strlen(names[k]);
        if (n < 1 || n > TSL_SHARD_MAX_CLASS_NAME)
            return tsl_error(TSL_ERR_INVALID_ARG, "shard writer: class name '%.40s' must have 1..%u bytes",
                             names[k], TSL_SHARD_MAX_CLASS_NAME);
        size += 2 + n;
    }
    w->class_table = malloc(size ? size : 1);
    if (!w->class_table)
        return tsl_error(TSL_ERR_NOMEM, "out of memory for the class table");
    uint8_t *p = w->class_table;
    for (uint32_t k = 0; k < class_count; k++) {
        size_t n = strlen(names[k]);
        tsl_le_put_u16(p, (uint16_t)n);
        memcpy(p + 2, names[k], n);
        p += 2 + n;
    }
    w->class_table_size = size;
    return TSL_OK;
}

static void writer_free(tsl_shard_writer *w) {
    free(w->entries);
    free(w->class_table);
    free(w);
}

tsl_status tsl_shard_writer_open(const char *path, uint32_t shard_index, uint32_t compression,
                                 uint32_t class_count, char *const *class_names, uint64_t source_hash,
                                 tsl_shard_writer **out) {
    if (!tsl_shard_compression_known(compression))
        return tsl_error(TSL_ERR_INVALID_ARG, "shard writer: unknown compression %u", compression);
    tsl_shard_writer *w = calloc(1, sizeof *w);
    if (!w)
        return tsl_error(TSL_ERR_NOMEM, "out of memory opening shard %s", path);
    w->header = (tsl_shard_header){.version = TSL_SHARD_VERSION,
                                   .header_size = TSL_SHARD_HEADER_SIZE,
                                   .shard_index = shard_index,
                                   .class_count = class_count,
                                   .pixel_format = TSL_SHARD_PIXEL_RGB8,
                                   .compression = compression,
                                   .source_hash = source_hash};
    w->offset = TSL_SHARD_HEADER_SIZE;
    tsl_status st = encode_class_table(w, class_count, class_names);
    if (st == TSL_OK)
        st = tsl_atomic_open(&w->file, path);
    if (st != TSL_OK) {
        writer_free(w);
        return st;
    }
    /* A zeroed placeholder: the real header, which needs the final offsets, is written by finish. */
    uint8_t placeholder[TSL_SHARD_HEADER_SIZE] = {0};
    st = tsl_atomic_write(&w->file, placeholder, sizeof placeholder);
    if (st != TSL_OK) {
        tsl_shard_writer_abort(w);
        return st;
    }
    *out = w;
    return TSL_OK;
}

tsl_status tsl_shard_writer_add(tsl_shard_writer *w, const void *stored, size_t stored_size, uint32_t label,
                                uint32_t width, uint32_t height) {
    if (label >= w->header.class_count || width < 1 || height < 1 || width > TSL_SHARD_MAX_SIDE ||
        height > TSL_SHARD_MAX_SIDE || (uint64_t)width * height > TSL_SHARD_MAX_PIXELS ||
        stored_size > UINT32_MAX)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "shard writer: record with label %u (of %u), %ux%u pixels, %zu "
                         "bytes is outside the format's limits",
                         label, w->header.class_count, width, height, stored_size);
    if (w->header.compression == TSL_SHARD_RAW && stored_size != (size_t)width * height * 3)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "shard writer: an uncompressed %ux%u record must hold %zu bytes, not %zu", width,
                         height, (size_t)width * height * 3, stored_size);
    if (w->n_entries == UINT32_MAX)
        return tsl_error(TSL_ERR_INVALID_ARG, "shard writer: too many records");
    if (w->n_entries == w->cap_entries) {
        size_t cap = w->cap_entries ? w->cap_entries * 2 : 256;
        tsl_shard_index_entry *e = realloc(w->entries, cap * sizeof *e);
        if (!e)
            return tsl_error(TSL_ERR_NOMEM, "out of memory for the shard index");
        w->entries = e;
        w->cap_entries = cap;
    }
    TSL_TRY(tsl_atomic_write(&w->file, stored, stored_size));
    w->entries[w->n_entries++] = (tsl_shard_index_entry){.offset = w->offset,
                                                         .stored_size = (uint32_t)stored_size,
                                                         .label = label,
                                                         .width = width,
                                                         .height = height,
                                                         .crc32 = tsl_crc32(0, stored, stored_size)};
    w->offset += stored_size;
    return TSL_OK;
}

static tsl_status write_tables(tsl_shard_writer *w) {
    uint32_t crc = 0;
    for (size_t i = 0; i < w->n_entries; i++) {
        uint8_t buf[TSL_SHARD_INDEX_ENTRY];
        tsl_shard_index_encode(&w->entries[i], buf);
        crc = tsl_crc32(crc, buf, sizeof buf);
        TSL_TRY(tsl_atomic_write(&w->file, buf, sizeof buf));
    }
    crc = tsl_crc32(crc, w->class_table, w->class_table_size);
    TSL_TRY(tsl_atomic_write(&w->file, w->class_table, w->class_table_size));
    tsl_shard_header *h = &w->header;
    h->record_count = (uint32_t)w->n_entries;
    h->index_offset = w->offset;
    h->class_table_offset = w->offset + (uint64_t)w->n_entries * TSL_SHARD_INDEX_ENTRY;
    h->file_size = h->class_table_offset + w->class_table_size;
    h->table_crc32 = crc;
    uint8_t header[TSL_SHARD_HEADER_SIZE];
    tsl_shard_header_encode(h, header);
    if (fseek(w->file.file, 0, SEEK_SET) != 0)
        return tsl_error(TSL_ERR_IO, "seeking in %s: %s", w->file.final_path, strerror(errno));
    return tsl_atomic_write(&w->file, header, sizeof header);
}

tsl_status tsl_shard_writer_finish(tsl_shard_writer *w) {
    tsl_status st = write_tables(w);
    if (st != TSL_OK) {
        tsl_shard_writer_abort(w);
        return st;
    }
    st = tsl_atomic_commit(&w->file);
    writer_free(w);
    return st;
}

void tsl_shard_writer_abort(tsl_shard_writer *w) {
    if (!w)
        return;
    tsl_atomic_abort(&w->file);
    writer_free(w);
}
