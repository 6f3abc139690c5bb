/* The summary figure of `tessl analyze` (DIR/summary.svg and .png): one panel per headline measurement,
 * the network (and the baseline) as a point with its 95% CI, drawn by tsl_plot. */
#include "tsl_analyze.h"

#include <math.h>
#include <string.h>

static const char *const panels[TSL_ANALYZE_PLOT_PANELS][2] = {
    {"decoding.r.mean", "augmentation decoding (r)"},
    {"bures.shared_augmentation", "shared augmentation (D_B)"},
    {"bures.augmentation_vs_content", "aug. vs content (D_B)"},
    {"bures.crop_vs_photometric", "crop vs photometric (D_B)"},
    {"factorization.augmentation_vs_content", "factorization"},
    {"probe.top1", "linear probe top-1"},
};
static const char *const names[2] = {"network", "baseline"};

static const tsl_analyze_metric *find(const tsl_analyze_result *r, const char *name) {
    for (int i = 0; i < r->count; i++)
        if (strcmp(r->metrics[i].name, name) == 0)
            return &r->metrics[i];
    return NULL;
}

tsl_status tsl_analyze_plot_build(tsl_analyze_plot *p, const tsl_analyze_result *r,
                                  const tsl_analyze_result *base) {
    memset(p, 0, sizeof *p);
    const tsl_analyze_result *nets[2] = {r, base};
    int n_nets = base ? 2 : 1;
    for (int k = 0; k < n_nets; k++)
        p->legend[k] = (tsl_plot_legend){names[k], tsl_plot_colour(k == 0 ? 0 : 7)};
    for (int i = 0; i < TSL_ANALYZE_PLOT_PANELS; i++) {
        for (int k = 0; k < n_nets; k++) {
            const tsl_analyze_metric *m = find(nets[k], panels[i][0]);
            if (!m)
                return tsl_error(TSL_ERR_INVALID_ARG, "analyze: no measurement %s", panels[i][0]);
            tsl_analyze_summary s;
            TSL_TRY(tsl_analyze_summarise(m->values, m->n, &s));
            p->x[i][k] = k, p->y[i][k] = s.mean, p->lo[i][k] = s.lo, p->hi[i][k] = s.hi;
            p->series[i][k] = (tsl_plot_series){.label = names[k],
                                                .x = &p->x[i][k],
                                                .y = &p->y[i][k],
                                                .lo = &p->lo[i][k],
                                                .hi = &p->hi[i][k],
                                                .n = 1,
                                                .rgb = p->legend[k].rgb,
                                                .markers = true};
        }
        p->panels[i] = (tsl_plot_panel){.title = panels[i][1],
                                        .series = p->series[i],
                                        .n_series = n_nets,
                                        .y_zero_line = true,
                                        .empty_text = "undefined",
                                        .x_names = names,
                                        .n_x_names = n_nets};
    }
    p->figure = (tsl_plot_figure){.title = "tessl analyze: mean and 95% CI over units",
                                  .panels = p->panels,
                                  .n_panels = TSL_ANALYZE_PLOT_PANELS,
                                  .columns = TSL_ANALYZE_PLOT_PANELS,
                                  .panel_w = 200,
                                  .panel_h = 220,
                                  .legend = p->legend,
                                  .n_legend = n_nets};
    return TSL_OK;
}
