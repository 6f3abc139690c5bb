/* Double-precision CPU reference of trainer/kernels/tsl_pointwise.h. */
#ifndef REF_POINTWISE_H
#define REF_POINTWISE_H

#include <stddef.h>

void ref_relu_forward(size_t n, const double *x, double *y);
/* dx = dy where mask > 0, else 0. */
void ref_relu_backward(size_t n, const double *mask, const double *dy, double *dx);
void ref_add(size_t n, const double *a, const double *b, double *y);
void ref_add_relu(size_t n, const double *a, const double *b, double *y);

#endif
