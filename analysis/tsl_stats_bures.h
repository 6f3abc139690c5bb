/* Trace-normalised Bures distance between covariance matrices (paper, Figure 1 panels 2, 4, 5).
 *
 * With S1, S2 normalised to unit trace, d^2 = tr S1 + tr S2 - 2 tr[(S1^1/2 S2 S1^1/2)^1/2] = 2 - 2F, with
 * the fidelity F = tr[(S1^1/2 S2 S1^1/2)^1/2] / sqrt(tr S1 tr S2) in [0, 1]. F = 1 (d = 0) for
 * proportional covariances, F = 0 (d^2 = 2) for covariances on orthogonal subspaces. */
#ifndef TSL_STATS_BURES_H
#define TSL_STATS_BURES_H

#include "tsl_status.h"

#include <stddef.h>

typedef struct {
    double fidelity;    /* F */
    double distance_sq; /* d^2 = 2 - 2F, in [0, 2] */
    double distance;    /* d = sqrt(d^2) */
} tsl_stats_bures;

/* How tsl_stats_bures_data computes the nuclear norm. Both give the same F (to ~1e-10 relative on full-rank
 * data; sqrt of eigenvalues near zero loses ~sqrt(eps) on rank-deficient data). */
typedef enum {
    TSL_STATS_BURES_AUTO = 0,   /* the cheaper of the two for the shapes */
    TSL_STATS_BURES_PRODUCT,    /* ||X1 X2^T||_* by SVD of the n1 x n2 product: cheap when n1, n2 << d */
    TSL_STATS_BURES_COVARIANCE, /* tr[(S1^1/2 S2 S1^1/2)^1/2] with d x d S = X^T X: cheap when n >> d */
} tsl_stats_bures_route;

/* Bures distance between the covariances of two samples: x1 (n1 x d) and x2 (n2 x d), row-major, each
 * centred here by its own column means (the covariance of responses within each ensemble). F =
 * ||X1c X2c^T||_* / (||X1c||_F ||X2c||_F), the 1/n factors cancelling. Errors: TSL_ERR_INVALID_ARG when a
 * sample has fewer than 2 rows or d == 0, TSL_ERR_NUMERIC on non-finite input or a sample with zero
 * variance (its covariance cannot be trace-normalised). */
tsl_status tsl_stats_bures_data(const double *x1, size_t n1, const double *x2, size_t n2, size_t d,
                                tsl_stats_bures_route route, tsl_stats_bures *out);

/* Bures distance between two given d x d covariance matrices (symmetric positive semidefinite; symmetry
 * checked to 1e-10 relative, eigenvalues below -1e-10 * trace rejected). Errors as above, and
 * TSL_ERR_INVALID_ARG for an asymmetric or indefinite matrix or zero trace. */
tsl_status tsl_stats_bures_covariance(const double *s1, const double *s2, size_t d, tsl_stats_bures *out);

#endif
