#include "tsl_stats_linalg.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Fortran reference LAPACK/BLAS. gfortran passes a hidden length (size_t) after the arguments for every
 * CHARACTER argument; declaring them keeps the calls correct under LTO and sibling-call optimisation. */
extern void dgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
                   const double *alpha, const double *a, const int *lda, const double *b, const int *ldb,
                   const double *beta, double *c, const int *ldc, size_t ta_len, size_t tb_len);
extern void dgemv_(const char *trans, const int *m, const int *n, const double *alpha, const double *a,
                   const int *lda, const double *x, const int *incx, const double *beta, double *y,
                   const int *incy, size_t trans_len);
extern void dger_(const int *m, const int *n, const double *alpha, const double *x, const int *incx,
                  const double *y, const int *incy, double *a, const int *lda);
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                    double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len,
                    size_t uplo_len);
extern void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a,
                    const int *lda, double *s, double *u, const int *ldu, double *vt, const int *ldvt,
                    double *work, const int *lwork, int *info, size_t jobu_len, size_t jobvt_len);
extern void dgesv_(const int *n, const int *nrhs, double *a, const int *lda, int *ipiv, double *b,
                   const int *ldb, int *info);

static int fortran_int(size_t v) {
    tsl_assert(v <= (size_t)INT_MAX);
    return (int)v;
}

void tsl_stats_gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, double alpha, const double *a,
                    const double *b, double beta, double *c) {
    if (m == 0 || n == 0)
        return;
    /* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands. */
    int fm = fortran_int(n), fn = fortran_int(m), fk = fortran_int(k);
    int lda = fortran_int(trans_b ? (k ? k : 1) : n);
    int ldb = fortran_int(trans_a ? (m ? m : 1) : (k ? k : 1));
    int ldc = fm;
    if (k == 0) {
        for (size_t i = 0; i < m * n; i++)
            c[i] = beta == 0 ? 0 : beta * c[i];
        return;
    }
    dgemm_(trans_b ? "T" : "N", trans_a ? "T" : "N", &fm, &fn, &fk, &alpha, b, &lda, a, &ldb, &beta, c, &ldc,
           1, 1);
}

void tsl_stats_gemv(bool trans, size_t m, size_t n, double alpha, const double *a, const double *x,
                    double beta, double *y) {
    if (m == 0 || n == 0) {
        for (size_t i = 0; i < (trans ? n : m); i++)
            y[i] = beta == 0 ? 0 : beta * y[i];
        return;
    }
    /* The row-major m x n matrix is the column-major n x m transpose: flip the operation. */
    int fm = fortran_int(n), fn = fortran_int(m), one = 1;
    dgemv_(trans ? "N" : "T", &fm, &fn, &alpha, a, &fm, x, &one, &beta, y, &one, 1);
}

void tsl_stats_ger(size_t m, size_t n, double alpha, const double *x, const double *y, double *a) {
    if (m == 0 || n == 0)
        return;
    /* Column-major a^T (n x m) += alpha y x^T. */
    int fm = fortran_int(n), fn = fortran_int(m), one = 1;
    dger_(&fm, &fn, &alpha, y, &one, x, &one, a, &fm);
}

tsl_status tsl_stats_symmetric_eigen(const double *a, size_t d, double *eigenvalues, double *vectors) {
    if (d == 0)
        return TSL_OK;
    int n = fortran_int(d), info = 0, lwork = -1, liwork = -1, iwork_query = 0;
    double work_query = 0;
    double *m = malloc(d * d * sizeof *m);
    if (!m)
        return tsl_error(TSL_ERR_NOMEM, "symmetric eigen: %zu x %zu matrix", d, d);
    memcpy(m, a, d * d * sizeof *m);
    const char *jobz = vectors ? "V" : "N";
    /* Row-major lower triangle is column-major upper triangle. */
    dsyevd_(jobz, "U", &n, m, &n, eigenvalues, &work_query, &lwork, &iwork_query, &liwork, &info, 1, 1);
    lwork = (int)work_query;
    liwork = iwork_query;
    double *work = malloc((size_t)lwork * sizeof *work);
    int *iwork = malloc((size_t)liwork * sizeof *iwork);
    if (!work || !iwork) {
        free(m), free(work), free(iwork);
        return tsl_error(TSL_ERR_NOMEM, "symmetric eigen: workspace for d = %zu", d);
    }
    dsyevd_(jobz, "U", &n, m, &n, eigenvalues, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work), free(iwork);
    if (info != 0) {
        free(m);
        return tsl_error(TSL_ERR_NUMERIC, "symmetric eigen: dsyevd failed (info %d) on a %zu x %zu matrix",
                         info, d, d);
    }
    /* Column j of the column-major result is eigenvector j: row j of the row-major array. */
    if (vectors)
        memcpy(vectors, m, d * d * sizeof *m);
    free(m);
    return TSL_OK;
}

tsl_status tsl_stats_singular_values(const double *a, size_t m, size_t n, double *values) {
    if (m == 0 || n == 0)
        return TSL_OK;
    /* The row-major m x n matrix is the column-major n x m transpose: same singular values. */
    int fm = fortran_int(n), fn = fortran_int(m), one = 1, info = 0, lwork = -1;
    double work_query = 0, dummy = 0;
    double *copy = malloc(m * n * sizeof *copy);
    if (!copy)
        return tsl_error(TSL_ERR_NOMEM, "singular values: %zu x %zu matrix", m, n);
    memcpy(copy, a, m * n * sizeof *copy);
    dgesvd_("N", "N", &fm, &fn, copy, &fm, values, &dummy, &one, &dummy, &one, &work_query, &lwork, &info, 1,
            1);
    lwork = (int)work_query;
    double *work = malloc((size_t)lwork * sizeof *work);
    if (!work) {
        free(copy);
        return tsl_error(TSL_ERR_NOMEM, "singular values: workspace for %zu x %zu", m, n);
    }
    dgesvd_("N", "N", &fm, &fn, copy, &fm, values, &dummy, &one, &dummy, &one, work, &lwork, &info, 1, 1);
    free(work), free(copy);
    if (info != 0)
        return tsl_error(TSL_ERR_NUMERIC, "singular values: dgesvd failed (info %d) on a %zu x %zu matrix",
                         info, m, n);
    return TSL_OK;
}

tsl_status tsl_stats_solve(const double *a, size_t k, double *b, size_t nrhs) {
    if (k == 0 || nrhs == 0)
        return TSL_OK;
    /* Column-major solve of A^T on the transposed right-hand side, so transpose both ways. */
    double *at = malloc(k * k * sizeof *at), *bt = malloc(k * nrhs * sizeof *bt);
    int *ipiv = malloc(k * sizeof *ipiv);
    if (!at || !bt || !ipiv) {
        free(at), free(bt), free(ipiv);
        return tsl_error(TSL_ERR_NOMEM, "solve: %zu x %zu system", k, k);
    }
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++)
            at[j * k + i] = a[i * k + j];
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < nrhs; j++)
            bt[j * k + i] = b[i * nrhs + j];
    int n = fortran_int(k), fr = fortran_int(nrhs), info = 0;
    dgesv_(&n, &fr, at, &n, ipiv, bt, &n, &info);
    if (info == 0)
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < nrhs; j++)
                b[i * nrhs + j] = bt[j * k + i];
    free(at), free(bt), free(ipiv);
    if (info != 0)
        return tsl_error(TSL_ERR_NUMERIC, "solve: %zu x %zu matrix is singular (dgesv info %d)", k, k, info);
    return TSL_OK;
}

tsl_status tsl_stats_psd_sqrt(const double *a, size_t d, double *out) {
    double *values = malloc(d * sizeof *values), *vectors = malloc(d * d * sizeof *vectors);
    double *scaled = malloc(d * d * sizeof *scaled);
    tsl_status st = TSL_OK;
    if (!values || !vectors || !scaled) {
        st = tsl_error(TSL_ERR_NOMEM, "psd sqrt: %zu x %zu matrix", d, d);
        goto done;
    }
    st = tsl_stats_symmetric_eigen(a, d, values, vectors);
    if (st != TSL_OK)
        goto done;
    /* Rows of `vectors` are the eigenvectors: sqrt(A) = vectors^T diag(sqrt(lambda)) vectors. */
    for (size_t j = 0; j < d; j++) {
        double s = sqrt(values[j] > 0 ? values[j] : 0);
        for (size_t i = 0; i < d; i++)
            scaled[j * d + i] = s * vectors[j * d + i];
    }
    tsl_stats_gemm(true, false, d, d, d, 1.0, vectors, scaled, 0.0, out);
done:
    free(values), free(vectors), free(scaled);
    return st;
}

tsl_status tsl_stats_check_finite(const char *op, const char *what, const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return tsl_error(TSL_ERR_NUMERIC, "%s: %s[%zu] is %g (inputs must be finite)", op, what, i, x[i]);
    return TSL_OK;
}

tsl_status tsl_stats_f32_to_f64(const char *op, const float *x, size_t n, double **out) {
    *out = NULL;
    if (n > SIZE_MAX / sizeof(double))
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %zu values overflow", op, n);
    double *y = malloc((n ? n : 1) * sizeof *y);
    if (!y)
        return tsl_error(TSL_ERR_NOMEM, "%s: converting %zu values to double", op, n);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            free(y);
            return tsl_error(TSL_ERR_NUMERIC, "%s: input[%zu] is %g (inputs must be finite)", op, i,
                             (double)x[i]);
        }
        y[i] = x[i];
    }
    *out = y;
    return TSL_OK;
}

void tsl_stats_column_means(const double *x, size_t n, size_t d, double *mean) {
    for (size_t j = 0; j < d; j++)
        mean[j] = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            mean[j] += x[i * d + j];
    for (size_t j = 0; j < d; j++)
        mean[j] /= (double)n;
}

double *tsl_stats_centered_copy(const double *x, size_t n, size_t d) {
    double *c = malloc((n * d > 0 ? n * d : 1) * sizeof *c), *mean = malloc((d ? d : 1) * sizeof *mean);
    if (!c || !mean) {
        free(c), free(mean);
        return NULL;
    }
    tsl_stats_column_means(x, n, d, mean);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            c[i * d + j] = x[i * d + j] - mean[j];
    free(mean);
    return c;
}

tsl_status tsl_stats_check_shape(const char *op, const char *what, size_t n, size_t d) {
    if (n == 0 || d == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %s is %zu x %zu (needs at least one row and column)", op,
                         what, n, d);
    if (n > (size_t)INT_MAX || d > (size_t)INT_MAX || n > (size_t)INT_MAX / d)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %s is %zu x %zu (too large for LAPACK's int indices)", op,
                         what, n, d);
    return TSL_OK;
}
