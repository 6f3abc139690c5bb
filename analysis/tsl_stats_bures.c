#include "tsl_stats_bures.h"

#include "tsl_stats_linalg.h"

#include <math.h>
#include <stdlib.h>

static const char *const OP = "bures";

static void bures_from_fidelity(double f, tsl_stats_bures *out) {
    /* Rounding can push F a hair above 1 for identical inputs. */
    if (f > 1.0)
        f = 1.0;
    if (f < 0.0)
        f = 0.0;
    out->fidelity = f;
    out->distance_sq = 2.0 - 2.0 * f;
    out->distance = sqrt(out->distance_sq);
}

/* sum_i sqrt(max(mu_i, 0)) over the eigenvalues mu of S1^1/2 S2 S1^1/2: the fidelity's numerator. */
static tsl_status sqrt_product_trace(const double *s1, const double *s2, size_t d, double *trace) {
    double *r = malloc(d * d * sizeof *r), *t = malloc(d * d * sizeof *t), *m = malloc(d * d * sizeof *m);
    double *mu = malloc(d * sizeof *mu);
    tsl_status st = TSL_OK;
    if (!r || !t || !m || !mu) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu x %zu workspace", OP, d, d);
        goto done;
    }
    st = tsl_stats_psd_sqrt(s1, d, r);
    if (st != TSL_OK)
        goto done;
    tsl_stats_gemm(false, false, d, d, d, 1.0, r, s2, 0.0, t);
    tsl_stats_gemm(false, false, d, d, d, 1.0, t, r, 0.0, m);
    for (size_t i = 0; i < d; i++) /* symmetrise away rounding before the symmetric solver */
        for (size_t j = 0; j < i; j++)
            m[i * d + j] = m[j * d + i] = 0.5 * (m[i * d + j] + m[j * d + i]);
    st = tsl_stats_symmetric_eigen(m, d, mu, NULL);
    if (st != TSL_OK)
        goto done;
    double sum = 0;
    for (size_t i = 0; i < d; i++)
        sum += sqrt(mu[i] > 0 ? mu[i] : 0);
    *trace = sum;
done:
    free(r), free(t), free(m), free(mu);
    return st;
}

static double trace_of(const double *s, size_t d) {
    double t = 0;
    for (size_t i = 0; i < d; i++)
        t += s[i * d + i];
    return t;
}

static tsl_status check_covariance(const char *what, const double *s, size_t d) {
    TSL_TRY(tsl_stats_check_finite(OP, what, s, d * d));
    double tr = trace_of(s, d);
    if (!(tr > 0))
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %s has trace %g (needs a positive trace)", OP, what, tr);
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < i; j++)
            if (fabs(s[i * d + j] - s[j * d + i]) > 1e-10 * tr)
                return tsl_error(TSL_ERR_INVALID_ARG, "%s: %s is not symmetric at (%zu, %zu): %g vs %g", OP,
                                 what, i, j, s[i * d + j], s[j * d + i]);
    double *lambda = malloc(d * sizeof *lambda);
    if (!lambda)
        return tsl_error(TSL_ERR_NOMEM, "%s: eigenvalues of %s", OP, what);
    tsl_status st = tsl_stats_symmetric_eigen(s, d, lambda, NULL);
    if (st == TSL_OK && lambda[0] < -1e-10 * tr)
        st = tsl_error(TSL_ERR_INVALID_ARG, "%s: %s is not positive semidefinite (eigenvalue %g, trace %g)",
                       OP, what, lambda[0], tr);
    free(lambda);
    return st;
}

tsl_status tsl_stats_bures_covariance(const double *s1, const double *s2, size_t d, tsl_stats_bures *out) {
    TSL_TRY(tsl_stats_check_shape(OP, "covariance", d, d));
    TSL_TRY(check_covariance("s1", s1, d));
    TSL_TRY(check_covariance("s2", s2, d));
    double num = 0;
    TSL_TRY(sqrt_product_trace(s1, s2, d, &num));
    bures_from_fidelity(num / sqrt(trace_of(s1, d) * trace_of(s2, d)), out);
    return TSL_OK;
}

/* ||X1 X2^T||_*: singular values of the n1 x n2 product. */
static tsl_status nuclear_norm_product(const double *x1, size_t n1, const double *x2, size_t n2, size_t d,
                                       double *nuclear) {
    size_t k = n1 < n2 ? n1 : n2;
    double *p = malloc(n1 * n2 * sizeof *p), *sv = malloc(k * sizeof *sv);
    tsl_status st = TSL_OK;
    if (!p || !sv) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu x %zu product", OP, n1, n2);
    } else {
        tsl_stats_gemm(false, true, n1, n2, d, 1.0, x1, x2, 0.0, p);
        st = tsl_stats_singular_values(p, n1, n2, sv);
        double sum = 0;
        for (size_t i = 0; st == TSL_OK && i < k; i++)
            sum += sv[i];
        *nuclear = sum;
    }
    free(p), free(sv);
    return st;
}

/* The same nuclear norm as tr[(S1^1/2 S2 S1^1/2)^1/2] with S = X^T X (d x d). */
static tsl_status nuclear_norm_covariance(const double *x1, size_t n1, const double *x2, size_t n2, size_t d,
                                          double *nuclear) {
    double *s1 = malloc(d * d * sizeof *s1), *s2 = malloc(d * d * sizeof *s2);
    tsl_status st;
    if (!s1 || !s2) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu x %zu covariances", OP, d, d);
    } else {
        tsl_stats_gemm(true, false, d, d, n1, 1.0, x1, x1, 0.0, s1);
        tsl_stats_gemm(true, false, d, d, n2, 1.0, x2, x2, 0.0, s2);
        st = sqrt_product_trace(s1, s2, d, nuclear);
    }
    free(s1), free(s2);
    return st;
}

/* Rough flop counts (SVD ~ 10 m n min(m, n), symmetric eigen ~ 10 d^3, three of them plus products). */
static tsl_stats_bures_route cheaper_route(size_t n1, size_t n2, size_t d) {
    double a = (double)n1, b = (double)n2, k = a < b ? a : b, dd = (double)d;
    double product = a * b * dd + 10.0 * a * b * k;
    double covariance = (a + b) * dd * dd + 35.0 * dd * dd * dd;
    return product <= covariance ? TSL_STATS_BURES_PRODUCT : TSL_STATS_BURES_COVARIANCE;
}

static double frobenius(const double *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

tsl_status tsl_stats_bures_data(const double *x1, size_t n1, const double *x2, size_t n2, size_t d,
                                tsl_stats_bures_route route, tsl_stats_bures *out) {
    TSL_TRY(tsl_stats_check_shape(OP, "x1", n1, d));
    TSL_TRY(tsl_stats_check_shape(OP, "x2", n2, d));
    if (n1 < 2 || n2 < 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: a covariance needs >= 2 samples, got n1 %zu, n2 %zu", OP,
                         n1, n2);
    if (route != TSL_STATS_BURES_AUTO && route != TSL_STATS_BURES_PRODUCT &&
        route != TSL_STATS_BURES_COVARIANCE)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: unknown route %d", OP, (int)route);
    TSL_TRY(tsl_stats_check_finite(OP, "x1", x1, n1 * d));
    TSL_TRY(tsl_stats_check_finite(OP, "x2", x2, n2 * d));
    double *c1 = tsl_stats_centered_copy(x1, n1, d), *c2 = tsl_stats_centered_copy(x2, n2, d);
    tsl_status st = TSL_OK;
    if (!c1 || !c2) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: centring %zu + %zu samples of %zu features", OP, n1, n2, d);
        goto done;
    }
    double f1 = frobenius(c1, n1 * d), f2 = frobenius(c2, n2 * d);
    if (!(f1 > 0) || !(f2 > 0)) {
        st = tsl_error(TSL_ERR_NUMERIC, "%s: sample %d has zero variance (cannot trace-normalise)", OP,
                       f1 > 0 ? 2 : 1);
        goto done;
    }
    if (route == TSL_STATS_BURES_AUTO)
        route = cheaper_route(n1, n2, d);
    double nuclear = 0;
    st = route == TSL_STATS_BURES_PRODUCT ? nuclear_norm_product(c1, n1, c2, n2, d, &nuclear)
                                          : nuclear_norm_covariance(c1, n1, c2, n2, d, &nuclear);
    if (st == TSL_OK)
        bures_from_fidelity(nuclear / (f1 * f2), out);
done:
    free(c1), free(c2);
    return st;
}
