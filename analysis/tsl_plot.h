/* Small figures for reports: a grid of panels, each with axes, ticks, a title, axis labels and series of
 * points (lines, markers, vertical error bars), drawn once through a canvas interface and rendered both
 * as SVG text and as an RGB8 raster (for PNG) with a built-in 5x7 bitmap font. No dependencies beyond
 * libc and libm; nothing is read from the environment, so one figure always renders to the same bytes.
 *
 * Pixel geometry (both renderers): panel p sits at column p % columns, row p / columns, each panel
 * panel_w x panel_h pixels, below a title strip of TSL_PLOT_FIGURE_TOP pixels when the figure has a
 * title; the legend strip (TSL_PLOT_LEGEND_H) is at the bottom when the figure has legend entries. Inside
 * a panel the plot area starts TSL_PLOT_MARGIN_LEFT from its left and TSL_PLOT_MARGIN_TOP from its top and
 * ends TSL_PLOT_MARGIN_RIGHT / TSL_PLOT_MARGIN_BOTTOM before its right and bottom edges. Data (x, y) maps
 * linearly onto that area, x0 at its left edge and y0 at its bottom edge (tsl_plot_map). */
#ifndef TSL_PLOT_H
#define TSL_PLOT_H

#include "tsl_status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
    TSL_PLOT_MARGIN_LEFT = 58,
    TSL_PLOT_MARGIN_RIGHT = 14,
    TSL_PLOT_MARGIN_TOP = 30,
    TSL_PLOT_MARGIN_BOTTOM = 40,
    TSL_PLOT_FIGURE_TOP = 26,
    TSL_PLOT_LEGEND_H = 24,
    TSL_PLOT_MAX_TICKS = 12,
};

typedef struct {
    const char *label;     /* legend text, or NULL for no legend entry */
    const double *x, *y;   /* n points; a point with a non-finite coordinate is not drawn */
    const double *lo, *hi; /* error bar ends per point, or NULL; a non-finite end draws no bar */
    size_t n;
    uint32_t rgb; /* 0xRRGGBB */
    bool line;    /* join consecutive finite points */
    bool markers; /* a filled circle at each point */
} tsl_plot_series;

typedef struct {
    const char *title, *x_label, *y_label;
    const tsl_plot_series *series;
    int n_series;
    bool y_zero_line;      /* draw y = 0 (and keep it inside the range) */
    bool fixed_x, fixed_y; /* use the given ranges instead of fitting the data */
    double x_min, x_max, y_min, y_max;
    const char *empty_text; /* written in the middle when no series has a finite point ("no data") */
    /* A categorical x axis when n_x_names > 0: ticks at x = 0, 1, ... labelled with these names, and
     * (unless fixed_x) the range [-0.5, n_x_names - 0.5]. */
    const char *const *x_names;
    int n_x_names;
} tsl_plot_panel;

typedef struct {
    const char *label;
    uint32_t rgb;
} tsl_plot_legend;

typedef struct {
    const char *title; /* or NULL */
    const tsl_plot_panel *panels;
    int n_panels, columns;
    int panel_w, panel_h; /* pixels, at least 120 x 110 */
    const tsl_plot_legend *legend;
    int n_legend;
} tsl_plot_figure;

/* A panel's plot area in figure pixels and the data range it shows. */
typedef struct {
    double left, top, width, height;
    double x0, x1, y0, y1;
    double x_ticks[TSL_PLOT_MAX_TICKS], y_ticks[TSL_PLOT_MAX_TICKS];
    int n_x_ticks, n_y_ticks;
    int x_decimals, y_decimals; /* tick label precision */
    bool has_data;
} tsl_plot_frame;

/* Figure size in pixels. */
void tsl_plot_size(const tsl_plot_figure *figure, int *width, int *height);

/* The frame of panel `index`: the data range (the finite points and error bar ends, padded by 5% on each
 * side, unless fixed) and its ticks (steps of 1, 2 or 5 times a power of ten, at most TSL_PLOT_MAX_TICKS).
 * TSL_ERR_INVALID_ARG for a bad index, a figure too small, or a fixed range with max <= min. */
tsl_status tsl_plot_layout(const tsl_plot_figure *figure, int index, tsl_plot_frame *frame);

/* Figure pixel coordinates of data point (x, y) in `frame` (pixel centres at integer + 0.5 are not
 * assumed: px = left + width * (x - x0) / (x1 - x0), py = top + height * (y1 - y) / (y1 - y0)). */
void tsl_plot_map(const tsl_plot_frame *frame, double x, double y, double *px, double *py);

/* Writes `s` with the five XML special characters (< > & ' ") escaped: text for SVG and HTML. */
void tsl_plot_write_escaped(FILE *f, const char *s);

/* Renders the figure as a standalone SVG document (malloc'd, NUL-terminated; `*size` excludes the NUL).
 * Text is XML-escaped. */
tsl_status tsl_plot_render_svg(const tsl_plot_figure *figure, char **svg, size_t *size);

/* Renders the figure into a malloc'd RGB8 raster (row-major, 3 bytes per pixel, white background). */
tsl_status tsl_plot_render_rgb(const tsl_plot_figure *figure, uint8_t **rgb, int *width, int *height);

/* The default series colours, for series i (cycles after 8). */
uint32_t tsl_plot_colour(int i);

#endif
