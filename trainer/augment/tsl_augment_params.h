/* The CPU side of tessl's augmentations: draws every random parameter of the two views (t, t') of the
 * Barlow Twins / TeSSL recipe (docs: /work/shared/reference/recipes.md "Augmentations", "TeSSL pairing").
 *
 * Determinism: a sample is a pure function of (config, seed, epoch, step, row, view) and the size of the
 * image the crop is drawn on. Each random decision reads its own fixed slot of a counter-based generator
 * (splitmix64 of the key and the slot), so a resumed run redraws exactly the same parameters, and one
 * decision never shifts another's random numbers.
 *
 * TeSSL pairing: the image of row i in half 1 and the image of row i in half 2 share the sample of each
 * view; the crop box is drawn on the half-1 image in its pixels and recorded in relative coordinates,
 * which place it on the half-2 image (i2 = i1*H2/H1, j2 = j1*W2/W1, h2 = h1*H2/H1, w2 = w1*W2/W1:
 * tsl_augment_crop_pixels). */
#ifndef TSL_AUGMENT_PARAMS_H
#define TSL_AUGMENT_PARAMS_H

#include "tsl_status.h"

#include <stdint.h>

enum { TSL_VIEW_T = 0, TSL_VIEW_T_PRIME = 1, TSL_VIEW_COUNT = 2 };

/* Colour-jitter ops, as numbered in `order` (and in `tessl augment --params order=...`). */
enum { TSL_JITTER_BRIGHTNESS = 0, TSL_JITTER_CONTRAST = 1, TSL_JITTER_SATURATION = 2, TSL_JITTER_HUE = 3 };

/* Probabilities of one view's random ops. */
typedef struct {
    double flip_p, jitter_p, gray_p, blur_p, solarize_p;
} tsl_augment_view_probs;

typedef struct {
    tsl_augment_view_probs view[TSL_VIEW_COUNT];
    double scale_min, scale_max;                  /* RandomResizedCrop area fraction range */
    double ratio_min, ratio_max;                  /* RandomResizedCrop aspect (w/h) range */
    double brightness, contrast, saturation, hue; /* ColorJitter strengths */
    double sigma_min, sigma_max;                  /* Gaussian blur sigma range */
} tsl_augment_config;

/* The recipe: flip .5, jitter .8 (.4, .4, .2, .1), gray .2, blur 1.0 / 0.1, solarize 0 / 0.2 for t / t',
 * scale (0.08, 1), ratio (3/4, 4/3), sigma U[0.1, 2.0]. (The authors' TeSSL code uses blur p 0.2 for t'.) */
void tsl_augment_config_default(tsl_augment_config *config);

/* Checks every probability is in [0, 1] and every range is ordered and positive where it must be. */
tsl_status tsl_augment_config_check(const tsl_augment_config *config);

/* Every parameter one view actually uses: a plain struct the analyses read. An op that is off has its
 * identity value (factors 1, hue 0, sigma 0), so a reader may use the factors without the flags. */
typedef struct {
    /* Crop box relative to the source image: top and height as fractions of its height, left and width
     * as fractions of its width. */
    double crop_top, crop_left, crop_height, crop_width;
    uint8_t flip;     /* horizontal flip */
    uint8_t jitter;   /* colour jitter applied */
    uint8_t gray;     /* converted to (3-channel) grayscale */
    uint8_t solarize; /* solarized */
    uint8_t order[4]; /* jitter ops (TSL_JITTER_*) in the order applied; a permutation of 0..3 */
    float brightness, contrast, saturation, hue;
    float sigma; /* Gaussian blur sigma; 0: no blur */
} tsl_augment_sample;

typedef struct {
    uint64_t seed, epoch, step, row;
    uint32_t view; /* TSL_VIEW_T or TSL_VIEW_T_PRIME */
} tsl_augment_key;

/* Draws one view's sample for a crop on a `width` x `height` image (both >= 1; key.view < 2: asserted). */
void tsl_augment_sample_draw(const tsl_augment_config *config, tsl_augment_key key, uint32_t width,
                             uint32_t height, tsl_augment_sample *sample);

/* Draws a TeSSL batch of `rows` pairs: samples[2*r + v] is view v of row r, drawn on the half-1 image of
 * row r (size widths_half1[r] x heights_half1[r]) and shared by both images of the row. Fails with
 * TSL_ERR_INVALID_ARG on a bad config or an empty image. */
tsl_status tsl_augment_sample_batch(const tsl_augment_config *config, uint64_t seed, uint64_t epoch,
                                    uint64_t step, uint32_t rows, const uint32_t *widths_half1,
                                    const uint32_t *heights_half1, tsl_augment_sample *samples);

/* The same for rows first_row .. first_row + rows - 1 of a larger batch (row r of the arrays is batch row
 * first_row + r): a data-parallel rank holding a slice of the global batch draws what one process
 * drawing the whole batch gives those rows. */
tsl_status tsl_augment_sample_rows(const tsl_augment_config *config, uint64_t seed, uint64_t epoch,
                                   uint64_t step, uint64_t first_row, uint32_t rows,
                                   const uint32_t *widths_half1, const uint32_t *heights_half1,
                                   tsl_augment_sample *samples);

/* The integer pixel box of a sample's crop on a `width` x `height` image: coordinates rounded to the
 * nearest pixel (exact on the image the box was drawn on), clamped to lie inside, at least 1x1. */
void tsl_augment_crop_pixels(const tsl_augment_sample *sample, uint32_t width, uint32_t height, uint32_t *top,
                             uint32_t *left, uint32_t *crop_h, uint32_t *crop_w);

/* RandomResizedCrop's box (torchvision get_params) on a `width` x `height` image, from the key's
 * generator; exposed for the statistical tests. */
void tsl_augment_draw_crop(const tsl_augment_config *config, tsl_augment_key key, uint32_t width,
                           uint32_t height, uint32_t *top, uint32_t *left, uint32_t *crop_h,
                           uint32_t *crop_w);

#endif
