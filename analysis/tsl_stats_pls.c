#include "tsl_stats_pls.h"

#include "tsl_stats_linalg.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const OP = "pls";

enum { PLS_MAX_ITER = 500 };
static const double PLS_TOL = 1e-6;

void tsl_stats_pls_model_free(tsl_stats_pls_model *model) {
    free(model->x_mean), free(model->y_mean), free(model->coef);
    *model = (tsl_stats_pls_model){0};
}

static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Per-component workspace. */
typedef struct {
    double *cross;    /* d x t: X_k^T Y_k, the cross-covariance of the residuals */
    double *x_score;  /* n */
    double *w_old;    /* d */
    double *y_weight; /* t */
} nipals_work;

/* First left singular vector of X^T Y by sklearn's power iteration, into w (d). sklearn iterates
 * y_score -> w = X^T y_score (normalised) -> x_score = X w -> q = Y^T x_score -> y_score = Y q; the
 * scalings along the way vanish in w's normalisation, so the same iterates come from w -> C (C^T w) with
 * C = X^T Y, costing 2 d t per step instead of 2 n (d + t). It starts from y_score = the first column of
 * the Y residual with an entry above eps, i.e. w from that column of C. Returns false when there is none
 * (sklearn: "Y residual is constant"). */
static bool nipals_weights(const double *y, size_t n, size_t d, size_t t, nipals_work *ws, double *w) {
    size_t start = t;
    for (size_t j = 0; j < t && start == t; j++)
        for (size_t i = 0; i < n; i++)
            if (fabs(y[i * t + j]) > DBL_EPSILON) {
                start = j;
                break;
            }
    if (start == t)
        return false;
    for (size_t i = 0; i < d; i++)
        w[i] = ws->cross[i * t + start];
    for (int iter = 0; iter < PLS_MAX_ITER; iter++) {
        if (iter > 0) {
            tsl_stats_gemv(true, d, t, 1.0, ws->cross, w, 0.0, ws->y_weight);
            tsl_stats_gemv(false, d, t, 1.0, ws->cross, ws->y_weight, 0.0, w);
        }
        double norm = sqrt(dot(w, w, d)) + DBL_EPSILON;
        for (size_t i = 0; i < d; i++)
            w[i] /= norm;
        double diff = 0;
        for (size_t i = 0; i < d; i++) {
            double e = w[i] - (iter == 0 ? 100.0 : ws->w_old[i]); /* sklearn starts the old weights at 100 */
            diff += e * e;
        }
        if (diff < PLS_TOL || t == 1)
            break;
        memcpy(ws->w_old, w, d * sizeof *w);
    }
    /* Sign convention: the largest-magnitude x weight (the first of ties) is positive. */
    size_t big = 0;
    for (size_t i = 1; i < d; i++)
        if (fabs(w[i]) > fabs(w[big]))
            big = i;
    if (w[big] < 0)
        for (size_t i = 0; i < d; i++)
            w[i] = -w[i];
    return true;
}

/* One component on the residuals xk (n x d), yk (n x t) and their cross-covariance: weights w, loadings
 * p (d) and q (t); deflates all three. Returns false when the Y residual is zero or the X residual's
 * squared norm has fallen to x_floor (X exhausted: more components than its rank; sklearn would divide
 * rounding noise by rounding noise there and return garbage coefficients). */
static bool nipals_component(double *xk, double *yk, size_t n, size_t d, size_t t, double x_floor,
                             nipals_work *ws, double *w, double *p, double *q) {
    if (dot(xk, xk, n * d) <= x_floor)
        return false;
    for (size_t j = 0; j < t; j++) { /* sklearn zeroes columns that are all within 10 eps of zero */
        bool tiny = true;
        for (size_t i = 0; i < n && tiny; i++)
            tiny = fabs(yk[i * t + j]) < 10 * DBL_EPSILON;
        for (size_t i = 0; tiny && i < n; i++)
            yk[i * t + j] = 0;
        for (size_t i = 0; tiny && i < d; i++)
            ws->cross[i * t + j] = 0;
    }
    if (!nipals_weights(yk, n, d, t, ws, w))
        return false;
    double *score = ws->x_score;
    tsl_stats_gemv(false, n, d, 1.0, xk, w, 0.0, score);
    double ss = dot(score, score, n);
    tsl_stats_gemv(true, n, d, 1.0 / ss, xk, score, 0.0, p);
    tsl_stats_gemv(true, n, t, 1.0 / ss, yk, score, 0.0, q);
    tsl_stats_ger(n, d, -1.0, score, p, xk);
    tsl_stats_ger(n, t, -1.0, score, q, yk);
    /* (X - s p^T)^T (Y - s q^T) with X^T s = ss p and Y^T s = ss q: C - ss p q^T. */
    tsl_stats_ger(d, t, -ss, p, q, ws->cross);
    return true;
}

/* coef (d x t) = W (P^T W)^-1 Q^T with W, P (k x d) and Q (k x t) stored one component per row. */
static tsl_status pls_coefficients(const double *w, const double *p, const double *q, size_t k, size_t d,
                                   size_t t, double *coef) {
    double *a = malloc(k * k * sizeof *a), *rt = malloc(k * d * sizeof *rt);
    tsl_status st = TSL_OK;
    if (!a || !rt) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu components", OP, k);
        goto done;
    }
    /* R^T = (P^T W)^-T W^T solves (W^T P) R^T = W^T. */
    tsl_stats_gemm(false, true, k, k, d, 1.0, w, p, 0.0, a);
    memcpy(rt, w, k * d * sizeof *rt);
    st = tsl_stats_solve(a, k, rt, d);
    if (st != TSL_OK) {
        st = tsl_error_context(st, "%s: rotations", OP);
        goto done;
    }
    tsl_stats_gemm(true, false, d, t, k, 1.0, rt, q, 0.0, coef);
done:
    free(a), free(rt);
    return st;
}

static tsl_status pls_alloc(tsl_stats_pls_model *m, size_t d, size_t t) {
    m->x_mean = malloc(d * sizeof(double));
    m->y_mean = malloc(t * sizeof(double));
    m->coef = malloc(d * t * sizeof(double));
    if (!m->x_mean || !m->y_mean || !m->coef) {
        tsl_stats_pls_model_free(m);
        return tsl_error(TSL_ERR_NOMEM, "%s: model of %zu x %zu", OP, d, t);
    }
    return TSL_OK;
}

tsl_status tsl_stats_pls_fit(const double *x, const double *y, size_t n, size_t d, size_t t,
                             size_t n_components, tsl_stats_pls_model *model) {
    *model = (tsl_stats_pls_model){0};
    TSL_TRY(tsl_stats_check_shape(OP, "x", n, d));
    TSL_TRY(tsl_stats_check_shape(OP, "y", n, t));
    if (n < 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: needs >= 2 samples, got %zu", OP, n);
    if (n_components < 1 || n_components > d)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: n_components %zu outside [1, %zu features]", OP,
                         n_components, d);
    TSL_TRY(tsl_stats_check_finite(OP, "x", x, n * d));
    TSL_TRY(tsl_stats_check_finite(OP, "y", y, n * t));
    size_t k = n_components;
    double *xk = tsl_stats_centered_copy(x, n, d), *yk = tsl_stats_centered_copy(y, n, t);
    double *w = malloc(k * d * sizeof *w), *p = malloc(k * d * sizeof *p), *q = malloc(k * t * sizeof *q);
    nipals_work ws = {malloc(d * t * sizeof(double)), malloc(n * sizeof(double)), malloc(d * sizeof(double)),
                      malloc(t * sizeof(double))};
    tsl_status st = TSL_OK;
    if (!xk || !yk || !w || !p || !q || !ws.cross || !ws.x_score || !ws.w_old || !ws.y_weight) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: workspace for %zu x %zu, %zu targets", OP, n, d, t);
        goto done;
    }
    tsl_stats_gemm(true, false, d, t, n, 1.0, xk, yk, 0.0, ws.cross);
    /* 1e-10 of the centred X's Frobenius norm: rounding level for deflations of well-scaled data. */
    double x_floor = 1e-20 * dot(xk, xk, n * d);
    size_t fitted = 0;
    while (fitted < k &&
           nipals_component(xk, yk, n, d, t, x_floor, &ws, w + fitted * d, p + fitted * d, q + fitted * t))
        fitted++;
    if (fitted == 0) {
        st = tsl_error(TSL_ERR_INVALID_ARG, "%s: every target (or every feature) is constant", OP);
        goto done;
    }
    st = pls_alloc(model, d, t);
    if (st != TSL_OK)
        goto done;
    model->d = d, model->t = t, model->n_components = fitted;
    tsl_stats_column_means(x, n, d, model->x_mean);
    tsl_stats_column_means(y, n, t, model->y_mean);
    st = pls_coefficients(w, p, q, fitted, d, t, model->coef);
    if (st != TSL_OK)
        tsl_stats_pls_model_free(model);
done:
    free(xk), free(yk), free(w), free(p), free(q);
    free(ws.cross), free(ws.x_score), free(ws.w_old), free(ws.y_weight);
    return st;
}

tsl_status tsl_stats_pls_predict(const tsl_stats_pls_model *model, const double *x, size_t n, size_t d,
                                 double *y_out) {
    if (!model->coef || d != model->d)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: predict: x has %zu features, the model %zu%s", OP, d,
                         model->d, model->coef ? "" : " (model not fitted)");
    TSL_TRY(tsl_stats_check_shape(OP, "x", n, d));
    TSL_TRY(tsl_stats_check_finite(OP, "x", x, n * d));
    double *xc = malloc(n * d * sizeof *xc);
    if (!xc)
        return tsl_error(TSL_ERR_NOMEM, "%s: predict %zu samples", OP, n);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++)
            xc[i * d + j] = x[i * d + j] - model->x_mean[j];
        memcpy(y_out + i * model->t, model->y_mean, model->t * sizeof *y_out);
    }
    tsl_stats_gemm(false, false, n, model->t, d, 1.0, xc, model->coef, 1.0, y_out);
    free(xc);
    return TSL_OK;
}
