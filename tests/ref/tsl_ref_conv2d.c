#include "tsl_ref_conv2d.h"

#include <string.h>

/* Visits every (image, output channel, output pixel, input channel, ky, kx) term whose input position
 * falls inside the image (padding contributes zeros), calling `term` with the flat x, w and y indices.
 * The three ops are this one loop nest with a different multiply-add, so they cannot disagree about
 * indexing. */
typedef void (*term_fn)(void *ctx, size_t xi, size_t wi, size_t yi);

static void for_each_term(const tsl_conv2d_shape *s, term_fn term, void *ctx) {
    uint32_t oh = tsl_conv2d_out_h(s), ow = tsl_conv2d_out_w(s);
    for (uint32_t n = 0; n < s->n; n++)
        for (uint32_t co = 0; co < s->c_out; co++)
            for (uint32_t oy = 0; oy < oh; oy++)
                for (uint32_t ox = 0; ox < ow; ox++) {
                    size_t yi = (((size_t)n * s->c_out + co) * oh + oy) * ow + ox;
                    for (uint32_t ci = 0; ci < s->c_in; ci++)
                        for (uint32_t ky = 0; ky < s->kh; ky++)
                            for (uint32_t kx = 0; kx < s->kw; kx++) {
                                long iy = (long)oy * s->stride - s->pad + ky;
                                long ix = (long)ox * s->stride - s->pad + kx;
                                if (iy < 0 || ix < 0 || iy >= s->h || ix >= s->w)
                                    continue;
                                size_t xi =
                                    (((size_t)n * s->c_in + ci) * s->h + (size_t)iy) * s->w + (size_t)ix;
                                size_t wi = (((size_t)co * s->c_in + ci) * s->kh + ky) * s->kw + kx;
                                term(ctx, xi, wi, yi);
                            }
                }
}

typedef struct {
    const double *a, *b;
    double *out;
} term_ctx;

static void forward_term(void *ctx, size_t xi, size_t wi, size_t yi) {
    term_ctx *c = ctx; /* a = x, b = w, out = y */
    c->out[yi] += c->a[xi] * c->b[wi];
}

static void backward_data_term(void *ctx, size_t xi, size_t wi, size_t yi) {
    term_ctx *c = ctx; /* a = dy, b = w, out = dx */
    c->out[xi] += c->a[yi] * c->b[wi];
}

static void backward_weights_term(void *ctx, size_t xi, size_t wi, size_t yi) {
    term_ctx *c = ctx; /* a = x, b = dy, out = dw */
    c->out[wi] += c->a[xi] * c->b[yi];
}

void tsl_ref_conv2d_forward(const tsl_conv2d_shape *s, const double *x, const double *w, double *y) {
    memset(y, 0, sizeof *y * tsl_conv2d_y_count(s));
    for_each_term(s, forward_term, &(term_ctx){x, w, y});
}

void tsl_ref_conv2d_backward_data(const tsl_conv2d_shape *s, const double *dy, const double *w, double *dx) {
    memset(dx, 0, sizeof *dx * tsl_conv2d_x_count(s));
    for_each_term(s, backward_data_term, &(term_ctx){dy, w, dx});
}

void tsl_ref_conv2d_backward_weights(const tsl_conv2d_shape *s, const double *x, const double *dy,
                                     double *dw) {
    memset(dw, 0, sizeof *dw * tsl_conv2d_w_count(s));
    for_each_term(s, backward_weights_term, &(term_ctx){x, dy, dw});
}
