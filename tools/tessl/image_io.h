/* Image files for the command line: PNG (libpng) and JPEG (libturbojpeg) in, PNG and .npy out. */
#ifndef TSL_IMAGE_IO_H
#define TSL_IMAGE_IO_H

#include "tsl_status.h"

#include <stdint.h>

/* Reads a PNG or JPEG (chosen by its first bytes) at full size as RGB8 interleaved HWC through
 * tsl_image_decode_full (so with its size limits); `*rgb` is malloc'd. Fails with TSL_ERR_IO /
 * TSL_ERR_FORMAT naming the file. */
tsl_status tsl_image_load_rgb8(const char *path, uint8_t **rgb, uint32_t *width, uint32_t *height);

/* Writes an RGB8 HWC image as PNG (atomically). */
tsl_status tsl_image_save_png(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height);

/* Writes `data` (shape d0 x d1 x d2, C order) as a NumPy .npy file of little-endian float32 (atomically). */
tsl_status tsl_image_save_npy_f32(const char *path, const float *data, uint32_t d0, uint32_t d1, uint32_t d2);

#endif
