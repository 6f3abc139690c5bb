/* Brain-Score-style neural predictivity (brain-score/vision metrics regression_correlation and
 * internal_consistency; paper Figure 1 panel 1).
 *
 * Predictivity: n_splits random train/test splits of the stimuli (test_fraction held out, stratified by
 * object label when labels are given); per split a PLS regression (n_components, no scaling) from the
 * model's features to the trial-averaged responses is fitted on the training stimuli, the Pearson r per
 * neuroid is taken on the test stimuli, and its median over neuroids is the split's score; the score is
 * the mean over splits. Splits come from splitmix64 seeded by `seed`: deterministic, but not the same
 * stimuli as Brain-Score's numpy StratifiedShuffleSplit(random_state=1).
 *
 * Ceiling: split the trials (repetitions) in half at random (the same halves for every stimulus),
 * average within halves, Pearson r per neuroid across stimuli, Spearman-Brown 2r / (1 + r), median over
 * neuroids, mean over n_splits such splits. */
#ifndef TSL_ANALYSIS_PREDICTIVITY_H
#define TSL_ANALYSIS_PREDICTIVITY_H

#include "tsl_status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t n_splits;      /* 10 */
    double test_fraction; /* 0.1: ceil(test_fraction * n) test stimuli, as sklearn's ShuffleSplit */
    size_t n_components;  /* 25 */
    uint64_t seed;        /* 1 */
} tsl_analysis_predictivity_options;

void tsl_analysis_predictivity_options_default(tsl_analysis_predictivity_options *options);

/* Deterministic split of n items into n_test = ceil(test_fraction * n) test and n - n_test training items
 * (both at least 1). With labels (n ints, or NULL), each label gets floor(n_c * n_test / n) test items and
 * the remaining test items go to the labels with the largest remainders (first label on ties), its items
 * chosen at random. train (n - n_test) and test (n_test) receive sorted indices. */
tsl_status tsl_analysis_train_test_split(size_t n, const int32_t *labels, double test_fraction, uint64_t seed,
                                         size_t *train, size_t *test, size_t *n_test);

/* Predictivity of features (n x d) for responses (n x n_neuroids, trial-averaged), labels NULL or n ints.
 * *score = mean over splits of the median r; split_scores (NULL or n_splits) receives each split's median.
 * Errors: TSL_ERR_INVALID_ARG (shapes, options, too few stimuli: each split needs >= 2 test stimuli and
 * n_components <= d), TSL_ERR_NUMERIC (non-finite input), TSL_ERR_NOMEM. */
tsl_status tsl_analysis_predictivity(const double *features, size_t n, size_t d, const double *responses,
                                     size_t n_neuroids, const int32_t *labels,
                                     const tsl_analysis_predictivity_options *options, double *score,
                                     double *split_scores);

/* Split-half ceiling of trial-level responses (n_stimuli x n_trials x n_neuroids, row-major; NaN marks a
 * trial not recorded: each half averages the recorded trials, and a neuroid's r is taken over the stimuli
 * recorded in both halves, at least 2), n_trials >= 2 (an odd trial goes to the second half), n_stimuli >= 2.
 * split_values (NULL or n_splits) receives each split's median corrected consistency. */
tsl_status tsl_analysis_split_half_ceiling(const double *trials, size_t n_stimuli, size_t n_trials,
                                           size_t n_neuroids, size_t n_splits, uint64_t seed, double *ceiling,
                                           double *split_values);

typedef enum {
    TSL_ANALYSIS_CEILED_R2_OVER_CEILING = 0, /* r^2 / ceiling: Brain-Score since 2026-01 */
    TSL_ANALYSIS_CEILED_RATIO_SQUARED,       /* (r / ceiling)^2: Brain-Score until 2026-01 */
} tsl_analysis_ceiling_rule;

/* The ceiled score of a raw predictivity r under `rule`. TSL_ERR_INVALID_ARG for ceiling <= 0 or an
 * unknown rule. */
tsl_status tsl_analysis_ceiled_score(double r, double ceiling, tsl_analysis_ceiling_rule rule,
                                     double *ceiled);

#endif
