/* Double-precision CPU reference of tessl's augmentation chain (trainer/augment/tsl_augment.h), written
 * straight from torchvision.transforms.functional's float-tensor code, one function per op. Images are
 * planar CHW doubles (3 x h x w) in [0, 1] unless said otherwise. */
#ifndef TSL_REF_AUGMENT_H
#define TSL_REF_AUGMENT_H

#include "tsl_augment.h"

#include <stdint.h>

/* Crop [top, top + ch) x [left, left + cw) of an RGB8 HWC image of width `src_w`, resize to S x S with
 * torch's anti-aliased bilinear/bicubic (a = -0.5) interpolation, clamp to [0, 1], flip if asked. */
void tsl_ref_resized_crop(const uint8_t *src, uint32_t src_w, uint32_t top, uint32_t left, uint32_t ch,
                          uint32_t cw, uint32_t S, tsl_resize_filter filter, int flip, double *out);

/* In place on a 3 x n image (n pixels). */
void tsl_ref_adjust_brightness(double *img, uint32_t n, double factor);
void tsl_ref_adjust_contrast(double *img, uint32_t n, double factor);
void tsl_ref_adjust_saturation(double *img, uint32_t n, double factor);
void tsl_ref_adjust_hue(double *img, uint32_t n, double shift);
void tsl_ref_grayscale(double *img, uint32_t n);
void tsl_ref_solarize(double *img, uint32_t n, double threshold);
void tsl_ref_normalize(double *img, uint32_t n, const float mean[3], const float std[3]);

/* Separable Gaussian blur of an S x S image, kernel size 2*ceil(3*sigma)+1, reflect padding. */
void tsl_ref_gaussian_blur(double *img, uint32_t S, double sigma);

/* The whole chain for one record (as tsl_augment_pack builds it) on its source, into 3 x S x S. */
void tsl_ref_augment(const uint8_t *images, const tsl_augment_record *r, const tsl_augment_output *out,
                     double *dst);

#endif
