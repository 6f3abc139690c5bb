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

/* sums[c] = sum over r < rows of x[r][c] (x row-major, `cols` wide: fp32, or IEEE half with x_half),
 * plus the old sums[c] with `accumulate`: one dispatch, one invocation per column adding its rows in
 * order (the same bits run to run). x and sums must each fit one binding (the callers split larger
 * sums into chunks of rows, accumulating after the first). */
tsl_status tsl_reduce_column_sums(tsl_vk_device *device, tsl_vk_cmd *cmd, tsl_vk_range x, bool x_half,
                                  uint32_t rows, uint32_t cols, tsl_vk_range sums, bool accumulate);

#endif
