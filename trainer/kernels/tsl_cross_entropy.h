/* Softmax cross-entropy with integer labels (the online linear classifier's loss), fp32 on the device.
 * logits are n x classes, row-major and contiguous; labels are n uint32 values in [0, classes) (a label
 * out of range cannot be reported from the device: it turns that row's loss, and so the mean, into NaN,
 * and that row's gradient into NaN). */
#ifndef TSL_CROSS_ENTROPY_H
#define TSL_CROSS_ENTROPY_H

#include "tsl_vk.h"

#include <stdint.h>

typedef struct {
    uint32_t n, classes; /* each >= 1 */
} tsl_cross_entropy_shape;

/* Scratch bytes tsl_cross_entropy_loss needs for n rows. */
VkDeviceSize tsl_cross_entropy_scratch_bytes(const tsl_vk_device *device, uint32_t n);

/* Records loss[0] = mean over rows of -log softmax(logits[r])[labels[r]], computed from the row max (no
 * overflow for any finite logits): per-row losses into `scratch`, then tsl_reduce_sum_f32. Errors
 * (TSL_ERR_INVALID_ARG): a zero dimension, a range too small. */
tsl_status tsl_cross_entropy_loss(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_cross_entropy_shape shape,
                                  tsl_vk_range logits, tsl_vk_range labels, tsl_vk_range scratch,
                                  tsl_vk_range loss);

/* Records dlogits = (softmax(logits) - onehot(labels)) / n, the gradient of the mean loss. Errors as
 * tsl_cross_entropy_loss, and dlogits overlapping logits. */
tsl_status tsl_cross_entropy_backward(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_cross_entropy_shape shape,
                                      tsl_vk_range logits, tsl_vk_range labels, tsl_vk_range dlogits);

#endif
