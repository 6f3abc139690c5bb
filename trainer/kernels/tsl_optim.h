/* Per-tensor L2 norms and the optimiser steps (SGD with momentum, LARS as in Barlow Twins, AdamW), all on the
 * device: the LARS trust ratio is computed from norms the device wrote, with no CPU round trip.
 *
 * Parameter tensors are given one by one (a model has a few hundred): each as ranges of fp32 values.
 * Norms reduce in two levels (fp32 partial sums of squares per slice of a tensor, then a tree per
 * tensor); a tensor larger than one binding is split into pieces. Every range must start at a
 * multiple of minStorageBufferOffsetAlignment (lay tensors out at aligned offsets) and be a non-zero
 * multiple of 4 bytes. Errors: TSL_ERR_INVALID_ARG naming the op and the tensor for sizes that differ,
 * too small a scratch or output, no tensors, or more than 65535 tensors. All record into `cmd`. */
#ifndef TSL_OPTIM_H
#define TSL_OPTIM_H

#include "tsl_vk.h"

#include <stdbool.h>

typedef struct {
    tsl_vk_range param, grad, momentum; /* equal sizes; momentum (AdamW: first moment) starts at zero */
    /* 1-D parameters (biases, batch-norm gamma/beta): no weight decay and no LARS adaptation. */
    bool exclude;
    tsl_vk_range second; /* AdamW's second moment, same size, starts at zero; unused by SGD and LARS */
} tsl_optim_tensor;

typedef struct {
    float lr, momentum, weight_decay;
    float eta; /* LARS trust coefficient (Barlow Twins: 0.001); unused by SGD */
} tsl_optim_hparams;

/* Scratch bytes tsl_l2_norms needs for these tensors. */
VkDeviceSize tsl_l2_norms_scratch_bytes(const tsl_vk_device *device, const tsl_vk_range *tensors, uint32_t n);

/* norms[t] = sqrt(sum of squares of tensors[t]) for t < n (`norms` holds n floats). */
tsl_status tsl_l2_norms(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_vk_range *tensors, uint32_t n,
                        tsl_vk_range scratch, tsl_vk_range norms);

/* Scratch bytes tsl_optim_lars_step needs for these tensors. */
VkDeviceSize tsl_optim_lars_scratch_bytes(const tsl_vk_device *device, const tsl_optim_tensor *tensors,
                                          uint32_t n);

/* One LARS step (facebookresearch/barlowtwins main.py), for each tensor with gradient g:
 *   not excluded: d = g + wd * p;  q = eta * |p| / |d| if |p| > 0 and |d| > 0, else 1;  d = q * d
 *   excluded:     d = g
 *   mu = momentum * mu + d;  p = p - lr * mu.
 * Norms are taken before any update. Afterwards scratch's first 2n floats hold, per tensor t, |p| at
 * 2t and |d| before scaling at 2t + 1 (|g| for excluded tensors), for logging. */
tsl_status tsl_optim_lars_step(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_optim_tensor *tensors,
                               uint32_t n, const tsl_optim_hparams *hparams, tsl_vk_range scratch);

/* One SGD step with momentum and weight decay (PyTorch's SGD with dampening 0, nesterov off, with
 * momentum buffers starting at zero): d = g + wd * p (g alone for excluded tensors);
 * mu = momentum * mu + d;  p = p - lr * mu. */
tsl_status tsl_optim_sgd_step(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_optim_tensor *tensors,
                              uint32_t n, const tsl_optim_hparams *hparams);

/* In double, as PyTorch's are Python floats: 1 - beta2 of the float 0.999f is 1.3e-5 away (relative)
 * from 1 - 0.999. The scalars the shader takes are rounded to float once, from the double results. */
typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    uint64_t step; /* 1-based count of steps taken, this one included (bias correction) */
} tsl_optim_adamw_hparams;

/* One AdamW step as torch.optim.AdamW (amsgrad off) takes it, per element with m = momentum and
 * v = second: p = p (1 - lr wd) (wd = 0 for excluded tensors: decoupled decay, weights only);
 * m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
 * p = p - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps).
 * Errors as above, and TSL_ERR_INVALID_ARG for step 0. */
tsl_status tsl_optim_adamw_step(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_optim_tensor *tensors,
                                uint32_t n, const tsl_optim_adamw_hparams *hparams);

#endif
