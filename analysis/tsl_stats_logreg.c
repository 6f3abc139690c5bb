#include "tsl_stats_logreg.h"

#include "tsl_stats_linalg.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const OP = "logistic regression";

void tsl_stats_logreg_options_default(tsl_stats_logreg_options *options) {
    *options = (tsl_stats_logreg_options){
        .l2 = 1e-4, .max_iter = 1000, .tol = 1e-8, .standardize = true, .history = 10};
}

void tsl_stats_logreg_model_free(tsl_stats_logreg_model *model) {
    free(model->weights), free(model->bias), free(model->x_mean), free(model->x_scale);
    *model = (tsl_stats_logreg_model){0};
}

/* The training problem: standardised features, labels, and scratch for logits. */
typedef struct {
    const double *x;
    const int32_t *labels;
    size_t n, d, k;
    double l2;
    double *logits; /* n x k */
} problem;

/* Softmax of each row of logits (n x k) in place, shifted by the row maximum for range. Returns the sum of
 * -log p[label] when labels is non-NULL. */
static double softmax_rows(double *logits, size_t n, size_t k, const int32_t *labels) {
    double nll = 0;
    for (size_t i = 0; i < n; i++) {
        double *z = logits + i * k, mx = z[0], sum = 0;
        for (size_t c = 1; c < k; c++)
            mx = z[c] > mx ? z[c] : mx;
        for (size_t c = 0; c < k; c++)
            sum += exp(z[c] - mx);
        if (labels)
            nll += log(sum) - (z[labels[i]] - mx);
        for (size_t c = 0; c < k; c++)
            z[c] = exp(z[c] - mx) / sum;
    }
    return nll;
}

/* Logits of x (n x d) under theta = [W (k x d), b (k)]. */
static void compute_logits(const double *theta, const double *x, size_t n, size_t d, size_t k,
                           double *logits) {
    const double *b = theta + k * d;
    for (size_t i = 0; i < n; i++)
        memcpy(logits + i * k, b, k * sizeof *logits);
    tsl_stats_gemm(false, true, n, k, d, 1.0, x, theta, 1.0, logits);
}

/* Objective and its gradient (same layout as theta). */
static double objective(const problem *p, const double *theta, double *grad) {
    size_t n = p->n, d = p->d, k = p->k;
    compute_logits(theta, p->x, n, d, k, p->logits);
    double f = softmax_rows(p->logits, n, k, p->labels) / (double)n;
    for (size_t i = 0; i < n; i++) /* logits now hold P - Y */
        p->logits[i * k + (size_t)p->labels[i]] -= 1.0;
    tsl_stats_gemm(true, false, k, d, n, 1.0 / (double)n, p->logits, p->x, 0.0, grad);
    double *gb = grad + k * d;
    memset(gb, 0, k * sizeof *gb);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < k; c++)
            gb[c] += p->logits[i * k + c] / (double)n;
    double ww = 0;
    for (size_t j = 0; j < k * d; j++) {
        ww += theta[j] * theta[j];
        grad[j] += p->l2 * theta[j];
    }
    return f + 0.5 * p->l2 * ww;
}

static double dotv(const double *a, const double *b, size_t m) {
    double s = 0;
    for (size_t i = 0; i < m; i++)
        s += a[i] * b[i];
    return s;
}

static double max_abs(const double *a, size_t m) {
    double s = 0;
    for (size_t i = 0; i < m; i++)
        s = fabs(a[i]) > s ? fabs(a[i]) : s;
    return s;
}

/* L-BFGS state: the last `m` pairs s = step, y = gradient change, in a ring. */
typedef struct {
    size_t dim, m, count, head;
    double *s, *y, *rho, *alpha;
} lbfgs_memory;

/* dir = -H g by the two-loop recursion (H0 scaled by s^T y / y^T y of the newest pair). */
static void lbfgs_direction(const lbfgs_memory *mem, const double *g, double *dir) {
    size_t dim = mem->dim;
    for (size_t j = 0; j < dim; j++)
        dir[j] = -g[j];
    for (size_t c = 0; c < mem->count; c++) {
        size_t i = (mem->head + mem->m - 1 - c) % mem->m;
        mem->alpha[i] = mem->rho[i] * dotv(mem->s + i * dim, dir, dim);
        for (size_t j = 0; j < dim; j++)
            dir[j] -= mem->alpha[i] * mem->y[i * dim + j];
    }
    if (mem->count) {
        size_t newest = (mem->head + mem->m - 1) % mem->m;
        const double *yn = mem->y + newest * dim;
        double gamma = 1.0 / (mem->rho[newest] * dotv(yn, yn, dim));
        for (size_t j = 0; j < dim; j++)
            dir[j] *= gamma;
    }
    for (size_t c = mem->count; c-- > 0;) {
        size_t i = (mem->head + mem->m - 1 - c) % mem->m;
        double beta = mem->rho[i] * dotv(mem->y + i * dim, dir, dim);
        for (size_t j = 0; j < dim; j++)
            dir[j] += (mem->alpha[i] - beta) * mem->s[i * dim + j];
    }
}

static void lbfgs_remember(lbfgs_memory *mem, const double *s, const double *y) {
    double sy = dotv(s, y, mem->dim);
    if (!(sy > 0)) /* curvature condition fails: keep the old pairs */
        return;
    memcpy(mem->s + mem->head * mem->dim, s, mem->dim * sizeof *s);
    memcpy(mem->y + mem->head * mem->dim, y, mem->dim * sizeof *y);
    mem->rho[mem->head] = 1.0 / sy;
    mem->head = (mem->head + 1) % mem->m;
    if (mem->count < mem->m)
        mem->count++;
}

/* Minimises the objective from theta = 0 with backtracking (Armijo) line searches. */
static tsl_status lbfgs_minimise(const problem *p, const tsl_stats_logreg_options *o, double *theta,
                                 tsl_stats_logreg_model *model) {
    size_t dim = p->k * p->d + p->k, m = o->history;
    lbfgs_memory mem = {dim,
                        m,
                        0,
                        0,
                        malloc(m * dim * sizeof(double)),
                        malloc(m * dim * sizeof(double)),
                        malloc(m * sizeof(double)),
                        malloc(m * sizeof(double))};
    double *g = malloc(dim * sizeof *g), *g_new = malloc(dim * sizeof *g_new),
           *dir = malloc(dim * sizeof *dir);
    double *trial = malloc(dim * sizeof *trial);
    tsl_status st = TSL_OK;
    if (!mem.s || !mem.y || !mem.rho || !mem.alpha || !g || !g_new || !dir || !trial) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: L-BFGS memory for %zu parameters", OP, dim);
        goto done;
    }
    memset(theta, 0, dim * sizeof *theta);
    double f = objective(p, theta, g);
    size_t iter = 0;
    while (max_abs(g, dim) > o->tol && iter < o->max_iter) {
        lbfgs_direction(&mem, g, dir);
        double slope = dotv(g, dir, dim);
        if (!(slope < 0)) { /* not a descent direction: restart from steepest descent */
            mem.count = 0;
            lbfgs_direction(&mem, g, dir);
            slope = dotv(g, dir, dim);
        }
        double step = mem.count ? 1.0 : 1.0 / sqrt(dotv(g, g, dim)), f_new = f;
        /* Near the minimum f - f* ~ |g|^2 / (2 lambda) falls below f's rounding (a few eps |f|) while
         * |g| is still ~sqrt(lambda eps |f|), about 1e-10 for the probe's problems: there Armijo's test
         * cannot see a decrease, and which iterate it stalls at depended on the BLAS kernels' rounding
         * (OpenBLAS's Prescott and Haswell kernels stalled above a 1e-11 tolerance, SkylakeX's not).
         * So where f is flat to rounding, a step is taken if it shrinks the gradient instead (the
         * approximate Armijo condition of Hager and Zhang's line search). */
        double flat = 4 * DBL_EPSILON * fabs(f), g_norm = dotv(g, g, dim);
        for (int tries = 0; tries < 60; tries++, step *= 0.5) {
            for (size_t j = 0; j < dim; j++)
                trial[j] = theta[j] + step * dir[j];
            f_new = objective(p, trial, g_new);
            if (f_new <= f + 1e-4 * step * slope ||
                (fabs(f_new - f) <= flat && dotv(g_new, g_new, dim) < g_norm))
                break;
        }
        bool gradient_fell = fabs(f_new - f) <= flat && dotv(g_new, g_new, dim) < g_norm;
        if (!(f_new <= f) && !gradient_fell) /* no progress at rounding level: as good as found */
            break;
        for (size_t j = 0; j < dim; j++) { /* reuse dir / g as s and y */
            dir[j] = trial[j] - theta[j];
            g[j] = g_new[j] - g[j];
        }
        lbfgs_remember(&mem, dir, g);
        memcpy(theta, trial, dim * sizeof *theta);
        memcpy(g, g_new, dim * sizeof *g);
        f = f_new;
        iter++;
    }
    model->iterations = iter;
    model->grad_max = max_abs(g, dim);
    model->converged = model->grad_max <= o->tol;
done:
    free(mem.s), free(mem.y), free(mem.rho), free(mem.alpha), free(g), free(g_new), free(dir), free(trial);
    return st;
}

static tsl_status check_fit_args(const double *x, const int32_t *labels, size_t n, size_t d, size_t n_classes,
                                 const tsl_stats_logreg_options *o) {
    TSL_TRY(tsl_stats_check_shape(OP, "x", n, d));
    if (n_classes < 2 || n_classes > (size_t)INT32_MAX)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: needs >= 2 classes, got %zu", OP, n_classes);
    if (!o || !(o->l2 > 0) || !isfinite(o->l2) || !(o->tol > 0) || o->max_iter < 1 || o->history < 1)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: needs l2 > 0, tol > 0, max_iter >= 1, history >= 1", OP);
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= n_classes)
            return tsl_error(TSL_ERR_INVALID_ARG, "%s: labels[%zu] = %d outside [0, %zu)", OP, i,
                             (int)labels[i], n_classes);
    return tsl_stats_check_finite(OP, "x", x, n * d);
}

/* Feature means and population sds (1 for a constant feature) into the model, and standardised xs. */
static void standardise_into(tsl_stats_logreg_model *m, const double *x, size_t n, size_t d, double *xs) {
    tsl_stats_column_means(x, n, d, m->x_mean);
    for (size_t j = 0; j < d; j++) {
        double v = 0;
        for (size_t i = 0; i < n; i++)
            v += (x[i * d + j] - m->x_mean[j]) * (x[i * d + j] - m->x_mean[j]);
        v /= (double)n;
        m->x_scale[j] = v > 0 ? sqrt(v) : 1.0;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            xs[i * d + j] = (x[i * d + j] - m->x_mean[j]) / m->x_scale[j];
}

tsl_status tsl_stats_logreg_fit(const double *x, const int32_t *labels, size_t n, size_t d, size_t n_classes,
                                const tsl_stats_logreg_options *options, tsl_stats_logreg_model *model) {
    *model = (tsl_stats_logreg_model){0};
    TSL_TRY(check_fit_args(x, labels, n, d, n_classes, options));
    size_t k = n_classes;
    double *theta = malloc((k * d + k) * sizeof *theta), *logits = malloc(n * k * sizeof *logits);
    double *xs = options->standardize ? malloc(n * d * sizeof *xs) : NULL;
    model->weights = malloc(k * d * sizeof(double)), model->bias = malloc(k * sizeof(double));
    if (options->standardize)
        model->x_mean = malloc(d * sizeof(double)), model->x_scale = malloc(d * sizeof(double));
    tsl_status st = TSL_OK;
    if (!theta || !logits || !model->weights || !model->bias ||
        (options->standardize && (!xs || !model->x_mean || !model->x_scale))) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu x %zu features, %zu classes", OP, n, d, k);
        goto done;
    }
    model->d = d, model->n_classes = k;
    if (xs)
        standardise_into(model, x, n, d, xs);
    problem p = {xs ? xs : x, labels, n, d, k, options->l2, logits};
    st = lbfgs_minimise(&p, options, theta, model);
    if (st == TSL_OK) {
        memcpy(model->weights, theta, k * d * sizeof *theta);
        memcpy(model->bias, theta + k * d, k * sizeof *theta);
    }
done:
    free(theta), free(logits), free(xs);
    if (st != TSL_OK)
        tsl_stats_logreg_model_free(model);
    return st;
}

tsl_status tsl_stats_logreg_predict_proba(const tsl_stats_logreg_model *model, const double *x, size_t n,
                                          size_t d, double *proba) {
    if (!model->weights || d != model->d)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: predict: x has %zu features, the model %zu%s", OP, d,
                         model->d, model->weights ? "" : " (model not fitted)");
    TSL_TRY(tsl_stats_check_shape(OP, "x", n, d));
    TSL_TRY(tsl_stats_check_finite(OP, "x", x, n * d));
    size_t k = model->n_classes;
    double *xs = malloc(n * d * sizeof *xs), *theta = malloc((k * d + k) * sizeof *theta);
    if (!xs || !theta) {
        free(xs), free(theta);
        return tsl_error(TSL_ERR_NOMEM, "%s: predict %zu samples", OP, n);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            xs[i * d + j] =
                model->x_mean ? (x[i * d + j] - model->x_mean[j]) / model->x_scale[j] : x[i * d + j];
    memcpy(theta, model->weights, k * d * sizeof *theta);
    memcpy(theta + k * d, model->bias, k * sizeof *theta);
    compute_logits(theta, xs, n, d, k, proba);
    softmax_rows(proba, n, k, NULL);
    free(xs), free(theta);
    return TSL_OK;
}

tsl_status tsl_stats_logreg_accuracy(const tsl_stats_logreg_model *model, const double *x,
                                     const int32_t *labels, size_t n, size_t d, double *top1) {
    size_t k = model->n_classes;
    double *proba = malloc((n * k > 0 ? n * k : 1) * sizeof *proba);
    if (!proba)
        return tsl_error(TSL_ERR_NOMEM, "%s: accuracy of %zu samples", OP, n);
    tsl_status st = tsl_stats_logreg_predict_proba(model, x, n, d, proba);
    size_t correct = 0;
    for (size_t i = 0; i < n && st == TSL_OK; i++) {
        size_t best = 0;
        for (size_t c = 1; c < k; c++)
            if (proba[i * k + c] > proba[i * k + best])
                best = c;
        correct += labels[i] >= 0 && (size_t)labels[i] == best;
    }
    free(proba);
    if (st == TSL_OK)
        *top1 = (double)correct / (double)n;
    return st;
}

tsl_status tsl_stats_linear_probe(const double *x_train, const int32_t *y_train, size_t n_train,
                                  const double *x_val, const int32_t *y_val, size_t n_val, size_t d,
                                  size_t n_classes, const tsl_stats_logreg_options *options, double *top1,
                                  bool *converged) {
    tsl_stats_logreg_model model;
    TSL_TRY_CTX(tsl_stats_logreg_fit(x_train, y_train, n_train, d, n_classes, options, &model),
                "linear probe");
    tsl_status st = tsl_stats_logreg_accuracy(&model, x_val, y_val, n_val, d, top1);
    *converged = model.converged;
    tsl_stats_logreg_model_free(&model);
    return st == TSL_OK ? TSL_OK : tsl_error_context(st, "linear probe: validation");
}
