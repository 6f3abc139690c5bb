#include "tsl_reduce.h"

enum { WORKGROUP = 256, PER_GROUP = 4096, MAX_PARTIALS = 4096 };

static uint64_t groups_for(uint64_t n) {
    uint64_t per = PER_GROUP;
    while ((n + per - 1) / per > MAX_PARTIALS) /* keep the second pass to one workgroup's reach */
        per *= 2;
    return n ? (n + per - 1) / per : 1;
}

VkDeviceSize tsl_reduce_sum_scratch_bytes(uint64_t n) {
    return 4 * groups_for(n);
}

static tsl_status reduce_pass(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_pipeline *p, tsl_vk_range src,
                              tsl_vk_range dst, uint32_t n, uint32_t per_group, uint32_t groups) {
    tsl_vk_arg args[] = {{src, TSL_READ}, {dst, TSL_WRITE}};
    uint32_t push[2] = {n, per_group};
    uint32_t gx, gy;
    tsl_vk_grid_1d(d, groups, &gx, &gy);
    return tsl_vk_cmd_dispatch(cmd, p, args, 2, push, sizeof push, gx, gy, 1);
}

tsl_status tsl_reduce_sum_f32(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range src, tsl_vk_range scratch,
                              tsl_vk_range out) {
    uint64_t n = src.size / 4;
    uint64_t groups = groups_for(n);
    if (src.size % 4 || scratch.size < 4 * groups || out.size < 4)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "reduce_sum: %llu-byte input needs %llu scratch bytes and a "
                         "4-byte output",
                         (unsigned long long)src.size, (unsigned long long)(4 * groups));
    tsl_vk_pipeline *p;
    uint32_t spec[] = {WORKGROUP};
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_REDUCE_SUM_F32, spec, 1, &p));
    uint32_t per_group = (uint32_t)((n + groups - 1) / groups);
    scratch.size = 4 * groups;
    out.size = 4;
    TSL_TRY(reduce_pass(d, cmd, p, src, scratch, (uint32_t)n, per_group, (uint32_t)groups));
    return reduce_pass(d, cmd, p, scratch, out, (uint32_t)groups, (uint32_t)groups, 1);
}

tsl_status tsl_reduce_column_sums(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range x, bool x_half,
                                  uint32_t rows, uint32_t cols, tsl_vk_range sums, bool accumulate) {
    uint64_t x_bytes = (uint64_t)(x_half ? 2 : 4) * rows * cols;
    if (x.size < x_bytes || sums.size < 4ull * cols)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "column sums: %u x %u %s need %llu bytes of input and %llu of sums (got %llu, %llu)",
                         rows, cols, x_half ? "halves" : "floats", (unsigned long long)x_bytes, 4ull * cols,
                         (unsigned long long)x.size, (unsigned long long)sums.size);
    tsl_vk_pipeline *p;
    uint32_t spec[] = {WORKGROUP};
    TSL_TRY(
        tsl_vk_pipeline_get(d, x_half ? TSL_SHADER_COLUMN_SUM_F16 : TSL_SHADER_COLUMN_SUM_F32, spec, 1, &p));
    tsl_vk_arg args[] = {{{x.vk, x.offset, x_bytes}, TSL_READ},
                         {{sums.vk, sums.offset, 4ull * cols}, accumulate ? TSL_READ_WRITE : TSL_WRITE}};
    uint32_t push[3] = {rows, cols, accumulate};
    uint32_t gx, gy;
    tsl_vk_grid_1d(d, (cols + WORKGROUP - 1) / WORKGROUP, &gx, &gy);
    return tsl_vk_cmd_dispatch(cmd, p, args, 2, push, sizeof push, gx, gy, 1);
}
