#include "tsl_augment_params.h"

#include <math.h>
#include <stdbool.h>

/* Fixed generator slots of each decision (see the header: one decision never shifts another's draws). */
enum {
    SLOT_CROP = 0,      /* 2 per try: area fraction, log ratio; 10 tries */
    SLOT_CROP_POS = 20, /* top, left of the accepted try */
    SLOT_FLIP = 24,
    SLOT_JITTER = 25,
    SLOT_ORDER = 26,   /* 4 slots */
    SLOT_FACTORS = 30, /* 4 slots: brightness, contrast, saturation, hue */
    SLOT_GRAY = 34,
    SLOT_BLUR = 35,
    SLOT_SIGMA = 36,
    SLOT_SOLARIZE = 37,
};

enum { CROP_TRIES = 10 };

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Chains the key's numbers through splitmix64 so that each distinct key gives an unrelated stream. */
static uint64_t key_hash(tsl_augment_key key) {
    uint64_t h = splitmix64(key.seed);
    h = splitmix64(h ^ key.epoch);
    h = splitmix64(h ^ key.step);
    h = splitmix64(h ^ key.row);
    return splitmix64(h ^ key.view);
}

/* Uniform in [0, 1) with 53 random bits, from slot `slot` of the key's stream. */
static double slot_uniform(uint64_t hash, uint32_t slot) {
    return (double)(splitmix64(hash + 0x632be59bd9b4e019ull * (slot + 1)) >> 11) * 0x1.0p-53;
}

static double uniform_in(uint64_t hash, uint32_t slot, double lo, double hi) {
    return lo + (hi - lo) * slot_uniform(hash, slot);
}

/* Integer uniform in [0, n) (n >= 1). */
static uint32_t slot_below(uint64_t hash, uint32_t slot, uint32_t n) {
    uint32_t v = (uint32_t)(slot_uniform(hash, slot) * n);
    return v < n ? v : n - 1;
}

static bool slot_bernoulli(uint64_t hash, uint32_t slot, double p) {
    return slot_uniform(hash, slot) < p;
}

void tsl_augment_config_default(tsl_augment_config *c) {
    *c = (tsl_augment_config){
        .view = {{.flip_p = 0.5, .jitter_p = 0.8, .gray_p = 0.2, .blur_p = 1.0, .solarize_p = 0.0},
                 {.flip_p = 0.5, .jitter_p = 0.8, .gray_p = 0.2, .blur_p = 0.1, .solarize_p = 0.2}},
        .scale_min = 0.08,
        .scale_max = 1.0,
        .ratio_min = 3.0 / 4.0,
        .ratio_max = 4.0 / 3.0,
        .brightness = 0.4,
        .contrast = 0.4,
        .saturation = 0.2,
        .hue = 0.1,
        .sigma_min = 0.1,
        .sigma_max = 2.0,
    };
}

static bool is_probability(double p) {
    return p >= 0.0 && p <= 1.0;
}

tsl_status tsl_augment_config_check(const tsl_augment_config *c) {
    for (int v = 0; v < TSL_VIEW_COUNT; v++) {
        const tsl_augment_view_probs *p = &c->view[v];
        if (!is_probability(p->flip_p) || !is_probability(p->jitter_p) || !is_probability(p->gray_p) ||
            !is_probability(p->blur_p) || !is_probability(p->solarize_p))
            return tsl_error(TSL_ERR_INVALID_ARG, "augment: a probability of view %d is outside [0, 1]", v);
    }
    if (!(c->scale_min > 0 && c->scale_min <= c->scale_max && c->scale_max <= 1))
        return tsl_error(TSL_ERR_INVALID_ARG, "augment: crop scale range (%g, %g) is not inside (0, 1]",
                         c->scale_min, c->scale_max);
    if (!(c->ratio_min > 0 && c->ratio_min <= c->ratio_max))
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "augment: crop ratio range (%g, %g) is not positive and ordered", c->ratio_min,
                         c->ratio_max);
    if (!(c->brightness >= 0 && c->contrast >= 0 && c->saturation >= 0 && c->hue >= 0 && c->hue <= 0.5))
        return tsl_error(TSL_ERR_INVALID_ARG, "augment: jitter strengths must be >= 0 (hue <= 0.5)");
    if (!(c->sigma_min > 0 && c->sigma_min <= c->sigma_max))
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "augment: blur sigma range (%g, %g) is not positive and ordered", c->sigma_min,
                         c->sigma_max);
    return TSL_OK;
}

/* torchvision's transforms.RandomResizedCrop.get_params, with Python's round (half to even). */
static void draw_crop(const tsl_augment_config *c, uint64_t hash, uint32_t width, uint32_t height,
                      uint32_t *top, uint32_t *left, uint32_t *crop_h, uint32_t *crop_w) {
    double area = (double)width * height;
    double log_lo = log(c->ratio_min), log_hi = log(c->ratio_max);
    for (uint32_t t = 0; t < CROP_TRIES; t++) {
        double target = area * uniform_in(hash, SLOT_CROP + 2 * t, c->scale_min, c->scale_max);
        double aspect = exp(uniform_in(hash, SLOT_CROP + 2 * t + 1, log_lo, log_hi));
        double w = nearbyint(sqrt(target * aspect)), h = nearbyint(sqrt(target / aspect));
        if (w > 0 && w <= width && h > 0 && h <= height) {
            *crop_w = (uint32_t)w;
            *crop_h = (uint32_t)h;
            *top = slot_below(hash, SLOT_CROP_POS, height - *crop_h + 1);
            *left = slot_below(hash, SLOT_CROP_POS + 1, width - *crop_w + 1);
            return;
        }
    }
    double in_ratio = (double)width / height;
    double w = width, h = height;
    if (in_ratio < c->ratio_min)
        h = nearbyint(w / c->ratio_min);
    else if (in_ratio > c->ratio_max)
        w = nearbyint(h * c->ratio_max);
    *crop_w = w < 1 ? 1 : (uint32_t)w;
    *crop_h = h < 1 ? 1 : (uint32_t)h;
    *top = (height - *crop_h) / 2;
    *left = (width - *crop_w) / 2;
}

void tsl_augment_draw_crop(const tsl_augment_config *c, tsl_augment_key key, uint32_t width, uint32_t height,
                           uint32_t *top, uint32_t *left, uint32_t *crop_h, uint32_t *crop_w) {
    draw_crop(c, key_hash(key), width, height, top, left, crop_h, crop_w);
}

/* ColorJitter.get_params: a random permutation of the four ops and a factor for each. */
static void draw_jitter(const tsl_augment_config *c, uint64_t hash, tsl_augment_sample *s) {
    uint8_t order[4] = {0, 1, 2, 3};
    for (uint32_t i = 3; i > 0; i--) { /* Fisher-Yates */
        uint32_t j = slot_below(hash, SLOT_ORDER + i, i + 1);
        uint8_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    for (int i = 0; i < 4; i++)
        s->order[i] = order[i];
    s->brightness = (float)uniform_in(hash, SLOT_FACTORS, fmax(0, 1 - c->brightness), 1 + c->brightness);
    s->contrast = (float)uniform_in(hash, SLOT_FACTORS + 1, fmax(0, 1 - c->contrast), 1 + c->contrast);
    s->saturation = (float)uniform_in(hash, SLOT_FACTORS + 2, fmax(0, 1 - c->saturation), 1 + c->saturation);
    s->hue = (float)uniform_in(hash, SLOT_FACTORS + 3, -c->hue, c->hue);
}

void tsl_augment_sample_draw(const tsl_augment_config *c, tsl_augment_key key, uint32_t width,
                             uint32_t height, tsl_augment_sample *s) {
    uint64_t hash = key_hash(key);
    tsl_assert(key.view < TSL_VIEW_COUNT && width > 0 && height > 0);
    const tsl_augment_view_probs *p = &c->view[key.view];
    *s = (tsl_augment_sample){.order = {0, 1, 2, 3}, .brightness = 1, .contrast = 1, .saturation = 1};
    uint32_t top, left, ch, cw;
    draw_crop(c, hash, width, height, &top, &left, &ch, &cw);
    s->crop_top = (double)top / height;
    s->crop_left = (double)left / width;
    s->crop_height = (double)ch / height;
    s->crop_width = (double)cw / width;
    s->flip = slot_bernoulli(hash, SLOT_FLIP, p->flip_p);
    s->jitter = slot_bernoulli(hash, SLOT_JITTER, p->jitter_p);
    if (s->jitter)
        draw_jitter(c, hash, s);
    s->gray = slot_bernoulli(hash, SLOT_GRAY, p->gray_p);
    if (slot_bernoulli(hash, SLOT_BLUR, p->blur_p))
        s->sigma = (float)uniform_in(hash, SLOT_SIGMA, c->sigma_min, c->sigma_max);
    s->solarize = slot_bernoulli(hash, SLOT_SOLARIZE, p->solarize_p);
}

tsl_status tsl_augment_sample_batch(const tsl_augment_config *c, uint64_t seed, uint64_t epoch, uint64_t step,
                                    uint32_t rows, const uint32_t *widths_half1,
                                    const uint32_t *heights_half1, tsl_augment_sample *samples) {
    return tsl_augment_sample_rows(c, seed, epoch, step, 0, rows, widths_half1, heights_half1, samples);
}

tsl_status tsl_augment_sample_rows(const tsl_augment_config *c, uint64_t seed, uint64_t epoch, uint64_t step,
                                   uint64_t first_row, uint32_t rows, const uint32_t *widths_half1,
                                   const uint32_t *heights_half1, tsl_augment_sample *samples) {
    TSL_TRY(tsl_augment_config_check(c));
    for (uint32_t r = 0; r < rows; r++) {
        if (widths_half1[r] == 0 || heights_half1[r] == 0)
            return tsl_error(TSL_ERR_INVALID_ARG, "augment: the half-1 image of row %u is empty (%ux%u)", r,
                             widths_half1[r], heights_half1[r]);
        for (uint32_t v = 0; v < TSL_VIEW_COUNT; v++) {
            tsl_augment_key key = {seed, epoch, step, first_row + r, v};
            tsl_augment_sample_draw(c, key, widths_half1[r], heights_half1[r], &samples[2 * r + v]);
        }
    }
    return TSL_OK;
}

static uint32_t round_clamped(double x, uint32_t lo, uint32_t hi) {
    double r = nearbyint(x);
    return r < lo ? lo : r > hi ? hi : (uint32_t)r;
}

void tsl_augment_crop_pixels(const tsl_augment_sample *s, uint32_t width, uint32_t height, uint32_t *top,
                             uint32_t *left, uint32_t *crop_h, uint32_t *crop_w) {
    *top = round_clamped(s->crop_top * height, 0, height - 1);
    *left = round_clamped(s->crop_left * width, 0, width - 1);
    *crop_h = round_clamped(s->crop_height * height, 1, height - *top);
    *crop_w = round_clamped(s->crop_width * width, 1, width - *left);
}
