/* The CPU variant's fp32 convolutions with a kernel window or stride (3x3, strided 1x1) as explicit
 * im2col and one GEMM per image (tsl_gemm_f32, whose CPU variant keeps a 32 x 16 register tile and reads
 * through texel buffers), through a caller's workspace that holds one image's column matrix:
 *   col (K x P), K = c_in * kh * kw rows (c, ky, kx), P = oh * ow pixels;
 *   forward    y_i = w (c_out x K) col_i
 *   dx         dcol = w^T dy_i, then dx_i = col2im(dcol)
 *   dw         dw = sum_i dy_i col_i^T, images in order (the first writes, later ones add).
 * tsl_conv2d.c calls these after checking shapes and ranges; results are those of the conv shaders up to
 * the order of the fp32 sums. */
#ifndef TSL_CONV2D_IM2COL_H
#define TSL_CONV2D_IM2COL_H

#include "tsl_conv2d.h"

/* Bytes of the column matrix of one image (4 K P) when the path applies to `shape` on `device` (CPU
 * variant assumed): K and P multiples of 4 (the GEMM's vec4 loads), P >= 196, and one image's x, dx and
 * column matrix each within `max_binding` bytes and the device's texel-buffer element limit; else 0. */
VkDeviceSize tsl_conv2d_im2col_workspace_bytes(const tsl_vk_device *device, const tsl_conv2d_shape *shape,
                                               VkDeviceSize max_binding);

typedef enum { TSL_CONV2D_IM2COL_FORWARD, TSL_CONV2D_IM2COL_DATA, TSL_CONV2D_IM2COL_WEIGHTS } tsl_conv2d_im2col_op;

/* Whether the path beat the conv shaders for `op` at such a shape (lavapipe, docs/PERFORMANCE.md): the
 * forward always; dx for kernel windows (not strided 1x1s) with c_out >= 128; dw for c_out >= 128. */
bool tsl_conv2d_im2col_helps(const tsl_conv2d_shape *shape, tsl_conv2d_im2col_op op);

/* `workspace` holds at least tsl_conv2d_im2col_workspace_bytes (> 0); its contents are overwritten. */
tsl_status tsl_conv2d_im2col_forward(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_conv2d_shape *shape,
                                     tsl_vk_range x, tsl_vk_range w, tsl_vk_range y, tsl_vk_range workspace);
tsl_status tsl_conv2d_im2col_backward_data(tsl_vk_device *device, tsl_vk_cmd *cmd,
                                           const tsl_conv2d_shape *shape, tsl_vk_range dy, tsl_vk_range w,
                                           tsl_vk_range dx, tsl_vk_range workspace);
tsl_status tsl_conv2d_im2col_backward_weights(tsl_vk_device *device, tsl_vk_cmd *cmd,
                                              const tsl_conv2d_shape *shape, tsl_vk_range x, tsl_vk_range dy,
                                              tsl_vk_range dw, tsl_vk_range workspace);

#endif
