/* Double-precision CPU reference of trainer/kernels/tsl_pool.h (NCHW). */
#ifndef REF_POOL_H
#define REF_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t n, c, h, w, kernel, stride, padding;
} ref_maxpool_shape;

size_t ref_maxpool_out_h(ref_maxpool_shape s);
size_t ref_maxpool_out_w(ref_maxpool_shape s);

/* y = window max; argmax (may be NULL) = h * W + w in the input plane; first maximum in row-major window
 * order wins ties; NaN propagates. */
void ref_maxpool_forward(ref_maxpool_shape s, const double *x, double *y, uint32_t *argmax);

/* dx = sum of dy over the outputs whose argmax (recomputed from x) is each input element. */
void ref_maxpool_backward(ref_maxpool_shape s, const double *x, const double *dy, double *dx);

void ref_avgpool_global_forward(size_t n, size_t c, size_t hw, const double *x, double *y);
void ref_avgpool_global_backward(size_t n, size_t c, size_t hw, const double *dy, double *dx);

#endif
