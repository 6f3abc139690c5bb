#include "tsl_pointwise.h"

#include "tsl_chunk.h"
#include "tsl_texel.h"

enum { WORKGROUP = 256 };
enum { OP_RELU, OP_RELU_BACKWARD, OP_ADD, OP_ADD_RELU, OP_ACCUMULATE };

static const char *const op_names[] = {"relu_forward", "relu_backward", "add", "add_relu", "add_inplace"};

/* Runs OP over chunks of up to one binding; a, b and y move in step. `elem` is 4 (fp32) or 2 (fp16). */
static tsl_status run_op(tsl_vk_device *d, tsl_vk_cmd *cmd, uint32_t elem, uint32_t op, tsl_vk_range a,
                         tsl_vk_range b, tsl_vk_range y) {
    const char *suffix = elem == 2 ? "_f16" : "";
    if (elem == 2 && !tsl_vk_device_features(d)->fp16_storage)
        return tsl_error(TSL_ERR_UNSUPPORTED, "%s%s: the device lacks storageBuffer16BitAccess", op_names[op],
                         suffix);
    VkDeviceSize total = y.size;
    if (a.size != total || b.size != total || total % elem || total == 0)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "%s%s: sizes %llu, %llu, %llu bytes differ, are 0 or not multiples of %u",
                         op_names[op], suffix, (unsigned long long)a.size, (unsigned long long)b.size,
                         (unsigned long long)y.size, elem);
    if (a.offset % elem || b.offset % elem || y.offset % elem)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "%s%s: a range starts at a byte offset that is not a multiple of %u", op_names[op],
                         suffix, elem);
    /* Whole vec4s take the vec4 build: a CPU driver then loops over the SIMD lanes once per four values
     * instead of once per value (lavapipe: docs/PERFORMANCE.md). Every chunk but the last is a whole
     * number of vec4s (the step's granule), and so is the last when the total is. */
    VkDeviceSize vec = 4 * elem;
    bool vec4 = total % vec == 0 && a.offset % vec == 0 && b.offset % vec == 0 && y.offset % vec == 0;
    static const tsl_shader_id shaders[2][2] = {{TSL_SHADER_POINTWISE_F32, TSL_SHADER_POINTWISE_F32_VEC4},
                                                {TSL_SHADER_POINTWISE_F16, TSL_SHADER_POINTWISE_F16_VEC4}};
    tsl_vk_range reads[] = {a, b};
    bool texel = vec4 && elem == 4 && tsl_texel_reads_fit(d, reads, 2, 16);
    uint32_t spec[] = {WORKGROUP, op};
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d, texel ? TSL_SHADER_POINTWISE_F32_VEC4_TEXEL : shaders[elem == 2][vec4],
                                spec, 2, &p));
    uint32_t granule = vec4 ? (uint32_t)vec : elem;
    VkDeviceSize step = tsl_chunk_max_bytes(d, granule);
    for (VkDeviceSize off = 0; off < total; off += step) {
        VkDeviceSize bytes = total - off < step ? total - off : step;
        tsl_vk_arg args[] = {
            {{a.vk, a.offset + off, bytes}, TSL_READ},
            {{b.vk, b.offset + off, bytes}, TSL_READ},
            {{y.vk, y.offset + off, bytes}, op == OP_ACCUMULATE ? TSL_READ_WRITE : TSL_WRITE}};
        uint32_t n = (uint32_t)(bytes / granule), gx, gy;
        tsl_vk_grid_1d(d, (n + WORKGROUP - 1) / WORKGROUP, &gx, &gy);
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, args, 3, &n, sizeof n, gx, gy, 1));
    }
    return TSL_OK;
}

tsl_status tsl_relu_forward(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range x, tsl_vk_range y) {
    return run_op(d, cmd, 4, OP_RELU, x, x, y);
}

tsl_status tsl_relu_backward(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range mask, tsl_vk_range dy,
                             tsl_vk_range dx) {
    return run_op(d, cmd, 4, OP_RELU_BACKWARD, dy, mask, dx);
}

tsl_status tsl_add(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range a, tsl_vk_range b, tsl_vk_range y) {
    return run_op(d, cmd, 4, OP_ADD, a, b, y);
}

tsl_status tsl_add_relu(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range a, tsl_vk_range b, tsl_vk_range y) {
    return run_op(d, cmd, 4, OP_ADD_RELU, a, b, y);
}

tsl_status tsl_add_inplace(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range x, tsl_vk_range y) {
    return run_op(d, cmd, 4, OP_ACCUMULATE, x, x, y);
}

tsl_status tsl_relu_forward_f16(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range x, tsl_vk_range y) {
    return run_op(d, cmd, 2, OP_RELU, x, x, y);
}

tsl_status tsl_relu_backward_f16(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range mask, tsl_vk_range dy,
                                 tsl_vk_range dx) {
    return run_op(d, cmd, 2, OP_RELU_BACKWARD, dy, mask, dx);
}

tsl_status tsl_add_f16(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range a, tsl_vk_range b, tsl_vk_range y) {
    return run_op(d, cmd, 2, OP_ADD, a, b, y);
}

tsl_status tsl_add_relu_f16(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range a, tsl_vk_range b,
                            tsl_vk_range y) {
    return run_op(d, cmd, 2, OP_ADD_RELU, a, b, y);
}

tsl_status tsl_add_inplace_f16(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range x, tsl_vk_range y) {
    return run_op(d, cmd, 2, OP_ACCUMULATE, x, x, y);
}
