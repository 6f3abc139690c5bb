#include "tsl_stats_ridge.h"

#include "tsl_stats_basic.h"
#include "tsl_stats_linalg.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const OP = "ridge";

void tsl_stats_ridge_model_free(tsl_stats_ridge_model *model) {
    free(model->coef), free(model->intercept), free(model->cv_scores);
    *model = (tsl_stats_ridge_model){0};
}

/* Training-part statistics: feature means and scales (sklearn StandardScaler: population sd, 1 for a
 * constant feature) and target means. */
typedef struct {
    double *x_mean, *x_scale, *y_mean;
} standardiser;

static void standardiser_free(standardiser *s) {
    free(s->x_mean), free(s->x_scale), free(s->y_mean);
}

static tsl_status standardiser_fit(const double *x, const double *y, size_t n, size_t d, size_t t,
                                   standardiser *s) {
    s->x_mean = malloc(d * sizeof(double)), s->x_scale = malloc(d * sizeof(double));
    s->y_mean = malloc(t * sizeof(double));
    if (!s->x_mean || !s->x_scale || !s->y_mean) {
        standardiser_free(s);
        return tsl_error(TSL_ERR_NOMEM, "%s: standardising %zu features", OP, d);
    }
    tsl_stats_column_means(x, n, d, s->x_mean);
    tsl_stats_column_means(y, n, t, s->y_mean);
    for (size_t j = 0; j < d; j++) {
        double v = 0;
        for (size_t i = 0; i < n; i++) {
            double c = x[i * d + j] - s->x_mean[j];
            v += c * c;
        }
        v /= (double)n;
        /* sklearn's _is_constant_feature: a variance within rounding of zero keeps scale 1. */
        double nn = (double)n, mean_eps = nn * s->x_mean[j] * DBL_EPSILON;
        bool constant = v <= nn * DBL_EPSILON * v + mean_eps * mean_eps;
        s->x_scale[j] = constant ? 1.0 : sqrt(v);
    }
    return TSL_OK;
}

/* Rows `rows` of x standardised and of y centred, into xs (m x d) and yc (m x t). */
static void standardise_rows(const standardiser *s, const double *x, const double *y, const size_t *rows,
                             size_t m, size_t d, size_t t, double *xs, double *yc) {
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < d; j++)
            xs[i * d + j] = (x[rows[i] * d + j] - s->x_mean[j]) / s->x_scale[j];
        for (size_t j = 0; j < t; j++)
            yc[i * t + j] = y[rows[i] * t + j] - s->y_mean[j];
    }
}

/* Ridge solutions w_a (d x t each, into w[a * d * t]) for every alpha, on standardised xs (m x d) and
 * centred yc (m x t), through one eigendecomposition of the smaller Gram matrix:
 *   m >= d: w = V diag(1 / (lambda + alpha)) V^T xs^T yc with xs^T xs = V diag(lambda) V^T;
 *   m <  d: w = xs^T U diag(1 / (lambda + alpha)) U^T yc with xs xs^T = U diag(lambda) U^T. */
static tsl_status ridge_solve_all(const double *xs, const double *yc, size_t m, size_t d, size_t t,
                                  const double *alphas, size_t n_alphas, double *w) {
    bool primal = m >= d;
    size_t g = primal ? d : m;
    double *gram = malloc(g * g * sizeof *gram), *vec = malloc(g * g * sizeof *vec);
    double *lambda = malloc(g * sizeof *lambda), *rhs = malloc(g * t * sizeof *rhs);
    double *proj = malloc(g * t * sizeof *proj), *dual = malloc(g * t * sizeof *dual);
    tsl_status st = TSL_OK;
    if (!gram || !vec || !lambda || !rhs || !proj || !dual) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu x %zu Gram matrix", OP, g, g);
        goto done;
    }
    if (primal) {
        tsl_stats_gemm(true, false, d, d, m, 1.0, xs, xs, 0.0, gram);
        tsl_stats_gemm(true, false, d, t, m, 1.0, xs, yc, 0.0, rhs);
    } else {
        tsl_stats_gemm(false, true, m, m, d, 1.0, xs, xs, 0.0, gram);
        memcpy(rhs, yc, m * t * sizeof *rhs);
    }
    st = tsl_stats_symmetric_eigen(gram, g, lambda, vec);
    if (st != TSL_OK)
        goto done;
    tsl_stats_gemm(false, false, g, t, g, 1.0, vec, rhs, 0.0, proj); /* rows of vec are eigenvectors */
    for (size_t a = 0; a < n_alphas; a++) {
        for (size_t i = 0; i < g; i++) {
            double inv = 1.0 / ((lambda[i] > 0 ? lambda[i] : 0) + alphas[a]);
            for (size_t j = 0; j < t; j++)
                proj[i * t + j] *= inv;
        }
        double *wa = w + a * d * t;
        if (primal) {
            tsl_stats_gemm(true, false, d, t, d, 1.0, vec, proj, 0.0, wa);
        } else {
            tsl_stats_gemm(true, false, m, t, m, 1.0, vec, proj, 0.0, dual);
            tsl_stats_gemm(true, false, d, t, m, 1.0, xs, dual, 0.0, wa);
        }
        for (size_t i = 0; i < g; i++) { /* undo the scaling for the next alpha */
            double s = (lambda[i] > 0 ? lambda[i] : 0) + alphas[a];
            for (size_t j = 0; j < t; j++)
                proj[i * t + j] *= s;
        }
    }
done:
    free(gram), free(vec), free(lambda), free(rhs), free(proj), free(dual);
    return st;
}

static tsl_status check_inputs(const double *x, const double *y, size_t n, size_t d, size_t t) {
    TSL_TRY(tsl_stats_check_shape(OP, "x", n, d));
    TSL_TRY(tsl_stats_check_shape(OP, "y", n, t));
    TSL_TRY(tsl_stats_check_finite(OP, "x", x, n * d));
    TSL_TRY(tsl_stats_check_finite(OP, "y", y, n * t));
    return TSL_OK;
}

/* Fits on rows `rows` (m of them) for every alpha; w receives n_alphas standardised solutions. */
static tsl_status fit_rows(const double *x, const double *y, const size_t *rows, size_t m, size_t d, size_t t,
                           const double *alphas, size_t n_alphas, standardiser *s, double *w) {
    double *sub_x = malloc(m * d * sizeof *sub_x), *sub_y = malloc(m * t * sizeof *sub_y);
    double *xs = malloc(m * d * sizeof *xs), *yc = malloc(m * t * sizeof *yc);
    tsl_status st = TSL_OK;
    *s = (standardiser){0};
    if (!sub_x || !sub_y || !xs || !yc) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu training samples", OP, m);
        goto done;
    }
    for (size_t i = 0; i < m; i++) {
        memcpy(sub_x + i * d, x + rows[i] * d, d * sizeof *sub_x);
        memcpy(sub_y + i * t, y + rows[i] * t, t * sizeof *sub_y);
    }
    st = standardiser_fit(sub_x, sub_y, m, d, t, s);
    if (st != TSL_OK)
        goto done;
    standardise_rows(s, x, y, rows, m, d, t, xs, yc);
    st = ridge_solve_all(xs, yc, m, d, t, alphas, n_alphas, w);
    if (st != TSL_OK)
        standardiser_free(s);
done:
    free(sub_x), free(sub_y), free(xs), free(yc);
    return st;
}

/* Folds the standardisation into raw-unit coefficients: coef = w / scale, intercept = y_mean - x_mean coef.
 */
static tsl_status model_from_solution(const standardiser *s, const double *w, size_t d, size_t t,
                                      double alpha, tsl_stats_ridge_model *model) {
    *model = (tsl_stats_ridge_model){.d = d, .t = t, .alpha = alpha};
    model->coef = malloc(d * t * sizeof(double));
    model->intercept = malloc(t * sizeof(double));
    if (!model->coef || !model->intercept) {
        tsl_stats_ridge_model_free(model);
        return tsl_error(TSL_ERR_NOMEM, "%s: %zu x %zu coefficients", OP, d, t);
    }
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < t; j++)
            model->coef[i * t + j] = w[i * t + j] / s->x_scale[i];
    for (size_t j = 0; j < t; j++) {
        double b = s->y_mean[j];
        for (size_t i = 0; i < d; i++)
            b -= s->x_mean[i] * model->coef[i * t + j];
        model->intercept[j] = b;
    }
    return TSL_OK;
}

static size_t *identity_rows(size_t n) {
    size_t *rows = malloc(n * sizeof *rows);
    for (size_t i = 0; rows && i < n; i++)
        rows[i] = i;
    return rows;
}

tsl_status tsl_stats_ridge_fit(const double *x, const double *y, size_t n, size_t d, size_t t, double alpha,
                               tsl_stats_ridge_model *model) {
    *model = (tsl_stats_ridge_model){0};
    TSL_TRY(check_inputs(x, y, n, d, t));
    if (!(alpha > 0) || !isfinite(alpha))
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: alpha must be positive and finite, got %g", OP, alpha);
    size_t *rows = identity_rows(n);
    double *w = malloc(d * t * sizeof *w);
    standardiser s = {0};
    tsl_status st = TSL_OK;
    if (!rows || !w)
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu samples", OP, n);
    if (st == TSL_OK)
        st = fit_rows(x, y, rows, n, d, t, &alpha, 1, &s, w);
    if (st == TSL_OK) {
        st = model_from_solution(&s, w, d, t, alpha, model);
        standardiser_free(&s);
    }
    free(rows), free(w);
    return st;
}

tsl_status tsl_stats_ridge_predict(const tsl_stats_ridge_model *model, const double *x, size_t n, size_t d,
                                   double *y_out) {
    if (!model->coef || d != model->d)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: predict: x has %zu features, the model %zu%s", OP, d,
                         model->d, model->coef ? "" : " (model not fitted)");
    TSL_TRY(tsl_stats_check_shape(OP, "x", n, d));
    TSL_TRY(tsl_stats_check_finite(OP, "x", x, n * d));
    for (size_t i = 0; i < n; i++)
        memcpy(y_out + i * model->t, model->intercept, model->t * sizeof *y_out);
    tsl_stats_gemm(false, false, n, model->t, d, 1.0, x, model->coef, 1.0, y_out);
    return TSL_OK;
}

static tsl_status check_cv_options(const tsl_stats_ridge_cv_options *o, size_t n) {
    if (!o || !o->alphas || o->n_alphas == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: needs a non-empty alpha grid", OP);
    for (size_t a = 0; a < o->n_alphas; a++)
        if (!(o->alphas[a] > 0) || !isfinite(o->alphas[a]))
            return tsl_error(TSL_ERR_INVALID_ARG, "%s: alphas[%zu] = %g (must be positive and finite)", OP, a,
                             o->alphas[a]);
    if (o->folds < 2 || o->folds > n)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %zu folds for %zu samples (needs 2 <= folds <= n)", OP,
                         o->folds, n);
    if (n - (n + o->folds - 1) / o->folds < 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %zu samples in %zu folds leave < 2 training samples", OP,
                         n, o->folds);
    return TSL_OK;
}

/* Mean over targets of held-out R^2 of each alpha's solution on fold rows test[0..m). */
static tsl_status score_fold(const standardiser *s, const double *w, size_t n_alphas, const double *x,
                             const double *y, const size_t *test, size_t m, size_t d, size_t t,
                             double *scores) {
    double *xs = malloc(m * d * sizeof *xs), *yc = malloc(m * t * sizeof *yc);
    double *pred = malloc(m * t * sizeof *pred), *r2 = malloc(t * sizeof *r2);
    tsl_status st = TSL_OK;
    if (!xs || !yc || !pred || !r2) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: scoring %zu held-out samples", OP, m);
        goto done;
    }
    standardise_rows(s, x, y, test, m, d, t, xs, yc); /* centred by the training mean on both sides */
    for (size_t a = 0; a < n_alphas && st == TSL_OK; a++) {
        tsl_stats_gemm(false, false, m, t, d, 1.0, xs, w + a * d * t, 0.0, pred);
        st = tsl_stats_r2_columns(yc, pred, m, t, r2);
        scores[a] += tsl_stats_mean(r2, t);
    }
done:
    free(xs), free(yc), free(pred), free(r2);
    return st;
}

/* Sums each alpha's fold scores into scores[n_alphas] (divided by the fold count by the caller). */
static tsl_status cross_validate(const double *x, const double *y, size_t n, size_t d, size_t t,
                                 const tsl_stats_ridge_cv_options *o, double *scores) {
    size_t *rows = malloc(n * sizeof *rows);
    double *w = malloc(o->n_alphas * d * t * sizeof *w);
    tsl_status st = TSL_OK;
    if (!rows || !w) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: cross-validation workspace", OP);
        goto done;
    }
    size_t start = 0;
    for (size_t f = 0; f < o->folds && st == TSL_OK; f++) {
        size_t len = n / o->folds + (f < n % o->folds ? 1 : 0);
        /* rows = training rows, then the fold's rows */
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (i < start || i >= start + len)
                rows[m++] = i;
        for (size_t i = 0; i < len; i++)
            rows[m + i] = start + i;
        standardiser s;
        st = fit_rows(x, y, rows, m, d, t, o->alphas, o->n_alphas, &s, w);
        if (st == TSL_OK) {
            st = score_fold(&s, w, o->n_alphas, x, y, rows + m, len, d, t, scores);
            standardiser_free(&s);
        }
        start += len;
    }
done:
    free(rows), free(w);
    return st;
}

tsl_status tsl_stats_ridge_cv_fit(const double *x, const double *y, size_t n, size_t d, size_t t,
                                  const tsl_stats_ridge_cv_options *options, tsl_stats_ridge_model *model) {
    *model = (tsl_stats_ridge_model){0};
    TSL_TRY(check_inputs(x, y, n, d, t));
    TSL_TRY(check_cv_options(options, n));
    double *scores = calloc(options->n_alphas, sizeof *scores);
    if (!scores)
        return tsl_error(TSL_ERR_NOMEM, "%s: %zu scores", OP, options->n_alphas);
    tsl_status st = cross_validate(x, y, n, d, t, options, scores);
    if (st != TSL_OK) {
        free(scores);
        return st;
    }
    size_t best = 0;
    for (size_t a = 0; a < options->n_alphas; a++) {
        scores[a] /= (double)options->folds;
        if (scores[a] > scores[best])
            best = a;
    }
    st = tsl_stats_ridge_fit(x, y, n, d, t, options->alphas[best], model);
    if (st != TSL_OK) {
        free(scores);
        return st;
    }
    model->cv_scores = scores;
    model->n_alphas = options->n_alphas;
    return TSL_OK;
}

tsl_status tsl_stats_ridge_cv_evaluate(const double *x_train, const double *y_train, size_t n_train,
                                       const double *x_test, const double *y_test, size_t n_test, size_t d,
                                       size_t t, const tsl_stats_ridge_cv_options *options, double *r,
                                       double *r2, tsl_stats_ridge_model *model) {
    if (n_test < 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: evaluation needs >= 2 held-out samples, got %zu", OP,
                         n_test);
    TSL_TRY(tsl_stats_check_shape(OP, "y_test", n_test, t));
    TSL_TRY(tsl_stats_check_finite(OP, "y_test", y_test, n_test * t));
    tsl_stats_ridge_model m;
    TSL_TRY(tsl_stats_ridge_cv_fit(x_train, y_train, n_train, d, t, options, &m));
    double *pred = malloc(n_test * t * sizeof *pred);
    tsl_status st = pred ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "%s: %zu predictions", OP, n_test);
    if (st == TSL_OK)
        st = tsl_stats_ridge_predict(&m, x_test, n_test, d, pred);
    if (st == TSL_OK)
        st = tsl_stats_pearson_columns(y_test, pred, n_test, t, r);
    if (st == TSL_OK)
        st = tsl_stats_r2_columns(y_test, pred, n_test, t, r2);
    free(pred);
    if (st == TSL_OK && model)
        *model = m;
    else
        tsl_stats_ridge_model_free(&m);
    return st;
}
