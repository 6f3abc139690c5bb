#include "tsl_shard_reader.h"
#include "tsl_crc32.h"
#include "tsl_pixel_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

struct tsl_shard_reader {
    char *path;
    int fd;
    uint64_t file_size;
    tsl_shard_header header;
    tsl_shard_index_entry *entries;
    char **class_names;
};

static tsl_status read_at(const tsl_shard_reader *r, uint64_t offset, void *buf, size_t size) {
    uint8_t *p = buf;
    while (size > 0) {
        ssize_t n = pread(r->fd, p, size, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return tsl_error(TSL_ERR_IO, "reading shard %s at offset %llu: %s", r->path,
                             (unsigned long long)offset, n < 0 ? strerror(errno) : "unexpected end of file");
        p += n;
        size -= (size_t)n;
        offset += (uint64_t)n;
    }
    return TSL_OK;
}

static tsl_status bad(const tsl_shard_reader *r, const char *what) {
    return tsl_error(TSL_ERR_FORMAT, "shard %s: %s", r->path, what);
}

/* Header fields against each other and against the real file size, before anything is allocated. */
static tsl_status check_header(const tsl_shard_reader *r) {
    const tsl_shard_header *h = &r->header;
    if (h->file_size != r->file_size)
        return tsl_error(TSL_ERR_FORMAT, "shard %s: header says %llu bytes, file has %llu (truncated?)",
                         r->path, (unsigned long long)h->file_size, (unsigned long long)r->file_size);
    if (h->pixel_format != TSL_SHARD_PIXEL_RGB8 || !tsl_shard_compression_known(h->compression))
        return bad(r, "unknown pixel format or compression");
    if (h->index_offset < TSL_SHARD_HEADER_SIZE || h->index_offset > r->file_size)
        return bad(r, "index offset outside the file");
    if ((uint64_t)h->record_count > (r->file_size - h->index_offset) / TSL_SHARD_INDEX_ENTRY ||
        h->class_table_offset != h->index_offset + (uint64_t)h->record_count * TSL_SHARD_INDEX_ENTRY)
        return bad(r, "index size does not match the record count");
    if ((uint64_t)h->class_count > (r->file_size - h->class_table_offset) / 3)
        return bad(r, "class count larger than the class table can hold");
    return TSL_OK;
}

static tsl_status check_entry(const tsl_shard_reader *r, uint32_t i) {
    const tsl_shard_index_entry *e = &r->entries[i];
    const tsl_shard_header *h = &r->header;
    if (e->offset < TSL_SHARD_HEADER_SIZE || e->offset > h->index_offset ||
        e->stored_size > h->index_offset - e->offset)
        return tsl_error(TSL_ERR_FORMAT, "shard %s: record %u: data [%llu, +%u) outside the record area",
                         r->path, i, (unsigned long long)e->offset, e->stored_size);
    if (e->label >= h->class_count || e->width < 1 || e->height < 1 || e->width > TSL_SHARD_MAX_SIDE ||
        e->height > TSL_SHARD_MAX_SIDE || (uint64_t)e->width * e->height > TSL_SHARD_MAX_PIXELS)
        return tsl_error(TSL_ERR_FORMAT, "shard %s: record %u: label %u or size %ux%u out of range", r->path,
                         i, e->label, e->width, e->height);
    if (h->compression == TSL_SHARD_RAW && e->stored_size != (uint64_t)e->width * e->height * 3)
        return tsl_error(TSL_ERR_FORMAT,
                         "shard %s: record %u: %u stored bytes, but %ux%u RGB8 pixels are %llu", r->path, i,
                         e->stored_size, e->width, e->height, (unsigned long long)e->width * e->height * 3);
    return TSL_OK;
}

static tsl_status parse_class_table(tsl_shard_reader *r, const uint8_t *p, size_t size) {
    r->class_names = calloc(r->header.class_count ? r->header.class_count : 1, sizeof(char *));
    if (!r->class_names)
        return tsl_error(TSL_ERR_NOMEM, "out of memory reading shard %s", r->path);
    size_t pos = 0;
    for (uint32_t k = 0; k < r->header.class_count; k++) {
        if (size - pos < 2)
            return bad(r, "class table truncated");
        size_t n = tsl_le_get_u16(p + pos);
        if (n < 1 || n > TSL_SHARD_MAX_CLASS_NAME || size - pos - 2 < n)
            return bad(r, "class table entry out of range");
        /* A NUL would cut the name short as a C string (two names could then compare equal). */
        if (memchr(p + pos + 2, 0, n))
            return bad(r, "class name contains a NUL byte");
        r->class_names[k] = strndup((const char *)p + pos + 2, n);
        if (!r->class_names[k])
            return tsl_error(TSL_ERR_NOMEM, "out of memory reading shard %s", r->path);
        pos += 2 + n;
    }
    if (pos != size)
        return bad(r, "class table does not end at the end of the file");
    return TSL_OK;
}

/* Reads index + class table (size bounded by the checked file size), checks their CRC, decodes them. */
static tsl_status load_tables(tsl_shard_reader *r) {
    const tsl_shard_header *h = &r->header;
    size_t size = (size_t)(r->file_size - h->index_offset);
    uint8_t *tables = malloc(size ? size : 1);
    if (!tables)
        return tsl_error(TSL_ERR_NOMEM, "out of memory reading shard %s", r->path);
    tsl_status st = read_at(r, h->index_offset, tables, size);
    if (st == TSL_OK && tsl_crc32(0, tables, size) != h->table_crc32)
        st = tsl_error(TSL_ERR_CORRUPT, "shard %s: index/class table checksum mismatch", r->path);
    if (st == TSL_OK) {
        r->entries = malloc(sizeof *r->entries * (h->record_count ? h->record_count : 1));
        if (!r->entries)
            st = tsl_error(TSL_ERR_NOMEM, "out of memory reading shard %s", r->path);
    }
    for (uint32_t i = 0; st == TSL_OK && i < h->record_count; i++) {
        tsl_shard_index_decode(tables + (size_t)i * TSL_SHARD_INDEX_ENTRY, &r->entries[i]);
        st = check_entry(r, i);
    }
    size_t index_size = (size_t)h->record_count * TSL_SHARD_INDEX_ENTRY;
    if (st == TSL_OK)
        st = parse_class_table(r, tables + index_size, size - index_size);
    free(tables);
    return st;
}

tsl_status tsl_shard_reader_open(const char *path, tsl_shard_reader **out) {
    tsl_shard_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return tsl_error(TSL_ERR_NOMEM, "out of memory opening shard %s", path);
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    tsl_status st = TSL_OK;
    struct stat sb;
    if (r->fd < 0 || fstat(r->fd, &sb) != 0)
        st = tsl_error(errno == ENOENT ? TSL_ERR_NOT_FOUND : TSL_ERR_IO, "opening shard %s: %s", path,
                       strerror(errno));
    if (st == TSL_OK) {
        r->file_size = (uint64_t)sb.st_size;
        if (r->file_size < TSL_SHARD_HEADER_SIZE)
            st = bad(r, "file shorter than a shard header");
    }
    uint8_t raw[TSL_SHARD_HEADER_SIZE];
    if (st == TSL_OK)
        st = read_at(r, 0, raw, sizeof raw);
    if (st == TSL_OK) {
        const char *problem = tsl_shard_header_decode(raw, &r->header);
        if (problem)
            st = tsl_error(strstr(problem, "checksum") ? TSL_ERR_CORRUPT : TSL_ERR_FORMAT, "shard %s: %s",
                           path, problem);
    }
    if (st == TSL_OK)
        st = check_header(r);
    if (st == TSL_OK)
        st = load_tables(r);
    if (st != TSL_OK) {
        tsl_shard_reader_close(r);
        return st;
    }
    *out = r;
    return TSL_OK;
}

void tsl_shard_reader_close(tsl_shard_reader *r) {
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    for (uint32_t k = 0; r->class_names && k < r->header.class_count; k++)
        free(r->class_names[k]);
    free(r->class_names);
    free(r->entries);
    free(r->path);
    free(r);
}

const char *tsl_shard_reader_path(const tsl_shard_reader *r) {
    return r->path;
}

const tsl_shard_header *tsl_shard_reader_header(const tsl_shard_reader *r) {
    return &r->header;
}

const tsl_shard_index_entry *tsl_shard_reader_entry(const tsl_shard_reader *r, uint32_t i) {
    return i < r->header.record_count ? &r->entries[i] : NULL;
}

const char *tsl_shard_reader_class_name(const tsl_shard_reader *r, uint32_t k) {
    return k < r->header.class_count ? r->class_names[k] : NULL;
}

/* Reads record i's stored bytes (bounds checked at open) into `buf` and checks their CRC32. */
static tsl_status read_stored_into(tsl_shard_reader *r, uint32_t i, uint8_t *buf) {
    const tsl_shard_index_entry *e = &r->entries[i];
    TSL_TRY(read_at(r, e->offset, buf, e->stored_size));
    uint32_t crc = tsl_crc32(0, buf, e->stored_size);
    if (crc != e->crc32)
        return tsl_error(TSL_ERR_CORRUPT,
                         "shard %s: record %u: checksum mismatch (stored %08x, computed %08x)", r->path, i,
                         e->crc32, crc);
    return TSL_OK;
}

static tsl_status check_record_index(const tsl_shard_reader *r, uint32_t i) {
    if (i >= r->header.record_count)
        return tsl_error(TSL_ERR_INVALID_ARG, "shard %s: record %u of %u does not exist", r->path, i,
                         r->header.record_count);
    return TSL_OK;
}

/* Reads record i's stored bytes into a malloc'd buffer and checks their CRC32. */
static tsl_status read_stored(tsl_shard_reader *r, uint32_t i, uint8_t **stored) {
    TSL_TRY(check_record_index(r, i));
    uint8_t *buf = malloc(r->entries[i].stored_size ? r->entries[i].stored_size : 1);
    if (!buf)
        return tsl_error(TSL_ERR_NOMEM, "out of memory reading shard %s record %u", r->path, i);
    tsl_status st = read_stored_into(r, i, buf);
    if (st != TSL_OK) {
        free(buf);
        return st;
    }
    *stored = buf;
    return TSL_OK;
}

tsl_status tsl_shard_reader_verify_record(tsl_shard_reader *r, uint32_t i) {
    uint8_t *stored = NULL;
    TSL_TRY(read_stored(r, i, &stored));
    free(stored);
    return TSL_OK;
}

/* Checks the frame's declared size, then decompresses exactly width*height*3 bytes into `rgb`. */
static tsl_status decompress_record(const tsl_shard_reader *r, uint32_t i, ZSTD_DCtx *dctx,
                                    const uint8_t *stored, uint8_t *rgb) {
    const tsl_shard_index_entry *e = &r->entries[i];
    size_t raw = (size_t)e->width * e->height * 3; /* <= 300 MB: width and height checked at open */
    unsigned long long content = ZSTD_getFrameContentSize(stored, e->stored_size);
    if (content != raw)
        return tsl_error(TSL_ERR_CORRUPT, "shard %s: record %u: frame holds %llu bytes, expected %zu",
                         r->path, i, content, raw);
    size_t n = dctx ? ZSTD_decompressDCtx(dctx, rgb, raw, stored, e->stored_size)
                    : ZSTD_decompress(rgb, raw, stored, e->stored_size);
    if (ZSTD_isError(n) || n != raw)
        return tsl_error(TSL_ERR_CORRUPT, "shard %s: record %u: cannot decompress: %s", r->path, i,
                         ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame");
    if (r->header.compression == TSL_SHARD_ZSTD_UP)
        tsl_pixel_unfilter_up(rgb, e->width, e->height);
    return TSL_OK;
}

tsl_status tsl_shard_reader_read_pixels(tsl_shard_reader *r, uint32_t i, uint8_t **rgb) {
    uint8_t *stored = NULL;
    TSL_TRY(read_stored(r, i, &stored));
    if (r->header.compression == TSL_SHARD_RAW) { /* the stored bytes are the pixels (size checked at open) */
        *rgb = stored;
        return TSL_OK;
    }
    const tsl_shard_index_entry *e = &r->entries[i];
    uint8_t *pixels = malloc((size_t)e->width * e->height * 3);
    tsl_status st = pixels ? decompress_record(r, i, NULL, stored, pixels)
                           : tsl_error(TSL_ERR_NOMEM, "out of memory reading shard %s record %u", r->path, i);
    free(stored);
    if (st != TSL_OK) {
        free(pixels);
        return st;
    }
    *rgb = pixels;
    return TSL_OK;
}

tsl_status tsl_shard_reader_read_pixels_into(tsl_shard_reader *r, uint32_t i, ZSTD_DCtx *dctx,
                                             uint8_t *scratch, size_t scratch_size, uint8_t *rgb,
                                             size_t rgb_size) {
    TSL_TRY(check_record_index(r, i));
    const tsl_shard_index_entry *e = &r->entries[i];
    if (scratch_size < e->stored_size || rgb_size < (size_t)e->width * e->height * 3)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "shard %s: record %u: buffers of %zu and %zu bytes cannot hold %u stored and %zu "
                         "decoded bytes",
                         r->path, i, scratch_size, rgb_size, e->stored_size,
                         (size_t)e->width * e->height * 3);
    if (r->header.compression == TSL_SHARD_RAW) /* straight into place: no scratch, no copy */
        return read_stored_into(r, i, rgb);
    TSL_TRY(read_stored_into(r, i, scratch));
    return decompress_record(r, i, dctx, scratch, rgb);
}
