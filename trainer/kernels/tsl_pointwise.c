#include "tsl_pointwise.h"

#include "tsl_chunk.h"

enum { WORKGROUP = 256 };
enum { OP_RELU, OP_RELU_BACKWARD, OP_ADD, OP_ADD_RELU, OP_ACCUMULATE };

static const char *const op_names[] = {"relu_forward", "relu_backward", "add", "add_relu", "add_inplace"};

/* Runs OP over chunks of up to one binding; a, b and y move in step. */
static tsl_status run_op(tsl_vk_device *d, tsl_vk_cmd *cmd, uint32_t op, tsl_vk_range a, tsl_vk_range b,
                         tsl_vk_range y) {
    VkDeviceSize total = y.size;
    if (a.size != total || b.size != total || total % 4 || total == 0)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "%s: sizes %llu, %llu, %llu bytes differ, are 0 or not multiples of 4", op_names[op],
                         (unsigned long long)a.size, (unsigned long long)b.size, (unsigned long long)y.size);
    uint32_t spec[] = {WORKGROUP, op};
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_POINTWISE_F32, spec, 2, &p));
    VkDeviceSize step = tsl_chunk_max_bytes(d, 4);
    for (VkDeviceSize off = 0; off < total; off += step) {
        VkDeviceSize bytes = total - off < step ? total - off : step;
        tsl_vk_arg args[] = {
            {{a.vk, a.offset + off, bytes}, TSL_READ},
            {{b.vk, b.offset + off, bytes}, TSL_READ},
            {{y.vk, y.offset + off, bytes}, op == OP_ACCUMULATE ? TSL_READ_WRITE : TSL_WRITE}};
        uint32_t n = (uint32_t)(bytes / 4), gx, gy;
        tsl_vk_grid_1d(d, (n + WORKGROUP - 1) / WORKGROUP, &gx, &gy);
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, args, 3, &n, sizeof n, gx, gy, 1));
    }
    return TSL_OK;
}

tsl_status tsl_relu_forward(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range x, tsl_vk_range y) {
    return run_op(d, cmd, OP_RELU, x, x, y);
}

tsl_status tsl_relu_backward(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range mask, tsl_vk_range dy,
                             tsl_vk_range dx) {
    return run_op(d, cmd, OP_RELU_BACKWARD, dy, mask, dx);
}

tsl_status tsl_add(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range a, tsl_vk_range b, tsl_vk_range y) {
    return run_op(d, cmd, OP_ADD, a, b, y);
}

tsl_status tsl_add_relu(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range a, tsl_vk_range b, tsl_vk_range y) {
    return run_op(d, cmd, OP_ADD_RELU, a, b, y);
}

tsl_status tsl_add_inplace(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range x, tsl_vk_range y) {
    return run_op(d, cmd, OP_ACCUMULATE, x, x, y);
}
