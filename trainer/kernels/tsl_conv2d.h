/* 2-D convolution without bias (ResNet-50's convolutions): forward, backward-data and backward-weights
 * as implicit-GEMM compute shaders that read their operands in place, or on CPU drivers GEMMs (1x1
 * stride-1 convolutions directly, others through an im2col workspace the caller provides).
 *
 * Layouts (contiguous fp32): x and dx NCHW [n][c_in][h][w]; w and dw OIHW [c_out][c_in][kh][kw]
 * (PyTorch's); y and dy NCHW [n][c_out][oh][ow]. Zero padding of `pad` on every side, groups 1,
 * dilation 1, any kernel size and stride >= 1 (ResNet-50 uses 1x1, 3x3, 7x7 at stride 1 and 2).
 *
 * Every function records into `cmd` and returns TSL_ERR_INVALID_ARG, with a message naming the op and
 * the problem, when a dimension is zero, the output would be empty (h + 2*pad < kh), a range's size
 * differs from what the shape implies, or a range starts at a byte offset that is not a multiple of its
 * element size (ranges need not be aligned otherwise). A batch whose x or y is larger than one binding
 * (maxStorageBufferRange) is split into chunks of whole images, one dispatch each; the weights must fit
 * one binding (TSL_ERR_UNSUPPORTED otherwise, as when a single image does not fit or the grid would
 * exceed maxComputeWorkGroupCount). */
#ifndef TSL_CONV2D_H
#define TSL_CONV2D_H

#include "tsl_vk.h"

#include <stdint.h>

typedef struct {
    uint32_t n, c_in, h, w; /* input batch, channels, height, width */
    uint32_t c_out;         /* output channels */
    uint32_t kh, kw;        /* kernel height, width */
    uint32_t stride, pad;   /* same for both spatial axes */
} tsl_conv2d_shape;

/* Output height and width, PyTorch's floor((h + 2*pad - kh) / stride) + 1; 0 when the padded input is
 * smaller than the kernel or stride is 0. */
uint32_t tsl_conv2d_out_h(const tsl_conv2d_shape *shape);
uint32_t tsl_conv2d_out_w(const tsl_conv2d_shape *shape);

/* Element counts of x (n*c_in*h*w), w (c_out*c_in*kh*kw) and y (n*c_out*oh*ow). */
uint64_t tsl_conv2d_x_count(const tsl_conv2d_shape *shape);
uint64_t tsl_conv2d_w_count(const tsl_conv2d_shape *shape);
uint64_t tsl_conv2d_y_count(const tsl_conv2d_shape *shape);

/* Bytes of workspace with which the fp32 ops below may run `shape` faster on this device (0: none
 * applies). On the CPU variant, convolutions with a window or a stride, and 1x1 stride-1 ones on planes
 * the direct GEMMs leave to the conv shaders, run as im2col and GEMMs (tsl_conv2d_im2col.h) through a
 * column matrix of c_in * kh * kw rows: one image's pixels per row on large planes, several images' on
 * small ones (then at most 16 MiB). On the GPU variant, backward-weights splits its sum over the pixels
 * and keeps one partial dw per split there (never more bytes than x); the split count depends only on
 * the shape and the device, so results do not depend on how large a workspace is given. */
VkDeviceSize tsl_conv2d_workspace_bytes(const tsl_vk_device *device, const tsl_conv2d_shape *shape);

/* The fp32 ops take a `workspace`: with at least tsl_conv2d_workspace_bytes bytes they may use it (its
 * contents are then overwritten), with less (a zero range is fine) they run the direct kernels. Both give
 * the same results up to the order of the fp32 sums. */

/* y = conv(x, w). y is overwritten. */
tsl_status tsl_conv2d_forward(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_conv2d_shape *shape,
                              tsl_vk_range x, tsl_vk_range w, tsl_vk_range y, tsl_vk_range workspace);

/* dx = d(sum y*dy)/dx: the transposed convolution of dy with w. dx is overwritten, not accumulated. */
tsl_status tsl_conv2d_backward_data(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_conv2d_shape *shape,
                                    tsl_vk_range dy, tsl_vk_range w, tsl_vk_range dx, tsl_vk_range workspace);

/* dw = d(sum y*dy)/dw, summed over the batch. dw is overwritten (when the batch is split into chunks,
 * the first chunk writes dw and later ones add to it, in order). */
tsl_status tsl_conv2d_backward_weights(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_conv2d_shape *shape,
                                       tsl_vk_range x, tsl_vk_range dy, tsl_vk_range dw,
                                       tsl_vk_range workspace);

/* fp16-storage variants: x, w and dy are read as IEEE binary16 (2 bytes per element, same layouts);
 * accumulation is fp32 and the outputs y, dx, dw are fp32 (4 bytes per element). Need
 * tsl_vk_features.fp16_storage (storageBuffer16BitAccess), else TSL_ERR_UNSUPPORTED; otherwise the
 * same promises and errors as the fp32 functions. Results match the fp32 kernels run on the same
 * half-rounded values; against fp32 inputs they differ by the rounding to half (~1e-3 relative). */
tsl_status tsl_conv2d_forward_f16(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_conv2d_shape *shape,
                                  tsl_vk_range x, tsl_vk_range w, tsl_vk_range y);
tsl_status tsl_conv2d_backward_data_f16(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_conv2d_shape *shape,
                                        tsl_vk_range dy, tsl_vk_range w, tsl_vk_range dx);
tsl_status tsl_conv2d_backward_weights_f16(tsl_vk_device *device, tsl_vk_cmd *cmd,
                                           const tsl_conv2d_shape *shape, tsl_vk_range x, tsl_vk_range dy,
                                           tsl_vk_range dw);

/* Kernel variants: the GPU one (workgroups of pixel tiles that share a channel tile) and the CPU-class
 * one (a flat grid that keeps every SIMD lane of a CPU driver busy, tiles sized for it). AUTO picks by
 * tsl_vk_features.cpu_kernels; both compute the same results. */
typedef enum { TSL_CONV2D_VARIANT_AUTO, TSL_CONV2D_VARIANT_GPU, TSL_CONV2D_VARIANT_CPU } tsl_conv2d_variant;

/* Test hook: forces a variant for every conv2d call of this process (AUTO restores the device's choice),
 * so tests can check both on one device. Not for production use; not thread-safe. */
void tsl_conv2d_set_variant_for_testing(tsl_conv2d_variant variant);

/* For measurements (tessl bench ops --conv-tiles): replaces the GPU variant's register tiles, rows
 * (channels) x columns per invocation, of forward [0], backward-data [1] and backward-weights [2] for
 * every shape; {0, 0} keeps the built-in choice. Each side 1..16, at most 128 accumulators
 * (TSL_ERR_INVALID_ARG otherwise, nothing changed). Process-wide, not thread-safe. */
tsl_status tsl_conv2d_set_gpu_tiles(const uint32_t tiles[3][2]);

/* Test hook: caps the bytes one binding may cover at `bytes` (0 restores the device limit,
 * maxStorageBufferRange) for every conv2d call of this process, so tests can exercise the batch-splitting
 * path at small shapes. Not for production use; not thread-safe. */
void tsl_conv2d_set_max_binding_bytes_for_testing(VkDeviceSize bytes);

#endif
