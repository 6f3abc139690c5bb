/* Elementary statistics shared by the analyses: per-column Pearson r and R^2, medians, log grids, and the
 * deterministic random numbers behind every split (so a seed fixes every reported number). The functions
 * returning tsl_status reject non-finite inputs with TSL_ERR_NUMERIC. */
#ifndef TSL_STATS_BASIC_H
#define TSL_STATS_BASIC_H

#include "tsl_status.h"

#include <stddef.h>
#include <stdint.h>

/* Pearson correlation of columns: for each of the t columns of a and b (both n x t, row-major),
 * r[j] = cov(a_j, b_j) / (sd a_j sd b_j). A column with zero variance gives r = 0 (no linear relation
 * measurable; Brain-Score's scipy-based metric would give NaN, which poisons medians). n >= 2. */
tsl_status tsl_stats_pearson_columns(const double *a, const double *b, size_t n, size_t t, double *r);

/* Coefficient of determination per column, as sklearn.metrics.r2_score(truth, pred,
 * multioutput='raw_values'): r2[j] = 1 - sum (truth - pred)^2 / sum (truth - mean truth)^2; a constant truth
 * column gives 1 when the prediction is exact, else 0 (sklearn's convention). n >= 1. */
tsl_status tsl_stats_r2_columns(const double *truth, const double *pred, size_t n, size_t t, double *r2);

/* Median of n >= 1 values (the mean of the middle two for even n); `x` is not modified. */
tsl_status tsl_stats_median(const double *x, size_t n, double *median);

/* Arithmetic mean of n >= 1 values. */
double tsl_stats_mean(const double *x, size_t n);

/* n >= 2 values logarithmically spaced from lo to hi inclusive (0 < lo <= hi), as numpy.logspace. */
tsl_status tsl_stats_log_grid(double lo, double hi, size_t n, double *out);

/* splitmix64: small, fast, and fully determined by its seed (no global state). */
typedef struct {
    uint64_t state;
} tsl_stats_rng;

tsl_stats_rng tsl_stats_rng_new(uint64_t seed);
uint64_t tsl_stats_rng_u64(tsl_stats_rng *rng);
/* Uniform integer in [0, n), n >= 1 (rejection sampling: unbiased). */
size_t tsl_stats_rng_below(tsl_stats_rng *rng, size_t n);
/* Uniform in [0, 1) with 53 random bits. */
double tsl_stats_rng_uniform(tsl_stats_rng *rng);
/* Fisher-Yates shuffle of n indices. */
void tsl_stats_shuffle(tsl_stats_rng *rng, size_t *idx, size_t n);

#endif
