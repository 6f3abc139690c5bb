/* Confidence intervals for means over splits or pairs: every number in results.json carries its n and a
 * CI. Student-t intervals assume roughly normal values; bootstrap percentile intervals do not, but need
 * more values to be meaningful. */
#ifndef TSL_STATS_CI_H
#define TSL_STATS_CI_H

#include "tsl_status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t n;     /* values */
    double mean;  /* their mean */
    double sd;    /* sample standard deviation (n - 1 denominator) */
    double level; /* coverage, e.g. 0.95 */
    double lo, hi;
} tsl_stats_ci;

/* Quantile of Student's t distribution with `dof` > 0 degrees of freedom at probability p in (0, 1), to
 * ~1e-12 relative (bisection on the CDF from the regularised incomplete beta function). */
tsl_status tsl_stats_t_quantile(double p, double dof, double *q);

/* mean +- t_{(1 + level) / 2, n - 1} sd / sqrt(n). n >= 2, level in (0, 1), finite values. */
tsl_status tsl_stats_ci_t(const double *x, size_t n, double level, tsl_stats_ci *out);

/* Percentile bootstrap: the (1 - level) / 2 and (1 + level) / 2 quantiles (linear interpolation, as
 * numpy.percentile) of the means of n_resamples resamples with replacement, drawn from splitmix64(seed).
 * n >= 2, n_resamples >= 100. */
tsl_status tsl_stats_ci_bootstrap(const double *x, size_t n, double level, size_t n_resamples, uint64_t seed,
                                  tsl_stats_ci *out);

#endif
