/* Decoding of source images (JPEG through TurboJPEG, PNG through libpng) to RGB8, resized to a target.
 *
 * The format is detected from magic bytes, never from the file name (ImageNet has a PNG named .JPEG).
 * Grayscale, palette, 16-bit and alpha PNGs and grayscale JPEGs become RGB; CMYK/YCCK JPEGs are
 * converted with the Adobe (inverted) convention TurboJPEG itself writes: R = C*K/255, etc.
 * Header sizes are checked before any pixel buffer is allocated: a side above 32768 or more than
 * 100 megapixels is rejected (decompression bombs). A truncated JPEG is an error, not a grey image.
 * EXIF orientation is ignored, as torchvision's default loader (PIL's Image.open) ignores it. */
#ifndef TSL_IMAGE_DECODE_H
#define TSL_IMAGE_DECODE_H

#include "tsl_resize.h"
#include "tsl_status.h"

#include <stddef.h>
#include <stdint.h>

#define TSL_DECODE_MAX_SIDE   32768
#define TSL_DECODE_MAX_PIXELS 100000000ll

typedef struct {
    int width, height;
    uint8_t *rgb; /* width * height * 3 bytes, rows top to bottom; caller frees */
} tsl_image;

/* Decodes `data` and resizes it to `target` (see tsl_resize_output_size; the output size depends only
 * on the image's full size). When the target is much smaller, JPEGs are decoded at a reduced DCT scale
 * (the largest reduction that still leaves at least the output size) before the resize filter.
 * Errors (TSL_ERR_FORMAT, message = the reason, without the file name): empty input, unknown format,
 * too large, corrupt or truncated data. TSL_ERR_NOMEM when buffers cannot be allocated. */
tsl_status tsl_image_decode(const uint8_t *data, size_t size, const tsl_resize_target *target,
                            tsl_image *out);

/* Decodes `data` at its full size (no resize, no DCT scaling), with the same formats, conversions, size
 * limits and errors as tsl_image_decode. */
tsl_status tsl_image_decode_full(const uint8_t *data, size_t size, tsl_image *out);

#endif
