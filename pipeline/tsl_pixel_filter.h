/* The lossless prediction filter of shard compression 2 (docs/SHARD_FORMAT.md): each byte is stored as
 * its difference (mod 256) from the byte at the same place in the row above, as PNG's "Up" filter does.
 * Photographs are smooth, so the differences cluster near zero and zstd compresses them better at a low
 * level; undoing it adds whole rows, which vectorises (a left-neighbour filter, tried first, compressed
 * the same but its running sums cost 12% of the loader's time). */
#ifndef TSL_PIXEL_FILTER_H
#define TSL_PIXEL_FILTER_H

#include <stdint.h>

/* Writes the filtered bytes of `rgb` (width * height * 3, RGB8 rows) to `out` (same size; not `rgb`). */
void tsl_pixel_filter_up(const uint8_t *rgb, uint32_t width, uint32_t height, uint8_t *out);

/* Undoes tsl_pixel_filter_up in place. */
void tsl_pixel_unfilter_up(uint8_t *data, uint32_t width, uint32_t height);

#endif
