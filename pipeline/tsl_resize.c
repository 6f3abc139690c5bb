#include "tsl_resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tsl_resize_output_size(const tsl_resize_target *t, int w, int h, int *out_w, int *out_h) {
    int is_wide = w >= h;
    long lo = is_wide ? h : w, hi = is_wide ? w : h;
    if (t->short_side > 0 && lo > t->short_side) {
        hi = (long)((double)hi * t->short_side / (double)lo);
        lo = t->short_side;
    } else if (t->max_side > 0 && hi > t->max_side) {
        lo = (long)((double)lo * t->max_side / (double)hi);
        hi = t->max_side;
    }
    if (lo < 1)
        lo = 1;
    if (hi < 1)
        hi = 1;
    *out_w = (int)(is_wide ? hi : lo);
    *out_h = (int)(is_wide ? lo : hi);
}

/* Per-output-pixel filter taps along one axis: output i reads `count[i]` inputs from `first[i]`. */
typedef struct {
    int *first, *count;
    float *weights; /* out_size x max_taps */
    int max_taps;
} filter_taps;

static void taps_free(filter_taps *t) {
    free(t->first);
    free(t->count);
    free(t->weights);
}

static double triangle(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static tsl_status taps_build(int in_size, int out_size, filter_taps *t) {
    double scale = (double)in_size / out_size;
    double filterscale = scale > 1.0 ? scale : 1.0;
    double support = filterscale; /* the triangle filter has support 1, widened when shrinking */
    t->max_taps = (int)ceil(support) * 2 + 1;
    t->first = malloc(sizeof(int) * out_size);
    t->count = malloc(sizeof(int) * out_size);
    t->weights = calloc((size_t)out_size * t->max_taps, sizeof(float));
    if (!t->first || !t->count || !t->weights) {
        taps_free(t);
        return tsl_error(TSL_ERR_NOMEM, "resize: out of memory for filter taps");
    }
    for (int i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        int lo = (int)floor(center - support + 0.5), hi = (int)floor(center + support + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > in_size ? in_size : hi;
        if (hi - lo > t->max_taps)
            hi = lo + t->max_taps;
        double sum = 0;
        for (int j = lo; j < hi; j++)
            sum += triangle((j - center + 0.5) / filterscale);
        t->first[i] = lo;
        t->count[i] = hi - lo;
        for (int j = lo; j < hi; j++)
            t->weights[(size_t)i * t->max_taps + (j - lo)] =
                (float)(sum > 0 ? triangle((j - center + 0.5) / filterscale) / sum : 0);
    }
    return TSL_OK;
}

static uint8_t round_u8(float v) {
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)(v + 0.5f);
}

tsl_status tsl_resize_rgb8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh) {
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1)
        return tsl_error(TSL_ERR_INVALID_ARG, "resize: sizes %dx%d -> %dx%d must be >= 1", sw, sh, dw, dh);
    if (sw == dw && sh == dh) {
        memcpy(dst, src, (size_t)sw * sh * 3);
        return TSL_OK;
    }
    filter_taps tx = {0}, ty = {0};
    TSL_TRY(taps_build(sw, dw, &tx));
    tsl_status st = taps_build(sh, dh, &ty);
    float *tmp = st == TSL_OK ? malloc(sizeof(float) * (size_t)sh * dw * 3) : NULL;
    if (st == TSL_OK && !tmp)
        st = tsl_error(TSL_ERR_NOMEM, "resize: out of memory for a %dx%d intermediate", dw, sh);
    if (st == TSL_OK) {
        /* Horizontal pass: sh rows of dw pixels, kept in float so the vertical pass rounds only once. */
        for (int y = 0; y < sh; y++) {
            const uint8_t *row = src + (size_t)y * sw * 3;
            for (int x = 0; x < dw; x++) {
                const float *w = tx.weights + (size_t)x * tx.max_taps;
                float acc[3] = {0, 0, 0};
                for (int k = 0; k < tx.count[x]; k++)
                    for (int c = 0; c < 3; c++)
                        acc[c] += w[k] * row[(tx.first[x] + k) * 3 + c];
                memcpy(tmp + ((size_t)y * dw + x) * 3, acc, sizeof acc);
            }
        }
        for (int y = 0; y < dh; y++) {
            const float *w = ty.weights + (size_t)y * ty.max_taps;
            for (int x = 0; x < dw * 3; x++) {
                float acc = 0;
                for (int k = 0; k < ty.count[y]; k++)
                    acc += w[k] * tmp[(size_t)(ty.first[y] + k) * dw * 3 + x];
                dst[(size_t)y * dw * 3 + x] = round_u8(acc);
            }
        }
    }
    free(tmp);
    taps_free(&tx);
    taps_free(&ty);
    return st;
}
