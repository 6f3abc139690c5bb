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

/* One AdamW step (torch.optim.AdamW, amsgrad off; step counts from 1): p *= 1 - lr wd (wd ignored when
 * excluded); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * p -= lr / (1 - b1^step) * m / (sqrt(v) / sqrt(1 - b2^step) + eps). */
void ref_adamw_step(size_t n, double *p, const double *g, double *m, double *v, bool exclude, double lr,
                    double beta1, double beta2, double eps, double weight_decay, unsigned long step);

#endif
