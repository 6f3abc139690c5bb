/* Reductions over fp32 arrays. */
#ifndef TSL_REDUCE_H
#define TSL_REDUCE_H

#include "tsl_vk.h"

/* Scratch bytes tsl_reduce_sum_f32 needs for `n` elements. */
VkDeviceSize tsl_reduce_sum_scratch_bytes(uint64_t n);

/* out[0] = sum of the n = src.size/4 floats of `src` (n <= maxStorageBufferRange/4), in two passes:
 * per-workgroup partials (each a sequential run plus a tree), then a tree over the partials. `scratch`
 * holds the partials (tsl_reduce_sum_scratch_bytes). fp32 accumulation: the relative error grows
 * like eps * (n / groups + log2 groups), well under 1e-5 of sum |x| for n up to 2^25. */
tsl_status tsl_reduce_sum_f32(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range src, tsl_vk_range scratch,
                              tsl_vk_range out);

#endif
