/* Partial least squares regression with sklearn's PLSRegression semantics (scale=False, as Brain-Score's
 * regression_correlation uses with 25 components): X and Y centred; per component the NIPALS power
 * iteration from the first non-zero column of the Y residual (at most 500 iterations, stopping when the
 * squared change of the x weights falls below 1e-6, after one iteration for a single target), the x
 * weights' largest-magnitude entry made positive, X and Y deflated on the x scores (regression mode);
 * coef = W (P^T W)^-1 Q^T. The iterates are sklearn's (computed on the cross-covariance X^T Y, which
 * is cheaper), so results agree with sklearn to rounding: 1e-13 on predictions for 300 x 120 -> 25 targets
 * with 25 components, checked once against sklearn 1.2.1; the committed fixtures hold it to 1e-8.
 * Cost per component: O(n d + n t) plus O(d t) per power iteration. */
#ifndef TSL_STATS_PLS_H
#define TSL_STATS_PLS_H

#include "tsl_status.h"

#include <stddef.h>

typedef struct {
    size_t d, t;
    size_t n_components; /* fitted: fewer than asked when the Y residual became zero or the X residual fell
                            below 1e-10 of X's norm (more components than the rank of centred X) */
    double *x_mean;      /* d */
    double *y_mean;      /* t */
    double *coef;        /* d x t: y = (x - x_mean) coef + y_mean */
} tsl_stats_pls_model;

/* Fits x (n x d) -> y (n x t), 1 <= n_components <= d, n >= 2. Errors: TSL_ERR_INVALID_ARG (shapes),
 * TSL_ERR_NUMERIC (non-finite input, or a singular P^T W), TSL_ERR_NOMEM. On error `model` holds no memory.
 */
tsl_status tsl_stats_pls_fit(const double *x, const double *y, size_t n, size_t d, size_t t,
                             size_t n_components, tsl_stats_pls_model *model);

/* y_out (n x t) from x (n x d). */
tsl_status tsl_stats_pls_predict(const tsl_stats_pls_model *model, const double *x, size_t n, size_t d,
                                 double *y_out);

void tsl_stats_pls_model_free(tsl_stats_pls_model *model);

#endif
