#include "tsl_analysis_factorization.h"

#include "tsl_stats_linalg.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const OP = "factorization";

/* Subtracts from every row of c the mean of its group (rows with equal ids). */
static tsl_status center_by_group(double *c, size_t n, size_t d, const int32_t *groups) {
    bool *done = calloc(n, sizeof *done);
    double *mean = malloc(d * sizeof *mean);
    tsl_status st = TSL_OK;
    if (!done || !mean) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: grouping %zu rows", OP, n);
        goto out;
    }
    for (size_t i = 0; i < n && st == TSL_OK; i++) {
        if (done[i])
            continue;
        size_t count = 0;
        memset(mean, 0, d * sizeof *mean);
        for (size_t r = i; r < n; r++)
            if (groups[r] == groups[i]) {
                count++;
                for (size_t j = 0; j < d; j++)
                    mean[j] += c[r * d + j];
            }
        if (count < 2) {
            st = tsl_error(TSL_ERR_INVALID_ARG, "%s: group %d has %zu row (needs >= 2 to vary)", OP,
                           (int)groups[i], count);
            break;
        }
        for (size_t r = i; r < n; r++)
            if (groups[r] == groups[i]) {
                done[r] = true;
                for (size_t j = 0; j < d; j++)
                    c[r * d + j] -= mean[j] / (double)count;
            }
    }
out:
    free(done), free(mean);
    return st;
}

tsl_status tsl_analysis_pooled_covariance(const double *x, size_t n, size_t d, const int32_t *groups,
                                          double *cov) {
    TSL_TRY(tsl_stats_check_shape(OP, "x", n, d));
    if (n < 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: a covariance needs >= 2 rows, got %zu", OP, n);
    TSL_TRY(tsl_stats_check_finite(OP, "x", x, n * d));
    double *c = groups ? malloc(n * d * sizeof *c) : tsl_stats_centered_copy(x, n, d);
    if (!c)
        return tsl_error(TSL_ERR_NOMEM, "%s: %zu x %zu copy", OP, n, d);
    tsl_status st = TSL_OK;
    if (groups) {
        memcpy(c, x, n * d * sizeof *c);
        st = center_by_group(c, n, d, groups);
    }
    if (st == TSL_OK)
        tsl_stats_gemm(true, false, d, d, n, 1.0 / (double)n, c, c, 0.0, cov);
    free(c);
    return st;
}

static double trace_of(const double *s, size_t d) {
    double t = 0;
    for (size_t i = 0; i < d; i++)
        t += s[i * d + i];
    return t;
}

/* Var_{p|other}: eigenvectors of c_other (ascending from LAPACK) taken from the top until their
 * eigenvalues reach `fraction` of the trace; sums u^T c_p u over them. */
static tsl_status variance_in_top_subspace(const double *c_p, const double *c_other, size_t d,
                                           double fraction, tsl_analysis_factorization_result *out) {
    double *lambda = malloc(d * sizeof *lambda), *u = malloc(d * d * sizeof *u), *cu = malloc(d * sizeof *cu);
    tsl_status st = TSL_OK;
    if (!lambda || !u || !cu) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu x %zu eigenvectors", OP, d, d);
        goto done;
    }
    st = tsl_stats_symmetric_eigen(c_other, d, lambda, u);
    if (st != TSL_OK)
        goto done;
    double total = 0, kept = 0, inside = 0;
    for (size_t i = 0; i < d; i++)
        total += lambda[i] > 0 ? lambda[i] : 0;
    size_t k = 0;
    for (size_t i = d; i-- > 0 && kept < fraction * total;) {
        kept += lambda[i] > 0 ? lambda[i] : 0;
        k++;
        const double *ui = u + i * d;
        tsl_stats_gemv(false, d, d, 1.0, c_p, ui, 0.0, cu);
        for (size_t j = 0; j < d; j++)
            inside += ui[j] * cu[j];
    }
    out->var_p_in_other = inside;
    out->n_components = k;
done:
    free(lambda), free(u), free(cu);
    return st;
}

tsl_status tsl_analysis_factorization(const double *f_p, size_t n_p, const int32_t *group_p,
                                      const double *f_other, size_t n_other, const int32_t *group_other,
                                      size_t d, double variance_fraction,
                                      tsl_analysis_factorization_result *out) {
    if (!(variance_fraction > 0 && variance_fraction <= 1))
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: variance_fraction %g outside (0, 1]", OP,
                         variance_fraction);
    TSL_TRY(tsl_stats_check_shape(OP, "f_p", n_p, d));
    TSL_TRY(tsl_stats_check_shape(OP, "f_other", n_other, d));
    double *c_p = malloc(d * d * sizeof *c_p), *c_other = malloc(d * d * sizeof *c_other);
    tsl_status st = TSL_OK;
    if (!c_p || !c_other) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu x %zu covariances", OP, d, d);
        goto done;
    }
    st = tsl_analysis_pooled_covariance(f_p, n_p, d, group_p, c_p);
    if (st != TSL_OK) {
        st = tsl_error_context(st, "f_p");
        goto done;
    }
    st = tsl_analysis_pooled_covariance(f_other, n_other, d, group_other, c_other);
    if (st != TSL_OK) {
        st = tsl_error_context(st, "f_other");
        goto done;
    }
    out->var_p = trace_of(c_p, d);
    if (!(out->var_p > 0) || !(trace_of(c_other, d) > 0)) {
        st = tsl_error(TSL_ERR_NUMERIC, "%s: %s has zero variance", OP, out->var_p > 0 ? "f_other" : "f_p");
        goto done;
    }
    st = variance_in_top_subspace(c_p, c_other, d, variance_fraction, out);
    if (st == TSL_OK)
        out->factorization = 1.0 - out->var_p_in_other / out->var_p;
done:
    free(c_p), free(c_other);
    return st;
}
