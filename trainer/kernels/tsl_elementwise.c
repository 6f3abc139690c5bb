#include "tsl_elementwise.h"

enum { WORKGROUP = 256 };

static tsl_vk_range chunk_of(tsl_vk_range r, VkDeviceSize offset, VkDeviceSize size) {
    return (tsl_vk_range){r.vk, r.offset + offset, size};
}

/* Runs `shader` over chunks of up to one binding's worth of words; every binding moves in step. The
 * shaders handle 4 words per invocation. push[0] receives the chunk's word count; push[1..] are passed
 * through. */
static tsl_status dispatch_chunked(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_shader_id shader,
                                   const tsl_vk_arg *args, uint32_t n_args, uint32_t *push,
                                   uint32_t push_words) {
    VkDeviceSize total = args[0].range.size;
    for (uint32_t i = 0; i < n_args; i++)
        if (args[i].range.size != total || total % 4)
            return tsl_error(TSL_ERR_INVALID_ARG, "%s: buffer sizes differ or are not multiples of 4 bytes",
                             tsl_shader_modules[shader].name);
    tsl_vk_pipeline *p;
    uint32_t spec[] = {WORKGROUP};
    TSL_TRY(tsl_vk_pipeline_get(d, shader, spec, 1, &p));
    VkDeviceSize step = tsl_vk_max_binding_bytes(d, 4);
    for (VkDeviceSize off = 0; off < total; off += step) {
        VkDeviceSize n = total - off < step ? total - off : step;
        tsl_vk_arg chunk[TSL_VK_MAX_BINDINGS];
        for (uint32_t i = 0; i < n_args; i++)
            chunk[i] = (tsl_vk_arg){chunk_of(args[i].range, off, n), args[i].access};
        push[0] = (uint32_t)(n / 4);
        uint64_t invocations = push[0] / 4 + 1; /* one per 4 words, plus one for the tail */
        uint32_t gx, gy;
        tsl_vk_grid_1d(d, (invocations + WORKGROUP - 1) / WORKGROUP, &gx, &gy);
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, chunk, n_args, push, 4 * push_words, gx, gy, 1));
    }
    return TSL_OK;
}

tsl_status tsl_fill_u32(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range dst, uint32_t value) {
    tsl_vk_arg args[] = {{dst, TSL_WRITE}};
    uint32_t push[2] = {0, value};
    return dispatch_chunked(d, cmd, TSL_SHADER_FILL_U32, args, 1, push, 2);
}

tsl_status tsl_copy_u32(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range src, tsl_vk_range dst) {
    tsl_vk_arg args[] = {{src, TSL_READ}, {dst, TSL_WRITE}};
    uint32_t push[1] = {0};
    return dispatch_chunked(d, cmd, TSL_SHADER_COPY_U32, args, 2, push, 1);
}

tsl_status tsl_axpy_f32(tsl_vk_device *d, tsl_vk_cmd *cmd, float a, tsl_vk_range x, tsl_vk_range y) {
    tsl_vk_arg args[] = {{x, TSL_READ}, {y, TSL_READ_WRITE}};
    uint32_t push[2] = {0, 0};
    _Static_assert(sizeof(float) == sizeof(uint32_t), "fp32 push constants");
    __builtin_memcpy(&push[1], &a, 4);
    return dispatch_chunked(d, cmd, TSL_SHADER_AXPY_F32, args, 2, push, 2);
}
