/* Linear probe: multinomial (softmax) logistic regression with an L2 penalty on the weights (not the
 * biases), trained by full-batch L-BFGS; top-1 accuracy on held-out features.
 *
 * Objective: mean over samples of the cross-entropy + (l2 / 2) ||W||_F^2. sklearn's
 * LogisticRegression(multi_class='multinomial', C=C) minimises C * sum CE + ||W||^2 / 2, the same optimum
 * for l2 = 1 / (C n). The problem is strictly convex in W (l2 > 0); the probabilities are unique. */
#ifndef TSL_STATS_LOGREG_H
#define TSL_STATS_LOGREG_H

#include "tsl_status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    double l2;        /* > 0 */
    size_t max_iter;  /* L-BFGS iterations (default 1000) */
    double tol;       /* stop when max |gradient| <= tol (default 1e-8) */
    bool standardize; /* standardise features on the training set first (default true) */
    size_t history;   /* L-BFGS memory (default 10) */
} tsl_stats_logreg_options;

void tsl_stats_logreg_options_default(tsl_stats_logreg_options *options);

typedef struct {
    size_t d, n_classes;
    double *weights; /* n_classes x d, acting on standardised features when x_mean is set */
    double *bias;    /* n_classes */
    double *x_mean;  /* d, or NULL (no standardisation) */
    double *x_scale; /* d, or NULL */
    size_t iterations;
    double grad_max; /* max |gradient| at the end */
    bool converged;  /* grad_max <= tol within max_iter; when false the model is the last iterate */
} tsl_stats_logreg_model;

/* Fits x (n x d) with labels[n] in [0, n_classes), n_classes >= 2. Errors: TSL_ERR_INVALID_ARG (shapes,
 * label out of range, options), TSL_ERR_NUMERIC (non-finite input), TSL_ERR_NOMEM. */
tsl_status tsl_stats_logreg_fit(const double *x, const int32_t *labels, size_t n, size_t d, size_t n_classes,
                                const tsl_stats_logreg_options *options, tsl_stats_logreg_model *model);

/* Class probabilities proba (n x n_classes) of x (n x d). */
tsl_status tsl_stats_logreg_predict_proba(const tsl_stats_logreg_model *model, const double *x, size_t n,
                                          size_t d, double *proba);

/* Fraction of rows whose most probable class (the first on ties) equals labels[i]. */
tsl_status tsl_stats_logreg_accuracy(const tsl_stats_logreg_model *model, const double *x,
                                     const int32_t *labels, size_t n, size_t d, double *top1);

void tsl_stats_logreg_model_free(tsl_stats_logreg_model *model);

/* Linear probe: fit on (x_train, y_train), top-1 on (x_val, y_val). *converged reports the fit's flag. */
tsl_status tsl_stats_linear_probe(const double *x_train, const int32_t *y_train, size_t n_train,
                                  const double *x_val, const int32_t *y_val, size_t n_val, size_t d,
                                  size_t n_classes, const tsl_stats_logreg_options *options, double *top1,
                                  bool *converged);

#endif
