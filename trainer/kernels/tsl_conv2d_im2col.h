/* The CPU variant's fp32 convolutions with a kernel window or a stride, and 1x1 stride-1 ones on small
 * planes, as explicit im2col and GEMMs (tsl_gemm_f32, whose CPU variant keeps a 32 x 16 register tile and
 * reads through texel buffers), through a caller's workspace. For a chunk of images:
 *   col (K x columns), K = c_in * kh * kw rows (c, ky, kx), columns = the chunk's pixels (P = oh * ow
 *   each), image after image, rounded up to a multiple of 4 with zeros;
 *   forward    y = w (c_out x K) col
 *   dx         dcol = w^T dy, then dx = col2im(dcol)
 *   dw         dw = sum over chunks of dy col^T, in order (the first writes, later ones add).
 * Output planes of at least 196 pixels, a whole number of vec4s, go one image per chunk, the GEMM reading
 * and writing y and dy in place; smaller ones pack several images' columns into one GEMM (y and dy move
 * through a second area of the workspace, t: c_out x columns), so the GEMM's rows fill its SIMD lanes.
 * tsl_conv2d.c calls these after checking shapes and ranges; results are those of the conv shaders up to
 * the order of the fp32 sums. */
#ifndef TSL_CONV2D_IM2COL_H
#define TSL_CONV2D_IM2COL_H

#include "tsl_conv2d.h"

/* Bytes of workspace for `shape` on `device` (CPU variant assumed), or 0 where the path does not apply:
 * K a multiple of 4 (the GEMM's vec4 loads) and every binding (a chunk's x, dx, col, t) within
 * `max_binding` bytes and the device's texel-buffer element limit. One image's col for whole-vec4 planes
 * of 196 pixels or more; else col and t for as many images per chunk as fit 16 MiB. */
VkDeviceSize tsl_conv2d_im2col_workspace_bytes(const tsl_vk_device *device, const tsl_conv2d_shape *shape,
                                               VkDeviceSize max_binding);

typedef enum {
    TSL_CONV2D_IM2COL_FORWARD,
    TSL_CONV2D_IM2COL_DATA,
    TSL_CONV2D_IM2COL_WEIGHTS
} tsl_conv2d_im2col_op;

/* Whether the path beat the conv shaders for `op` at such a shape (lavapipe, docs/PERFORMANCE.md).
 * Packed chunks: always, but for dx of 1x1s with planes of 64 pixels or more. One GEMM per image: the
 * forward with c_out >= 128 or planes of 784 pixels or more; dx with a kernel window and c_out >= 128;
 * dw with c_out >= 128. */
bool tsl_conv2d_im2col_helps(const tsl_vk_device *device, const tsl_conv2d_shape *shape,
                             tsl_conv2d_im2col_op op, VkDeviceSize max_binding);

/* `workspace` holds at least tsl_conv2d_im2col_workspace_bytes(device, shape, max_binding) (> 0), with the
 * same max_binding; its contents are overwritten. */
tsl_status tsl_conv2d_im2col_forward(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_conv2d_shape *shape,
                                     tsl_vk_range x, tsl_vk_range w, tsl_vk_range y, tsl_vk_range workspace,
                                     VkDeviceSize max_binding);
tsl_status tsl_conv2d_im2col_backward_data(tsl_vk_device *device, tsl_vk_cmd *cmd,
                                           const tsl_conv2d_shape *shape, tsl_vk_range dy, tsl_vk_range w,
                                           tsl_vk_range dx, tsl_vk_range workspace, VkDeviceSize max_binding);
tsl_status tsl_conv2d_im2col_backward_weights(tsl_vk_device *device, tsl_vk_cmd *cmd,
                                              const tsl_conv2d_shape *shape, tsl_vk_range x, tsl_vk_range dy,
                                              tsl_vk_range dw, tsl_vk_range workspace,
                                              VkDeviceSize max_binding);

#endif
