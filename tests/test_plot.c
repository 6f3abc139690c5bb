/* analysis/tsl_plot: layout arithmetic, known points landing on the expected raster pixels, error bars
 * and lines covering the pixels between their ends, and SVG output that is well-formed XML with escaped
 * text and the same coordinates. Everything is exact integer/decimal geometry: no tolerances beyond the
 * one-pixel rule stated in tsl_plot_raster.c (a point's own pixel is always drawn). */
#include "tsl_plot.h"
#include "tsl_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PW = 240, PH = 200 };
static const uint32_t RED = 0xff0000, GREEN = 0x00c000;

static tsl_plot_panel unit_panel(const tsl_plot_series *s, int n) {
    return (tsl_plot_panel){.title = "unit square",
                            .x_label = "x",
                            .y_label = "y",
                            .series = s,
                            .n_series = n,
                            .fixed_x = true,
                            .fixed_y = true,
                            .x_min = 0,
                            .x_max = 1,
                            .y_min = 0,
                            .y_max = 1};
}

static tsl_plot_figure one_panel(const tsl_plot_panel *p) {
    return (tsl_plot_figure){.panels = p, .n_panels = 1, .columns = 1, .panel_w = PW, .panel_h = PH};
}

static uint32_t pixel(const uint8_t *rgb, int w, int x, int y) {
    const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

START_TEST(layout_geometry_and_ticks) {
    tsl_plot_panel panels[3] = {0};
    double x[2] = {0, 0.2}, y[2] = {-1, 1};
    tsl_plot_series s = {.x = x, .y = y, .n = 2};
    for (int i = 0; i < 3; i++)
        panels[i] = (tsl_plot_panel){.series = &s, .n_series = 1};
    panels[2].fixed_x = panels[2].fixed_y = true;
    panels[2].x_max = 0.2, panels[2].y_min = -1, panels[2].y_max = 1;
    tsl_plot_legend legend = {"lambda 0", RED};
    tsl_plot_figure f = {.title = "t",
                         .panels = panels,
                         .n_panels = 3,
                         .columns = 2,
                         .panel_w = PW,
                         .panel_h = PH,
                         .legend = &legend,
                         .n_legend = 1};
    int w, h;
    tsl_plot_size(&f, &w, &h);
    ck_assert_int_eq(w, 2 * PW);
    ck_assert_int_eq(h, TSL_PLOT_FIGURE_TOP + 2 * PH + TSL_PLOT_LEGEND_H);
    tsl_plot_frame fr;
    TSL_TEST_OK(tsl_plot_layout(&f, 1, &fr)); /* row 0, column 1 */
    ck_assert_double_eq(fr.left, PW + TSL_PLOT_MARGIN_LEFT);
    ck_assert_double_eq(fr.top, TSL_PLOT_FIGURE_TOP + TSL_PLOT_MARGIN_TOP);
    ck_assert_double_eq(fr.width, PW - TSL_PLOT_MARGIN_LEFT - TSL_PLOT_MARGIN_RIGHT);
    ck_assert_double_eq(fr.height, PH - TSL_PLOT_MARGIN_TOP - TSL_PLOT_MARGIN_BOTTOM);
    /* Fitted range: the data padded by 5% of its span per side. */
    ck_assert_double_eq_tol(fr.x0, -0.01, 1e-15);
    ck_assert_double_eq_tol(fr.x1, 0.21, 1e-15);
    ck_assert_double_eq_tol(fr.y0, -1.1, 1e-15);
    TSL_TEST_OK(tsl_plot_layout(&f, 2, &fr)); /* row 1, column 0, fixed range */
    ck_assert_double_eq(fr.left, TSL_PLOT_MARGIN_LEFT);
    ck_assert_double_eq(fr.top, TSL_PLOT_FIGURE_TOP + PH + TSL_PLOT_MARGIN_TOP);
    const double want_x[] = {0, 0.05, 0.1, 0.15, 0.2}, want_y[] = {-1, -0.5, 0, 0.5, 1};
    ck_assert_int_eq(fr.n_x_ticks, 5);
    ck_assert_int_eq(fr.n_y_ticks, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_double_eq_tol(fr.x_ticks[i], want_x[i], 1e-15);
        ck_assert_double_eq_tol(fr.y_ticks[i], want_y[i], 1e-15);
    }
    ck_assert_int_eq(fr.x_decimals, 2);
    ck_assert_int_eq(fr.y_decimals, 1);
    double px, py;
    tsl_plot_map(&fr, 0.1, 0.5, &px, &py);
    ck_assert_double_eq_tol(px, fr.left + fr.width / 2, 1e-12);
    ck_assert_double_eq_tol(py, fr.top + fr.height / 4, 1e-12);
}
END_TEST

START_TEST(known_points_land_on_their_pixels) {
    const double x[] = {0, 1, 0.5, 0.25}, y[] = {0, 1, 0.25, 0.75};
    tsl_plot_series s = {.x = x, .y = y, .n = 4, .rgb = RED, .markers = true};
    tsl_plot_panel p = unit_panel(&s, 1);
    tsl_plot_figure f = one_panel(&p);
    uint8_t *rgb;
    int w, h;
    TSL_TEST_OK(tsl_plot_render_rgb(&f, &rgb, &w, &h));
    ck_assert_int_eq(w, PW);
    ck_assert_int_eq(h, PH);
    /* The plot area is 168 x 130 pixels from (58, 30): hand-computed pixel of each point. */
    const int want_px[][2] = {{58, 160}, {226, 30}, {142, 127}, {100, 62}};
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(pixel(rgb, w, want_px[i][0], want_px[i][1]) == RED, "point %d: pixel (%d, %d) is %06x",
                      i, want_px[i][0], want_px[i][1], pixel(rgb, w, want_px[i][0], want_px[i][1]));
    }
    /* Every red pixel is a marker pixel: within the radius (3) plus one pixel of some point. */
    tsl_plot_frame fr;
    TSL_TEST_OK(tsl_plot_layout(&f, 0, &fr));
    int red = 0;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            if (pixel(rgb, w, i, j) != RED)
                continue;
            red++;
            double best = INFINITY;
            for (int k = 0; k < 4; k++) {
                double px, py;
                tsl_plot_map(&fr, x[k], y[k], &px, &py);
                best = fmin(best, hypot(i + 0.5 - px, j + 0.5 - py));
            }
            ck_assert_msg(best <= 3.0 + 1e-9, "stray red pixel (%d, %d), %.2f from every point", i, j, best);
        }
    ck_assert_int_ge(red, 4 * 20); /* a radius-3 disc covers ~28 pixel centres */
    free(rgb);
}
END_TEST

START_TEST(error_bars_and_lines_cover_their_span) {
    const double x[] = {0.25, 0.75}, y[] = {0.5, 0.5}, lo[] = {0.25, NAN}, hi[] = {0.75, 0.9};
    tsl_plot_series s[2] = {{.x = x, .y = y, .lo = lo, .hi = hi, .n = 2, .rgb = RED},
                            {.x = x, .y = lo, .n = 1, .rgb = GREEN, .markers = true}};
    tsl_plot_panel p = unit_panel(s, 2);
    tsl_plot_figure f = one_panel(&p);
    tsl_plot_frame fr;
    TSL_TEST_OK(tsl_plot_layout(&f, 0, &fr));
    uint8_t *rgb;
    int w, h;
    TSL_TEST_OK(tsl_plot_render_rgb(&f, &rgb, &w, &h));
    double px, top, bottom, px2, py2;
    tsl_plot_map(&fr, 0.25, 0.75, &px, &top);
    tsl_plot_map(&fr, 0.25, 0.25, &px, &bottom);
    for (int j = (int)ceil(top); j < (int)floor(bottom) - 3; j++) /* the green marker covers the low end */
        ck_assert_msg(pixel(rgb, w, (int)floor(px), j) == RED, "bar pixel (%d, %d)", (int)floor(px), j);
    ck_assert(pixel(rgb, w, (int)floor(px) - 3, (int)floor(top)) == RED); /* cap */
    ck_assert(pixel(rgb, w, (int)floor(px) + 2, (int)floor(top)) == RED);
    ck_assert(pixel(rgb, w, (int)floor(px), (int)floor(bottom)) == GREEN); /* drawn after, on top */
    /* The second point has a NaN bar end: no bar, so nothing red above it beyond the line's width. */
    tsl_plot_map(&fr, 0.75, 0.9, &px2, &py2);
    ck_assert(pixel(rgb, w, (int)floor(px2), (int)floor(py2)) != RED);
    /* Without `line` the two points are not joined. */
    tsl_plot_map(&fr, 0.5, 0.5, &px2, &py2);
    ck_assert(pixel(rgb, w, (int)floor(px2), (int)floor(py2)) != RED);
    free(rgb);
    s[0].line = true;
    TSL_TEST_OK(tsl_plot_render_rgb(&f, &rgb, &w, &h));
    for (double t = 0.3; t <= 0.7; t += 0.05) {
        tsl_plot_map(&fr, t, 0.5, &px2, &py2);
        ck_assert_msg(pixel(rgb, w, (int)floor(px2), (int)floor(py2)) == RED, "line at x = %.2f", t);
    }
    free(rgb);
}
END_TEST

/* A minimal XML check: balanced tags, quoted attributes, no raw '<' or unknown '&' in text. Returns the
 * number of elements, or -1 (with the reason in `why`). */
static int xml_elements(const char *s, char *why, size_t why_size) {
    const char *stack[256];
    size_t len[256];
    int depth = 0, elements = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '&') {
            if (strncmp(p, "&lt;", 4) && strncmp(p, "&gt;", 4) && strncmp(p, "&amp;", 5) &&
                strncmp(p, "&apos;", 6) && strncmp(p, "&quot;", 6))
                return snprintf(why, why_size, "raw '&' at byte %td", p - s), -1;
            continue;
        }
        if (*p != '<')
            continue;
        bool closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t n = strcspn(name, " />");
        const char *end = name + n;
        char quote = 0;
        for (; *end && (quote || *end != '>'); end++) {
            if (quote && *end == quote)
                quote = 0;
            else if (!quote && (*end == '\'' || *end == '"'))
                quote = *end;
            else if (!quote && (*end == '<' || *end == '&'))
                return snprintf(why, why_size, "'%c' inside a tag at byte %td", *end, end - s), -1;
            else if (!quote && *end == '=' && end[1] != '\'' && end[1] != '"')
                return snprintf(why, why_size, "unquoted attribute at byte %td", end - s), -1;
        }
        if (!*end || n == 0)
            return snprintf(why, why_size, "unterminated tag at byte %td", p - s), -1;
        if (closing) {
            if (depth == 0 || len[depth - 1] != n || strncmp(stack[depth - 1], name, n))
                return snprintf(why, why_size, "mismatched </%.*s> at byte %td", (int)n, name, p - s), -1;
            depth--;
        } else if (end[-1] != '/') {
            if (depth == 256)
                return snprintf(why, why_size, "too deep"), -1;
            stack[depth] = name;
            len[depth++] = n;
            elements++;
        } else {
            elements++;
        }
        p = end;
    }
    if (depth)
        return snprintf(why, why_size, "<%.*s> not closed", (int)len[depth - 1], stack[depth - 1]), -1;
    return elements;
}

START_TEST(svg_is_well_formed_and_matches_the_layout) {
    const double x[] = {0, 0.5, 1}, y[] = {0, 0.25, 1}, lo[] = {-0.1, 0.2, 0.9}, hi[] = {0.1, 0.3, 1.1};
    tsl_plot_series s = {.label = "a<b & c",
                         .x = x,
                         .y = y,
                         .lo = lo,
                         .hi = hi,
                         .n = 3,
                         .rgb = RED,
                         .line = true,
                         .markers = true};
    tsl_plot_panel p = unit_panel(&s, 1);
    p.title = "\"quoted\" & <angled>";
    p.fixed_y = false;
    tsl_plot_legend legend = {"a<b & c", RED};
    tsl_plot_figure f = {.title = "T's",
                         .panels = &p,
                         .n_panels = 1,
                         .columns = 1,
                         .panel_w = PW,
                         .panel_h = PH,
                         .legend = &legend,
                         .n_legend = 1};
    char *svg;
    size_t size;
    TSL_TEST_OK(tsl_plot_render_svg(&f, &svg, &size));
    ck_assert_uint_eq(strlen(svg), size);
    char why[128] = "";
    int elements = xml_elements(svg, why, sizeof why);
    ck_assert_msg(elements > 0, "SVG not well-formed: %s", why);
    const char *head = "<svg xmlns='http://www.w3.org/2000/svg' width='240' height='250'";
    ck_assert(strncmp(svg, head, strlen(head)) == 0);
    ck_assert(strstr(svg, "&quot;quoted&quot; &amp; &lt;angled&gt;") != NULL);
    ck_assert(strstr(svg, "a&lt;b &amp; c") != NULL);
    ck_assert(strstr(svg, "T&apos;s") != NULL);
    tsl_plot_frame fr;
    TSL_TEST_OK(tsl_plot_layout(&f, 0, &fr));
    int circles = 0;
    for (const char *c = strstr(svg, "<circle"); c; c = strstr(c + 1, "<circle")) {
        double cx, cy, px, py;
        ck_assert(sscanf(c, "<circle cx='%lf' cy='%lf'", &cx, &cy) == 2);
        tsl_plot_map(&fr, x[circles], y[circles], &px, &py);
        ck_assert_double_eq_tol(cx, px, 0.05 + 1e-9); /* printed with one decimal */
        ck_assert_double_eq_tol(cy, py, 0.05 + 1e-9);
        circles++;
    }
    ck_assert_int_eq(circles, 3);
    free(svg);
}
END_TEST

START_TEST(categorical_x_axis) {
    const char *const names[2] = {"network", "baseline"};
    const double x[] = {0, 1}, y[] = {0.5, 0.25};
    tsl_plot_series s = {.x = x, .y = y, .n = 2, .rgb = RED, .markers = true};
    tsl_plot_panel p = {.series = &s, .n_series = 1, .x_names = names, .n_x_names = 2};
    tsl_plot_figure f = one_panel(&p);
    tsl_plot_frame fr;
    TSL_TEST_OK(tsl_plot_layout(&f, 0, &fr));
    ck_assert_double_eq(fr.x0, -0.5);
    ck_assert_double_eq(fr.x1, 1.5);
    ck_assert_int_eq(fr.n_x_ticks, 2);
    ck_assert_double_eq(fr.x_ticks[1], 1);
    char *svg;
    size_t size;
    TSL_TEST_OK(tsl_plot_render_svg(&f, &svg, &size));
    ck_assert(strstr(svg, ">network</text>") && strstr(svg, ">baseline</text>"));
    free(svg);
}
END_TEST

START_TEST(empty_panels_and_bad_figures) {
    tsl_plot_panel p = {.title = "none", .empty_text = "no neural data"};
    tsl_plot_figure f = one_panel(&p);
    char *svg;
    size_t size;
    TSL_TEST_OK(tsl_plot_render_svg(&f, &svg, &size));
    ck_assert(strstr(svg, ">no neural data</text>") != NULL);
    free(svg);
    uint8_t *rgb;
    int w, h, dark = 0;
    TSL_TEST_OK(tsl_plot_render_rgb(&f, &rgb, &w, &h));
    tsl_plot_frame fr;
    TSL_TEST_OK(tsl_plot_layout(&f, 0, &fr));
    ck_assert(!fr.has_data);
    for (int j = (int)(fr.top + fr.height / 2 - 4); j < fr.top + fr.height / 2 + 4; j++)
        for (int i = (int)fr.left + 2; i < fr.left + fr.width - 2; i++)
            dark += pixel(rgb, w, i, j) != 0xffffff && pixel(rgb, w, i, j) != 0xdddddd;
    ck_assert_int_gt(dark, 30); /* the text's glyphs */
    free(rgb);
    f.panel_w = 60;
    ck_assert_int_eq(tsl_plot_render_rgb(&f, &rgb, &w, &h), TSL_ERR_INVALID_ARG);
    f.panel_w = PW;
    p.fixed_x = true;
    p.x_min = p.x_max = 1;
    ck_assert_int_eq(tsl_plot_render_svg(&f, &svg, &size), TSL_ERR_INVALID_ARG);
    ck_assert_int_eq(tsl_plot_layout(&f, 1, &fr), TSL_ERR_INVALID_ARG);
}
END_TEST

static Suite *plot_suite(void) {
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, layout_geometry_and_ticks);
    tcase_add_test(tc, known_points_land_on_their_pixels);
    tcase_add_test(tc, error_bars_and_lines_cover_their_span);
    tcase_add_test(tc, svg_is_well_formed_and_matches_the_layout);
    tcase_add_test(tc, categorical_x_axis);
    tcase_add_test(tc, empty_panels_and_bad_figures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return tsl_test_main(plot_suite());
}
