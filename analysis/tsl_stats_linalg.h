/* Dense linear algebra for the analyses, on row-major double matrices, over the system LAPACK/BLAS
 * (Fortran reference symbols dgemm_, dsyevd_, dgesvd_, dgesv_, declared in the .c file).
 *
 * All matrices are row-major and contiguous; "n x d" means n rows of d values. */
#ifndef TSL_STATS_LINALG_H
#define TSL_STATS_LINALG_H

#include "tsl_status.h"

#include <stdbool.h>
#include <stddef.h>

/* c (m x n) = alpha * op(a) op(b) + beta * c, where op(a) is m x k (a stored k x m when trans_a) and
 * op(b) is k x n (b stored n x k when trans_b). Dimensions must fit in a Fortran int (checked by tsl_assert:
 * callers validate shapes first). */
void tsl_stats_gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, double alpha, const double *a,
                    const double *b, double beta, double *c);

/* y (m or n) = alpha * op(a) x + beta * y for the m x n matrix a: op(a) = a (y has m entries, x has n) or,
 * when trans, a^T (y has n, x has m). BLAS dgemv; matrix-vector products through tsl_stats_gemm with one
 * column would run the reference dgemm's innermost loop over that single column. */
void tsl_stats_gemv(bool trans, size_t m, size_t n, double alpha, const double *a, const double *x,
                    double beta, double *y);

/* a (m x n) += alpha * x y^T (x: m, y: n). BLAS dger. */
void tsl_stats_ger(size_t m, size_t n, double alpha, const double *x, const double *y, double *a);

/* Eigendecomposition of the symmetric d x d matrix `a` (read in full; only its lower triangle matters):
 * eigenvalues[d] ascending; when `vectors` is non-NULL, row j of vectors (d x d) is the unit eigenvector of
 * eigenvalues[j]. TSL_ERR_NUMERIC if LAPACK fails to converge, TSL_ERR_NOMEM. */
tsl_status tsl_stats_symmetric_eigen(const double *a, size_t d, double *eigenvalues, double *vectors);

/* Singular values (descending, min(m, n) of them) of the m x n matrix `a`. */
tsl_status tsl_stats_singular_values(const double *a, size_t m, size_t n, double *values);

/* Solves a x = b for x in place of b: a is k x k (not modified), b is k x nrhs. TSL_ERR_NUMERIC when a is
 * singular. */
tsl_status tsl_stats_solve(const double *a, size_t k, double *b, size_t nrhs);

/* Symmetric positive semidefinite square root: out = V diag(sqrt(max(lambda, 0))) V^T of the d x d `a`. */
tsl_status tsl_stats_psd_sqrt(const double *a, size_t d, double *out);

/* Checks that the n values are finite; else TSL_ERR_NUMERIC naming `op`, `what` and the first bad index. */
tsl_status tsl_stats_check_finite(const char *op, const char *what, const double *x, size_t n);

/* Converts n floats to a malloc'd double array (*out, freed by the caller), rejecting non-finite values:
 * the entry point for fp32 feature matrices. */
tsl_status tsl_stats_f32_to_f64(const char *op, const float *x, size_t n, double **out);

/* Means of the d columns of x (n x d, n >= 1) into mean[d]. */
void tsl_stats_column_means(const double *x, size_t n, size_t d, double *mean);

/* A malloc'd copy of x (n x d) with the column means subtracted; NULL when out of memory. */
double *tsl_stats_centered_copy(const double *x, size_t n, size_t d);

/* Checks that n * d (and its byte size) neither overflows nor exceeds the Fortran int range. */
tsl_status tsl_stats_check_shape(const char *op, const char *what, size_t n, size_t d);

#endif
