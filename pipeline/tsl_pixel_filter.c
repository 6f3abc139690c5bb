#include "tsl_pixel_filter.h"

#include <stddef.h>
#include <string.h>

/* 16 bytes added or subtracted lane by lane, modulo 256 (GCC and clang vector extensions): the
 * compilers do not vectorise these loops at -O2 on their own, and the loader runs one per image row. */
typedef uint8_t tsl_bytes16 __attribute__((vector_size(16)));

static tsl_bytes16 load16(const uint8_t *p) {
    tsl_bytes16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* dst = a - b, byte by byte (mod 256). */
static void subtract_row(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        tsl_bytes16 d = load16(a + i) - load16(b + i);
        memcpy(dst + i, &d, sizeof d);
    }
    for (; i < n; i++)
        dst[i] = (uint8_t)(a[i] - b[i]);
}

/* row += above, byte by byte (mod 256). */
static void add_row(uint8_t *row, const uint8_t *above, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        tsl_bytes16 d = load16(row + i) + load16(above + i);
        memcpy(row + i, &d, sizeof d);
    }
    for (; i < n; i++)
        row[i] = (uint8_t)(row[i] + above[i]);
}

void tsl_pixel_filter_up(const uint8_t *rgb, uint32_t width, uint32_t height, uint8_t *out) {
    size_t row = (size_t)width * 3;
    if (height > 0)
        memcpy(out, rgb, row);
    for (uint32_t y = 1; y < height; y++)
        subtract_row(out + y * row, rgb + y * row, rgb + (y - 1) * row, row);
}

void tsl_pixel_unfilter_up(uint8_t *data, uint32_t width, uint32_t height) {
    size_t row = (size_t)width * 3;
    for (uint32_t y = 1; y < height; y++)
        add_row(data + y * row, data + (y - 1) * row, row);
}
