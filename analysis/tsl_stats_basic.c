#include "tsl_stats_basic.h"

#include "tsl_stats_linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tsl_status tsl_stats_pearson_columns(const double *a, const double *b, size_t n, size_t t, double *r) {
    if (n < 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "pearson: needs at least 2 samples, got %zu", n);
    TSL_TRY(tsl_stats_check_finite("pearson", "a", a, n * t));
    TSL_TRY(tsl_stats_check_finite("pearson", "b", b, n * t));
    for (size_t j = 0; j < t; j++) {
        double ma = 0, mb = 0;
        for (size_t i = 0; i < n; i++)
            ma += a[i * t + j], mb += b[i * t + j];
        ma /= (double)n, mb /= (double)n;
        double sab = 0, saa = 0, sbb = 0;
        for (size_t i = 0; i < n; i++) {
            double da = a[i * t + j] - ma, db = b[i * t + j] - mb;
            sab += da * db, saa += da * da, sbb += db * db;
        }
        r[j] = (saa > 0 && sbb > 0) ? sab / sqrt(saa * sbb) : 0.0;
    }
    return TSL_OK;
}

tsl_status tsl_stats_r2_columns(const double *truth, const double *pred, size_t n, size_t t, double *r2) {
    if (n < 1)
        return tsl_error(TSL_ERR_INVALID_ARG, "r2: needs at least 1 sample");
    TSL_TRY(tsl_stats_check_finite("r2", "truth", truth, n * t));
    TSL_TRY(tsl_stats_check_finite("r2", "pred", pred, n * t));
    for (size_t j = 0; j < t; j++) {
        double m = 0;
        for (size_t i = 0; i < n; i++)
            m += truth[i * t + j];
        m /= (double)n;
        double ss_res = 0, ss_tot = 0;
        for (size_t i = 0; i < n; i++) {
            double e = truth[i * t + j] - pred[i * t + j], c = truth[i * t + j] - m;
            ss_res += e * e, ss_tot += c * c;
        }
        r2[j] = ss_tot > 0 ? 1.0 - ss_res / ss_tot : (ss_res == 0 ? 1.0 : 0.0);
    }
    return TSL_OK;
}

static int compare_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

tsl_status tsl_stats_median(const double *x, size_t n, double *median) {
    if (n == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "median: no values");
    TSL_TRY(tsl_stats_check_finite("median", "x", x, n));
    double *s = malloc(n * sizeof *s);
    if (!s)
        return tsl_error(TSL_ERR_NOMEM, "median: %zu values", n);
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, compare_double);
    *median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return TSL_OK;
}

double tsl_stats_mean(const double *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return n ? s / (double)n : 0.0;
}

tsl_status tsl_stats_log_grid(double lo, double hi, size_t n, double *out) {
    if (n < 2 || !(lo > 0) || !(hi >= lo) || !isfinite(hi))
        return tsl_error(TSL_ERR_INVALID_ARG, "log grid: needs n >= 2 and 0 < lo <= hi, got n %zu, [%g, %g]",
                         n, lo, hi);
    double a = log10(lo), b = log10(hi);
    for (size_t i = 0; i < n; i++)
        out[i] = pow(10.0, a + (b - a) * (double)i / (double)(n - 1));
    return TSL_OK;
}

tsl_stats_rng tsl_stats_rng_new(uint64_t seed) {
    return (tsl_stats_rng){seed};
}

uint64_t tsl_stats_rng_u64(tsl_stats_rng *rng) {
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

size_t tsl_stats_rng_below(tsl_stats_rng *rng, size_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* values >= limit would bias the modulo */
    uint64_t v;
    do
        v = tsl_stats_rng_u64(rng);
    while (v >= limit);
    return (size_t)(v % n);
}

double tsl_stats_rng_uniform(tsl_stats_rng *rng) {
    return (double)(tsl_stats_rng_u64(rng) >> 11) * 0x1.0p-53;
}

void tsl_stats_shuffle(tsl_stats_rng *rng, size_t *idx, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = tsl_stats_rng_below(rng, i);
        size_t tmp = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = tmp;
    }
}
