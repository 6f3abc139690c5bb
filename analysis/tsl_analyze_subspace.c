#include "tsl_analyze_subspace.h"

#include "tsl_stats_linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const OP = "factorization subspace";

/* A malloc'd copy of x with its column means removed; *sum_sq = its squared Frobenius norm. */
static tsl_status centred_copy(const double *x, size_t n, size_t d, double **out, double *sum_sq) {
    TSL_TRY(tsl_stats_check_finite(OP, "input", x, n * d));
    double *c = malloc(n * d * sizeof *c), *mean = malloc(d * sizeof *mean);
    if (!c || !mean) {
        free(c), free(mean);
        return tsl_error(TSL_ERR_NOMEM, "%s: %zu x %zu copy", OP, n, d);
    }
    tsl_stats_column_means(x, n, d, mean);
    *sum_sq = 0;
    for (size_t i = 0; i < n * d; i++) {
        c[i] = x[i] - mean[i % d];
        *sum_sq += c[i] * c[i];
    }
    free(mean);
    if (!(*sum_sq > 0)) {
        free(c);
        return tsl_error(TSL_ERR_NUMERIC, "%s: a set without variance", OP);
    }
    *out = c;
    return TSL_OK;
}

/* From the n x n Gram matrix G = Xc Xc^T / n: C = Xc^T Xc / n has the same non-zero eigenvalues mu, with
 * unit eigenvectors u = Xc^T v / sqrt(n mu). */
static tsl_status directions(const double *xc, size_t n, size_t d, double fraction, tsl_analyze_subspace *s) {
    double *g = malloc(n * n * sizeof *g), *mu = malloc(n * sizeof *mu), *v = malloc(n * n * sizeof *v);
    s->u = malloc(n * d * sizeof *s->u);
    tsl_status st = g && mu && v && s->u ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "%s: %zu x %zu Gram", OP, n, n);
    if (st == TSL_OK) {
        tsl_stats_gemm(false, true, n, n, d, 1.0 / (double)n, xc, xc, 0.0, g);
        st = tsl_stats_symmetric_eigen(g, n, mu, v);
    }
    double total = 0, kept = 0;
    for (size_t i = 0; i < n && st == TSL_OK; i++)
        total += mu[i] > 0 ? mu[i] : 0;
    for (size_t i = n; st == TSL_OK && i-- > 0 && kept < fraction * total && mu[i] > 0;) {
        kept += mu[i];
        tsl_stats_gemv(true, n, d, 1.0 / sqrt((double)n * mu[i]), xc, v + i * n, 0.0, s->u + s->k * d);
        s->k++;
    }
    free(g), free(mu), free(v);
    return st;
}

tsl_status tsl_analyze_subspace_top(const double *x, size_t n, size_t d, double fraction,
                                    tsl_analyze_subspace *s) {
    *s = (tsl_analyze_subspace){.d = d};
    if (n < 2 || d == 0 || !(fraction > 0 && fraction < 1))
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "%s: need >= 2 rows, d >= 1 and a fraction in (0, 1); got %zu x %zu, %g", OP, n, d,
                         fraction);
    double *xc, sum_sq;
    TSL_TRY(centred_copy(x, n, d, &xc, &sum_sq));
    tsl_status st = directions(xc, n, d, fraction, s);
    free(xc);
    if (st != TSL_OK)
        tsl_analyze_subspace_free(s);
    return st;
}

tsl_status tsl_analyze_subspace_factorization(const tsl_analyze_subspace *s, const double *x_p, size_t n_p,
                                              double *factorization) {
    if (n_p < 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: need >= 2 rows, got %zu", OP, n_p);
    double *xc, var, inside = 0;
    TSL_TRY(centred_copy(x_p, n_p, s->d, &xc, &var));
    double *proj = malloc((n_p * s->k + 1) * sizeof *proj);
    if (!proj) {
        free(xc);
        return tsl_error(TSL_ERR_NOMEM, "%s: projections", OP);
    }
    if (s->k)
        tsl_stats_gemm(false, true, n_p, s->k, s->d, 1.0, xc, s->u, 0.0, proj);
    for (size_t i = 0; i < n_p * s->k; i++)
        inside += proj[i] * proj[i];
    *factorization = 1 - inside / var;
    free(proj);
    free(xc);
    return TSL_OK;
}

void tsl_analyze_subspace_free(tsl_analyze_subspace *s) {
    free(s->u);
    *s = (tsl_analyze_subspace){0};
}
