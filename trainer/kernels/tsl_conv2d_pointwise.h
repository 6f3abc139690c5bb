/* The CPU variant's 1x1, stride-1, unpadded convolutions (fp32) as one GEMM per image (tsl_gemm_f32).
 * tsl_conv2d.c calls these after checking shapes and ranges; the results are those of the conv shaders up
 * to the order of the fp32 sums (dw sums over images one GEMM at a time, in image order). */
#ifndef TSL_CONV2D_POINTWISE_H
#define TSL_CONV2D_POINTWISE_H

#include "tsl_conv2d.h"

/* Whether the shape is a 1x1, stride-1, unpadded convolution (a GEMM over each image's plane) whose plane
 * is large enough for the GEMM to beat the conv shaders, for forward and dx (`weights` false) or dw. */
bool tsl_conv2d_pointwise_applies(const tsl_conv2d_shape *shape, bool weights);

tsl_status tsl_conv2d_pointwise_forward(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_conv2d_shape *shape,
                                        tsl_vk_range x, tsl_vk_range w, tsl_vk_range y);
tsl_status tsl_conv2d_pointwise_backward_data(tsl_vk_device *device, tsl_vk_cmd *cmd,
                                              const tsl_conv2d_shape *shape, tsl_vk_range dy, tsl_vk_range w,
                                              tsl_vk_range dx);
tsl_status tsl_conv2d_pointwise_backward_weights(tsl_vk_device *device, tsl_vk_cmd *cmd,
                                                 const tsl_conv2d_shape *shape, tsl_vk_range x,
                                                 tsl_vk_range dy, tsl_vk_range dw);

#endif
