/* OUT/report.html: one self-contained page (inline SVG figures, the preview PNG as a data URI, no
 * scripts, no external files) with every plotted number in tables, each as mean [95% CI] n=. */
#include "report.h"
#include "tsl_file.h"
#include "tsl_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_PREVIEW_BYTES = 64 << 20 };

/* "mean [lo, hi] n=N"; "n/a" when undefined. */
static void number_cell(FILE *f, const report_number *v) {
    fputs("<td>", f);
    if (!v || !isfinite(v->mean))
        fputs("n/a", f);
    else if (isfinite(v->lo) && isfinite(v->hi))
        fprintf(f, "%.4f [%.4f, %.4f] n=%lld", v->mean, v->lo, v->hi, (long long)v->n);
    else
        fprintf(f, "%.4f n=%lld", v->mean, (long long)v->n);
    fputs("</td>", f);
}

static void base64(FILE *f, const uint8_t *d, size_t n) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v =
            (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        fputc(a[v >> 18 & 63], f);
        fputc(a[v >> 12 & 63], f);
        fputc(i + 1 < n ? a[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? a[v & 63] : '=', f);
    }
}

/* The sorted distinct lambdas of all results. */
static int result_lambdas(const report_inputs *in, double *out) {
    int n = 0;
    for (int i = 0; i < in->n_results; i++) {
        double l = in->results[i].lambda;
        int k = 0;
        while (k < n && out[k] != l)
            k++;
        if (k < n)
            continue;
        for (k = n++; k > 0 && out[k - 1] > l; k--)
            out[k] = out[k - 1];
        out[k] = l;
    }
    return n;
}

static const report_result *analysis_of(const report_inputs *in, double lambda) {
    for (int i = 0; i < in->n_results; i++)
        if (in->results[i].is_analysis && in->results[i].lambda == lambda)
            return &in->results[i];
    return NULL;
}

static const report_neural_score *score_of(const report_inputs *in, double lambda, const char *benchmark) {
    for (int i = 0; i < in->n_results; i++)
        for (int b = 0; in->results[i].lambda == lambda && b < in->results[i].n_neural; b++)
            if (strcmp(in->results[i].neural[b].benchmark, benchmark) == 0)
                return &in->results[i].neural[b];
    return NULL;
}

/* The raw score with its CI, then the ceiled score when there is one. */
static void score_cell(FILE *f, const report_neural_score *s) {
    number_cell(f, s ? &s->predictivity : NULL);
    if (s && isfinite(s->ceiled))
        fprintf(f, "<td>%.4f</td>", s->ceiled);
    else
        fputs("<td>n/a</td>", f);
}

/* A relative panel's cell: 0 at the reference, the delta when the baseline is the reference. */
static void relative_cell(FILE *f, const report_result *r, double ref, const char *metric) {
    if (r && r->lambda == ref) {
        fputs("<td>0 (reference)</td>", f);
    } else if (r && r->baseline_lambda == ref) {
        number_cell(f, report_find(r->delta, r->n_delta, metric));
    } else {
        fputs("<td>n/a (baseline is not the reference)</td>", f);
    }
}

static const char *const relative[3] = {"bures.shared_augmentation", "bures.augmentation_vs_content",
                                        "bures.crop_vs_photometric"};

static void figure1_table(FILE *f, const report_inputs *in) {
    double lambdas[REPORT_MAX_ITEMS], ref = report_reference_lambda(in);
    int n = result_lambdas(in, lambdas);
    const char *bench[REPORT_MAX_BENCHMARKS];
    int nb = 0;
    for (int i = 0; i < in->n_results; i++)
        for (int b = 0; b < in->results[i].n_neural; b++) {
            int k = 0;
            while (k < nb && strcmp(bench[k], in->results[i].neural[b].benchmark) != 0)
                k++;
            if (k == nb && nb < REPORT_MAX_BENCHMARKS)
                bench[nb++] = in->results[i].neural[b].benchmark;
        }
    fputs("<table>\n<tr><th>lambda</th>", f);
    for (int b = 0; b < nb; b++) {
        fputs("<th>1 predictivity: ", f);
        tsl_plot_write_escaped(f, bench[b]);
        fputs("</th><th>ceiled</th>", f);
    }
    if (nb == 0)
        fputs("<th>1 predictivity</th>", f);
    fputs("<th>2 shared augmentation E[&Delta;D<sub>B</sub>]</th><th>3 decoding mean r</th>"
          "<th>4 augmentation vs content E[&Delta;D<sub>B</sub>]</th>"
          "<th>5 crop vs photometric E[&Delta;D<sub>B</sub>]</th><th>linear probe top-1</th>"
          "<th>probe chance</th><th>analysed against</th></tr>\n",
          f);
    for (int i = 0; i < n; i++) {
        const report_result *r = analysis_of(in, lambdas[i]);
        fprintf(f, "<tr><td>%g</td>", lambdas[i]);
        for (int b = 0; b < nb; b++)
            score_cell(f, score_of(in, lambdas[i], bench[b]));
        if (nb == 0)
            fputs("<td>no neural data</td>", f);
        relative_cell(f, r, ref, relative[0]);
        number_cell(f, r ? report_find(r->weights, r->n_weights, "decoding.r.mean") : NULL);
        relative_cell(f, r, ref, relative[1]);
        relative_cell(f, r, ref, relative[2]);
        number_cell(f, r ? report_find(r->weights, r->n_weights, "probe.top1") : NULL);
        if (r && isfinite(r->chance))
            fprintf(f, "<td>%.4f</td><td>", r->chance);
        else
            fputs("<td>n/a</td><td>", f);
        tsl_plot_write_escaped(f, r && r->baseline_path[0] ? r->baseline_path : "-");
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* Mean of a run's field over its first or last `w` logged steps. */
static double window_mean(const report_run *run, const double *v, bool last) {
    size_t w = run->n / 20 > 5 ? run->n / 20 : (run->n < 5 ? run->n : 5), k = 0;
    double s = 0;
    for (size_t i = 0; i < w; i++) {
        double x = v[last ? run->n - w + i : i];
        if (isfinite(x))
            s += x, k++;
    }
    return k ? s / k : NAN;
}

static void loss_table(FILE *f, const report_inputs *in) {
    fputs("<table>\n<tr><th>lambda</th><th>run</th><th>steps logged</th><th>last step</th>"
          "<th>total loss (first &rarr; last)</th><th>invariant term</th><th>equivariant term</th>"
          "<th>online classifier cross-entropy</th></tr>\n",
          f);
    for (int i = 0; i < in->n_runs; i++) {
        const report_run *r = &in->runs[i];
        fprintf(f, "<tr><td>%g</td><td>", r->lambda);
        tsl_plot_write_escaped(f, r->dir);
        fprintf(f, "</td><td>%zu</td><td>%.0f</td>", r->n, r->step[r->n - 1]);
        const double *fields[4] = {r->loss, r->inv, r->equi, r->ce};
        for (int k = 0; k < 4; k++)
            fprintf(f, "<td>%.4f &rarr; %.4f</td>", window_mean(r, fields[k], false),
                    window_mean(r, fields[k], true));
        fputs("</tr>\n", f);
    }
    fputs("</table>\n<p>First and last: means over the first and the last 5% of logged steps (at least "
          "5).</p>\n",
          f);
}

/* Every measurement of every analysis: the network's own value, then its delta against its baseline. */
static void all_measurements(FILE *f, const report_inputs *in, bool delta) {
    double lambdas[REPORT_MAX_ITEMS];
    int n = result_lambdas(in, lambdas), cols = 0;
    const report_result *rs[REPORT_MAX_ITEMS];
    for (int i = 0; i < n; i++)
        if ((rs[cols] = analysis_of(in, lambdas[i])) && (!delta || rs[cols]->n_delta))
            cols++;
    if (!cols)
        return;
    fputs(delta ? "<h3>Differences from each analysis's baseline (paired per unit)</h3>\n"
                : "<h3>Each network's own values</h3>\n",
          f);
    fputs("<table>\n<tr><th>measurement</th>", f);
    for (int c = 0; c < cols; c++) {
        fprintf(f, "<th>lambda %g", rs[c]->lambda);
        if (delta) {
            fputs(" &minus; ", f);
            tsl_plot_write_escaped(f, rs[c]->baseline_path);
        }
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    const report_result *first = rs[0];
    int rows = delta ? first->n_delta : first->n_weights;
    for (int m = 0; m < rows; m++) {
        const char *name = delta ? first->delta[m].name : first->weights[m].name;
        fputs("<tr><td>", f);
        tsl_plot_write_escaped(f, name);
        fputs("</td>", f);
        for (int c = 0; c < cols; c++)
            number_cell(f, delta ? report_find(rs[c]->delta, rs[c]->n_delta, name)
                                 : report_find(rs[c]->weights, rs[c]->n_weights, name));
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static tsl_status preview_section(FILE *f, const char *path) {
    if (!path[0])
        return TSL_OK;
    void *png;
    size_t size;
    TSL_TRY(tsl_read_file(path, MAX_PREVIEW_BYTES, &png, &size));
    fputs("<h2>One augmented batch</h2>\n<p>Each row is a pair of images: both under t, then both under t' "
          "(the two halves of a TeSSL batch share every augmentation parameter). From ",
          f);
    tsl_plot_write_escaped(f, path);
    fputs(".</p>\n<img alt=\"augmented batch\" src=\"data:image/png;base64,", f);
    base64(f, png, size);
    fputs("\">\n", f);
    free(png);
    return TSL_OK;
}

static void inputs_section(FILE *f, const report_inputs *in) {
    fputs("<h2>Inputs</h2>\n<ul>\n", f);
    for (int i = 0; i < in->n_results; i++) {
        const report_result *r = &in->results[i];
        fprintf(f, "<li>lambda %g: %s ", r->lambda, r->is_analysis ? "analysis" : "neural scores");
        tsl_plot_write_escaped(f, r->path);
        if (r->is_analysis && r->images >= 0)
            fprintf(f, " (%lld images, %lld augmentations each, %lld decoding splits, seed %lld)",
                    (long long)r->images, (long long)r->augmentations, (long long)r->splits,
                    (long long)r->seed);
        fputs("</li>\n", f);
    }
    for (int i = 0; i < in->n_runs; i++) {
        fprintf(f, "<li>lambda %g: run ", in->runs[i].lambda);
        tsl_plot_write_escaped(f, in->runs[i].dir);
        fputs("</li>\n", f);
    }
    fputs("</ul>\n", f);
}

static const char style[] =
    "body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}th{background:#f3f3f3}"
    "svg{max-width:100%;height:auto}img{max-width:100%;image-rendering:pixelated}";

static const char panels_text[] =
    "<p>Panels as in the paper's Figure 1 (docs/ANALYSES.md has each definition): (1) neural predictivity, "
    "from tessl neural results when given; (2) trace-normalised Bures distance between two images' "
    "feature covariances under the same augmentations; (3) mean correlation of decoded augmentation "
    "parameters; (4) Bures distance between one image's augmentation covariance and the covariance over "
    "content; (5) Bures distance between one image's crop-only and photometric-only covariances. Panels "
    "2, 4 and 5 are E[&Delta;D<sub>B</sub>], the mean paired difference from the reference network (the "
    "smallest lambda analysed, normally 0), so the reference's point is 0 by definition; negative values "
    "in 4 and 5 mean more factorised variability. Error bars and brackets: 95% Student-t intervals over "
    "units (pairs, images, splits or validation images); n is the number of units.</p>\n";

static tsl_status write_page(FILE *f, const report_inputs *in, const char *fig1, const char *loss) {
    char ref[32];
    report_lambda_text(report_reference_lambda(in), ref, sizeof ref);
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>tessl report"
            "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>tessl report</h1>\n",
            style);
    fprintf(f,
            "<p>%d analyses and neural results, %d training runs; reference lambda %s. Files beside this "
            "page: figure1.png, figure1.svg%s.</p>\n",
            in->n_results, in->n_runs, ref, loss ? ", loss.png, loss.svg" : "");
    fputs("<h2>Figure 1 against lambda</h2>\n", f);
    fputs(fig1, f);
    fputs(panels_text, f);
    figure1_table(f, in);
    fputs("<h2>Training</h2>\n", f);
    if (loss) {
        fputs(loss, f);
        loss_table(f, in);
    } else {
        fputs("<p>No training runs given (folders with log.jsonl).</p>\n", f);
    }
    TSL_TRY(preview_section(f, in->preview));
    fputs("<h2>All measurements</h2>\n", f);
    all_measurements(f, in, false);
    all_measurements(f, in, true);
    inputs_section(f, in);
    fputs("</body>\n</html>\n", f);
    return TSL_OK;
}

tsl_status report_write_html(const report_inputs *in, const char *out, const char *figure1_svg,
                             const char *loss_svg) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return tsl_error(TSL_ERR_NOMEM, "report: out of memory");
    tsl_status st = write_page(f, in, figure1_svg, loss_svg);
    fclose(f);
    char path[REPORT_PATH + 32];
    snprintf(path, sizeof path, "%s/report.html", out);
    if (st == TSL_OK)
        st = tsl_write_file_atomic(path, text, size);
    free(text);
    return st;
}
