/* Double-precision CPU reference of trainer/kernels/tsl_optim.h, one tensor at a time (in place). */
#ifndef REF_OPTIM_H
#define REF_OPTIM_H

#include <stdbool.h>
#include <stddef.h>

double ref_l2_norm(size_t n, const double *x);

/* One LARS step (Barlow Twins); *param_norm and *update_norm (may be NULL) receive |p| and |d| (d before
 * the trust ratio; |g| for excluded tensors). */
void ref_lars_step(size_t n, double *p, const double *g, double *mu, bool exclude, double lr, double momentum,
                   double weight_decay, double eta, double *param_norm, double *update_norm);

void ref_sgd_step(size_t n, double *p, const double *g, double *mu, bool exclude, double lr, double momentum,
                  double weight_decay);

#endif
