#include "tsl_analyze.h"

#include "tsl_analyze_sampling.h"
#include "tsl_analyze_subspace.h"
#include "tsl_stats_basic.h"
#include "tsl_stats_bures.h"
#include "tsl_stats_logreg.h"
#include "tsl_stats_ridge.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The sets' ids (the sampler's epoch field), fixed so that any two runs with one seed see one set. */
enum { SET_PAIRED = 0, SET_GLOBAL = 1, SET_CROP = 2, SET_PHOTOMETRIC = 3 };

typedef struct {
    tsl_analyze_extractor *ex;
    const tsl_analyze_options *o;
    size_t m, k, d;
    double *paired, *global, *crop, *photometric; /* features, image-major */
    tsl_augment_job *paired_jobs;
} context;

static tsl_status add_metric(tsl_analyze_result *r, const char *name, size_t n, double **values) {
    tsl_assert(r->count < TSL_ANALYZE_MAX_METRICS);
    tsl_analyze_metric *m = &r->metrics[r->count];
    snprintf(m->name, sizeof m->name, "%s", name);
    if (!(m->values = calloc(n, sizeof *m->values)))
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    m->n = n;
    r->count++;
    *values = m->values;
    return TSL_OK;
}

static tsl_status extract_set(context *c, const tsl_analyze_images *imgs, const tsl_augment_job *jobs,
                              size_t n, double **features) {
    if (!(*features = malloc(n * c->d * sizeof **features)))
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    return tsl_analyze_extract(c->ex, imgs, jobs, n, *features);
}

/* The four augmented sets of the M images (docs/ANALYSES.md "Sampling"). */
static tsl_status extract_sets(context *c, const tsl_analyze_images *val) {
    size_t m = c->m, k = c->k;
    uint32_t *w = calloc(m, sizeof *w), *h = calloc(m, sizeof *h);
    tsl_augment_job *jobs = calloc(m * k, sizeof *jobs);
    c->paired_jobs = calloc(m * k, sizeof *c->paired_jobs);
    tsl_status st = w && h && jobs && c->paired_jobs ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m && st == TSL_OK; i++)
        w[i] = val->images[i].width, h[i] = val->images[i].height;
    tsl_augment_config config;
    tsl_augment_config_default(&config);
    uint64_t seed = c->o->seed;
    if (st == TSL_OK) {
        tsl_analyze_paired_jobs(&config, seed, SET_PAIRED, w, h, m, k, c->paired_jobs);
        st = extract_set(c, val, c->paired_jobs, m * k, &c->paired);
    }
    if (st == TSL_OK) {
        tsl_analyze_independent_jobs(&config, TSL_ANALYZE_ALL, seed, SET_GLOBAL, w, h, m, 1, jobs);
        st = extract_set(c, val, jobs, m, &c->global);
    }
    if (st == TSL_OK) {
        tsl_analyze_independent_jobs(&config, TSL_ANALYZE_CROP, seed, SET_CROP, w, h, m, k, jobs);
        st = extract_set(c, val, jobs, m * k, &c->crop);
    }
    if (st == TSL_OK) {
        tsl_analyze_independent_jobs(&config, TSL_ANALYZE_PHOTOMETRIC, seed, SET_PHOTOMETRIC, w, h, m, k,
                                     jobs);
        st = extract_set(c, val, jobs, m * k, &c->photometric);
    }
    free(w);
    free(h);
    free(jobs);
    return st;
}

/* Trace-normalised Bures distance d between two sets' covariances; NaN where it is undefined (a set
 * without variance). */
static tsl_status bures_distance(const double *x1, size_t n1, const double *x2, size_t n2, size_t d,
                                 double *out) {
    tsl_stats_bures b;
    tsl_status st = tsl_stats_bures_data(x1, n1, x2, n2, d, TSL_STATS_BURES_AUTO, &b);
    *out = st == TSL_OK ? b.distance : NAN;
    return st == TSL_ERR_NUMERIC ? TSL_OK : st;
}

/* Image i's augmentation set scored against the content (global) set's 90% principal subspace. */
static tsl_status measure_factorization(const context *c, double *factor) {
    tsl_analyze_subspace content;
    tsl_status st = tsl_analyze_subspace_top(c->global, c->m, c->d, 0.9, &content);
    if (st == TSL_ERR_NUMERIC) { /* the content set has no variance: undefined for every image */
        for (size_t i = 0; i < c->m; i++)
            factor[i] = NAN;
        return TSL_OK;
    }
    for (size_t i = 0; i < c->m && st == TSL_OK; i++) {
        st = tsl_analyze_subspace_factorization(&content, c->paired + i * c->k * c->d, c->k, &factor[i]);
        if (st == TSL_ERR_NUMERIC)
            factor[i] = NAN, st = TSL_OK;
    }
    tsl_analyze_subspace_free(&content);
    return st;
}

static tsl_status measure_bures(context *c, tsl_analyze_result *r) {
    size_t m = c->m, k = c->k, d = c->d, rows = k * d;
    double *shared = NULL, *content = NULL, *crop_photo = NULL,
           *factor = NULL; /* add_metric sets them; -O3 cannot see that */
    TSL_TRY(add_metric(r, "bures.shared_augmentation", m / 2, &shared));
    TSL_TRY(add_metric(r, "bures.augmentation_vs_content", m, &content));
    TSL_TRY(add_metric(r, "bures.crop_vs_photometric", m, &crop_photo));
    TSL_TRY(add_metric(r, "factorization.augmentation_vs_content", m, &factor));
    for (size_t p = 0; p < m / 2; p++)
        TSL_TRY(
            bures_distance(c->paired + 2 * p * rows, k, c->paired + (2 * p + 1) * rows, k, d, &shared[p]));
    for (size_t i = 0; i < m; i++) {
        TSL_TRY(bures_distance(c->paired + i * rows, k, c->global, m, d, &content[i]));
        TSL_TRY(bures_distance(c->crop + i * rows, k, c->photometric + i * rows, k, d, &crop_photo[i]));
    }
    return measure_factorization(c, factor);
}

/* Rows of the pairs in order[from, to) (both images, every augmentation): features and targets. */
static void gather_rows(const context *c, const size_t *order, size_t from, size_t to, double *x, double *y) {
    size_t row = 0;
    for (size_t q = from; q < to; q++)
        for (size_t img = 2 * order[q]; img < 2 * order[q] + 2; img++)
            for (size_t a = 0; a < c->k; a++, row++) {
                size_t src = img * c->k + a;
                memcpy(x + row * c->d, c->paired + src * c->d, c->d * sizeof *x);
                tsl_analyze_param_values(&c->paired_jobs[src].sample, y + row * TSL_ANALYZE_PARAMS);
            }
}

typedef struct {
    double *r[TSL_ANALYZE_PARAMS], *r2[TSL_ANALYZE_PARAMS], *mean_r, *mean_r2;
} decoding_metrics;

static tsl_status add_decoding_metrics(tsl_analyze_result *res, size_t splits, decoding_metrics *dm) {
    char name[48];
    for (int t = 0; t < TSL_ANALYZE_PARAMS; t++) {
        snprintf(name, sizeof name, "decoding.r.%s", tsl_analyze_param_names[t]);
        TSL_TRY(add_metric(res, name, splits, &dm->r[t]));
        snprintf(name, sizeof name, "decoding.r2.%s", tsl_analyze_param_names[t]);
        TSL_TRY(add_metric(res, name, splits, &dm->r2[t]));
    }
    TSL_TRY(add_metric(res, "decoding.r.mean", splits, &dm->mean_r));
    return add_metric(res, "decoding.r2.mean", splits, &dm->mean_r2);
}

static tsl_status decode_split(const context *c, size_t s, const tsl_stats_ridge_cv_options *ro, double *x,
                               double *y, size_t *order, decoding_metrics *dm, size_t n_train,
                               size_t n_test) {
    size_t pairs = c->m / 2, half = pairs / 2, t_n = TSL_ANALYZE_PARAMS;
    for (size_t p = 0; p < pairs; p++)
        order[p] = p;
    tsl_stats_rng rng = tsl_stats_rng_new(c->o->seed * 1000003 + s);
    tsl_stats_shuffle(&rng, order, pairs);
    gather_rows(c, order, 0, half, x, y);
    gather_rows(c, order, half, pairs, x + n_train * c->d, y + n_train * t_n);
    double r[TSL_ANALYZE_PARAMS], r2[TSL_ANALYZE_PARAMS];
    TSL_TRY(tsl_stats_ridge_cv_evaluate(x, y, n_train, x + n_train * c->d, y + n_train * t_n, n_test, c->d,
                                        t_n, ro, r, r2, NULL));
    for (size_t t = 0; t < t_n; t++)
        dm->r[t][s] = r[t], dm->r2[t][s] = r2[t];
    dm->mean_r[s] = tsl_stats_mean(r, t_n);
    dm->mean_r2[s] = tsl_stats_mean(r2, t_n);
    return TSL_OK;
}

/* Ridge (CV over alpha) from features to each parameter, fitted on half of the pairs and tested on the
 * other half (pairs, not images, are split: both images of a pair share their parameters). */
static tsl_status measure_decoding(const context *c, tsl_analyze_result *res) {
    decoding_metrics dm = {0}; /* filled per split on success; -O3 cannot see that */
    TSL_TRY(add_decoding_metrics(res, c->o->splits, &dm));
    size_t pairs = c->m / 2, n_train = (pairs / 2) * 2 * c->k, n_test = (pairs - pairs / 2) * 2 * c->k;
    res->decode_train_rows = n_train;
    res->decode_test_rows = n_test;
    double alphas[9];
    TSL_TRY(tsl_stats_log_grid(1e-2, 1e6, 9, alphas));
    tsl_stats_ridge_cv_options ro = {alphas, 9, n_train < 5 ? n_train : 5};
    double *x = malloc((n_train + n_test) * c->d * sizeof *x);
    double *y = malloc((n_train + n_test) * TSL_ANALYZE_PARAMS * sizeof *y);
    size_t *order = malloc(pairs * sizeof *order);
    tsl_status st = x && y && order ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "out of memory");
    for (size_t s = 0; s < c->o->splits && st == TSL_OK; s++)
        st = decode_split(c, s, &ro, x, y, order, &dm, n_train, n_test);
    free(x);
    free(y);
    free(order);
    return st;
}

static tsl_status unaugmented_features(context *c, const tsl_analyze_images *imgs, double **f) {
    tsl_augment_job *jobs = calloc(imgs->count, sizeof *jobs);
    if (!jobs)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < imgs->count; i++) {
        jobs[i].source = (uint32_t)i;
        tsl_analyze_draw(NULL, TSL_ANALYZE_NONE, (tsl_augment_key){0}, 1, 1, &jobs[i].sample);
    }
    tsl_status st = extract_set(c, imgs, jobs, imgs->count, f);
    free(jobs);
    return st;
}

static tsl_status probe_correct(const tsl_stats_logreg_model *model, const double *x,
                                const tsl_analyze_images *val, size_t d, double *correct) {
    size_t n = val->count, classes = model->n_classes;
    double *proba = malloc(n * classes * sizeof *proba);
    if (!proba)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    tsl_status st = tsl_stats_logreg_predict_proba(model, x, n, d, proba);
    for (size_t i = 0; i < n && st == TSL_OK; i++) {
        size_t best = 0;
        for (size_t j = 1; j < classes; j++)
            best = proba[i * classes + j] > proba[i * classes + best] ? j : best;
        correct[i] = (int32_t)best == val->images[i].label;
    }
    free(proba);
    return st;
}

static tsl_status measure_probe(context *c, const tsl_analyze_images *train, const tsl_analyze_images *val,
                                tsl_analyze_result *res) {
    double *correct = NULL, *xt = NULL, *xv = NULL; /* add_metric sets correct; -O3 cannot see that */
    TSL_TRY(add_metric(res, "probe.top1", val->count, &correct));
    res->classes = train->classes > val->classes ? train->classes : val->classes;
    res->probe_train = train->count;
    int32_t *labels = malloc(train->count * sizeof *labels);
    tsl_status st = labels ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < train->count && st == TSL_OK; i++)
        labels[i] = train->images[i].label;
    if (st == TSL_OK)
        st = unaugmented_features(c, train, &xt);
    if (st == TSL_OK)
        st = unaugmented_features(c, val, &xv);
    tsl_stats_logreg_options lo;
    tsl_stats_logreg_options_default(&lo);
    tsl_stats_logreg_model model = {0};
    if (st == TSL_OK)
        st = tsl_stats_logreg_fit(xt, labels, train->count, c->d, res->classes, &lo, &model);
    if (st == TSL_OK)
        st = probe_correct(&model, xv, val, c->d, correct);
    res->probe_converged = model.converged;
    tsl_stats_logreg_model_free(&model);
    free(labels);
    free(xt);
    free(xv);
    return st;
}

tsl_status tsl_analyze_measure(tsl_analyze_extractor *ex, const tsl_analyze_images *val,
                               const tsl_analyze_images *train, const tsl_analyze_options *o,
                               tsl_analyze_result *res) {
    *res = (tsl_analyze_result){0};
    size_t m = (o->images < val->count ? o->images : val->count) & ~(size_t)1;
    if (m < 4 || o->augmentations < 2 || o->splits < 2)
        return tsl_error(
            TSL_ERR_INVALID_ARG,
            "analyze: need >= 4 validation images (have %zu), >= 2 augmentations and >= 2 splits",
            val->count);
    context c = {.ex = ex, .o = o, .m = m, .k = o->augmentations, .d = tsl_analyze_extractor_dim(ex)};
    res->feature_dim = c.d;
    res->images = m;
    tsl_status st = extract_sets(&c, val);
    if (st == TSL_OK)
        st = measure_decoding(&c, res);
    if (st == TSL_OK)
        st = measure_bures(&c, res);
    if (st == TSL_OK)
        st = measure_probe(&c, train, val, res);
    free(c.paired);
    free(c.global);
    free(c.crop);
    free(c.photometric);
    free(c.paired_jobs);
    if (st != TSL_OK)
        tsl_analyze_result_free(res);
    return st;
}

void tsl_analyze_result_free(tsl_analyze_result *r) {
    for (int i = 0; i < r->count; i++)
        free(r->metrics[i].values);
    r->count = 0;
}
