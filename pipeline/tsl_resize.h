/* Aspect-preserving, anti-aliased resizing of RGB8 images.
 *
 * The filter is PIL's / torchvision's antialiased bilinear: a separable triangle filter whose support
 * is widened by the downscale factor, so that shrinking averages every source pixel (no aliasing) and
 * enlarging interpolates linearly. Sample centres are aligned (pixel i covers [i, i+1)). */
#ifndef TSL_RESIZE_H
#define TSL_RESIZE_H

#include "tsl_status.h"

#include <stdint.h>

/* What size to resize to. Exactly one field is positive. Images are never enlarged: an image whose
 * short side (or long side, for max_side) is already <= the target keeps its size. */
typedef struct {
    int short_side; /* shorter side becomes this; the longer is floor(long * short_side / short) */
    int max_side;   /* longer side becomes this; the shorter is floor(short * max_side / long) */
} tsl_resize_target;

/* The output size for a w x h input (both >= 1); the result is >= 1 on each side. */
void tsl_resize_output_size(const tsl_resize_target *t, int w, int h, int *out_w, int *out_h);

/* Resizes src (sw x sh, RGB8, rows packed) into dst (dw x dh, RGB8, rows packed). All sides >= 1.
 * Returns TSL_ERR_NOMEM if the scratch buffers cannot be allocated, TSL_ERR_INVALID_ARG for sizes < 1. */
tsl_status tsl_resize_rgb8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);

/* The resize's code paths. All give the same bytes; tsl_resize_rgb8 uses the fastest the CPU has. */
typedef enum {
    TSL_RESIZE_PATH_C,    /* plain C (its generic vector types compile to whatever the target has) */
    TSL_RESIZE_PATH_SSE2, /* SSE2 intrinsics: every x86-64 CPU */
    TSL_RESIZE_PATH_AVX2, /* AVX2, where the CPU has it (checked at run time) */
} tsl_resize_path;

/* 1 if `path` was compiled in and the CPU can run it. */
int tsl_resize_path_available(tsl_resize_path path);

/* The fastest available path: AVX2, else SSE2, else C. */
tsl_resize_path tsl_resize_best_path(void);

/* tsl_resize_rgb8 on a given path (for tests and benchmarks); TSL_ERR_INVALID_ARG if it is unavailable. */
tsl_status tsl_resize_rgb8_with(tsl_resize_path path, const uint8_t *src, int sw, int sh, uint8_t *dst,
                                int dw, int dh);

#endif
