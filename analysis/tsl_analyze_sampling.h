/* The augmentation sets of `tessl analyze` (docs/ANALYSES.md "Sampling"): which image is seen under which
 * parameters. Pure functions of (config, seed, image sizes), so that two networks are measured on exactly
 * the same inputs and their per-unit differences are paired.
 *
 * Every sample comes from tsl_augment_sample_draw with key {seed, epoch = set id, step = augmentation k,
 * row = image (or pair) index, view = k % 2}: augmentations alternate between the recipe's two views t and
 * t', so a set covers both views' distributions (solarize only occurs under t'). */
#ifndef TSL_ANALYZE_SAMPLING_H
#define TSL_ANALYZE_SAMPLING_H

#include "tsl_augment.h"

#include <stddef.h>
#include <stdint.h>

/* Which family of operations a sample may use. */
typedef enum {
    TSL_ANALYZE_ALL = 0,     /* the recipe: crop, flip, jitter, gray, blur, solarize */
    TSL_ANALYZE_CROP,        /* geometric only: crop and flip (photometric probabilities 0) */
    TSL_ANALYZE_PHOTOMETRIC, /* photometric only: jitter, gray, blur, solarize on the full box, no flip */
    TSL_ANALYZE_NONE,        /* identity: the full box resized, every op off (the linear probe's input) */
} tsl_analyze_family;

/* Draws one sample of `family` on a width x height image. CROP draws from `config` with jitter, gray,
 * blur and solarize probabilities set to 0; PHOTOMETRIC draws with flip probability 0 and then replaces
 * the crop by the full box; NONE ignores config and key. */
void tsl_analyze_draw(const tsl_augment_config *config, tsl_analyze_family family, tsl_augment_key key,
                      uint32_t width, uint32_t height, tsl_augment_sample *sample);

/* n_images * k jobs, image-major (jobs[i*k + a] = image i under its augmentation a), each image under
 * its own independent samples of `family` (key row = i). */
void tsl_analyze_independent_jobs(const tsl_augment_config *config, tsl_analyze_family family, uint64_t seed,
                                  uint64_t set, const uint32_t *widths, const uint32_t *heights,
                                  size_t n_images, size_t k, tsl_augment_job *jobs);

/* TeSSL pairs: images 2p and 2p+1 (n_images even) share their k samples, drawn on image 2p (key row = p)
 * and carried to image 2p+1 in relative coordinates by the augmentation chain, as the trainer's pairing
 * does. Layout as tsl_analyze_independent_jobs. */
void tsl_analyze_paired_jobs(const tsl_augment_config *config, uint64_t seed, uint64_t set,
                             const uint32_t *widths, const uint32_t *heights, size_t n_images, size_t k,
                             tsl_augment_job *jobs);

/* The parameters augmentation decoding predicts, in this order (names: tsl_analyze_param_names). */
enum { TSL_ANALYZE_PARAMS = 12 };
extern const char *const tsl_analyze_param_names[TSL_ANALYZE_PARAMS];

/* The decoding targets of one sample: crop top, left, height, width (relative), flip, brightness,
 * contrast, saturation, hue factors, gray, blur sigma, solarize. */
void tsl_analyze_param_values(const tsl_augment_sample *sample, double values[TSL_ANALYZE_PARAMS]);

#endif
