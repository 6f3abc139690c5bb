/* Fuzz target: the shard reader on arbitrary bytes (written to a temporary file, since the reader works
 * on paths with pread) never crashes, leaks or reads out of bounds: open validates header, index and
 * class table, then every record is verified and, when its checksum holds, decompressed both ways
 * (read_pixels and read_pixels_into). What open accepts must be self-consistent: every record's bytes lie
 * inside the file and before the index, every label names a class, every class name is non-empty.
 *
 * Random bytes almost never carry valid CRC32s, which would stop the fuzzer at the checksums; so each
 * input is read twice: as given, and "repaired" (every checksum the header and index point at recomputed)
 * so that the structural checks and the zstd frames behind them are reached too. */
#include "fuzz_target.h"
#include "tsl_crc32.h"
#include "tsl_shard_reader.h"

#include <string.h>
#include <unistd.h>

static char *write_temp(const uint8_t *data, size_t size) {
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    size_t n = strlen(dir) + 32;
    char *path = malloc(n);
    FUZZ_ASSERT(path);
    snprintf(path, n, "%s/fuzz_shard_XXXXXX", dir);
    int fd = mkstemp(path);
    FUZZ_ASSERT(fd >= 0);
    for (size_t done = 0; done < size;) {
        ssize_t w = write(fd, data + done, size - done);
        FUZZ_ASSERT(w > 0);
        done += (size_t)w;
    }
    close(fd);
    return path;
}

static void read_record(tsl_shard_reader *r, uint32_t i, ZSTD_DCtx *dctx) {
    const tsl_shard_header *h = tsl_shard_reader_header(r);
    const tsl_shard_index_entry *e = tsl_shard_reader_entry(r, i);
    FUZZ_ASSERT(e && e->offset >= TSL_SHARD_HEADER_SIZE && e->offset + e->stored_size <= h->index_offset);
    FUZZ_ASSERT(e->label < h->class_count);
    if (tsl_shard_reader_verify_record(r, i) != TSL_OK)
        return;
    size_t raw = (size_t)e->width * e->height * 3;
    if (raw > (1u << 24))
        return; /* a valid frame of a huge image: skip decompressing 300 MB in a fuzzer */
    uint8_t *rgb = NULL;
    if (tsl_shard_reader_read_pixels(r, i, &rgb) == TSL_OK) {
        FUZZ_ASSERT(rgb);
        volatile uint8_t last = rgb[raw - 1]; /* the whole image is there (ASan checks the bound) */
        (void)last;
        free(rgb);
    }
    uint8_t *scratch = malloc(e->stored_size ? e->stored_size : 1), *into = malloc(raw);
    FUZZ_ASSERT(scratch && into);
    tsl_shard_reader_read_pixels_into(r, i, dctx, scratch, e->stored_size, into, raw);
    /* Buffers one byte too small are refused, not overrun. */
    if (raw > 1)
        FUZZ_ASSERT(tsl_shard_reader_read_pixels_into(r, i, dctx, scratch, e->stored_size, into, raw - 1) ==
                    TSL_ERR_INVALID_ARG);
    free(scratch);
    free(into);
}

/* Recomputes the record CRCs (where an entry's bytes are in the file), the table CRC and the header CRC,
 * at the offsets docs/SHARD_FORMAT.md gives, trusting nothing: out-of-range fields are left alone. */
static void repair_checksums(uint8_t *d, size_t size) {
    if (size < TSL_SHARD_HEADER_SIZE)
        return;
    uint64_t index_offset = tsl_le_get_u64(d + 40);
    uint32_t records = tsl_le_get_u32(d + 20);
    if (index_offset >= TSL_SHARD_HEADER_SIZE && index_offset <= size) {
        uint64_t n = (size - index_offset) / TSL_SHARD_INDEX_ENTRY;
        for (uint64_t i = 0; i < records && i < n; i++) {
            uint8_t *e = d + index_offset + i * TSL_SHARD_INDEX_ENTRY;
            uint64_t offset = tsl_le_get_u64(e);
            uint32_t stored = tsl_le_get_u32(e + 8);
            if (offset <= size && stored <= size - offset)
                tsl_le_put_u32(e + 24, tsl_crc32(0, d + offset, stored));
        }
        tsl_le_put_u32(d + 36, tsl_crc32(0, d + index_offset, size - index_offset));
    }
    tsl_le_put_u32(d + 76, tsl_crc32(0, d, 76));
}

static void read_shard(const uint8_t *data, size_t size) {
    char *path = write_temp(data, size);
    tsl_shard_reader *r = NULL;
    if (tsl_shard_reader_open(path, &r) == TSL_OK) {
        const tsl_shard_header *h = tsl_shard_reader_header(r);
        FUZZ_ASSERT(h->file_size == size && h->index_offset <= size);
        for (uint32_t k = 0; k < h->class_count; k++)
            FUZZ_ASSERT(strlen(tsl_shard_reader_class_name(r, k)) >= 1);
        FUZZ_ASSERT(tsl_shard_reader_entry(r, h->record_count) == NULL);
        ZSTD_DCtx *dctx = ZSTD_createDCtx();
        FUZZ_ASSERT(dctx);
        for (uint32_t i = 0; i < h->record_count; i++)
            read_record(r, i, dctx);
        FUZZ_ASSERT(tsl_shard_reader_verify_record(r, h->record_count) == TSL_ERR_INVALID_ARG);
        ZSTD_freeDCtx(dctx);
        tsl_shard_reader_close(r);
    }
    unlink(path);
    free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    read_shard(data, size);
    uint8_t *repaired = malloc(size ? size : 1);
    FUZZ_ASSERT(repaired);
    memcpy(repaired, data, size);
    repair_checksums(repaired, size);
    read_shard(repaired, size);
    free(repaired);
    return 0;
}
