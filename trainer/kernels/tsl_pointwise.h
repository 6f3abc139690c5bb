/* Pointwise ops of a ResNet block over fp32 tensors of any shape (flat arrays of equal size, a multiple
 * of 4 bytes; work beyond one binding is split into chunks). All record into `cmd`. Output ranges must
 * not overlap the inputs, except that an output may be exactly an input (y == x: in place; each element
 * is read before it is written, by the same invocation). Errors: TSL_ERR_INVALID_ARG naming the op when
 * sizes differ or are not multiples of 4 bytes.
 *
 * Each op has an _f16 twin over fp16 storage: every tensor of the call (inputs, mask and output) holds
 * IEEE half values (sizes and offsets multiples of 2 bytes); values are converted to fp32, computed on,
 * and the result rounded to half once (relu and its backward select a value, so they are exact; the
 * adds err by at most 2^-11 relative). Need tsl_vk_features.fp16_storage, else TSL_ERR_UNSUPPORTED. */
#ifndef TSL_POINTWISE_H
#define TSL_POINTWISE_H

#include "tsl_vk.h"

/* y = max(x, 0). NaN inputs give 0. */
tsl_status tsl_relu_forward(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range x, tsl_vk_range y);

/* dx = dy where mask > 0, else 0. `mask` is the forward's output y (or its input x: y > 0 exactly
 * where x > 0), so the input need not be kept. Also the backward of tsl_add_relu for both inputs. */
tsl_status tsl_relu_backward(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range mask, tsl_vk_range dy,
                             tsl_vk_range dx);

/* y = a + b (residual add; its backward passes dy to both inputs unchanged). */
tsl_status tsl_add(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range a, tsl_vk_range b, tsl_vk_range y);

/* y = max(a + b, 0): the end of a residual block in one pass. */
tsl_status tsl_add_relu(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range a, tsl_vk_range b,
                        tsl_vk_range y);

/* y += x in place (accumulating a gradient that reaches a tensor by two paths). */
tsl_status tsl_add_inplace(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range x, tsl_vk_range y);

/* fp16-storage twins of the above (see the top of this file). */
tsl_status tsl_relu_forward_f16(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range x, tsl_vk_range y);
tsl_status tsl_relu_backward_f16(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range mask, tsl_vk_range dy,
                                 tsl_vk_range dx);
tsl_status tsl_add_f16(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range a, tsl_vk_range b,
                       tsl_vk_range y);
tsl_status tsl_add_relu_f16(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range a, tsl_vk_range b,
                            tsl_vk_range y);
tsl_status tsl_add_inplace_f16(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range x, tsl_vk_range y);

#endif
