/* Elementwise kernels over flat 32-bit arrays of any length: work longer than one binding may cover
 * (maxStorageBufferRange) is split into chunks, each its own dispatch. All record into `cmd`. */
#ifndef TSL_ELEMENTWISE_H
#define TSL_ELEMENTWISE_H

#include "tsl_vk.h"

/* dst[i] = value for every 32-bit word of `dst` (dst.size a multiple of 4). */
tsl_status tsl_fill_u32(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range dst, uint32_t value);

/* Copies src to dst word by word through a shader (sizes equal, multiples of 4). */
tsl_status tsl_copy_u32(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range src, tsl_vk_range dst);

/* y = a * x + y over fp32 arrays of equal size. */
tsl_status tsl_axpy_f32(tsl_vk_device *device, tsl_vk_cmd *cmd, float a, tsl_vk_range x, tsl_vk_range y);

#endif
