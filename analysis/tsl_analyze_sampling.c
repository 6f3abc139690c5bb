#include "tsl_analyze_sampling.h"

const char *const tsl_analyze_param_names[TSL_ANALYZE_PARAMS] = {
    "crop_top", "crop_left",  "crop_height", "crop_width", "flip",       "brightness",
    "contrast", "saturation", "hue",         "gray",       "blur_sigma", "solarize"};

static void identity_sample(tsl_augment_sample *s) {
    *s = (tsl_augment_sample){.crop_height = 1,
                              .crop_width = 1,
                              .order = {0, 1, 2, 3},
                              .brightness = 1,
                              .contrast = 1,
                              .saturation = 1};
}

void tsl_analyze_draw(const tsl_augment_config *config, tsl_analyze_family family, tsl_augment_key key,
                      uint32_t width, uint32_t height, tsl_augment_sample *sample) {
    if (family == TSL_ANALYZE_NONE) {
        identity_sample(sample);
        return;
    }
    tsl_augment_config c = *config;
    for (int v = 0; v < TSL_VIEW_COUNT; v++) {
        tsl_augment_view_probs *p = &c.view[v];
        if (family == TSL_ANALYZE_CROP)
            p->jitter_p = p->gray_p = p->blur_p = p->solarize_p = 0;
        if (family == TSL_ANALYZE_PHOTOMETRIC)
            p->flip_p = 0;
    }
    tsl_augment_sample_draw(&c, key, width, height, sample);
    if (family == TSL_ANALYZE_PHOTOMETRIC) {
        sample->crop_top = sample->crop_left = 0;
        sample->crop_height = sample->crop_width = 1;
    }
}

static tsl_augment_key key_of(uint64_t seed, uint64_t set, size_t a, size_t row) {
    return (tsl_augment_key){.seed = seed, .epoch = set, .step = a, .row = row, .view = (uint32_t)(a % 2)};
}

void tsl_analyze_independent_jobs(const tsl_augment_config *config, tsl_analyze_family family, uint64_t seed,
                                  uint64_t set, const uint32_t *widths, const uint32_t *heights,
                                  size_t n_images, size_t k, tsl_augment_job *jobs) {
    for (size_t i = 0; i < n_images; i++)
        for (size_t a = 0; a < k; a++) {
            tsl_augment_job *j = &jobs[i * k + a];
            j->source = (uint32_t)i;
            tsl_analyze_draw(config, family, key_of(seed, set, a, i), widths[i], heights[i], &j->sample);
        }
}

void tsl_analyze_paired_jobs(const tsl_augment_config *config, uint64_t seed, uint64_t set,
                             const uint32_t *widths, const uint32_t *heights, size_t n_images, size_t k,
                             tsl_augment_job *jobs) {
    for (size_t p = 0; 2 * p + 1 < n_images; p++)
        for (size_t a = 0; a < k; a++) {
            tsl_augment_job *first = &jobs[2 * p * k + a], *second = &jobs[(2 * p + 1) * k + a];
            first->source = (uint32_t)(2 * p);
            tsl_analyze_draw(config, TSL_ANALYZE_ALL, key_of(seed, set, a, p), widths[2 * p], heights[2 * p],
                             &first->sample);
            *second = (tsl_augment_job){(uint32_t)(2 * p + 1), first->sample};
        }
}

void tsl_analyze_param_values(const tsl_augment_sample *s, double v[TSL_ANALYZE_PARAMS]) {
    const double values[TSL_ANALYZE_PARAMS] = {s->crop_top, s->crop_left,  s->crop_height, s->crop_width,
                                               s->flip,     s->brightness, s->contrast,    s->saturation,
                                               s->hue,      s->gray,       s->sigma,       s->solarize};
    for (int i = 0; i < TSL_ANALYZE_PARAMS; i++)
        v[i] = values[i];
}
