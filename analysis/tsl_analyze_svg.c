/* DIR/summary.svg: one panel per headline measurement, a bar per network with its 95% CI. */
#include "tsl_analyze.h"

#include "tsl_file.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const panels[][2] = {
    {"decoding.r.mean", "augmentation decoding (r)"},
    {"bures.shared_augmentation", "shared augmentation (D_B)"},
    {"bures.augmentation_vs_content", "augmentation vs content (D_B)"},
    {"bures.crop_vs_photometric", "crop vs photometric (D_B)"},
    {"factorization.augmentation_vs_content", "factorization"},
    {"probe.top1", "linear probe top-1"},
};
enum {
    N_PANELS = sizeof panels / sizeof panels[0],
    PANEL_W = 190,
    PANEL_H = 220,
    PLOT_TOP = 40,
    PLOT_H = 150
};

static const tsl_analyze_metric *find(const tsl_analyze_result *r, const char *name) {
    for (int i = 0; i < r->count; i++)
        if (strcmp(r->metrics[i].name, name) == 0)
            return &r->metrics[i];
    return NULL;
}

static double finite_or(double x, double fallback) {
    return isfinite(x) ? x : fallback;
}

/* y pixel of value v on a panel whose axis spans [lo, hi]. */
static double y_of(double v, double lo, double hi) {
    return PLOT_TOP + PLOT_H * (hi - v) / (hi - lo);
}

static void bar(FILE *f, double x, const tsl_analyze_summary *s, double lo, double hi, const char *colour) {
    double m = finite_or(s->mean, 0), y0 = y_of(0, lo, hi), y = y_of(m, lo, hi);
    fprintf(f, "<rect x='%.1f' y='%.1f' width='40' height='%.1f' fill='%s'/>\n", x, fmin(y, y0), fabs(y - y0),
            colour);
    if (isfinite(s->lo))
        fprintf(f, "<line x1='%.1f' x2='%.1f' y1='%.1f' y2='%.1f' stroke='black'/>\n", x + 20, x + 20,
                y_of(s->lo, lo, hi), y_of(s->hi, lo, hi));
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='10' text-anchor='middle'>%.3f</text>\n", x + 20,
            PLOT_TOP + PLOT_H + 14.0, m);
}

static tsl_status panel(FILE *f, int p, const tsl_analyze_result *r, const tsl_analyze_result *base) {
    const tsl_analyze_result *nets[2] = {r, base};
    tsl_analyze_summary s[2] = {{0, NAN, NAN, NAN}, {0, NAN, NAN, NAN}};
    double lo = 0, hi = 1;
    for (int k = 0; k < 2 && nets[k]; k++) {
        const tsl_analyze_metric *m = find(nets[k], panels[p][0]);
        if (!m)
            return tsl_error(TSL_ERR_INVALID_ARG, "analyze: no measurement %s", panels[p][0]);
        TSL_TRY(tsl_analyze_summarise(m->values, m->n, &s[k]));
        lo = fmin(lo, finite_or(s[k].lo, finite_or(s[k].mean, 0)));
        hi = fmax(hi, finite_or(s[k].hi, finite_or(s[k].mean, 0)));
    }
    fprintf(f, "<g transform='translate(%d,0)'>\n", p * PANEL_W);
    fprintf(f, "<text x='%d' y='20' font-size='11' text-anchor='middle'>%s</text>\n", PANEL_W / 2,
            panels[p][1]);
    fprintf(f, "<line x1='20' x2='%d' y1='%.1f' y2='%.1f' stroke='grey'/>\n", PANEL_W - 20, y_of(0, lo, hi),
            y_of(0, lo, hi));
    bar(f, base ? 45 : 75, &s[0], lo, hi, "#3465a4");
    if (base)
        bar(f, 105, &s[1], lo, hi, "#a0a0a0");
    fputs("</g>\n", f);
    return TSL_OK;
}

tsl_status tsl_analyze_write_svg(const char *path, const tsl_analyze_result *r,
                                 const tsl_analyze_result *base) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif'>\n",
            N_PANELS * PANEL_W, PANEL_H + 20);
    fprintf(f, "<rect width='100%%' height='100%%' fill='white'/>\n");
    tsl_status st = TSL_OK;
    for (int p = 0; p < N_PANELS && st == TSL_OK; p++)
        st = panel(f, p, r, base);
    fprintf(f, "<text x='10' y='%d' font-size='11'>blue: weights%s; whiskers: 95%% CI</text>\n</svg>\n",
            PANEL_H + 12, base ? ", grey: baseline" : "");
    fclose(f);
    if (st == TSL_OK)
        st = tsl_write_file_atomic(path, text, size);
    free(text);
    return st;
}
