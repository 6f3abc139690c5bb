#include "tsl_synth.h"
#include "tsl_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

static const char *const class_names[TSL_SYNTH_MAX_CLASSES] = {
    "disc", "square", "triangle", "ring", "cross", "star", "bars", "crescent", "hexagon", "arrow",
};

void tsl_synth_options_default(tsl_synth_options *o) {
    *o = (tsl_synth_options){.out_dir = NULL,
                             .classes = 10,
                             .per_class = 100,
                             .val_per_class = 20,
                             .size = 96,
                             .seed = 0,
                             .quality = 90,
                             .progress = false};
}

const char *tsl_synth_class_name(int k) {
    return (k >= 0 && k < TSL_SYNTH_MAX_CLASSES) ? class_names[k] : "?";
}

/* splitmix64: tiny, fast, and the same on every platform (rand() is not). */
typedef struct {
    uint64_t state;
} synth_rng;

static uint64_t rng_next(synth_rng *r) {
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(synth_rng *r, double lo, double hi) {
    return lo + (hi - lo) * (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static int rng_int(synth_rng *r, int n) {
    return (int)(rng_next(r) % (uint64_t)n);
}

/* Is the point (u, v), in the object's frame scaled so the shape fits the unit disc, inside shape k? */
static int shape_contains(int k, double u, double v) {
    const double s3 = 1.7320508075688772;
    double rho2 = u * u + v * v, au = fabs(u), av = fabs(v);
    switch (k) {
    case 0: /* disc */
        return rho2 < 1.0;
    case 1: /* square */
        return au < 0.72 && av < 0.72;
    case 2: /* equilateral triangle, vertices (0,1), (+-0.866,-0.5) */
        return v > -0.5 && v < 1.0 - s3 * au;
    case 3: /* ring */
        return rho2 < 1.0 && rho2 > 0.36;
    case 4: /* cross */
        return (au < 0.25 && av < 0.95) || (av < 0.25 && au < 0.95);
    case 5: { /* five-pointed star */
        double theta = atan2(v, u);
        double spike = pow(fabs(cos(2.5 * theta)), 3.0);
        return sqrt(rho2) < 0.4 + 0.6 * spike;
    }
    case 6: /* three parallel bars */
        return au < 0.9 && av < 0.9 && fmod(v + 0.9, 0.72) < 0.36;
    case 7: /* crescent */
        return rho2 < 1.0 && (u - 0.45) * (u - 0.45) + v * v > 0.5625;
    case 8: /* hexagon, vertices at (+-1, 0) */
        return av < 0.866 && s3 * au + av < s3;
    case 9: /* arrow pointing along +u */
        return (av < 0.2 && u > -0.95 && u < 0.2) || (u >= 0.2 && u < 0.95 && av < 0.95 - u);
    default:
        return 0;
    }
}

typedef struct {
    int kind; /* 0 value noise, 1 stripes, 2 gradient */
    double c0[3], c1[3];
    double dir_x, dir_y, period;
    int cell;
    int grid_w;
    double *grid; /* value-noise lattice for kind 0 */
} background;

/* kind 3 (plain) is flat c0; it draws the same numbers as a textured background, so that everything
 * else in the image (size, pose, colours) is the same for one seed either way. */
static void background_init(background *bg, synth_rng *r, int w, int h, bool plain) {
    bg->kind = rng_int(r, 3);
    for (int c = 0; c < 3; c++) {
        bg->c0[c] = rng_uniform(r, 0, 255);
        bg->c1[c] = rng_uniform(r, 0, 255);
    }
    if (plain) {
        bg->kind = 3;
        for (int c = 0; c < 3; c++)
            bg->c1[c] = bg->c0[c];
    }
    double angle = rng_uniform(r, 0, 2 * M_PI);
    bg->dir_x = cos(angle);
    bg->dir_y = sin(angle);
    bg->period = rng_uniform(r, 4, 20);
    bg->cell = 4 + rng_int(r, 13);
    bg->grid_w = w / bg->cell + 2;
    int grid_h = h / bg->cell + 2;
    bg->grid = malloc(sizeof(double) * (size_t)bg->grid_w * (size_t)grid_h);
    if (bg->grid)
        for (int i = 0; i < bg->grid_w * grid_h; i++)
            bg->grid[i] = rng_uniform(r, 0, 1);
}

/* Blend weight between the two background colours at pixel (x, y), in [0, 1]. */
static double background_mix(const background *bg, int x, int y, int w, int h) {
    if (bg->kind == 3)
        return 0;
    if (bg->kind == 0) {
        double gx = (double)x / bg->cell, gy = (double)y / bg->cell;
        int ix = (int)gx, iy = (int)gy;
        double fx = gx - ix, fy = gy - iy;
        const double *g = bg->grid + (size_t)iy * bg->grid_w + ix;
        double top = g[0] * (1 - fx) + g[1] * fx;
        double bot = g[bg->grid_w] * (1 - fx) + g[bg->grid_w + 1] * fx;
        return top * (1 - fy) + bot * fy;
    }
    double t = x * bg->dir_x + y * bg->dir_y;
    if (bg->kind == 1)
        return 0.5 + 0.5 * sin(2 * M_PI * t / bg->period);
    double extent = fabs(w * bg->dir_x) + fabs(h * bg->dir_y);
    double t0 = fmin(0, w * bg->dir_x) + fmin(0, h * bg->dir_y);
    return (t - t0) / extent;
}

static uint8_t clamp_u8(double v) {
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)lrint(v);
}

tsl_status tsl_synth_render(int k, uint64_t image_seed, int size, uint8_t **rgb, int *width, int *height) {
    return tsl_synth_render_background(k, image_seed, size, false, rgb, width, height);
}

tsl_status tsl_synth_render_background(int k, uint64_t image_seed, int size, bool plain, uint8_t **rgb,
                                       int *width, int *height) {
    if (k < 0 || k >= TSL_SYNTH_MAX_CLASSES || size < 8 || size > 4096)
        return tsl_error(TSL_ERR_INVALID_ARG, "synth: class %d or size %d out of range", k, size);
    synth_rng r = {image_seed};
    int long_side = size + rng_int(&r, size / 2 + 1);
    int w = size, h = size;
    if (rng_int(&r, 2))
        w = long_side;
    else
        h = long_side;
    background bg;
    background_init(&bg, &r, w, h, plain);
    uint8_t *img = malloc((size_t)w * h * 3);
    if (!img || !bg.grid) {
        free(img);
        free(bg.grid);
        return tsl_error(TSL_ERR_NOMEM, "synth: out of memory for a %dx%d image", w, h);
    }
    double radius = size * rng_uniform(&r, 0.22, 0.42);
    double cx = rng_uniform(&r, radius, w - radius), cy = rng_uniform(&r, radius, h - radius);
    double rot = rng_uniform(&r, 0, 2 * M_PI), cr = cos(rot), sr = sin(rot);
    double obj[3];
    for (int c = 0; c < 3; c++) {
        double bg_mean = 0.5 * (bg.c0[c] + bg.c1[c]);
        /* Push the object's colour away from the background's so the shape stays visible. */
        obj[c] = bg_mean < 128 ? rng_uniform(&r, bg_mean + 70, 255) : rng_uniform(&r, 0, bg_mean - 70);
    }
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            double t = background_mix(&bg, x, y, w, h);
            int inside = 0; /* 2x2 supersampled coverage for smooth edges */
            for (int s = 0; s < 4; s++) {
                double px = x + 0.25 + 0.5 * (s & 1) - cx, py = y + 0.25 + 0.5 * (s >> 1) - cy;
                double u = (cr * px + sr * py) / radius, v = (-sr * px + cr * py) / radius;
                inside += shape_contains(k, u, -v);
            }
            double a = inside / 4.0, noise = rng_uniform(&r, -8, 8);
            for (int c = 0; c < 3; c++) {
                double b = bg.c0[c] * (1 - t) + bg.c1[c] * t;
                img[((size_t)y * w + x) * 3 + c] = clamp_u8(b * (1 - a) + obj[c] * a + noise);
            }
        }
    }
    free(bg.grid);
    *rgb = img;
    *width = w;
    *height = h;
    return TSL_OK;
}

/* Mixes each part of (seed, split, class, index) through splitmix64 in turn, so that no two tuples
 * share an image seed by simple xor coincidences (seed 42 index 1 vs seed 43 index 0). */
static uint64_t image_seed(uint64_t seed, int split, int k, int index) {
    synth_rng r = {seed};
    uint64_t parts[3] = {(uint64_t)split, (uint64_t)k, (uint64_t)index};
    for (int i = 0; i < 3; i++) {
        r.state = rng_next(&r) ^ parts[i];
    }
    return rng_next(&r);
}

static tsl_status write_jpeg(tjhandle tj, const char *path, const uint8_t *rgb, int w, int h, int quality) {
    unsigned char *jpeg = NULL;
    unsigned long jpeg_size = 0;
    if (tjCompress2(tj, rgb, w, 0, h, TJPF_RGB, &jpeg, &jpeg_size, TJSAMP_420, quality, 0) != 0) {
        tjFree(jpeg);
        return tsl_error(TSL_ERR_FORMAT, "encoding %s: %s", path, tjGetErrorStr2(tj));
    }
    tsl_status st = tsl_write_file_atomic(path, jpeg, jpeg_size);
    tjFree(jpeg);
    return st;
}

static tsl_status write_image(tjhandle tj, const tsl_synth_options *o, int split, int k, int index) {
    static const char *const split_names[2] = {"train", "val"};
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", o->out_dir, split_names[split], class_names[k]);
    TSL_TRY(tsl_mkdirs(path));
    size_t n = strlen(path);
    snprintf(path + n, sizeof path - n, "/%s%s_%05d.JPEG", split ? "val_" : "", class_names[k], index);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    TSL_TRY(tsl_synth_render_background(k, image_seed(o->seed, split, k, index), o->size, o->plain, &rgb, &w,
                                        &h));
    tsl_status st = write_jpeg(tj, path, rgb, w, h, o->quality);
    free(rgb);
    return st;
}

tsl_status tsl_synth_write(const tsl_synth_options *o) {
    if (!o->out_dir || o->classes < 1 || o->classes > TSL_SYNTH_MAX_CLASSES || o->per_class < 0 ||
        o->val_per_class < 0 || o->size < 8 || o->size > 4096 || o->quality < 1 || o->quality > 100)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "synth: options out of range (classes 1..%d, size 8..4096, "
                         "quality 1..100)",
                         TSL_SYNTH_MAX_CLASSES);
    tjhandle tj = tjInitCompress();
    if (!tj)
        return tsl_error(TSL_ERR_NOMEM, "synth: cannot start a JPEG encoder: %s", tjGetErrorStr2(NULL));
    const int counts[2] = {o->per_class, o->val_per_class};
    long total = (long)o->classes * (counts[0] + counts[1]), done = 0;
    tsl_status st = TSL_OK;
    for (int split = 0; split < 2 && st == TSL_OK; split++) {
        for (int k = 0; k < o->classes && st == TSL_OK; k++) {
            for (int i = 0; i < counts[split] && st == TSL_OK; i++) {
                st = write_image(tj, o, split, k, i);
                done++;
                if (o->progress && (done % 64 == 0 || done == total))
                    fprintf(stderr, "\rsynth: %ld/%ld images", done, total);
            }
        }
    }
    if (o->progress)
        fprintf(stderr, "\n");
    tjDestroy(tj);
    return st;
}
