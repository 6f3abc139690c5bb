/* Double-precision CPU reference of batch normalisation (NCHW, per-channel statistics over N*H*W),
 * mirroring trainer/kernels/tsl_batchnorm.h. gamma and beta may be NULL (affine=False). */
#ifndef REF_BATCHNORM_H
#define REF_BATCHNORM_H

#include <stddef.h>

/* Batch mean and 1/sqrt(biased var + eps) of each channel; updates running_mean/running_var (may be
 * NULL) with `momentum` and the unbiased variance; writes y. */
void ref_batchnorm_forward_train(size_t n, size_t c, size_t hw, const double *x, const double *gamma,
                                 const double *beta, double momentum, double eps, double *running_mean,
                                 double *running_var, double *y, double *mean, double *invstd);

void ref_batchnorm_forward_eval(size_t n, size_t c, size_t hw, const double *x, const double *gamma,
                                const double *beta, const double *running_mean, const double *running_var,
                                double eps, double *y);

/* Training-mode gradients of y = forward_train(x) given dy: dx always; dgamma and dbeta when non-NULL. */
void ref_batchnorm_backward(size_t n, size_t c, size_t hw, const double *x, const double *gamma,
                            const double *dy, double eps, double *dx, double *dgamma, double *dbeta);

#endif
