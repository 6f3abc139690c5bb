/* The figures of `tessl report`: Figure 1's five panels (and the linear probe) against lambda, with 95%
 * CI error bars, and the training loss curves of each run; each written as SVG and PNG. */
#include "image_io.h"
#include "report.h"
#include "tsl_file.h"
#include "tsl_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_LOSS_POINTS = 400, N_FIG1 = 6, N_LOSS = 4 };

/* Points of one series against lambda, sorted by lambda. */
typedef struct {
    double x[REPORT_MAX_ITEMS], y[REPORT_MAX_ITEMS], lo[REPORT_MAX_ITEMS], hi[REPORT_MAX_ITEMS];
    size_t n;
} lambda_points;

static void add_point(lambda_points *p, double lambda, const report_number *v) {
    if (!v || !isfinite(v->mean) || p->n == REPORT_MAX_ITEMS)
        return;
    size_t i = p->n++;
    for (; i > 0 && p->x[i - 1] > lambda; i--) { /* insertion keeps lambda order for the line */
        p->x[i] = p->x[i - 1], p->y[i] = p->y[i - 1], p->lo[i] = p->lo[i - 1], p->hi[i] = p->hi[i - 1];
    }
    p->x[i] = lambda, p->y[i] = v->mean, p->lo[i] = v->lo, p->hi[i] = v->hi;
}

/* Figure 1's relative panels: E[delta D_B] against the reference network, which is 0 at the reference
 * by definition (the paper's leftmost points). Only analyses whose baseline is the reference count. */
static void relative_points(const report_inputs *in, const char *metric, lambda_points *p) {
    double ref = report_reference_lambda(in);
    for (int i = 0; i < in->n_results; i++) {
        const report_result *r = &in->results[i];
        if (!r->is_analysis)
            continue;
        if (r->lambda == ref) {
            report_number zero = {0, 0, 0, 0};
            add_point(p, r->lambda, &zero);
        } else if (r->baseline_lambda == ref) {
            add_point(p, r->lambda, report_find(r->delta, r->n_delta, metric));
        }
    }
}

static void absolute_points(const report_inputs *in, const char *metric, lambda_points *p) {
    for (int i = 0; i < in->n_results; i++)
        if (in->results[i].is_analysis)
            add_point(p, in->results[i].lambda,
                      report_find(in->results[i].weights, in->results[i].n_weights, metric));
}

/* The distinct neural benchmarks, in order of first appearance. */
static int benchmarks(const report_inputs *in, const char *names[REPORT_MAX_BENCHMARKS]) {
    int n = 0;
    for (int i = 0; i < in->n_results; i++)
        for (int b = 0; b < in->results[i].n_neural; b++) {
            const char *name = in->results[i].neural[b].benchmark;
            int k = 0;
            while (k < n && strcmp(names[k], name) != 0)
                k++;
            if (k == n && n < REPORT_MAX_BENCHMARKS)
                names[n++] = name;
        }
    return n;
}

static void neural_points(const report_inputs *in, const char *benchmark, lambda_points *p) {
    for (int i = 0; i < in->n_results; i++)
        for (int b = 0; b < in->results[i].n_neural; b++)
            if (strcmp(in->results[i].neural[b].benchmark, benchmark) == 0)
                add_point(p, in->results[i].lambda, &in->results[i].neural[b].predictivity);
}

static tsl_plot_series series_of(const lambda_points *p, const char *label, uint32_t rgb) {
    return (tsl_plot_series){.label = label,
                             .x = p->x,
                             .y = p->y,
                             .lo = p->lo,
                             .hi = p->hi,
                             .n = p->n,
                             .rgb = rgb,
                             .line = true,
                             .markers = true};
}

/* Writes OUT/NAME.svg and OUT/NAME.png; returns the SVG text. */
static tsl_status write_figure(const tsl_plot_figure *f, const char *out, const char *name, char **svg) {
    size_t size;
    TSL_TRY(tsl_plot_render_svg(f, svg, &size));
    char path[REPORT_PATH + 64];
    snprintf(path, sizeof path, "%s/%s.svg", out, name);
    TSL_TRY(tsl_write_file_atomic(path, *svg, size));
    uint8_t *rgb;
    int w, h;
    TSL_TRY(tsl_plot_render_rgb(f, &rgb, &w, &h));
    snprintf(path, sizeof path, "%s/%s.png", out, name);
    tsl_status st = tsl_image_save_png(path, rgb, (uint32_t)w, (uint32_t)h);
    free(rgb);
    return st;
}

static tsl_status figure1(const report_inputs *in, const char *out, char **svg) {
    lambda_points pts[N_FIG1 - 1 + REPORT_MAX_BENCHMARKS];
    memset(pts, 0, sizeof pts);
    tsl_plot_series series[N_FIG1 - 1 + REPORT_MAX_BENCHMARKS];
    tsl_plot_legend legend[REPORT_MAX_BENCHMARKS];
    const char *names[REPORT_MAX_BENCHMARKS];
    int nb = benchmarks(in, names);
    for (int b = 0; b < nb; b++) {
        neural_points(in, names[b], &pts[N_FIG1 - 1 + b]);
        series[N_FIG1 - 1 + b] = series_of(&pts[N_FIG1 - 1 + b], names[b], tsl_plot_colour(b + 1));
        legend[b] = (tsl_plot_legend){names[b], tsl_plot_colour(b + 1)};
    }
    relative_points(in, "bures.shared_augmentation", &pts[0]);
    absolute_points(in, "decoding.r.mean", &pts[1]);
    relative_points(in, "bures.augmentation_vs_content", &pts[2]);
    relative_points(in, "bures.crop_vs_photometric", &pts[3]);
    absolute_points(in, "probe.top1", &pts[4]);
    for (int i = 0; i < N_FIG1 - 1; i++)
        series[i] = series_of(&pts[i], NULL, tsl_plot_colour(0));
    const char *x = "lambda";
    tsl_plot_panel panels[N_FIG1] = {
        {"1 IT predictivity", x, "predictivity", series + N_FIG1 - 1, nb, .empty_text = "no neural data"},
        {"2 shared augmentation", x, "E[delta D_B] vs ref.", &series[0], 1, .y_zero_line = true,
         .empty_text = "no analyses"},
        {"3 augmentation decoding", x, "mean r", &series[1], 1, .empty_text = "no analyses"},
        {"4 augmentation vs content", x, "E[delta D_B] vs ref.", &series[2], 1, .y_zero_line = true,
         .empty_text = "no analyses"},
        {"5 crop vs photometric", x, "E[delta D_B] vs ref.", &series[3], 1, .y_zero_line = true,
         .empty_text = "no analyses"},
        {"linear probe", x, "top-1", &series[4], 1, .empty_text = "no analyses"},
    };
    double lo = INFINITY, hi = -INFINITY; /* one lambda axis for every panel */
    for (int i = 0; i < in->n_results; i++)
        lo = fmin(lo, in->results[i].lambda), hi = fmax(hi, in->results[i].lambda);
    double pad = hi > lo ? 0.05 * (hi - lo) : 0.1;
    for (int i = 0; i < N_FIG1 && in->n_results; i++)
        panels[i].fixed_x = true, panels[i].x_min = lo - pad, panels[i].x_max = hi + pad;
    tsl_plot_figure f = {.title = "Figure 1 panels against lambda (95% CI)",
                         .panels = panels,
                         .n_panels = N_FIG1,
                         .columns = 3,
                         .panel_w = 300,
                         .panel_h = 240,
                         .legend = legend,
                         .n_legend = nb};
    return write_figure(&f, out, "figure1", svg);
}

/* Averages of `v` over consecutive bins of steps, at most MAX_LOSS_POINTS points. */
static size_t binned(const report_run *run, const double *v, double *x, double *y) {
    size_t bins = run->n < MAX_LOSS_POINTS ? run->n : MAX_LOSS_POINTS, out = 0;
    for (size_t b = 0; b < bins; b++) {
        size_t first = b * run->n / bins, last = (b + 1) * run->n / bins;
        double sx = 0, sy = 0;
        size_t k = 0;
        for (size_t i = first; i < last; i++)
            if (isfinite(v[i]))
                sx += run->step[i], sy += v[i], k++;
        if (k)
            x[out] = sx / k, y[out++] = sy / k;
    }
    return out;
}

static tsl_status loss_figure(const report_inputs *in, const char *out, char **svg) {
    int n = in->n_runs;
    size_t per = MAX_LOSS_POINTS;
    double *mem = malloc(sizeof(double) * 2 * per * N_LOSS * (size_t)n);
    tsl_plot_series *series = malloc(sizeof *series * N_LOSS * (size_t)n);
    tsl_plot_legend *legend = malloc(sizeof *legend * (size_t)n);
    char(*labels)[48] = malloc(sizeof *labels * (size_t)n);
    tsl_status st = TSL_OK;
    if (!mem || !series || !legend || !labels)
        st = tsl_error(TSL_ERR_NOMEM, "report: out of memory for loss curves");
    for (int r = 0; st == TSL_OK && r < n; r++) {
        const report_run *run = &in->runs[r];
        const double *fields[N_LOSS] = {run->loss, run->inv, run->equi, run->ce};
        char l[32];
        report_lambda_text(run->lambda, l, sizeof l);
        snprintf(labels[r], sizeof labels[r], "lambda = %s", l);
        legend[r] = (tsl_plot_legend){labels[r], tsl_plot_colour(r)};
        for (int k = 0; k < N_LOSS; k++) {
            double *x = mem + ((size_t)k * n + r) * 2 * per, *y = x + per;
            series[k * n + r] = (tsl_plot_series){.label = labels[r],
                                                  .x = x,
                                                  .y = y,
                                                  .n = binned(run, fields[k], x, y),
                                                  .rgb = tsl_plot_colour(r),
                                                  .line = true};
        }
    }
    const char *x = "step";
    tsl_plot_panel panels[N_LOSS] = {
        {"total loss", x, "loss", series, n, .empty_text = "not logged"},
        {"invariant term", x, "Barlow Twins", series + n, n, .empty_text = "not logged"},
        {"equivariant term", x, "Barlow Twins", series + 2 * n, n, .empty_text = "not logged"},
        {"online classifier", x, "cross-entropy", series + 3 * n, n, .empty_text = "not logged"},
    };
    tsl_plot_figure f = {.title = "Training loss (bin means)",
                         .panels = panels,
                         .n_panels = N_LOSS,
                         .columns = 4,
                         .panel_w = 260,
                         .panel_h = 220,
                         .legend = legend,
                         .n_legend = n};
    if (st == TSL_OK)
        st = write_figure(&f, out, "loss", svg);
    free(mem);
    free(series);
    free(legend);
    free(labels);
    return st;
}

tsl_status report_write_figures(const report_inputs *in, const char *out, char **figure1_svg,
                                char **loss_svg) {
    *figure1_svg = *loss_svg = NULL;
    TSL_TRY(figure1(in, out, figure1_svg));
    return in->n_runs ? loss_figure(in, out, loss_svg) : TSL_OK;
}
