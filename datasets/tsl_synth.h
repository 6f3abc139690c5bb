/* A procedurally drawn, labelled image data set in ImageNet's folder layout, for testing and demos
 * without downloading anything: OUT/train/<class>/<name>.JPEG and OUT/val/<class>/<name>.JPEG.
 *
 * The class is the shape of one object (disc, square, triangle, ...); everything else is random
 * nuisance: the object's colour, size, position and rotation, the textured background (noise, stripes
 * or a gradient; or one flat colour with `plain`), and the image's size and aspect (one side `size`, the
 * other up to 1.5x). So the class is learnable only from shape, and crops, flips and colour jitter
 * matter. (Textured backgrounds are what two crops of one image share most: self-supervised training
 * on a CPU budget learns the shapes only on plain ones; docs/ANALYSES.md "The demo".)
 *
 * Deterministic: the bytes written depend only on the options (the image generator is its own PRNG,
 * seeded per image from (seed, split, class, index)). */
#ifndef TSL_SYNTH_H
#define TSL_SYNTH_H

#include "tsl_status.h"

#include <stdbool.h>
#include <stdint.h>

#define TSL_SYNTH_MAX_CLASSES 10

typedef struct {
    const char *out_dir;
    int classes;       /* 1..TSL_SYNTH_MAX_CLASSES */
    int per_class;     /* training images per class, >= 0 */
    int val_per_class; /* validation images per class, >= 0 */
    int size;          /* shorter side in pixels, 8..4096; the other side is size..1.5*size */
    uint64_t seed;
    int quality;   /* JPEG quality 1..100 */
    bool progress; /* a progress line on stderr */
    bool plain;    /* a flat one-colour background instead of a texture (kind 3) */
} tsl_synth_options;

/* Sets the defaults: 10 classes, 100 train and 20 val per class, size 96, seed 0, quality 90. */
void tsl_synth_options_default(tsl_synth_options *o);

/* Name of class `k` (its folder name), k < TSL_SYNTH_MAX_CLASSES. */
const char *tsl_synth_class_name(int k);

/* Draws one image of class `k` from `image_seed` into a malloc'd RGB8 buffer (rows top to bottom,
 * caller frees) of *width x *height. */
tsl_status tsl_synth_render(int k, uint64_t image_seed, int size, uint8_t **rgb, int *width, int *height);

/* The same with the background's style chosen: `plain` paints it in one colour (plus the pixel noise
 * every image has). For one seed, size, pose and colours are those of the textured image. */
tsl_status tsl_synth_render_background(int k, uint64_t image_seed, int size, bool plain, uint8_t **rgb,
                                       int *width, int *height);

/* Writes the whole data set (each file atomically). Errors: TSL_ERR_INVALID_ARG for options out of
 * range, TSL_ERR_IO naming the file that could not be written. */
tsl_status tsl_synth_write(const tsl_synth_options *o);

#endif
