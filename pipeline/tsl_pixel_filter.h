/* The lossless prediction filter of shard compression 2 (docs/SHARD_FORMAT.md): each byte is stored as
 * its difference (mod 256) from the same channel of the pixel to its left, as PNG's "Sub" filter does.
 * Photographs are smooth along rows, so the differences cluster near zero and zstd compresses them
 * better and faster than raw pixels at a low level. */
#ifndef TSL_PIXEL_FILTER_H
#define TSL_PIXEL_FILTER_H

#include <stdint.h>

/* Writes the filtered bytes of `rgb` (width * height * 3, RGB8 rows) to `out` (same size; not `rgb`). */
void tsl_pixel_filter_left(const uint8_t *rgb, uint32_t width, uint32_t height, uint8_t *out);

/* Undoes tsl_pixel_filter_left in place. */
void tsl_pixel_unfilter_left(uint8_t *data, uint32_t width, uint32_t height);

#endif
