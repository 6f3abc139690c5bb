#include "ref_pool.h"

#include <math.h>
#include <stdlib.h>

size_t ref_maxpool_out_h(ref_maxpool_shape s) {
    return (s.h + 2 * s.padding - s.kernel) / s.stride + 1;
}

size_t ref_maxpool_out_w(ref_maxpool_shape s) {
    return (s.w + 2 * s.padding - s.kernel) / s.stride + 1;
}

/* Argmax within plane `x` of the window of output (oh, ow). */
static size_t window_argmax(ref_maxpool_shape s, const double *x, size_t oh, size_t ow) {
    long h0 = (long)(oh * s.stride) - (long)s.padding, w0 = (long)(ow * s.stride) - (long)s.padding;
    size_t best_at = 0;
    double best = -INFINITY;
    int found = 0;
    for (long hh = h0; hh < h0 + (long)s.kernel; hh++)
        for (long ww = w0; ww < w0 + (long)s.kernel; ww++) {
            if (hh < 0 || ww < 0 || hh >= (long)s.h || ww >= (long)s.w)
                continue;
            size_t at = (size_t)hh * s.w + (size_t)ww;
            if (!found || x[at] > best || isnan(x[at])) {
                best = x[at];
                best_at = at;
                found = 1;
            }
        }
    return best_at;
}

void ref_maxpool_forward(ref_maxpool_shape s, const double *x, double *y, uint32_t *argmax) {
    size_t ho = ref_maxpool_out_h(s), wo = ref_maxpool_out_w(s);
    for (size_t p = 0; p < s.n * s.c; p++)
        for (size_t oh = 0; oh < ho; oh++)
            for (size_t ow = 0; ow < wo; ow++) {
                size_t at = window_argmax(s, x + p * s.h * s.w, oh, ow), o = (p * ho + oh) * wo + ow;
                y[o] = x[p * s.h * s.w + at];
                if (argmax)
                    argmax[o] = (uint32_t)at;
            }
}

/* Scatter form (the GPU gathers): an independent formulation of the same gradient. */
void ref_maxpool_backward(ref_maxpool_shape s, const double *x, const double *dy, double *dx) {
    size_t ho = ref_maxpool_out_h(s), wo = ref_maxpool_out_w(s);
    for (size_t i = 0; i < s.n * s.c * s.h * s.w; i++)
        dx[i] = 0.0;
    for (size_t p = 0; p < s.n * s.c; p++)
        for (size_t oh = 0; oh < ho; oh++)
            for (size_t ow = 0; ow < wo; ow++)
                dx[p * s.h * s.w + window_argmax(s, x + p * s.h * s.w, oh, ow)] +=
                    dy[(p * ho + oh) * wo + ow];
}

void ref_avgpool_global_forward(size_t n, size_t c, size_t hw, const double *x, double *y) {
    for (size_t p = 0; p < n * c; p++) {
        double sum = 0.0;
        for (size_t k = 0; k < hw; k++)
            sum += x[p * hw + k];
        y[p] = sum / (double)hw;
    }
}

void ref_avgpool_global_backward(size_t n, size_t c, size_t hw, const double *dy, double *dx) {
    for (size_t i = 0; i < n * c * hw; i++)
        dx[i] = dy[i / hw] / (double)hw;
}
