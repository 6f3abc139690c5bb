#include "tsl_resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TSL_RESIZE_AVX2 1
#include <immintrin.h>
#define AVX2_TARGET __attribute__((target("avx2")))
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
 * use SSE2, which every x86-64 CPU has, or AVX2 where the CPU has it (chosen at run time, further
 * down), with a plain C form elsewhere. All give the same bytes. */
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

/* acc[i] += w * src[i] for n bytes of src; SSE2 (when `simd`) or plain C, the same sums. */
static void axpy_bytes(float *acc, float w, const uint8_t *src, size_t n, int simd) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    const __m128 wv = _mm_set1_ps(w);
    for (; simd && i + 16 <= n; i += 16) {
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
#else
    (void)simd;
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
static void round_row(const float *acc, size_t n, uint8_t *dst, int simd) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128 half = _mm_set1_ps(0.5f);
    for (; simd && i + 16 <= n; i += 16) { /* named rather than an array, which gcc keeps on the stack */
        __m128i q0 = _mm_cvttps_epi32(_mm_add_ps(_mm_loadu_ps(acc + i), half));
        __m128i q1 = _mm_cvttps_epi32(_mm_add_ps(_mm_loadu_ps(acc + i + 4), half));
        __m128i q2 = _mm_cvttps_epi32(_mm_add_ps(_mm_loadu_ps(acc + i + 8), half));
        __m128i q3 = _mm_cvttps_epi32(_mm_add_ps(_mm_loadu_ps(acc + i + 12), half));
        __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(q0, q1), _mm_packs_epi32(q2, q3));
        _mm_storeu_si128((__m128i *)(dst + i), bytes);
    }
#else
    (void)simd;
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

#ifdef TSL_RESIZE_AVX2
/* AVX2 forms of the two passes, chosen at run time where the CPU has AVX2. They add the same products
 * in the same order as the forms above (no FMA: a fused multiply-add rounds once where those round
 * twice), so every path gives the same bytes; tests/test_shard.c checks that on every path available. */

/* Eight bytes as eight floats. */
AVX2_TARGET static __m256 bytes8_to_floats(const uint8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)));
}

/* One output row of the vertical pass: vrow[i] = sum_k w[k] * src_k[i] for the row's taps, summed in
 * registers eight floats at a time (0 + w0 * s0 + w1 * s1 + ..., as axpy_bytes sums them). */
AVX2_TARGET static void vertical_row_avx2(const uint8_t *const *tap_rows, const float *w, int taps, size_t n,
                                          float *vrow) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < taps; k++) {
            __m256 wv = _mm256_set1_ps(w[k]);
            const uint8_t *p = tap_rows[k] + i;
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(wv, bytes8_to_floats(p)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(wv, bytes8_to_floats(p + 8)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(wv, bytes8_to_floats(p + 16)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(wv, bytes8_to_floats(p + 24)));
        }
        _mm256_storeu_ps(vrow + i, a0);
        _mm256_storeu_ps(vrow + i + 8, a1);
        _mm256_storeu_ps(vrow + i + 16, a2);
        _mm256_storeu_ps(vrow + i + 24, a3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_setzero_ps();
        for (int k = 0; k < taps; k++)
            a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(w[k]), bytes8_to_floats(tap_rows[k] + i)));
        _mm256_storeu_ps(vrow + i, a);
    }
    for (; i < n; i++) {
        float a = 0;
        for (int k = 0; k < taps; k++)
            a += w[k] * tap_rows[k][i];
        vrow[i] = a;
    }
    vrow[n] = 0; /* the padding float the horizontal pass reads as a fourth lane */
}

/* resize_4_rows with two output pixels per 256-bit register: pixel x in the low half, x + 1 in the high.
 * Both run max(count[x], count[x + 1]) taps; the extra ones have weight 0 (the tables are zero-filled
 * to max_taps), which adds an exact +0. They stay inside the row: for x because first[] never
 * decreases (first[x] + count[x + 1] <= first[x + 1] + count[x + 1] <= sw), for x + 1 by the check. */
AVX2_TARGET static void resize_4_rows_avx2(const float *rows, int sw, size_t in_stride, const filter_taps *tx,
                                           int dw, float *out, size_t out_stride) {
    int x = 0;
    for (; x + 2 <= dw; x += 2) {
        const float *w0 = tx->weights + (size_t)x * tx->max_taps, *w1 = w0 + tx->max_taps;
        const float *p0 = rows + (size_t)tx->first[x] * 3, *p1 = rows + (size_t)tx->first[x + 1] * 3;
        int taps = tx->count[x] > tx->count[x + 1] ? tx->count[x] : tx->count[x + 1];
        if (tx->first[x + 1] + taps > sw) { /* x + 1 at the right edge: fewer taps than x, each alone */
            filter_taps pair = {tx->first + x, tx->count + x, tx->weights + (size_t)x * tx->max_taps,
                                tx->max_taps};
            resize_4_rows(rows, in_stride, &pair, 2, out + (size_t)x * 3, out_stride);
            continue;
        }
        /* Four named accumulators rather than an array, which gcc keeps on the stack. */
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *q0 = p0, *q1 = p1;
        for (int k = 0; k < taps; k++, q0 += 3, q1 += 3) {
            __m256 wv = _mm256_set_m128(_mm_set1_ps(w1[k]), _mm_set1_ps(w0[k]));
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(wv, _mm256_loadu2_m128(q1, q0)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(wv, _mm256_loadu2_m128(q1 + in_stride, q0 + in_stride)));
            a2 = _mm256_add_ps(a2,
                               _mm256_mul_ps(wv, _mm256_loadu2_m128(q1 + 2 * in_stride, q0 + 2 * in_stride)));
            a3 = _mm256_add_ps(a3,
                               _mm256_mul_ps(wv, _mm256_loadu2_m128(q1 + 3 * in_stride, q0 + 3 * in_stride)));
        }
        float *o = out + (size_t)x * 3; /* low halves first: the high half overwrites their lane 3 */
        _mm_storeu_ps(o, _mm256_castps256_ps128(a0));
        _mm_storeu_ps(o + 3, _mm256_extractf128_ps(a0, 1));
        _mm_storeu_ps(o + out_stride, _mm256_castps256_ps128(a1));
        _mm_storeu_ps(o + out_stride + 3, _mm256_extractf128_ps(a1, 1));
        _mm_storeu_ps(o + 2 * out_stride, _mm256_castps256_ps128(a2));
        _mm_storeu_ps(o + 2 * out_stride + 3, _mm256_extractf128_ps(a2, 1));
        _mm_storeu_ps(o + 3 * out_stride, _mm256_castps256_ps128(a3));
        _mm_storeu_ps(o + 3 * out_stride + 3, _mm256_extractf128_ps(a3, 1));
    }
    if (x < dw) { /* an odd last pixel */
        filter_taps last = {tx->first + x, tx->count + x, tx->weights + (size_t)x * tx->max_taps,
                            tx->max_taps};
        resize_4_rows(rows, in_stride, &last, 1, out + (size_t)x * 3, out_stride);
    }
}
#endif

int tsl_resize_path_available(tsl_resize_path path) {
    switch (path) {
    case TSL_RESIZE_PATH_C:
        return 1;
    case TSL_RESIZE_PATH_SSE2:
#if defined(__SSE2__)
        return 1;
#else
        return 0;
#endif
    case TSL_RESIZE_PATH_AVX2:
#ifdef TSL_RESIZE_AVX2
        return __builtin_cpu_supports("avx2");
#else
        return 0;
#endif
    }
    return 0;
}

tsl_resize_path tsl_resize_best_path(void) {
    return tsl_resize_path_available(TSL_RESIZE_PATH_AVX2)   ? TSL_RESIZE_PATH_AVX2
           : tsl_resize_path_available(TSL_RESIZE_PATH_SSE2) ? TSL_RESIZE_PATH_SSE2
                                                             : TSL_RESIZE_PATH_C;
}

/* One output row of the vertical pass into vrow (n + 1 floats, the last 0). */
static void vertical_row(const uint8_t *src, size_t n, const filter_taps *ty, int y, tsl_resize_path path,
                         float *vrow) {
    const float *w = ty->weights + (size_t)y * ty->max_taps;
    const uint8_t *first = src + (size_t)ty->first[y] * n;
#ifdef TSL_RESIZE_AVX2
    if (path == TSL_RESIZE_PATH_AVX2) {
        const uint8_t *tap_rows[64];
        if (ty->count[y] <= 64) {
            for (int k = 0; k < ty->count[y]; k++)
                tap_rows[k] = first + (size_t)k * n;
            vertical_row_avx2(tap_rows, w, ty->count[y], n, vrow);
            return;
        }
    }
#endif
    memset(vrow, 0, (n + 1) * sizeof *vrow);
    for (int k = 0; k < ty->count[y]; k++)
        axpy_bytes(vrow, w[k], first + (size_t)k * n, n, path != TSL_RESIZE_PATH_C);
}

/* Vertical pass first (from the bytes, into rows of floats), then the horizontal pass of those rows,
 * four output rows at a time: nothing image-sized is kept, the horizontal pass runs on dh rows rather
 * than sh, and the float sums are rounded once. `vrows` holds 4 * (sw * 3 + 1) floats, `hrows`
 * 4 * (dw * 3 + 1). */
static void resize_passes(const uint8_t *src, int sw, uint8_t *dst, int dw, int dh, const filter_taps *tx,
                          const filter_taps *ty, tsl_resize_path path, float *vrows, float *hrows) {
    size_t in_row = (size_t)sw * 3, out_row = (size_t)dw * 3, in_stride = in_row + 1,
           out_stride = out_row + 1;
    for (int y0 = 0; y0 < dh; y0 += 4) {
        int m = dh - y0 < 4 ? dh - y0 : 4;
        for (int r = 0; r < m; r++)
            vertical_row(src, in_row, ty, y0 + r, path, vrows + r * in_stride);
        if (m == 4) {
#ifdef TSL_RESIZE_AVX2
            if (path == TSL_RESIZE_PATH_AVX2)
                resize_4_rows_avx2(vrows, sw, in_stride, tx, dw, hrows, out_stride);
            else
#endif
                resize_4_rows(vrows, in_stride, tx, dw, hrows, out_stride);
        } else
            for (int r = 0; r < m; r++)
                resize_row(vrows + r * in_stride, tx, dw, hrows + r * out_stride);
        for (int r = 0; r < m; r++)
            round_row(hrows + r * out_stride, out_row, dst + (size_t)(y0 + r) * out_row,
                      path != TSL_RESIZE_PATH_C);
    }
}

tsl_status tsl_resize_rgb8_with(tsl_resize_path path, const uint8_t *src, int sw, int sh, uint8_t *dst,
                                int dw, int dh) {
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1)
        return tsl_error(TSL_ERR_INVALID_ARG, "resize: sizes %dx%d -> %dx%d must be >= 1", sw, sh, dw, dh);
    if (!tsl_resize_path_available(path))
        return tsl_error(TSL_ERR_INVALID_ARG, "resize: code path %d is not available on this CPU", (int)path);
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
        resize_passes(src, sw, dst, dw, dh, &tx, &ty, path, vrows, hrows);
    free(vrows);
    free(hrows);
    taps_free(&tx);
    taps_free(&ty);
    return st;
}

tsl_status tsl_resize_rgb8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh) {
    return tsl_resize_rgb8_with(tsl_resize_best_path(), src, sw, sh, dst, dw, dh);
}
