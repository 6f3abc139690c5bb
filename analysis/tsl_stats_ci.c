#include "tsl_stats_ci.h"

#include "tsl_stats_basic.h"
#include "tsl_stats_linalg.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* Continued fraction of the incomplete beta function (modified Lentz), converging for x < (a+1)/(a+b+2). */
static double beta_continued_fraction(double a, double b, double x) {
    const double tiny = 1e-300;
    double c = 1.0, dd = 1.0 - (a + b) * x / (a + 1.0);
    dd = fabs(dd) < tiny ? tiny : dd;
    dd = 1.0 / dd;
    double h = dd;
    for (int m = 1; m <= 1000; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        for (int pass = 0; pass < 2; pass++) {
            dd = 1.0 + num * dd;
            dd = fabs(dd) < tiny ? tiny : dd;
            c = 1.0 + num / c;
            c = fabs(c) < tiny ? tiny : c;
            dd = 1.0 / dd;
            double delta = dd * c;
            h *= delta;
            if (pass == 1 && fabs(delta - 1.0) < 1e-15)
                return h;
            num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        }
    }
    return h;
}

/* Regularised incomplete beta I_x(a, b). */
static double incomplete_beta(double a, double b, double x) {
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1.0) / (a + b + 2.0))
        return front * beta_continued_fraction(a, b, x) / a;
    return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

/* P(T <= t) for Student's t with `dof` degrees of freedom. */
static double t_cdf(double t, double dof) {
    double tail = 0.5 * incomplete_beta(0.5 * dof, 0.5, dof / (dof + t * t));
    return t >= 0 ? 1.0 - tail : tail;
}

tsl_status tsl_stats_t_quantile(double p, double dof, double *q) {
    if (!(p > 0 && p < 1) || !(dof > 0) || !isfinite(dof))
        return tsl_error(TSL_ERR_INVALID_ARG, "t quantile: needs p in (0, 1) and dof > 0, got %g, %g", p,
                         dof);
    double lo = -1.0, hi = 1.0;
    while (t_cdf(lo, dof) > p)
        lo *= 2.0;
    while (t_cdf(hi, dof) < p)
        hi *= 2.0;
    for (int i = 0; i < 200 && hi - lo > 1e-14 * fmax(1.0, fabs(hi)); i++) {
        double mid = 0.5 * (lo + hi);
        if (t_cdf(mid, dof) < p)
            lo = mid;
        else
            hi = mid;
    }
    *q = 0.5 * (lo + hi);
    return TSL_OK;
}

static tsl_status ci_check(const char *op, const double *x, size_t n, double level) {
    if (n < 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: needs >= 2 values, got %zu", op, n);
    if (!(level > 0 && level < 1))
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: level %g outside (0, 1)", op, level);
    return tsl_stats_check_finite(op, "values", x, n);
}

static void mean_sd(const double *x, size_t n, tsl_stats_ci *out) {
    out->n = n;
    out->mean = tsl_stats_mean(x, n);
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - out->mean) * (x[i] - out->mean);
    out->sd = sqrt(ss / (double)(n - 1));
}

tsl_status tsl_stats_ci_t(const double *x, size_t n, double level, tsl_stats_ci *out) {
    TSL_TRY(ci_check("t interval", x, n, level));
    mean_sd(x, n, out);
    double q = 0;
    TSL_TRY(tsl_stats_t_quantile(0.5 * (1.0 + level), (double)(n - 1), &q));
    double half = q * out->sd / sqrt((double)n);
    out->level = level;
    out->lo = out->mean - half;
    out->hi = out->mean + half;
    return TSL_OK;
}

static int compare_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* numpy.percentile's default (linear) on sorted values. */
static double sorted_quantile(const double *s, size_t m, double q) {
    double pos = q * (double)(m - 1);
    size_t i = (size_t)floor(pos);
    if (i + 1 >= m)
        return s[m - 1];
    double frac = pos - (double)i;
    return s[i] + frac * (s[i + 1] - s[i]);
}

tsl_status tsl_stats_ci_bootstrap(const double *x, size_t n, double level, size_t n_resamples, uint64_t seed,
                                  tsl_stats_ci *out) {
    TSL_TRY(ci_check("bootstrap interval", x, n, level));
    if (n_resamples < 100)
        return tsl_error(TSL_ERR_INVALID_ARG, "bootstrap interval: %zu resamples (needs >= 100)",
                         n_resamples);
    double *means = malloc(n_resamples * sizeof *means);
    if (!means)
        return tsl_error(TSL_ERR_NOMEM, "bootstrap interval: %zu resamples", n_resamples);
    tsl_stats_rng rng = tsl_stats_rng_new(seed);
    for (size_t b = 0; b < n_resamples; b++) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += x[tsl_stats_rng_below(&rng, n)];
        means[b] = s / (double)n;
    }
    qsort(means, n_resamples, sizeof *means, compare_double);
    mean_sd(x, n, out);
    out->level = level;
    out->lo = sorted_quantile(means, n_resamples, 0.5 * (1.0 - level));
    out->hi = sorted_quantile(means, n_resamples, 0.5 * (1.0 + level));
    free(means);
    return TSL_OK;
}
