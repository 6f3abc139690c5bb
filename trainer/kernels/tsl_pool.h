/* Pooling over NCHW fp32 tensors: max pooling (ResNet's stem: 3x3 window, stride 2, padding 1) and
 * global average pooling (N,C,H,W) -> (N,C). Work larger than one binding is split along the batch.
 * All functions record into `cmd`; ranges must not overlap. Errors: TSL_ERR_INVALID_ARG naming the op
 * and the problem for an empty or unsupported shape or a range of the wrong size. */
#ifndef TSL_POOL_H
#define TSL_POOL_H

#include "tsl_vk.h"

typedef struct {
    uint32_t n, c, h, w;              /* input */
    uint32_t kernel, stride, padding; /* square window; padding <= kernel / 2 (as PyTorch requires) */
} tsl_maxpool_shape;

/* ResNet's stem pool: 3x3, stride 2, padding 1. */
static inline tsl_maxpool_shape tsl_maxpool_shape_resnet(uint32_t n, uint32_t c, uint32_t h, uint32_t w) {
    return (tsl_maxpool_shape){n, c, h, w, 3, 2, 1};
}

/* Output height and width: (h + 2 * padding - kernel) / stride + 1 (PyTorch's, ceil_mode=False). */
uint32_t tsl_maxpool_out_h(tsl_maxpool_shape shape);
uint32_t tsl_maxpool_out_w(tsl_maxpool_shape shape);

/* y[n,c,oh,ow] = max of x over the window (padding never wins); indices (uint32, same count as y)
 * receive the argmax as h * W + w within its input plane. Ties keep the first maximum in row-major
 * window order; NaN propagates (PyTorch's rule). Backward needs indices, not x. */
tsl_status tsl_maxpool_forward(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_maxpool_shape shape,
                               tsl_vk_range x, tsl_vk_range y, tsl_vk_range indices);

/* dx (the input's shape) = for each input element, the sum of dy over the outputs whose argmax it is
 * (several when windows overlap). Computed per input element by gathering, so it writes every element
 * of dx (no prior zeroing needed), uses no atomics and is deterministic. */
tsl_status tsl_maxpool_backward(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_maxpool_shape shape,
                                tsl_vk_range dy, tsl_vk_range indices, tsl_vk_range dx);

/* y[n,c] = mean of x[n,c,:,:] (x is N*C*H*W floats, y N*C). */
tsl_status tsl_avgpool_global_forward(tsl_vk_device *device, tsl_vk_cmd *cmd, uint32_t n, uint32_t c,
                                      uint32_t h, uint32_t w, tsl_vk_range x, tsl_vk_range y);

/* dx[n,c,h,w] = dy[n,c] / (H * W). */
tsl_status tsl_avgpool_global_backward(tsl_vk_device *device, tsl_vk_cmd *cmd, uint32_t n, uint32_t c,
                                       uint32_t h, uint32_t w, tsl_vk_range dy, tsl_vk_range dx);

#endif
