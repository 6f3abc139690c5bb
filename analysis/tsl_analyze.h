/* `tessl analyze`: the measurements of paper Figure 1 on one network (docs/ANALYSES.md has each
 * definition and the exact sampling). Every measurement is kept per unit (a split, a pair, an image, a
 * validation image), so that a report gives its mean with n and a 95% t interval over units, and two
 * networks measured with the same options and seed give paired per-unit differences. */
#ifndef TSL_ANALYZE_H
#define TSL_ANALYZE_H

#include "tsl_analyze_features.h"
#include "tsl_plot.h"

#include <stdio.h>

typedef struct {
    size_t images;        /* M validation images for the augmentation measurements (even, >= 4) */
    size_t augmentations; /* K augmentations per image (>= 2) */
    size_t splits;        /* random half splits for augmentation decoding (>= 2) */
    uint64_t seed;        /* every sample and split */
} tsl_analyze_options;

/* One measurement: a value per unit; NaN marks a unit where it is undefined (e.g. a Bures distance of a
 * set without variance), left out of means and differences. */
typedef struct {
    char name[48];
    double *values;
    size_t n;
} tsl_analyze_metric;

enum { TSL_ANALYZE_MAX_METRICS = 40 };

typedef struct {
    tsl_analyze_metric metrics[TSL_ANALYZE_MAX_METRICS];
    int count;
    uint32_t classes;         /* linear probe: classes in the shards (chance = 1 / classes) */
    size_t probe_train;       /* images the probe was fitted on */
    bool probe_converged;     /* L-BFGS converged */
    size_t decode_train_rows; /* rows per decoding split */
    size_t decode_test_rows;
    size_t images; /* M images measured (pairs: M / 2) */
    size_t feature_dim;
} tsl_analyze_result;

/* Runs every measurement on the extractor's current model: `val` gives the augmentation measurements'
 * images (the first options->images) and the probe's test images (all of them), `train` the probe's
 * training images, both loaded unaugmented on the host. */
tsl_status tsl_analyze_measure(tsl_analyze_extractor *ex, const tsl_analyze_images *val,
                               const tsl_analyze_images *train, const tsl_analyze_options *options,
                               tsl_analyze_result *result);

void tsl_analyze_result_free(tsl_analyze_result *result);

typedef struct {
    size_t n;            /* finite values */
    double mean, lo, hi; /* NaN when undefined (n == 0; the interval when n < 2) */
} tsl_analyze_summary;

/* Mean and 95% Student-t interval of the finite values among x[0..n). */
tsl_status tsl_analyze_summarise(const double *x, size_t n, tsl_analyze_summary *summary);

/* The summary figure: the headline measurements (decoding mean r, the three Bures distances,
 * factorization, probe top-1), one panel each, with `result` (and, when given, `baseline`) as a point
 * with its 95% CI bar. The struct holds everything `figure` points to; render it with tsl_plot. */
enum { TSL_ANALYZE_PLOT_PANELS = 6 };
typedef struct {
    tsl_plot_figure figure;
    tsl_plot_panel panels[TSL_ANALYZE_PLOT_PANELS];
    tsl_plot_series series[TSL_ANALYZE_PLOT_PANELS][2];
    tsl_plot_legend legend[2];
    double x[TSL_ANALYZE_PLOT_PANELS][2], y[TSL_ANALYZE_PLOT_PANELS][2];
    double lo[TSL_ANALYZE_PLOT_PANELS][2], hi[TSL_ANALYZE_PLOT_PANELS][2];
} tsl_analyze_plot;

tsl_status tsl_analyze_plot_build(tsl_analyze_plot *plot, const tsl_analyze_result *result,
                                  const tsl_analyze_result *baseline);

/* A top-level member of results.json: a string when `text` is not NULL, else `number` (left out when it
 * is not finite, e.g. the lambda of a random network). */
typedef struct {
    const char *key, *text;
    double number;
} tsl_analyze_field;

/* Writes results.json (atomically) for `result` and, when `baseline` is not NULL, the baseline's numbers
 * and the per-unit differences result - baseline. `header` holds `n_header` members (weights, arch,
 * lambda, ...) written at the top level. Also prints a summary to `summary` (may be NULL). */
tsl_status tsl_analyze_write_report(const char *path, const tsl_analyze_field *header, int n_header,
                                    const tsl_analyze_options *options, const tsl_analyze_result *result,
                                    const tsl_analyze_result *baseline, FILE *summary);

#endif
