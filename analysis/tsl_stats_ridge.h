/* Ridge regression with the penalty chosen by k-fold cross-validation (augmentation decoding, paper
 * Figure 1 panel 3).
 *
 * Semantics of sklearn GridSearchCV(Pipeline([StandardScaler(), Ridge(alpha)]), {alpha: grid},
 * cv=KFold(k)) with the default scorer (R^2 averaged uniformly over targets): for each alpha and each of
 * the k contiguous folds (the first n % k folds one sample longer, no shuffling: shuffle the rows
 * beforehand if their order is structured), standardise the features on the training part (population
 * standard deviation; a constant feature keeps scale 1), fit Ridge with an intercept (features and targets
 * centred on the training part), score R^2 on the held-out fold; the chosen alpha has the highest mean
 * score (the first on ties); the final model is refitted on all n samples with it. */
#ifndef TSL_STATS_RIDGE_H
#define TSL_STATS_RIDGE_H

#include "tsl_status.h"

#include <stddef.h>

typedef struct {
    const double *alphas; /* the grid, each > 0 (tsl_stats_log_grid makes one) */
    size_t n_alphas;      /* >= 1 */
    size_t folds;         /* k >= 2, k <= n */
} tsl_stats_ridge_cv_options;

/* A fitted model, in raw feature units: y = x coef + intercept. Owned arrays, freed by
 * tsl_stats_ridge_model_free. */
typedef struct {
    size_t d, t;
    double alpha;      /* the chosen penalty */
    double *coef;      /* d x t, row-major */
    double *intercept; /* t */
    double *cv_scores; /* n_alphas mean held-out R^2 per alpha (NULL for tsl_stats_ridge_fit) */
    size_t n_alphas;
} tsl_stats_ridge_model;

/* Fits x (n x d) -> y (n x t) with a fixed alpha > 0 (standardising x, fitting the intercept). */
tsl_status tsl_stats_ridge_fit(const double *x, const double *y, size_t n, size_t d, size_t t, double alpha,
                               tsl_stats_ridge_model *model);

/* Chooses alpha by k-fold CV (see above) and refits on all data. Needs n >= 2 samples per training part
 * and >= 1 per fold. Errors: TSL_ERR_INVALID_ARG (shapes, grid, folds), TSL_ERR_NUMERIC (non-finite
 * input), TSL_ERR_NOMEM. On error `model` holds no memory. */
tsl_status tsl_stats_ridge_cv_fit(const double *x, const double *y, size_t n, size_t d, size_t t,
                                  const tsl_stats_ridge_cv_options *options, tsl_stats_ridge_model *model);

/* y_out (n x t) = x (n x d) coef + intercept. */
tsl_status tsl_stats_ridge_predict(const tsl_stats_ridge_model *model, const double *x, size_t n, size_t d,
                                   double *y_out);

void tsl_stats_ridge_model_free(tsl_stats_ridge_model *model);

/* Augmentation decoding: RidgeCV on (x_train, y_train), prediction of x_test, and per target (column of y)
 * the Pearson r[t] and R^2 r2[t] between y_test and the prediction (n_test >= 2). `model` may be NULL
 * (else it receives the fitted model, freed by the caller). */
tsl_status tsl_stats_ridge_cv_evaluate(const double *x_train, const double *y_train, size_t n_train,
                                       const double *x_test, const double *y_test, size_t n_test, size_t d,
                                       size_t t, const tsl_stats_ridge_cv_options *options, double *r,
                                       double *r2, tsl_stats_ridge_model *model);

#endif
