#include "tsl_neural_score.h"

#include "tsl_npy.h"
#include "tsl_stats_linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tsl_neural_options_default(tsl_neural_options *o) {
    *o = (tsl_neural_options){.view = {.size = 224, .stimulus_degrees = 8, .model_degrees = 8},
                              .layers = {"layer4"},
                              .n_layers = 1,
                              .batch = 32,
                              .ceiling_splits = 10,
                              .rule = TSL_ANALYSIS_CEILED_R2_OVER_CEILING,
                              .max_feature_bytes = (uint64_t)32 << 30};
    tsl_analysis_predictivity_options_default(&o->predictivity);
}

void tsl_neural_result_free(tsl_neural_result *r) {
    for (size_t i = 0; i < TSL_NEURAL_MAX_LAYERS; i++)
        free(r->layers[i].split_scores);
    free(r->ceiling_splits);
    memset(r, 0, sizeof *r);
}

/* Every stimulus placed and resized: n x size x size x 3 bytes. */
static tsl_status load_stimuli(const tsl_neural_data *d, const tsl_neural_options *o, uint8_t **out) {
    size_t per = (size_t)o->view.size * o->view.size * 3;
    uint8_t *rgb = malloc(d->n_stimuli * per);
    if (!rgb)
        return tsl_error(TSL_ERR_NOMEM, "neural: %zu stimuli of %d px", d->n_stimuli, o->view.size);
    for (size_t i = 0; i < d->n_stimuli; i++) {
        tsl_status st = tsl_neural_load_stimulus(o->stimuli_dir, d, i, &o->view, rgb + i * per);
        if (st != TSL_OK) {
            free(rgb);
            return st;
        }
    }
    *out = rgb;
    return TSL_OK;
}

/* The flattened `layer` output of every stimulus as doubles (n x *dim), streamed in batches. */
static tsl_status layer_features(tsl_features_session *s, const uint8_t *rgb, size_t n,
                                 const tsl_neural_options *o, const char *layer, double **out, size_t *dim) {
    tsl_features shape;
    TSL_TRY(tsl_features_session_shape(s, layer, 1, &shape));
    size_t d = (size_t)shape.count, side = (size_t)o->view.size, per_in = 3 * side * side;
    if ((uint64_t)n * d * sizeof(double) > o->max_feature_bytes || d > SIZE_MAX / sizeof(double) / n)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "neural: layer %s gives %zu x %zu features, more than --max-feature-gib allows",
                         layer, n, d);
    double *x = malloc(n * d * sizeof *x);
    float *images = malloc(o->batch * per_in * sizeof *images), *feat = malloc(o->batch * d * sizeof *feat);
    tsl_status st = x && images && feat ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "neural: features of %s", layer);
    for (size_t first = 0; first < n && st == TSL_OK; first += o->batch) {
        uint32_t k = (uint32_t)(n - first < o->batch ? n - first : o->batch);
        for (uint32_t i = 0; i < k; i++)
            tsl_neural_normalize(rgb + (first + i) * side * side * 3, o->view.size, images + i * per_in);
        st = tsl_features_session_run(s, images, k, layer, feat, (uint64_t)k * d);
        for (size_t i = 0; i < (size_t)k * d && st == TSL_OK; i++) {
            if (!isfinite(feat[i]))
                st = tsl_error(TSL_ERR_NUMERIC, "neural: layer %s: non-finite feature for stimulus %zu",
                               layer, first + i / d);
            x[first * d + i] = feat[i];
        }
    }
    free(images), free(feat);
    if (st != TSL_OK) {
        free(x);
        return st;
    }
    *out = x, *dim = d;
    return TSL_OK;
}

/* DIR/features_<layer>.npy: the features as computed (float32, n x d). */
static tsl_status save_features(const char *dir, const char *layer, const double *x, size_t n, size_t d) {
    float *f = malloc(n * d * sizeof *f);
    if (!f)
        return tsl_error(TSL_ERR_NOMEM, "neural: saving features");
    for (size_t i = 0; i < n * d; i++)
        f[i] = (float)x[i]; /* exact: they were floats */
    char path[4096];
    snprintf(path, sizeof path, "%s/features_%s.npy", dir, layer);
    tsl_status st = tsl_npy_write_f32(path, f, 2, (int64_t[]){(int64_t)n, (int64_t)d});
    free(f);
    return st;
}

static tsl_status score_layer(tsl_features_session *s, const uint8_t *rgb, const tsl_neural_data *d,
                              const tsl_neural_options *o, const char *layer, tsl_neural_layer_score *out) {
    snprintf(out->layer, sizeof out->layer, "%s", layer);
    out->ceiled = NAN;
    double *x = NULL, score = 0;
    TSL_TRY(layer_features(s, rgb, d->n_stimuli, o, layer, &x, &out->feature_dim));
    out->split_scores = malloc(o->predictivity.n_splits * sizeof *out->split_scores);
    tsl_status st = out->split_scores ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "neural: splits");
    if (st == TSL_OK && o->features_dir)
        st = save_features(o->features_dir, layer, x, d->n_stimuli, out->feature_dim);
    if (st == TSL_OK)
        st = tsl_analysis_predictivity(x, d->n_stimuli, out->feature_dim, d->responses, d->n_neuroids,
                                       d->labels, &o->predictivity, &score, out->split_scores);
    free(x);
    if (st == TSL_OK)
        st = tsl_stats_ci_t(out->split_scores, o->predictivity.n_splits, 0.95, &out->ci);
    return st == TSL_OK ? st : tsl_error_context(st, "layer %s", layer);
}

static tsl_status ceiling(const tsl_neural_data *d, const tsl_neural_options *o, tsl_neural_result *r) {
    r->n_ceiling_splits = o->ceiling_splits;
    if (!d->trials)
        return TSL_OK;
    r->ceiling_splits = malloc(o->ceiling_splits * sizeof *r->ceiling_splits);
    if (!r->ceiling_splits)
        return tsl_error(TSL_ERR_NOMEM, "neural: ceiling");
    double c;
    TSL_TRY(tsl_analysis_split_half_ceiling(d->trials, d->n_stimuli, d->n_trials, d->n_neuroids,
                                            o->ceiling_splits, o->predictivity.seed, &c, r->ceiling_splits));
    TSL_TRY(tsl_stats_ci_t(r->ceiling_splits, o->ceiling_splits, 0.95, &r->ceiling));
    r->has_ceiling = true;
    return TSL_OK;
}

tsl_status tsl_neural_score(tsl_features_session *s, const tsl_neural_data *d, const tsl_neural_options *o,
                            tsl_neural_result *r) {
    memset(r, 0, sizeof *r);
    if (o->n_layers < 1 || o->n_layers > TSL_NEURAL_MAX_LAYERS || o->batch < 1 ||
        o->predictivity.n_splits < 2 || o->ceiling_splits < 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "neural: 1..%d layers, batch >= 1 and >= 2 splits needed",
                         TSL_NEURAL_MAX_LAYERS);
    r->n_splits = o->predictivity.n_splits;
    tsl_status st = ceiling(d, o, r);
    uint8_t *rgb = NULL;
    if (st == TSL_OK)
        st = load_stimuli(d, o, &rgb);
    for (size_t i = 0; i < o->n_layers && st == TSL_OK; i++) {
        st = score_layer(s, rgb, d, o, o->layers[i], &r->layers[i]);
        r->n_layers = i + 1;
        if (st == TSL_OK && r->layers[i].ci.mean > r->layers[r->best].ci.mean)
            r->best = i;
        if (st == TSL_OK && r->has_ceiling && r->ceiling.mean > 0)
            st = tsl_analysis_ceiled_score(r->layers[i].ci.mean, r->ceiling.mean, o->rule,
                                           &r->layers[i].ceiled);
    }
    free(rgb);
    if (st != TSL_OK)
        tsl_neural_result_free(r);
    return st;
}
