/* Augmentation parameters given by hand, as text: the `--params 'KEY=VALUE ...'` language of
 * `tessl augment`. The text comes from outside (a command line, a script), so the parser checks every
 * value's syntax and range and never trusts a number before using it (tests/fuzz/fuzz_augment_params.c).
 *
 * Keys (a missing key leaves that op off, i.e. at its identity value):
 *   crop=TOP,LEFT,H,W    crop box in source pixels (default: the whole image)
 *   flip=0|1 gray=0|1 solarize=0|1
 *   brightness=F contrast=F saturation=F   colour jitter factors in [0, 100] (any one turns jitter on)
 *   hue=H                colour jitter hue shift in [-0.5, 0.5] (turns jitter on)
 *   order=A,B,C,D        jitter op order, a permutation of 0..3 (TSL_JITTER_*)
 *   blur=SIGMA           Gaussian blur sigma in [0, 100] */
#ifndef TSL_AUGMENT_MANUAL_H
#define TSL_AUGMENT_MANUAL_H

#include "tsl_augment_params.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    tsl_augment_sample sample; /* crop fields are set by tsl_augment_manual_place_crop */
    bool has_crop;
    int64_t crop[4]; /* top, left, height, width in source pixels, each >= 0 */
} tsl_augment_manual;

/* Parses whitespace-separated KEY=VALUE pairs (later keys override earlier ones). TSL_ERR_INVALID_ARG
 * naming the bad pair for an unknown key, a missing '=', or a value out of syntax or range;
 * TSL_ERR_NOMEM. On error *out is partially filled and must not be used. */
tsl_status tsl_augment_manual_parse(const char *text, tsl_augment_manual *out);

/* Sets the sample's relative crop for a `width` x `height` source (both >= 1): the given box, which
 * must be at least 1x1 and lie inside the image (TSL_ERR_INVALID_ARG otherwise), or the whole image. */
tsl_status tsl_augment_manual_place_crop(tsl_augment_manual *p, uint32_t width, uint32_t height);

#endif
