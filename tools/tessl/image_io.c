#include "image_io.h"
#include "tsl_file.h"
#include "tsl_image_decode.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_IMAGE_FILE = 512 << 20 };

tsl_status tsl_image_load_rgb8(const char *path, uint8_t **rgb, uint32_t *width, uint32_t *height) {
    void *data;
    size_t size;
    TSL_TRY(tsl_read_file(path, MAX_IMAGE_FILE, &data, &size));
    /* The pipeline's decoder: header sizes are checked before any pixel buffer is allocated, and CMYK,
     * grayscale, palette and 16-bit inputs all become RGB8. */
    tsl_image img;
    tsl_status st = tsl_image_decode_full(data, size, &img);
    free(data);
    TSL_TRY_CTX(st, "%s", path);
    *rgb = img.rgb;
    *width = (uint32_t)img.width;
    *height = (uint32_t)img.height;
    return TSL_OK;
}

tsl_status tsl_image_save_png(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = width;
    img.height = height;
    img.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    if (!png_image_write_get_memory_size(img, size, 0, rgb, 0, NULL))
        return tsl_error(TSL_ERR_FORMAT, "%s: PNG encoding failed (%s)", path, img.message);
    void *buf = malloc(size);
    if (!buf)
        return tsl_error(TSL_ERR_NOMEM, "%s: out of memory for PNG encoding", path);
    tsl_status st = TSL_OK;
    if (!png_image_write_to_memory(&img, buf, &size, 0, rgb, 0, NULL))
        st = tsl_error(TSL_ERR_FORMAT, "%s: PNG encoding failed (%s)", path, img.message);
    else
        st = tsl_write_file_atomic(path, buf, size);
    free(buf);
    return st;
}

tsl_status tsl_image_save_npy_f32(const char *path, const float *data, uint32_t d0, uint32_t d1,
                                  uint32_t d2) {
    char header[128];
    int n = snprintf(header, sizeof header,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%u, %u, %u), }", d0, d1, d2);
    /* Magic (6) + version (2) + length (2) + dict, padded with spaces and a newline to a multiple of 64. */
    size_t total_header = (10 + (size_t)n + 1 + 63) / 64 * 64;
    size_t payload = (size_t)d0 * d1 * d2 * sizeof(float);
    uint8_t *buf = malloc(total_header + payload);
    if (!buf)
        return tsl_error(TSL_ERR_NOMEM, "%s: out of memory", path);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    uint16_t len = (uint16_t)(total_header - 10);
    buf[8] = (uint8_t)(len & 0xff);
    buf[9] = (uint8_t)(len >> 8);
    memset(buf + 10, ' ', total_header - 10);
    memcpy(buf + 10, header, (size_t)n);
    buf[total_header - 1] = '\n';
    memcpy(buf + total_header, data, payload); /* the host is little-endian (x86-64, arm64) */
    tsl_status st = tsl_write_file_atomic(path, buf, total_header + payload);
    free(buf);
    return st;
}
