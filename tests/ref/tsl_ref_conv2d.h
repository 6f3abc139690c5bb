/* Plain-C double-precision reference of conv2d (no bias), the ground truth the GPU kernels are tested
 * against. Same layouts as tsl_conv2d.h: x, dx NCHW; w, dw OIHW; y, dy NCHW; all contiguous. */
#ifndef TSL_REF_CONV2D_H
#define TSL_REF_CONV2D_H

#include "tsl_conv2d.h"

/* y = conv(x, w) with zero padding. */
void tsl_ref_conv2d_forward(const tsl_conv2d_shape *shape, const double *x, const double *w, double *y);

/* dx = d(sum y*dy)/dx (overwritten). */
void tsl_ref_conv2d_backward_data(const tsl_conv2d_shape *shape, const double *dy, const double *w,
                                  double *dx);

/* dw = d(sum y*dy)/dw summed over the batch (overwritten). */
void tsl_ref_conv2d_backward_weights(const tsl_conv2d_shape *shape, const double *x, const double *dy,
                                     double *dw);

#endif
