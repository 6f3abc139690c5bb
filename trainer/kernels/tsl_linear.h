/* Fully connected layer on the device, built on tsl_gemm_f32 (fp32 arithmetic). Layouts (PyTorch's): x is
 * n x in, W is out x in, bias is out, y is n x out; all row-major and contiguous.
 *
 * Storage: fp32 throughout (tsl_linear_forward, tsl_linear_backward), or per tensor with the _typed
 * variants, which store x, W, y (and their gradients dx, dW, dy, which share their dtypes) as fp32 or
 * fp16; bias and dbias are always fp32. fp16 tensors are read as half and converted; every sum is fp32
 * and an fp16 output is rounded to half once per store (y with a bias twice: the bias is written to y
 * first and the product added onto it). fp16 needs tsl_vk_features.fp16_storage. */
#ifndef TSL_LINEAR_H
#define TSL_LINEAR_H

#include "tsl_safetensors.h" /* tsl_dtype */
#include "tsl_vk.h"

#include <stdint.h>

typedef struct {
    uint32_t n, in, out; /* batch rows, input features, output features; each >= 1 */
} tsl_linear_shape;

/* Storage types (TSL_DTYPE_F32 or TSL_DTYPE_F16) of x and dx, of W and dW, of y and dy. */
typedef struct {
    tsl_dtype x, w, y;
} tsl_linear_dtypes;

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

/* The same with the storage types of `types`; sizes are checked in elements of each tensor's type.
 * Further errors: TSL_ERR_INVALID_ARG for a dtype other than F32 and F16, TSL_ERR_UNSUPPORTED for fp16
 * on a device without storageBuffer16BitAccess. */
tsl_status tsl_linear_forward_typed(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_linear_shape shape,
                                    tsl_linear_dtypes types, tsl_vk_range x, tsl_vk_range w,
                                    const tsl_vk_range *bias, tsl_vk_range y);
tsl_status tsl_linear_backward_typed(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_linear_shape shape,
                                     tsl_linear_dtypes types, tsl_vk_range x, tsl_vk_range w, tsl_vk_range dy,
                                     const tsl_vk_range *dx, tsl_vk_range dw, const tsl_vk_range *dbias);

#endif
