/* The SVG canvas: each primitive becomes one element, coordinates with one decimal. */
#include "tsl_plot_canvas.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    tsl_plot_canvas base; /* first, so a canvas pointer is a svg_canvas pointer */
    FILE *f;
} svg_canvas;

static FILE *out(tsl_plot_canvas *c) {
    return ((svg_canvas *)c)->f;
}

static void svg_line(tsl_plot_canvas *c, double x0, double y0, double x1, double y1, uint32_t rgb,
                     double width) {
    fprintf(out(c),
            "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#%06x' stroke-width='%.1f' "
            "stroke-linecap='square'/>\n",
            x0, y0, x1, y1, rgb, width);
}

static void svg_rect(tsl_plot_canvas *c, double x, double y, double w, double h, uint32_t rgb) {
    fprintf(out(c), "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='#%06x'/>\n", x, y, w, h, rgb);
}

static void svg_circle(tsl_plot_canvas *c, double cx, double cy, double r, uint32_t rgb) {
    fprintf(out(c), "<circle cx='%.1f' cy='%.1f' r='%.1f' fill='#%06x'/>\n", cx, cy, r, rgb);
}

static void svg_text(tsl_plot_canvas *c, double x, double y, const char *s, tsl_plot_text_size size,
                     tsl_plot_anchor anchor, bool vertical, uint32_t rgb) {
    static const char *const anchors[] = {"start", "middle", "end"};
    FILE *f = out(c);
    fprintf(
        f, "<text x='%.1f' y='%.1f' font-size='%d' text-anchor='%s' dominant-baseline='central' fill='#%06x'",
        x, y, size == TSL_PLOT_TEXT_LARGE ? 15 : 11, anchors[anchor], rgb);
    if (vertical)
        fprintf(f, " transform='rotate(-90 %.1f %.1f)'", x, y);
    fputc('>', f);
    tsl_plot_write_escaped(f, s);
    fputs("</text>\n", f);
}

tsl_status tsl_plot_render_svg(const tsl_plot_figure *figure, char **svg, size_t *size) {
    *svg = NULL;
    *size = 0;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return tsl_error(TSL_ERR_NOMEM, "plot: out of memory for SVG");
    int w, h;
    tsl_plot_size(figure, &w, &h);
    fprintf(f,
            "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' viewBox='0 0 %d %d' "
            "font-family='sans-serif'>\n<rect width='%d' height='%d' fill='#ffffff'/>\n",
            w, h, w, h, w, h);
    svg_canvas c = {{svg_line, svg_rect, svg_circle, svg_text}, f};
    tsl_status st = tsl_plot_draw(figure, &c.base);
    fputs("</svg>\n", f);
    if (fclose(f) != 0 && st == TSL_OK)
        st = tsl_error(TSL_ERR_NOMEM, "plot: out of memory for SVG");
    if (st != TSL_OK) {
        free(text);
        return st;
    }
    *svg = text;
    *size = len;
    return TSL_OK;
}

void tsl_plot_write_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}
