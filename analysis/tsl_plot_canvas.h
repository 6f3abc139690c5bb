/* The drawing primitives tsl_plot draws a figure with, implemented once for SVG (tsl_plot_svg.c) and once
 * for an RGB8 raster (tsl_plot_raster.c). Coordinates are figure pixels, y down. Private to the plot
 * module. */
#ifndef TSL_PLOT_CANVAS_H
#define TSL_PLOT_CANVAS_H

#include "tsl_plot.h"

typedef enum { TSL_PLOT_ANCHOR_START, TSL_PLOT_ANCHOR_MIDDLE, TSL_PLOT_ANCHOR_END } tsl_plot_anchor;

/* Text sizes: the raster draws the 5x7 font at scale 1 (small) or 2 (large), each glyph cell 6 x 8
 * pixels per scale; the SVG uses the matching font sizes. Text baseline-free: (x, y) is the vertical
 * middle of the text line at its anchor. */
typedef enum { TSL_PLOT_TEXT_SMALL = 1, TSL_PLOT_TEXT_LARGE = 2 } tsl_plot_text_size;

typedef struct tsl_plot_canvas tsl_plot_canvas;
struct tsl_plot_canvas {
    void (*line)(tsl_plot_canvas *c, double x0, double y0, double x1, double y1, uint32_t rgb, double width);
    void (*rect)(tsl_plot_canvas *c, double x, double y, double w, double h, uint32_t rgb); /* filled */
    void (*circle)(tsl_plot_canvas *c, double cx, double cy, double r, uint32_t rgb);       /* filled */
    /* `vertical` text reads bottom to top, (x, y) its centre. */
    void (*text)(tsl_plot_canvas *c, double x, double y, const char *s, tsl_plot_text_size size,
                 tsl_plot_anchor anchor, bool vertical, uint32_t rgb);
};

/* Draws the whole figure on `canvas` (the background is the canvas's own). Fails only as
 * tsl_plot_layout does. */
tsl_status tsl_plot_draw(const tsl_plot_figure *figure, tsl_plot_canvas *canvas);

/* The 5x7 glyph of printable ASCII `ch` as 5 column bytes, bit 0 the top row and bit 7 a descender
 * (g, j, p, q, y); '?' for others. */
const uint8_t *tsl_plot_glyph(char ch);

#endif
