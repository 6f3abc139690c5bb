#include "tsl_pixel_filter.h"

#include <stddef.h>

void tsl_pixel_filter_left(const uint8_t *rgb, uint32_t width, uint32_t height, uint8_t *out) {
    size_t row = (size_t)width * 3;
    for (uint32_t y = 0; y < height; y++) {
        const uint8_t *in = rgb + y * row;
        uint8_t *o = out + y * row;
        for (size_t i = 0; i < 3 && i < row; i++)
            o[i] = in[i];
        for (size_t i = 3; i < row; i++)
            o[i] = (uint8_t)(in[i] - in[i - 3]);
    }
}

void tsl_pixel_unfilter_left(uint8_t *data, uint32_t width, uint32_t height) {
    size_t row = (size_t)width * 3;
    for (uint32_t y = 0; y < height; y++) {
        uint8_t *p = data + y * row;
        /* Three running sums, one per channel: keeps the dependency chain per channel short. */
        uint8_t r = 0, g = 0, b = 0;
        for (size_t i = 0; i < row; i += 3) {
            r = p[i] = (uint8_t)(p[i] + r);
            g = p[i + 1] = (uint8_t)(p[i + 1] + g);
            b = p[i + 2] = (uint8_t)(p[i + 2] + b);
        }
    }
}
