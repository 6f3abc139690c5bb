/* Figure layout (ranges, ticks, panel positions) and drawing through a tsl_plot_canvas. */
#include "tsl_plot_canvas.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { MIN_PANEL_W = 120, MIN_PANEL_H = 110 };

static const uint32_t palette[8] = {0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e,
                                    0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f};
static const uint32_t BLACK = 0x000000, GRID = 0xdddddd, AXIS = 0x444444, ZERO = 0x999999;

uint32_t tsl_plot_colour(int i) {
    return palette[(i % 8 + 8) % 8];
}

static int panel_rows(const tsl_plot_figure *f) {
    int cols = f->columns > 0 ? f->columns : 1;
    return (f->n_panels + cols - 1) / cols;
}

static int figure_top(const tsl_plot_figure *f) {
    return f->title ? TSL_PLOT_FIGURE_TOP : 0;
}

void tsl_plot_size(const tsl_plot_figure *f, int *width, int *height) {
    int cols = f->columns > 0 ? f->columns : 1;
    if (cols > f->n_panels && f->n_panels > 0)
        cols = f->n_panels;
    *width = cols * f->panel_w;
    *height = figure_top(f) + panel_rows(f) * f->panel_h + (f->n_legend > 0 ? TSL_PLOT_LEGEND_H : 0);
}

/* Widens [*lo, *hi] over the finite values v[0..n). */
static void extend(const double *v, size_t n, double *lo, double *hi) {
    for (size_t i = 0; v && i < n; i++)
        if (isfinite(v[i])) {
            *lo = fmin(*lo, v[i]);
            *hi = fmax(*hi, v[i]);
        }
}

/* The data range of a panel: x over finite points, y over finite points and bar ends. */
static bool data_range(const tsl_plot_panel *p, double *x0, double *x1, double *y0, double *y1) {
    *x0 = *y0 = INFINITY;
    *x1 = *y1 = -INFINITY;
    for (int s = 0; s < p->n_series; s++) {
        const tsl_plot_series *se = &p->series[s];
        for (size_t i = 0; i < se->n; i++) {
            if (!isfinite(se->x[i]) || !isfinite(se->y[i]))
                continue;
            extend(&se->x[i], 1, x0, x1);
            extend(&se->y[i], 1, y0, y1);
            if (se->lo)
                extend(&se->lo[i], 1, y0, y1);
            if (se->hi)
                extend(&se->hi[i], 1, y0, y1);
        }
    }
    return isfinite(*x0) && isfinite(*y0);
}

/* Pads [lo, hi] by 5% per side; a single value gets a range around it. */
static void pad(double *lo, double *hi) {
    double span = *hi - *lo;
    if (!(span > 1e-12 * fmax(fabs(*lo), fabs(*hi)))) {
        double m = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1.0;
        *lo -= m;
        *hi += m;
        return;
    }
    *lo -= 0.05 * span;
    *hi += 0.05 * span;
}

/* Ticks at multiples of a 1-2-5 step inside [lo, hi], at most TSL_PLOT_MAX_TICKS and about 5. */
static int nice_ticks(double lo, double hi, double *ticks, int *decimals) {
    double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), step = mag;
    const double factors[] = {1, 2, 5, 10};
    for (int i = 0; i < 4; i++)
        if (factors[i] * mag >= raw) {
            step = factors[i] * mag;
            break;
        }
    int d = (int)-floor(log10(step) + 1e-9);
    *decimals = d > 0 ? (d < 9 ? d : 9) : 0;
    int n = 0;
    for (double k = ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9 && n < TSL_PLOT_MAX_TICKS; k++) {
        double t = k * step;
        ticks[n++] = fabs(t) < step * 1e-9 ? 0 : t;
    }
    return n;
}

tsl_status tsl_plot_layout(const tsl_plot_figure *f, int index, tsl_plot_frame *fr) {
    if (index < 0 || index >= f->n_panels)
        return tsl_error(TSL_ERR_INVALID_ARG, "plot: no panel %d (figure has %d)", index, f->n_panels);
    if (f->panel_w < MIN_PANEL_W || f->panel_h < MIN_PANEL_H)
        return tsl_error(TSL_ERR_INVALID_ARG, "plot: panels of %dx%d pixels are below %dx%d", f->panel_w,
                         f->panel_h, MIN_PANEL_W, MIN_PANEL_H);
    const tsl_plot_panel *p = &f->panels[index];
    int cols = f->columns > 0 ? f->columns : 1;
    *fr = (tsl_plot_frame){0};
    fr->left = (index % cols) * f->panel_w + TSL_PLOT_MARGIN_LEFT;
    fr->top = figure_top(f) + (index / cols) * f->panel_h + TSL_PLOT_MARGIN_TOP;
    fr->width = f->panel_w - TSL_PLOT_MARGIN_LEFT - TSL_PLOT_MARGIN_RIGHT;
    fr->height = f->panel_h - TSL_PLOT_MARGIN_TOP - TSL_PLOT_MARGIN_BOTTOM;
    double x0, x1, y0, y1;
    fr->has_data = data_range(p, &x0, &x1, &y0, &y1);
    if (!fr->has_data)
        x0 = y0 = 0, x1 = y1 = 1;
    if (p->y_zero_line)
        y0 = fmin(y0, 0), y1 = fmax(y1, 0);
    pad(&x0, &x1);
    pad(&y0, &y1);
    if (p->n_x_names > 0)
        x0 = -0.5, x1 = p->n_x_names - 0.5;
    if (p->fixed_x)
        x0 = p->x_min, x1 = p->x_max;
    if (p->fixed_y)
        y0 = p->y_min, y1 = p->y_max;
    if (!(x1 > x0) || !(y1 > y0))
        return tsl_error(TSL_ERR_INVALID_ARG, "plot: panel '%s' has an empty range",
                         p->title ? p->title : "");
    *fr = (tsl_plot_frame){fr->left, fr->top, fr->width, fr->height, x0, x1, y0,          y1,
                           {0},      {0},     0,         0,          0,  0,  fr->has_data};
    fr->n_x_ticks = nice_ticks(x0, x1, fr->x_ticks, &fr->x_decimals);
    if (p->n_x_names > 0) {
        fr->n_x_ticks = p->n_x_names < TSL_PLOT_MAX_TICKS ? p->n_x_names : TSL_PLOT_MAX_TICKS;
        for (int i = 0; i < fr->n_x_ticks; i++)
            fr->x_ticks[i] = i;
    }
    fr->n_y_ticks = nice_ticks(y0, y1, fr->y_ticks, &fr->y_decimals);
    return TSL_OK;
}

void tsl_plot_map(const tsl_plot_frame *fr, double x, double y, double *px, double *py) {
    *px = fr->left + fr->width * (x - fr->x0) / (fr->x1 - fr->x0);
    *py = fr->top + fr->height * (fr->y1 - y) / (fr->y1 - fr->y0);
}

static void draw_axes(const tsl_plot_panel *p, const tsl_plot_frame *fr, tsl_plot_canvas *c) {
    double right = fr->left + fr->width, bottom = fr->top + fr->height;
    char label[32];
    for (int i = 0; i < fr->n_y_ticks; i++) {
        double px, py;
        tsl_plot_map(fr, fr->x0, fr->y_ticks[i], &px, &py);
        c->line(c, fr->left, py, right, py, GRID, 1);
        c->line(c, fr->left - 4, py, fr->left, py, AXIS, 1);
        snprintf(label, sizeof label, "%.*f", fr->y_decimals, fr->y_ticks[i]);
        c->text(c, fr->left - 6, py, label, TSL_PLOT_TEXT_SMALL, TSL_PLOT_ANCHOR_END, false, BLACK);
    }
    for (int i = 0; i < fr->n_x_ticks; i++) {
        double px, py;
        tsl_plot_map(fr, fr->x_ticks[i], fr->y0, &px, &py);
        c->line(c, px, bottom, px, bottom + 4, AXIS, 1);
        snprintf(label, sizeof label, "%.*f", fr->x_decimals, fr->x_ticks[i]);
        c->text(c, px, bottom + 11, p->n_x_names > 0 ? p->x_names[i] : label, TSL_PLOT_TEXT_SMALL,
                TSL_PLOT_ANCHOR_MIDDLE, false, BLACK);
    }
    if (p->y_zero_line && fr->y0 < 0 && fr->y1 > 0) {
        double px, py;
        tsl_plot_map(fr, fr->x0, 0, &px, &py);
        c->line(c, fr->left, py, right, py, ZERO, 1);
    }
    c->line(c, fr->left, fr->top, fr->left, bottom, AXIS, 1);
    c->line(c, fr->left, bottom, right, bottom, AXIS, 1);
    double centre_x = fr->left + fr->width / 2;
    if (p->title)
        c->text(c, centre_x, fr->top - 16, p->title, TSL_PLOT_TEXT_SMALL, TSL_PLOT_ANCHOR_MIDDLE, false,
                BLACK);
    if (p->x_label)
        c->text(c, centre_x, bottom + 27, p->x_label, TSL_PLOT_TEXT_SMALL, TSL_PLOT_ANCHOR_MIDDLE, false,
                BLACK);
    if (p->y_label)
        c->text(c, fr->left - TSL_PLOT_MARGIN_LEFT + 9, fr->top + fr->height / 2, p->y_label,
                TSL_PLOT_TEXT_SMALL, TSL_PLOT_ANCHOR_MIDDLE, true, BLACK);
}

static bool inside(const tsl_plot_frame *fr, double x, double y) {
    return isfinite(x) && isfinite(y) && x >= fr->x0 && x <= fr->x1 && y >= fr->y0 && y <= fr->y1;
}

static void draw_series(const tsl_plot_series *s, const tsl_plot_frame *fr, tsl_plot_canvas *c) {
    double prev_x = NAN, prev_y = NAN;
    for (size_t i = 0; i < s->n; i++) {
        if (!inside(fr, s->x[i], s->y[i])) {
            prev_x = prev_y = NAN;
            continue;
        }
        double px, py;
        tsl_plot_map(fr, s->x[i], s->y[i], &px, &py);
        if (s->line && isfinite(prev_x))
            c->line(c, prev_x, prev_y, px, py, s->rgb, 1.5);
        prev_x = px, prev_y = py;
        if (s->lo && s->hi && inside(fr, s->x[i], s->lo[i]) && inside(fr, s->x[i], s->hi[i])) {
            double bx, lo_y, hi_y;
            tsl_plot_map(fr, s->x[i], s->lo[i], &bx, &lo_y);
            tsl_plot_map(fr, s->x[i], s->hi[i], &bx, &hi_y);
            c->line(c, px, lo_y, px, hi_y, s->rgb, 1);
            c->line(c, px - 3, lo_y, px + 3, lo_y, s->rgb, 1);
            c->line(c, px - 3, hi_y, px + 3, hi_y, s->rgb, 1);
        }
        if (s->markers)
            c->circle(c, px, py, 3, s->rgb);
    }
}

static void draw_legend(const tsl_plot_figure *f, tsl_plot_canvas *c) {
    int w, h;
    tsl_plot_size(f, &w, &h);
    double x = 10, y = h - TSL_PLOT_LEGEND_H / 2.0;
    for (int i = 0; i < f->n_legend; i++) {
        c->rect(c, x, y - 4, 14, 8, f->legend[i].rgb);
        c->text(c, x + 19, y, f->legend[i].label, TSL_PLOT_TEXT_SMALL, TSL_PLOT_ANCHOR_START, false, BLACK);
        x += 19 + 6.0 * (double)strlen(f->legend[i].label) + 18;
    }
}

tsl_status tsl_plot_draw(const tsl_plot_figure *f, tsl_plot_canvas *c) {
    if (f->title) {
        int w, h;
        tsl_plot_size(f, &w, &h);
        c->text(c, w / 2.0, TSL_PLOT_FIGURE_TOP / 2.0, f->title, TSL_PLOT_TEXT_LARGE, TSL_PLOT_ANCHOR_MIDDLE,
                false, BLACK);
    }
    for (int i = 0; i < f->n_panels; i++) {
        tsl_plot_frame fr;
        TSL_TRY(tsl_plot_layout(f, i, &fr));
        const tsl_plot_panel *p = &f->panels[i];
        draw_axes(p, &fr, c);
        for (int s = 0; s < p->n_series; s++)
            draw_series(&p->series[s], &fr, c);
        if (!fr.has_data && p->empty_text)
            c->text(c, fr.left + fr.width / 2, fr.top + fr.height / 2, p->empty_text, TSL_PLOT_TEXT_SMALL,
                    TSL_PLOT_ANCHOR_MIDDLE, false, AXIS);
    }
    draw_legend(f, c);
    return TSL_OK;
}
