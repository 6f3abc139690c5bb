/* `tessl report`: what it reads (analyses' and neural results.json, training logs), the figures it draws
 * from them and the HTML page that holds both (docs/ANALYSES.md "tessl report"). Every input is keyed by
 * the lambda of the network it describes. */
#ifndef TSL_REPORT_H
#define TSL_REPORT_H

#include "tsl_status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { REPORT_MAX_ITEMS = 64, REPORT_MAX_METRICS = 64, REPORT_MAX_BENCHMARKS = 8, REPORT_PATH = 4096 };

/* A summary as results.json gives it: {"mean", "ci95": [lo, hi], "n"}; NaN (and n = 0) when absent
 * or null. */
typedef struct {
    double mean, lo, hi;
    int64_t n;
} report_number;

typedef struct {
    char name[64];
    report_number value;
} report_metric;

/* A neural predictivity score per benchmark: the raw score over splits (mean, CI, n), and the ceiled
 * score when the source has one (NaN otherwise). */
typedef struct {
    char benchmark[64];
    report_number predictivity;
    double ceiled;
} report_neural_score;

/* One results.json: a `tessl analyze` one (weights, and with a baseline the deltas) or a `tessl neural`
 * one; either may hold a "neural" section. */
typedef struct {
    char path[REPORT_PATH], weights_path[REPORT_PATH], baseline_path[REPORT_PATH];
    bool is_analysis;
    double lambda, baseline_lambda; /* NaN when unknown (a random baseline, no baseline) */
    report_metric weights[REPORT_MAX_METRICS], delta[REPORT_MAX_METRICS];
    int n_weights, n_delta;
    double chance; /* probe chance level, NaN when absent */
    int64_t images, augmentations, splits, seed;
    report_neural_score neural[REPORT_MAX_BENCHMARKS];
    int n_neural;
} report_result;

/* A training run's log, one entry per logged step. */
typedef struct {
    char dir[REPORT_PATH];
    double lambda;
    size_t n;
    double *step, *loss, *inv, *equi, *ce;
} report_run;

typedef struct {
    report_result *results; /* REPORT_MAX_ITEMS */
    int n_results;
    report_run runs[REPORT_MAX_ITEMS];
    int n_runs;
    char preview[REPORT_PATH]; /* an augmented-batch PNG to embed, or "" */
} report_inputs;

/* Adds what `path` holds: a results.json file, a folder with results.json (an analysis or neural
 * result), a folder with log.jsonl (a run; its lambda from RUN/checkpoint.safetensors), or else a folder
 * whose sub-folders hold those (a sweep or demo output, which may also hold preview.png). A second input
 * of the same kind for the same lambda, a file that is not what it claims, or a path with none of these
 * is an error naming it. */
tsl_status report_inputs_add(report_inputs *in, const char *path);

void report_inputs_free(report_inputs *in);

/* The metric `name` of a block, or NULL. */
const report_number *report_find(const report_metric *metrics, int n, const char *name);

/* The lambda every other analysis is compared with: the smallest lambda among the analyses (NaN when
 * there are none). Relative panels use the deltas of analyses whose baseline has this lambda. */
double report_reference_lambda(const report_inputs *in);

/* Writes OUT/figure1.{svg,png} and, when there are runs, OUT/loss.{svg,png}. `figure1_svg` and
 * `loss_svg` receive the SVG texts (malloc'd; loss_svg NULL without runs) for the HTML page. */
tsl_status report_write_figures(const report_inputs *in, const char *out, char **figure1_svg,
                                char **loss_svg);

/* Writes OUT/report.html (atomically): the figures inline, every number in tables with its 95% CI and
 * n, the preview image as a data URI, and what each panel means. */
tsl_status report_write_html(const report_inputs *in, const char *out, const char *figure1_svg,
                             const char *loss_svg);

/* The "lambda" metadata of a safetensors file (a tessl checkpoint), reading only its header.
 * TSL_ERR_NOT_FOUND when the file or the key is missing, TSL_ERR_FORMAT for a bad file or value. */
tsl_status report_checkpoint_lambda(const char *path, double *lambda);

/* Printable "%g" of a lambda. */
void report_lambda_text(double lambda, char *buf, size_t size);

#endif
