/* `tessl neural`: Brain-Score-style IT predictivity of a network's layers (docs/ANALYSES.md "Neural
 * predictivity"). Every stimulus is placed in the model's field of view and resized to 224 x 224 with
 * ImageNet normalisation (datasets/tsl_neural_stimuli.h); one layer's evaluation-mode output, flattened,
 * is the feature vector; tsl_analysis_predictivity (PLS, 10 stratified 90/10 splits, median Pearson r over
 * neuroids, mean over splits) scores it against the trial-averaged responses, and
 * tsl_analysis_split_half_ceiling gives the ceiling when trials are known. Several layers (the sweep) are
 * scored on the same splits and the best raw score is picked. */
#ifndef TSL_NEURAL_SCORE_H
#define TSL_NEURAL_SCORE_H

#include "tsl_analysis_predictivity.h"
#include "tsl_features.h"
#include "tsl_neural_data.h"
#include "tsl_neural_stimuli.h"
#include "tsl_stats_ci.h"

#include <stdio.h>

enum { TSL_NEURAL_MAX_LAYERS = 8 };

typedef struct {
    const char *stimuli_dir;
    tsl_neural_view view;                      /* 224 px, 8 and 8 degrees */
    const char *layers[TSL_NEURAL_MAX_LAYERS]; /* layers to score (one, or the sweep's candidates) */
    size_t n_layers;
    uint32_t batch;                                 /* stimuli per forward pass */
    tsl_analysis_predictivity_options predictivity; /* 10 splits, 0.1, 25 components, seed 1 */
    size_t ceiling_splits;                          /* 10 */
    tsl_analysis_ceiling_rule rule;                 /* r^2 / ceiling (Brain-Score since 2026-01) */
    uint64_t max_feature_bytes;                     /* refuse a layer whose feature matrix is larger */
    const char *features_dir; /* when set, each layer's features go to DIR/features_<layer>.npy (float32) */
} tsl_neural_options;

void tsl_neural_options_default(tsl_neural_options *options);

typedef struct {
    char layer[16];
    size_t feature_dim;
    double *split_scores; /* n_splits medians of r */
    tsl_stats_ci ci;      /* mean (the score) and 95% t interval over splits */
    double ceiled;        /* under options.rule; NaN without a (positive) ceiling */
} tsl_neural_layer_score;

typedef struct {
    tsl_neural_layer_score layers[TSL_NEURAL_MAX_LAYERS];
    size_t n_layers, best; /* best: the layer with the highest score */
    bool has_ceiling;
    double *ceiling_splits; /* ceiling_splits of them */
    tsl_stats_ci ceiling;
    size_t n_splits, n_ceiling_splits;
} tsl_neural_result;

/* Scores every layer of options->layers on `session`'s network. Stimuli are loaded once (RGB8 at the
 * model's size) and streamed through the network per layer in batches. Errors name the stimulus file, the
 * layer or the statistic that failed. */
tsl_status tsl_neural_score(tsl_features_session *session, const tsl_neural_data *data,
                            const tsl_neural_options *options, tsl_neural_result *result);

void tsl_neural_result_free(tsl_neural_result *result);

/* Writes results.json atomically (docs/ANALYSES.md): `header` holds n_header key/value string pairs
 * (weights, responses, ...), then the data's sizes, the options, the ceiling and every layer's score with
 * its CI and n; prints a summary to `summary` (may be NULL). */
tsl_status tsl_neural_write_report(const char *path, const char *const (*header)[2], int n_header,
                                   const tsl_neural_data *data, const tsl_neural_options *options,
                                   const tsl_neural_result *result, FILE *summary);

#endif
