#include "tsl_resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* The resize is the largest cost of writing shards from ImageNet-sized JPEGs, and the compilers do not
 * vectorise its loops at -O2 on their own (nor well from 8-lane vector types without AVX): the hot loops
 * use SSE2, which every x86-64 CPU has, with a plain C form elsewhere. Both give the same bytes. */
typedef float tsl_float4 __attribute__((vector_size(16)));

/* Horizontal pass of one row of floats: dw pixels into `out` (dw * 3 floats). `row` must have one
 * readable float after its sw * 3, since each pixel is loaded as 4 lanes; `out` one writable float. */
static void resize_row(const float *row, const filter_taps *tx, int dw, float *out) {
    for (int x = 0; x < dw; x++) {
        const float *w = tx->weights + (size_t)x * tx->max_taps;
        const float *p = row + (size_t)tx->first[x] * 3;
        tsl_float4 acc = {0, 0, 0, 0};
        for (int k = 0; k < tx->count[x]; k++) {
            tsl_float4 v;
            memcpy(&v, p + 3 * k, sizeof v);
            acc += w[k] * v;
        }
        memcpy(out + (size_t)x * 3, &acc, sizeof acc); /* lane 3 is overwritten by the next pixel */
    }
}

/* acc[i] += w * src[i] for n bytes of src. */
static void axpy_bytes(float *acc, float w, const uint8_t *src, size_t n) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    const __m128 wv = _mm_set1_ps(w);
    for (; i + 16 <= n; i += 16) {
        __m128i bytes = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i lo = _mm_unpacklo_epi8(bytes, zero), hi = _mm_unpackhi_epi8(bytes, zero);
        __m128i words[4] = {_mm_unpacklo_epi16(lo, zero), _mm_unpackhi_epi16(lo, zero),
                            _mm_unpacklo_epi16(hi, zero), _mm_unpackhi_epi16(hi, zero)};
        for (int j = 0; j < 4; j++) {
            __m128 a = _mm_loadu_ps(acc + i + 4 * j);
            a = _mm_add_ps(a, _mm_mul_ps(wv, _mm_cvtepi32_ps(words[j])));
            _mm_storeu_ps(acc + i + 4 * j, a);
        }
    }
#endif
    for (; i < n; i++)
        acc[i] += w * src[i];
}

static uint8_t round_u8(float v) {
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)(v + 0.5f);
}

/* dst[i] = round_u8(acc[i]). The SSE2 form adds 0.5, truncates and saturates to 0..255 in the two
 * packs, which gives the same bytes for the sums here (weighted means of bytes, within 0..255 up to
 * rounding, far from the int16 limits). */
static void round_row(const float *acc, size_t n, uint8_t *dst) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128 half = _mm_set1_ps(0.5f);
    for (; i + 16 <= n; i += 16) {
        __m128i q[4];
        for (int j = 0; j < 4; j++)
            q[j] = _mm_cvttps_epi32(_mm_add_ps(_mm_loadu_ps(acc + i + 4 * j), half));
        __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(q[0], q[1]), _mm_packs_epi32(q[2], q[3]));
        _mm_storeu_si128((__m128i *)(dst + i), bytes);
    }
#endif
    for (; i < n; i++)
        dst[i] = round_u8(acc[i]);
}

/* resize_row on four rows at once (rows and outputs `stride` floats apart): each tap's weight is loaded
 * once for the four, which halves the horizontal pass's instructions. Same sums, same order. */
static void resize_4_rows(const float *rows, size_t in_stride, const filter_taps *tx, int dw, float *out,
                          size_t out_stride) {
    for (int x = 0; x < dw; x++) {
        const float *w = tx->weights + (size_t)x * tx->max_taps;
        const float *p = rows + (size_t)tx->first[x] * 3;
        tsl_float4 acc[4] = {{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}};
        for (int k = 0; k < tx->count[x]; k++)
            for (int r = 0; r < 4; r++) {
                tsl_float4 v;
                memcpy(&v, p + r * in_stride + 3 * k, sizeof v);
                acc[r] += w[k] * v;
            }
        for (int r = 0; r < 4; r++) /* lane 3 is overwritten by the next pixel */
            memcpy(out + r * out_stride + (size_t)x * 3, &acc[r], sizeof acc[r]);
    }
}

/* Vertical pass first (from the bytes, into rows of floats), then the horizontal pass of those rows,
 * four output rows at a time: nothing image-sized is kept, the horizontal pass runs on dh rows rather
 * than sh, and the float sums are rounded once. `vrows` holds 4 * (sw * 3 + 1) floats, `hrows`
 * 4 * (dw * 3 + 1). */
static void resize_passes(const uint8_t *src, int sw, uint8_t *dst, int dw, int dh, const filter_taps *tx,
                          const filter_taps *ty, float *vrows, float *hrows) {
    size_t in_row = (size_t)sw * 3, out_row = (size_t)dw * 3, in_stride = in_row + 1,
           out_stride = out_row + 1;
    for (int y0 = 0; y0 < dh; y0 += 4) {
        int m = dh - y0 < 4 ? dh - y0 : 4;
        for (int r = 0; r < m; r++) {
            int y = y0 + r;
            const float *w = ty->weights + (size_t)y * ty->max_taps;
            float *vrow = vrows + r * in_stride;
            memset(vrow, 0, in_stride * sizeof *vrow);
            for (int k = 0; k < ty->count[y]; k++)
                axpy_bytes(vrow, w[k], src + (size_t)(ty->first[y] + k) * in_row, in_row);
        }
        if (m == 4)
            resize_4_rows(vrows, in_stride, tx, dw, hrows, out_stride);
        else
            for (int r = 0; r < m; r++)
                resize_row(vrows + r * in_stride, tx, dw, hrows + r * out_stride);
        for (int r = 0; r < m; r++)
            round_row(hrows + r * out_stride, out_row, dst + (size_t)(y0 + r) * out_row);
    }
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
    float *vrows = st == TSL_OK ? malloc(sizeof(float) * 4 * ((size_t)sw * 3 + 1)) : NULL;
    float *hrows = st == TSL_OK ? malloc(sizeof(float) * 4 * ((size_t)dw * 3 + 1)) : NULL;
    if (st == TSL_OK && (!vrows || !hrows))
        st = tsl_error(TSL_ERR_NOMEM, "resize: out of memory for a %d-pixel row", sw > dw ? sw : dw);
    if (st == TSL_OK)
        resize_passes(src, sw, dst, dw, dh, &tx, &ty, vrows, hrows);
    free(vrows);
    free(hrows);
    taps_free(&tx);
    taps_free(&ty);
    return st;
}
