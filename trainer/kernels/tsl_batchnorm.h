/* Batch normalisation over NCHW fp32 tensors with PyTorch's BatchNorm semantics. 1-D batch norm over
 * (N, C) is the 2-D case with H = W = 1 (tsl_batchnorm_shape_1d).
 *
 * fp16 storage: with shape.dtype = TSL_DTYPE_F16, x, y, dy and dx hold IEEE half values (sizes counted in
 * halves) while gamma, beta, the running and saved statistics, dgamma, dbeta and scratch stay fp32, as
 * in PyTorch's mixed precision. Values are converted on load; statistics, sums and the normalisation are
 * fp32 exactly as in the fp32 kernels, and y and dx are rounded to half once, at their store. Needs
 * tsl_vk_features.fp16_storage (TSL_ERR_UNSUPPORTED otherwise).
 *
 * Training: per channel c, over the m = N*H*W values of the batch,
 *   mean = sum x / m,  var = sum (x - mean)^2 / m  (biased, used to normalise),
 *   y = (x - mean) / sqrt(var + eps) * gamma + beta,
 *   running_mean = (1 - momentum) * running_mean + momentum * mean,
 *   running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)  (unbiased).
 * Evaluation normalises with running_mean and running_var instead.
 * affine = False (no gamma, beta; the Barlow Twins loss) is selected by passing gamma and beta with
 * .vk == VK_NULL_HANDLE.
 *
 * No shared memory or barriers: each invocation (a "lane") owns a channel, or four adjacent channels of
 * a 1-D batch norm, and walks its values sequentially, in vec4s where the layout allows. Two paths,
 * chosen per shape in one place (tsl_batchnorm.c, use_channel_lanes): with m <=
 * TSL_BATCHNORM_MAX_LANE_VALUES (and the tensors within one binding), training forward and backward
 * are one dispatch each, a lane computing its channel's statistics (gradient sums) and writing y (dx);
 * otherwise lanes summarise slices of at most that many values into scratch, one invocation per
 * channel merges them (Chan's formula) and lanes write y (dx) by slices. Statistics are fp32 corrected
 * two-pass per lane or slice, so they stay accurate for m in the millions and for |mean| >> std.
 * Tensors larger than one binding are split along the batch. All functions record into `cmd`; every
 * tensor range is distinct (no aliasing). Errors: TSL_ERR_INVALID_ARG naming the op and the problem for
 * a zero or oversized shape (more than 65535 channels, or more than 32768 slices, about 1.3e8 values,
 * per channel), a range of the wrong size, too small a scratch, or m < 2 in training. */
#ifndef TSL_BATCHNORM_H
#define TSL_BATCHNORM_H

#include "tsl_safetensors.h" /* tsl_dtype */
#include "tsl_vk.h"

#include <stdbool.h>

#define TSL_BATCHNORM_MOMENTUM 0.1f
#define TSL_BATCHNORM_EPS      1e-5f

/* Values per channel (N*H*W) up to which a lane takes a whole channel (one dispatch each way), and the
 * size of a slice beyond: on CPU drivers (measured on lavapipe) and on GPUs (measured on an H200); see
 * tsl_batchnorm.c. */
#define TSL_BATCHNORM_MAX_LANE_VALUES 4096u
#define TSL_BATCHNORM_GPU_LANE_VALUES 1024u

/* The threshold and slice size above that `device` uses (or the one tsl_batchnorm_set_test_threshold
 * set). */
uint32_t tsl_batchnorm_lane_values(const tsl_vk_device *device);

typedef struct {
    uint32_t n, c, hw; /* batch, channels, H*W (1 for 1-D batch norm) */
    tsl_dtype dtype;   /* storage of x, y, dy, dx: TSL_DTYPE_F32 (zero, the default) or TSL_DTYPE_F16 */
} tsl_batchnorm_shape;

/* fp32 shapes; set .dtype for fp16 storage. */
static inline tsl_batchnorm_shape tsl_batchnorm_shape_2d(uint32_t n, uint32_t c, uint32_t h, uint32_t w) {
    return (tsl_batchnorm_shape){.n = n, .c = c, .hw = h * w};
}

static inline tsl_batchnorm_shape tsl_batchnorm_shape_1d(uint32_t n, uint32_t c) {
    return (tsl_batchnorm_shape){.n = n, .c = c, .hw = 1};
}

typedef struct {
    tsl_vk_range gamma, beta;               /* C floats each, or both .vk == VK_NULL_HANDLE (affine=False) */
    tsl_vk_range running_mean, running_var; /* C floats each: read in eval, updated in training */
    float momentum, eps;                    /* TSL_BATCHNORM_MOMENTUM, TSL_BATCHNORM_EPS for PyTorch's */
} tsl_batchnorm_params;

/* Scratch bytes that tsl_batchnorm_forward_train and tsl_batchnorm_backward need for `shape` on this
 * device (the per-slice partials; one buffer serves both). */
VkDeviceSize tsl_batchnorm_scratch_bytes(const tsl_vk_device *device, tsl_batchnorm_shape shape);

/* Training forward: x, y are N*C*H*W values (of shape.dtype); writes y, save_mean[C] (batch mean) and
 * save_invstd[C] (1 / sqrt(biased var + eps)) for backward, and updates the running statistics. */
tsl_status tsl_batchnorm_forward_train(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_batchnorm_shape shape,
                                       const tsl_batchnorm_params *params, tsl_vk_range x, tsl_vk_range y,
                                       tsl_vk_range save_mean, tsl_vk_range save_invstd,
                                       tsl_vk_range scratch);

/* Evaluation forward: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta. */
tsl_status tsl_batchnorm_forward_eval(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_batchnorm_shape shape,
                                      const tsl_batchnorm_params *params, tsl_vk_range x, tsl_vk_range y);

/* Training-mode backward (through the batch statistics), given the forward's input x and its saved
 * mean and inverse std: with xhat = (x - mean) * invstd,
 *   dbeta = sum dy,  dgamma = sum dy * xhat,  dx = gamma * invstd * (dy - dbeta/m - xhat * dgamma/m).
 * gamma, dgamma, dbeta: C floats each, or all three .vk == VK_NULL_HANDLE for affine=False (gamma = 1). */
tsl_status tsl_batchnorm_backward(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_batchnorm_shape shape,
                                  tsl_vk_range gamma, tsl_vk_range x, tsl_vk_range dy, tsl_vk_range save_mean,
                                  tsl_vk_range save_invstd, tsl_vk_range dx, tsl_vk_range dgamma,
                                  tsl_vk_range dbeta, tsl_vk_range scratch);

/* Whether training forward and backward at `shape` take one lane per channel (m = N*H*W at most the
 * threshold and the tensors within one binding) rather than slices; for tests and benchmarks. */
bool tsl_batchnorm_uses_channel_lanes(const tsl_vk_device *device, tsl_batchnorm_shape shape);

/* For tests and measurements only: replaces the device's threshold (tsl_batchnorm_lane_values) by
 * `values` (capped at 8192, lavapipe's loop limit; 0 restores the device's). Process-wide, not
 * thread-safe. */
void tsl_batchnorm_set_test_threshold(uint32_t values);

/* ---- the training passes in pieces, for statistics over several processes (SyncBN) -----------------
 * Forward: tsl_batchnorm_stats_partials records per-slice (count, mean, M2) partials of this process's
 * batch; the caller reads them back, merges them per channel (tsl_batchnorm_merge_partials), combines
 * the processes' moments, updates the running statistics and writes the global mean and 1 / sqrt(var +
 * eps), and tsl_batchnorm_apply_train normalises with them. Backward: tsl_batchnorm_backward_sums
 * records this process's per-channel sum dy and sum dy * xhat; the caller sums them over processes, and
 * tsl_batchnorm_backward_dx forms dx with m = `count`, the global number of values per channel. With
 * one process these give what tsl_batchnorm_forward_train and tsl_batchnorm_backward give (up to fp32
 * rounding), through the sliced path whatever the shape. */

/* Slices per channel of the partials at `shape`: tsl_batchnorm_stats_partials writes 3 floats for each
 * (channel, slice), at partials[3 * (channel * slots + slice)]: count, mean, M2 (fp32). */
uint32_t tsl_batchnorm_partial_slots(const tsl_vk_device *device, tsl_batchnorm_shape shape);

/* Records the partials of x (N*C*H*W values of shape.dtype) into `partials` (12 * C * slots bytes, fp32,
 * within one binding). */
tsl_status tsl_batchnorm_stats_partials(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_batchnorm_shape shape,
                                        tsl_vk_range x, tsl_vk_range partials);

/* Host: merges channel `channel`'s slots with Chan's formula in double: count, mean, M2 (the sum of
 * squared deviations from the mean). */
void tsl_batchnorm_merge_partials(const float *partials, uint32_t slots, uint32_t channel, double *count,
                                  double *mean, double *m2);

/* Records y = (x - mean) * invstd * gamma + beta with the given per-channel mean and invstd (C floats
 * each); params' running statistics are not touched (only checked for size). */
tsl_status tsl_batchnorm_apply_train(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_batchnorm_shape shape,
                                     const tsl_batchnorm_params *params, tsl_vk_range x, tsl_vk_range y,
                                     tsl_vk_range mean, tsl_vk_range invstd);

/* Records this batch's per-channel sum dy into sum_dy and sum dy * xhat into sum_dy_xhat (C floats
 * each); scratch as tsl_batchnorm_backward. */
tsl_status tsl_batchnorm_backward_sums(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_batchnorm_shape shape,
                                       tsl_vk_range x, tsl_vk_range dy, tsl_vk_range save_mean,
                                       tsl_vk_range save_invstd, tsl_vk_range sum_dy,
                                       tsl_vk_range sum_dy_xhat, tsl_vk_range scratch);

/* Records dx = gamma * invstd * (dy - sum_dy / count - xhat * sum_dy_xhat / count), with the sums and
 * `count` (>= N*H*W) taken over every process; gamma .vk == VK_NULL_HANDLE for affine=False. */
tsl_status tsl_batchnorm_backward_dx(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_batchnorm_shape shape,
                                     tsl_vk_range gamma, tsl_vk_range x, tsl_vk_range dy,
                                     tsl_vk_range save_mean, tsl_vk_range save_invstd, tsl_vk_range sum_dy,
                                     tsl_vk_range sum_dy_xhat, double count, tsl_vk_range dx);

#endif
