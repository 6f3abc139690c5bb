/* The raster canvas: an RGB8 image, no anti-aliasing. Pixel (i, j) covers [i, i+1) x [j, j+1); a shape
 * covers the pixels whose centres it contains, and a line or point never vanishes (at least the pixel
 * that holds it is drawn). */
#include "tsl_plot_canvas.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    tsl_plot_canvas base; /* first, so a canvas pointer is a raster pointer */
    uint8_t *rgb;
    int w, h;
} raster;

static void put(raster *r, int x, int y, uint32_t rgb) {
    if (x < 0 || y < 0 || x >= r->w || y >= r->h)
        return;
    uint8_t *p = r->rgb + ((size_t)y * r->w + x) * 3;
    p[0] = (uint8_t)(rgb >> 16);
    p[1] = (uint8_t)(rgb >> 8);
    p[2] = (uint8_t)rgb;
}

/* The pixel indices whose centres lie in (c - w/2, c + w/2]; at least the pixel holding c. */
static void span(double c, double w, int *first, int *last) {
    *first = (int)floor(c - w / 2 - 0.5) + 1;
    *last = (int)floor(c + w / 2 - 0.5);
    if (*first > *last)
        *first = *last = (int)floor(c);
}

static void stamp(raster *r, double x, double y, double width, uint32_t rgb) {
    int x0, x1, y0, y1;
    span(x, width, &x0, &x1);
    span(y, width, &y0, &y1);
    for (int j = y0; j <= y1; j++)
        for (int i = x0; i <= x1; i++)
            put(r, i, j, rgb);
}

static void raster_line(tsl_plot_canvas *c, double x0, double y0, double x1, double y1, uint32_t rgb,
                        double width) {
    raster *r = (raster *)c;
    double len = hypot(x1 - x0, y1 - y0);
    int steps = (int)ceil(len * 2) + 1; /* half-pixel steps: no gaps */
    for (int k = 0; k <= steps; k++) {
        double t = (double)k / steps;
        stamp(r, x0 + t * (x1 - x0), y0 + t * (y1 - y0), width, rgb);
    }
}

static void raster_rect(tsl_plot_canvas *c, double x, double y, double w, double h, uint32_t rgb) {
    raster *r = (raster *)c;
    for (int j = (int)ceil(y - 0.5); j + 0.5 < y + h; j++)
        for (int i = (int)ceil(x - 0.5); i + 0.5 < x + w; i++)
            put(r, i, j, rgb);
}

static void raster_circle(tsl_plot_canvas *c, double cx, double cy, double radius, uint32_t rgb) {
    raster *r = (raster *)c;
    for (int j = (int)floor(cy - radius); j <= (int)ceil(cy + radius); j++)
        for (int i = (int)floor(cx - radius); i <= (int)ceil(cx + radius); i++)
            if (hypot(i + 0.5 - cx, j + 0.5 - cy) <= radius)
                put(r, i, j, rgb);
    put(r, (int)floor(cx), (int)floor(cy), rgb);
}

/* Glyph pixel (gx, gy) of a text box placed at (left, top), or rotated a quarter turn anticlockwise
 * about its bounding box's corner when vertical (then the box is `box_w` tall, read bottom to top). */
static void text_pixel(raster *r, int left, int top, int box_w, bool vertical, int gx, int gy, uint32_t rgb) {
    if (vertical)
        put(r, left + gy, top + box_w - 1 - gx, rgb);
    else
        put(r, left + gx, top + gy, rgb);
}

static void raster_text(tsl_plot_canvas *c, double x, double y, const char *s, tsl_plot_text_size size,
                        tsl_plot_anchor anchor, bool vertical, uint32_t rgb) {
    raster *r = (raster *)c;
    int scale = (int)size, len = (int)strlen(s);
    int box_w = len > 0 ? 6 * scale * len - scale : 0, box_h = 7 * scale;
    double start = anchor == TSL_PLOT_ANCHOR_START    ? 0
                   : anchor == TSL_PLOT_ANCHOR_MIDDLE ? box_w / 2.0
                                                      : box_w;
    int left, top;
    if (vertical) { /* (x, y) is the centre of the rotated box: box_h wide, box_w tall */
        left = (int)lround(x - box_h / 2.0);
        top = (int)lround(y - box_w / 2.0);
    } else {
        left = (int)lround(x - start);
        top = (int)lround(y - box_h / 2.0);
    }
    for (int k = 0; k < len; k++) {
        const uint8_t *g = tsl_plot_glyph(s[k]);
        for (int col = 0; col < 5; col++)
            for (int row = 0; row < 8; row++) {
                if (!(g[col] >> row & 1))
                    continue;
                for (int dy = 0; dy < scale; dy++)
                    for (int dx = 0; dx < scale; dx++)
                        text_pixel(r, left, top, box_w, vertical, (6 * k + col) * scale + dx,
                                   row * scale + dy, rgb);
            }
    }
}

tsl_status tsl_plot_render_rgb(const tsl_plot_figure *figure, uint8_t **rgb, int *width, int *height) {
    *rgb = NULL;
    int w, h;
    tsl_plot_size(figure, &w, &h);
    if (w <= 0 || h <= 0 || (size_t)w * h > (size_t)1 << 26)
        return tsl_error(TSL_ERR_INVALID_ARG, "plot: figure of %d x %d pixels", w, h);
    raster r = {{raster_line, raster_rect, raster_circle, raster_text}, malloc((size_t)w * h * 3), w, h};
    if (!r.rgb)
        return tsl_error(TSL_ERR_NOMEM, "plot: out of memory for a %d x %d raster", w, h);
    memset(r.rgb, 0xff, (size_t)w * h * 3);
    tsl_status st = tsl_plot_draw(figure, &r.base);
    if (st != TSL_OK) {
        free(r.rgb);
        return st;
    }
    *rgb = r.rgb;
    *width = w;
    *height = h;
    return TSL_OK;
}
