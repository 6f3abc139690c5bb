/* Factorization of one source of variability from the others (Lindsey & Issa 2023; paper Figure 1 panels
 * 4, 5): factorization_p = 1 - Var_{p|other} / Var_p.
 *
 * Inputs are two sets of responses (rows = samples, d features each):
 *   f_p     (n_p x d): samples in which only parameter p varies (e.g. one base image under many random
 *           crops); optionally grouped (group_p[i] = id of the fixed setting of the other factors, e.g. the
 *           base image), in which case p's variability is measured within each group;
 *   f_other (n_o x d): samples in which the other factors vary with p fixed (e.g. many base images, or
 *           photometric-only augmentations), optionally grouped by the fixed value of p.
 * Each set's covariance is the pooled within-group covariance: every row centred by its group's mean
 * (the whole set's mean when ungrouped), C = sum x x^T / n.
 * Var_p = tr C_p; U = the top principal components of C_other, as many as needed to explain at least
 * `variance_fraction` (0.9) of tr C_other; Var_{p|other} = tr(U^T C_p U), the part of p's variance inside
 * that subspace. 1 means p varies orthogonally to the other factors (fully factorized), 0 means inside
 * their principal subspace. */
#ifndef TSL_ANALYSIS_FACTORIZATION_H
#define TSL_ANALYSIS_FACTORIZATION_H

#include "tsl_status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double factorization;  /* 1 - var_p_in_other / var_p */
    double var_p;          /* tr C_p */
    double var_p_in_other; /* tr(U^T C_p U) */
    size_t n_components;   /* columns of U */
} tsl_analysis_factorization_result;

/* group_p / group_other: NULL (one group) or one id per row; each group needs >= 2 rows.
 * variance_fraction in (0, 1]. Errors: TSL_ERR_INVALID_ARG (shapes, groups, fraction), TSL_ERR_NUMERIC
 * (non-finite input, or zero variance in either set), TSL_ERR_NOMEM. */
tsl_status tsl_analysis_factorization(const double *f_p, size_t n_p, const int32_t *group_p,
                                      const double *f_other, size_t n_other, const int32_t *group_other,
                                      size_t d, double variance_fraction,
                                      tsl_analysis_factorization_result *out);

/* Pooled within-group covariance (d x d) of x (n x d) as above; groups NULL or n ids, >= 2 rows each. */
tsl_status tsl_analysis_pooled_covariance(const double *x, size_t n, size_t d, const int32_t *groups,
                                          double *cov);

#endif
