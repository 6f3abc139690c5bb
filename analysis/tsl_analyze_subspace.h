/* Lindsey & Issa factorization against one fixed "other" set, for many p sets at a small cost: the
 * analyses score every image's augmentation set against the same content set, so the content set's top
 * principal subspace is computed once, from its n x n Gram matrix (n images << d features), instead of
 * a d x d eigendecomposition per image as tsl_analysis_factorization does. Same definition and the same
 * component rule (from the top until the eigenvalues reach `fraction` of the trace), ungrouped sets. */
#ifndef TSL_ANALYZE_SUBSPACE_H
#define TSL_ANALYZE_SUBSPACE_H

#include "tsl_status.h"

#include <stddef.h>

typedef struct {
    double *u; /* k x d: orthonormal principal directions, largest variance first */
    size_t k, d;
} tsl_analyze_subspace;

/* The top principal directions of x (n x d, rows centred by the column means; covariance X^T X / n)
 * explaining at least `fraction` in (0, 1) of its variance. Errors: TSL_ERR_INVALID_ARG (n < 2, d == 0,
 * fraction), TSL_ERR_NUMERIC (non-finite input, zero variance), TSL_ERR_NOMEM. */
tsl_status tsl_analyze_subspace_top(const double *x, size_t n, size_t d, double fraction,
                                    tsl_analyze_subspace *subspace);

/* 1 - tr(U^T C_p U) / tr C_p for x_p (n_p x d, centred by its own means), C_p = X_p^T X_p / n_p.
 * Errors: TSL_ERR_INVALID_ARG (n_p < 2), TSL_ERR_NUMERIC (non-finite input, zero variance). */
tsl_status tsl_analyze_subspace_factorization(const tsl_analyze_subspace *subspace, const double *x_p,
                                              size_t n_p, double *factorization);

void tsl_analyze_subspace_free(tsl_analyze_subspace *subspace);

#endif
