#include "tsl_ref_augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double filter_weight(double x, tsl_resize_filter filter) {
    x = fabs(x);
    if (filter == TSL_RESIZE_BICUBIC) {
        const double a = -0.5;
        if (x < 1)
            return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2)
            return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }
    return x < 1 ? 1 - x : 0;
}

/* torch's _compute_indices_weights_aa: weights of output index i (normalised), taps [*lo, *lo + *count). */
static void axis_weights(uint32_t i, uint32_t in, uint32_t S, tsl_resize_filter filter, int64_t *lo,
                         int64_t *count, double *w) {
    double scale = (double)in / S;
    double support = (filter == TSL_RESIZE_BICUBIC ? 2.0 : 1.0) * (scale >= 1 ? scale : 1);
    double inv = scale >= 1 ? 1 / scale : 1;
    double centre = scale * (i + 0.5);
    int64_t xmin = (int64_t)(centre - support + 0.5);
    xmin = xmin < 0 ? 0 : xmin;
    int64_t xmax = (int64_t)(centre + support + 0.5);
    xmax = xmax > in ? in : xmax;
    double total = 0;
    for (int64_t j = xmin; j < xmax; j++)
        total += w[j - xmin] = filter_weight((j - centre + 0.5) * inv, filter);
    for (int64_t j = xmin; j < xmax; j++)
        w[j - xmin] /= total;
    *lo = xmin;
    *count = xmax - xmin;
}

void tsl_ref_resized_crop(const uint8_t *src, uint32_t src_w, uint32_t top, uint32_t left, uint32_t ch,
                          uint32_t cw, uint32_t S, tsl_resize_filter filter, int flip, double *out) {
    double *wx = malloc((2 * cw + 8) * sizeof *wx), *wy = malloc((2 * ch + 8) * sizeof *wy);
    for (uint32_t oy = 0; oy < S; oy++) {
        int64_t y0, ny;
        axis_weights(oy, ch, S, filter, &y0, &ny, wy);
        for (uint32_t ox = 0; ox < S; ox++) {
            int64_t x0, nx;
            axis_weights(ox, cw, S, filter, &x0, &nx, wx);
            double acc[3] = {0, 0, 0};
            for (int64_t y = 0; y < ny; y++)
                for (int64_t x = 0; x < nx; x++) {
                    const uint8_t *px = src + ((size_t)(top + y0 + y) * src_w + left + x0 + x) * 3;
                    for (int c = 0; c < 3; c++)
                        acc[c] += wy[y] * wx[x] * px[c] / 255.0;
                }
            uint32_t dx = flip ? S - 1 - ox : ox;
            for (int c = 0; c < 3; c++)
                out[(size_t)c * S * S + oy * S + dx] = fmin(fmax(acc[c], 0), 1);
        }
    }
    free(wx);
    free(wy);
}

static double clamp01(double x) {
    return fmin(fmax(x, 0), 1);
}

static double gray_of(const double *img, uint32_t n, uint32_t p) {
    return 0.2989 * img[p] + 0.587 * img[n + p] + 0.114 * img[2 * n + p];
}

/* torchvision's _blend(img1, img2, ratio) = clamp(ratio * img1 + (1 - ratio) * img2). */
void tsl_ref_adjust_brightness(double *img, uint32_t n, double f) {
    for (uint32_t i = 0; i < 3 * n; i++)
        img[i] = clamp01(f * img[i]);
}

void tsl_ref_adjust_contrast(double *img, uint32_t n, double f) {
    double mean = 0;
    for (uint32_t p = 0; p < n; p++)
        mean += gray_of(img, n, p);
    mean /= n;
    for (uint32_t i = 0; i < 3 * n; i++)
        img[i] = clamp01(f * img[i] + (1 - f) * mean);
}

void tsl_ref_adjust_saturation(double *img, uint32_t n, double f) {
    for (uint32_t p = 0; p < n; p++) {
        double g = gray_of(img, n, p);
        for (int c = 0; c < 3; c++)
            img[c * n + p] = clamp01(f * img[c * n + p] + (1 - f) * g);
    }
}

/* torchvision's _rgb2hsv / _hsv2rgb. */
static void rgb_to_hsv(const double rgb[3], double hsv[3]) {
    double r = rgb[0], g = rgb[1], b = rgb[2];
    double maxc = fmax(r, fmax(g, b)), minc = fmin(r, fmin(g, b));
    int eqc = maxc == minc;
    double cr = maxc - minc;
    double s = cr / (eqc ? 1 : maxc), d = eqc ? 1 : cr;
    double rc = (maxc - r) / d, gc = (maxc - g) / d, bc = (maxc - b) / d;
    double h = maxc == r ? bc - gc : maxc == g ? 2 + rc - bc : 4 + gc - rc;
    h = fmod(h / 6 + 1, 1);
    hsv[0] = h;
    hsv[1] = s;
    hsv[2] = maxc;
}

static void hsv_to_rgb(const double hsv[3], double rgb[3]) {
    double h = hsv[0], s = hsv[1], v = hsv[2];
    double i = floor(h * 6), f = h * 6 - i;
    double p = clamp01(v * (1 - s)), q = clamp01(v * (1 - s * f)), t = clamp01(v * (1 - s * (1 - f)));
    int sector = ((int)i % 6 + 6) % 6;
    const double table[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
    memcpy(rgb, table[sector], sizeof table[sector]);
}

void tsl_ref_adjust_hue(double *img, uint32_t n, double shift) {
    for (uint32_t p = 0; p < n; p++) {
        double rgb[3] = {img[p], img[n + p], img[2 * n + p]}, hsv[3];
        rgb_to_hsv(rgb, hsv);
        hsv[0] = hsv[0] + shift - floor(hsv[0] + shift); /* Python's % 1.0 */
        hsv_to_rgb(hsv, rgb);
        for (int c = 0; c < 3; c++)
            img[c * n + p] = rgb[c];
    }
}

void tsl_ref_grayscale(double *img, uint32_t n) {
    for (uint32_t p = 0; p < n; p++) {
        double g = gray_of(img, n, p);
        img[p] = img[n + p] = img[2 * n + p] = g;
    }
}

void tsl_ref_solarize(double *img, uint32_t n, double threshold) {
    for (uint32_t i = 0; i < 3 * n; i++)
        img[i] = img[i] >= threshold ? 1 - img[i] : img[i];
}

void tsl_ref_normalize(double *img, uint32_t n, const float mean[3], const float std[3]) {
    for (int c = 0; c < 3; c++)
        for (uint32_t p = 0; p < n; p++)
            img[c * n + p] = (img[c * n + p] - mean[c]) / std[c];
}

/* torch's "reflect" padding, repeated for images smaller than the kernel. */
static int64_t reflect(int64_t i, int64_t n) {
    if (n == 1)
        return 0;
    int64_t period = 2 * (n - 1);
    i = ((i % period) + period) % period;
    return i < n ? i : period - i;
}

void tsl_ref_gaussian_blur(double *img, uint32_t S, double sigma) {
    int64_t radius = (int64_t)ceil(3 * sigma);
    double *k = malloc((2 * radius + 1) * sizeof *k), *tmp = malloc((size_t)S * S * sizeof *tmp);
    double total = 0;
    for (int64_t i = -radius; i <= radius; i++)
        total += k[i + radius] = exp(-0.5 * (i / sigma) * (i / sigma));
    for (int64_t i = 0; i <= 2 * radius; i++)
        k[i] /= total;
    for (int c = 0; c < 3; c++) {
        double *plane = img + (size_t)c * S * S;
        for (int64_t y = 0; y < S; y++)
            for (int64_t x = 0; x < S; x++) {
                double acc = 0;
                for (int64_t i = -radius; i <= radius; i++)
                    acc += k[i + radius] * plane[y * S + reflect(x + i, S)];
                tmp[y * S + x] = acc;
            }
        for (int64_t y = 0; y < S; y++)
            for (int64_t x = 0; x < S; x++) {
                double acc = 0;
                for (int64_t i = -radius; i <= radius; i++)
                    acc += k[i + radius] * tmp[reflect(y + i, S) * S + x];
                plane[y * S + x] = acc;
            }
    }
    free(k);
    free(tmp);
}

static void ref_jitter(double *img, uint32_t n, const tsl_augment_record *r) {
    for (uint32_t k = 0; k < 4; k++) {
        uint32_t op = (r->flags >> (16 + 2 * k)) & 3;
        if (op == TSL_JITTER_BRIGHTNESS)
            tsl_ref_adjust_brightness(img, n, r->factors[0]);
        else if (op == TSL_JITTER_CONTRAST)
            tsl_ref_adjust_contrast(img, n, r->factors[1]);
        else if (op == TSL_JITTER_SATURATION)
            tsl_ref_adjust_saturation(img, n, r->factors[2]);
        else
            tsl_ref_adjust_hue(img, n, r->factors[3]);
    }
}

void tsl_ref_augment(const uint8_t *images, const tsl_augment_record *r, const tsl_augment_output *out,
                     double *dst) {
    uint32_t S = out->size, n = S * S;
    tsl_ref_resized_crop(images + r->src_offset, r->src_width, r->crop_top, r->crop_left, r->crop_height,
                         r->crop_width, S, out->filter, r->flags & TSL_AUGMENT_FLIP, dst);
    if (r->flags & TSL_AUGMENT_JITTER)
        ref_jitter(dst, n, r);
    if (r->flags & TSL_AUGMENT_GRAY)
        tsl_ref_grayscale(dst, n);
    if (r->sigma > 0)
        tsl_ref_gaussian_blur(dst, S, r->sigma);
    if (r->flags & TSL_AUGMENT_SOLARIZE)
        tsl_ref_solarize(dst, n, TSL_AUGMENT_SOLARIZE_THRESHOLD);
    tsl_ref_normalize(dst, n, out->mean, out->std);
}
