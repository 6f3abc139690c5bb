/* Fully connected layer in fp32 on the device, built on tsl_gemm_f32. Layouts (PyTorch's): x is n x in,
 * W is out x in, bias is out, y is n x out; all row-major and contiguous. */
#ifndef TSL_LINEAR_H
#define TSL_LINEAR_H

#include "tsl_vk.h"

#include <stdint.h>

typedef struct {
    uint32_t n, in, out; /* batch rows, input features, output features; each >= 1 */
} tsl_linear_shape;

/* Records y = x W^T + bias (bias NULL: no bias). y is written, never read. Errors (TSL_ERR_INVALID_ARG):
 * a zero dimension, a range smaller than its tensor, y overlapping x or W. */
tsl_status tsl_linear_forward(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_linear_shape shape, tsl_vk_range x,
                              tsl_vk_range w, const tsl_vk_range *bias, tsl_vk_range y);

/* Records the gradients from dy (n x out): dx = dy W (n x in; NULL: not computed, as for a first layer),
 * dw = dy^T x (out x in), dbias = column sums of dy (out; NULL: no bias). Outputs are overwritten (not
 * accumulated into). Errors as tsl_linear_forward. */
tsl_status tsl_linear_backward(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_linear_shape shape, tsl_vk_range x,
                               tsl_vk_range w, tsl_vk_range dy, const tsl_vk_range *dx, tsl_vk_range dw,
                               const tsl_vk_range *dbias);

#endif
