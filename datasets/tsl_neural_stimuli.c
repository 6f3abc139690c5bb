#include "tsl_neural_stimuli.h"

#include "tsl_file.h"
#include "tsl_image_decode.h"
#include "tsl_resize.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { MAX_STIMULUS_FILE = 256 << 20 };

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

tsl_status tsl_neural_stimulus_path(const char *dir, const tsl_neural_data *d, size_t i, char *path,
                                    size_t path_size) {
    if (d->filenames) {
        if ((size_t)snprintf(path, path_size, "%s/%s", dir, d->filenames[i]) >= path_size)
            return tsl_error(TSL_ERR_INVALID_ARG, "stimulus '%s': path too long", d->stimulus_ids[i]);
        if (!is_file(path))
            return tsl_error(TSL_ERR_NOT_FOUND, "stimulus '%s': no file %s", d->stimulus_ids[i], path);
        return TSL_OK;
    }
    const char *suffixes[] = {"", ".png", ".jpg", ".jpeg", ".JPEG", ".PNG", ".JPG"};
    for (size_t k = 0; k < sizeof suffixes / sizeof *suffixes; k++) {
        if ((size_t)snprintf(path, path_size, "%s/%s%s", dir, d->stimulus_ids[i], suffixes[k]) >= path_size)
            return tsl_error(TSL_ERR_INVALID_ARG, "stimulus '%s': path too long", d->stimulus_ids[i]);
        if (is_file(path))
            return TSL_OK;
    }
    return tsl_error(TSL_ERR_NOT_FOUND,
                     "stimulus '%s': no image %s/%s[.png|.jpg|.jpeg] (and no filename column)",
                     d->stimulus_ids[i], dir, d->stimulus_ids[i]);
}

/* numpy's round (half to even): the default rounding mode of nearbyint. */
static int round_even(double x) {
    return (int)nearbyint(x);
}

/* The field-of-view image (canvas or crop) of an RGB8 w x h image: malloc'd *out, *ow x *oh. */
static tsl_status place_on_screen(const uint8_t *rgb, int w, int h, double ratio, uint8_t **out, int *ow,
                                  int *oh) {
    int tw = round_even(ratio * w), th = round_even(ratio * h);
    tw = tw < 1 ? 1 : tw, th = th < 1 ? 1 : th;
    if (tw > 65536 || th > 65536)
        return tsl_error(TSL_ERR_INVALID_ARG, "field of view: a %dx%d canvas is too large", tw, th);
    uint8_t *c = malloc((size_t)tw * th * 3);
    if (!c)
        return tsl_error(TSL_ERR_NOMEM, "field of view: %dx%d canvas", tw, th);
    if (ratio >= 1) {
        memset(c, 128, (size_t)tw * th * 3); /* PIL's 'gray' */
        int left = round_even((tw - w) / 2.0), top = round_even((th - h) / 2.0);
        for (int y = 0; y < h; y++) {
            int cy = y + top;
            if (cy < 0 || cy >= th)
                continue;
            for (int x = 0; x < w; x++) {
                int cx = x + left;
                if (cx >= 0 && cx < tw)
                    memcpy(c + ((size_t)cy * tw + cx) * 3, rgb + ((size_t)y * w + x) * 3, 3);
            }
        }
    } else {
        int left = round_even((w - tw) / 2.0), top = round_even((h - th) / 2.0);
        for (int y = 0; y < th; y++)
            memcpy(c + (size_t)y * tw * 3, rgb + ((size_t)(y + top) * w + left) * 3, (size_t)tw * 3);
    }
    *out = c, *ow = tw, *oh = th;
    return TSL_OK;
}

tsl_status tsl_neural_place(const uint8_t *rgb, int w, int h, const tsl_neural_view *v, uint8_t *rgb_out) {
    if (!(v->stimulus_degrees > 0) || !(v->model_degrees > 0) || v->size < 1 || w < 1 || h < 1)
        return tsl_error(TSL_ERR_INVALID_ARG, "field of view: degrees %g, %g and sizes must be positive",
                         v->stimulus_degrees, v->model_degrees);
    double ratio = v->model_degrees / v->stimulus_degrees;
    if (ratio == 1)
        return tsl_resize_rgb8(rgb, w, h, rgb_out, v->size, v->size);
    uint8_t *placed = NULL;
    int pw = 0, ph = 0;
    TSL_TRY(place_on_screen(rgb, w, h, ratio, &placed, &pw, &ph));
    tsl_status st = tsl_resize_rgb8(placed, pw, ph, rgb_out, v->size, v->size);
    free(placed);
    return st;
}

tsl_status tsl_neural_load_stimulus(const char *dir, const tsl_neural_data *d, size_t i,
                                    const tsl_neural_view *v, uint8_t *rgb_out) {
    char path[4096];
    TSL_TRY(tsl_neural_stimulus_path(dir, d, i, path, sizeof path));
    void *bytes;
    size_t size;
    TSL_TRY(tsl_read_file(path, MAX_STIMULUS_FILE, &bytes, &size));
    tsl_image img;
    tsl_status st = tsl_image_decode_full(bytes, size, &img);
    free(bytes);
    TSL_TRY_CTX(st, "%s", path);
    st = tsl_neural_place(img.rgb, img.width, img.height, v, rgb_out);
    free(img.rgb);
    return st == TSL_OK ? st : tsl_error_context(st, "%s", path);
}

void tsl_neural_normalize(const uint8_t *rgb, int size, float *chw) {
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    size_t plane = (size_t)size * size;
    for (int c = 0; c < 3; c++)
        for (size_t p = 0; p < plane; p++)
            chw[c * plane + p] = ((float)rgb[p * 3 + c] / 255.0f - mean[c]) / std[c];
}
