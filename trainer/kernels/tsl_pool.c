#include "tsl_pool.h"

#include "tsl_chunk.h"

#include <string.h>

enum { WORKGROUP = 256 };

uint32_t tsl_maxpool_out_h(tsl_maxpool_shape s) {
    return (s.h + 2 * s.padding - s.kernel) / s.stride + 1;
}

uint32_t tsl_maxpool_out_w(tsl_maxpool_shape s) {
    return (s.w + 2 * s.padding - s.kernel) / s.stride + 1;
}

static tsl_status check_size(const char *op, const char *name, tsl_vk_range r, VkDeviceSize want) {
    if (r.size != want)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %s is %llu bytes, expected %llu", op, name,
                         (unsigned long long)r.size, (unsigned long long)want);
    return TSL_OK;
}

static tsl_status check_maxpool(const char *op, tsl_maxpool_shape s) {
    if (s.n == 0 || s.c == 0 || s.h == 0 || s.w == 0 || s.kernel == 0 || s.stride == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: empty shape %ux%ux%ux%u, kernel %u, stride %u", op, s.n,
                         s.c, s.h, s.w, s.kernel, s.stride);
    if (s.padding > s.kernel / 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: padding %u exceeds half the kernel %u", op, s.padding,
                         s.kernel);
    if (s.h + 2 * s.padding < s.kernel || s.w + 2 * s.padding < s.kernel)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %ux%u input with padding %u is smaller than the %u window",
                         op, s.h, s.w, s.padding, s.kernel);
    if ((uint64_t)s.n * s.c * s.h * s.w > UINT32_MAX / 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: input too large", op);
    return TSL_OK;
}

/* Dispatches `shader` once per batch chunk. args[i] is chunked with image_bytes[i] bytes per image;
 * each chunk has `per_image` invocations per image, passed as push word 0. */
static tsl_status dispatch_by_images(tsl_vk_device *d, tsl_vk_cmd *cmd, const char *op, tsl_vk_pipeline *p,
                                     uint32_t images, const tsl_vk_arg *args, const VkDeviceSize *image_bytes,
                                     uint32_t n_args, uint32_t per_image, uint32_t *push,
                                     uint32_t push_bytes) {
    uint32_t step = tsl_batch_chunk_images(d, image_bytes, n_args);
    if (step == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: one image exceeds a storage binding", op);
    for (uint32_t n0 = 0; n0 < images; n0 += step) {
        uint32_t count = images - n0 < step ? images - n0 : step;
        tsl_vk_arg chunk[4];
        for (uint32_t i = 0; i < n_args; i++)
            chunk[i] =
                (tsl_vk_arg){tsl_batch_chunk(args[i].range, image_bytes[i], n0, count), args[i].access};
        push[0] = count * per_image;
        uint32_t gx, gy;
        tsl_vk_grid_1d(d, (push[0] + WORKGROUP - 1) / WORKGROUP, &gx, &gy);
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, chunk, n_args, push, push_bytes, gx, gy, 1));
    }
    return TSL_OK;
}

static tsl_status maxpool_run(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_maxpool_shape s, tsl_shader_id shader,
                              const char *op, const tsl_vk_arg *args, bool per_input) {
    uint32_t ho = tsl_maxpool_out_h(s), wo = tsl_maxpool_out_w(s);
    VkDeviceSize in_bytes = 4ull * s.c * s.h * s.w, out_bytes = 4ull * s.c * ho * wo;
    /* Forward binds (x, y, indices); backward (dy, indices, dx). */
    VkDeviceSize image_bytes[3] = {per_input ? out_bytes : in_bytes, out_bytes,
                                   per_input ? in_bytes : out_bytes};
    uint32_t spec[] = {WORKGROUP, s.h, s.w, ho, wo, s.kernel, s.stride, s.padding};
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d, shader, spec, sizeof spec / sizeof *spec, &p));
    uint32_t push[] = {0}; /* invocations of the chunk */
    uint32_t per_image = per_input ? s.c * s.h * s.w : s.c * ho * wo;
    return dispatch_by_images(d, cmd, op, p, s.n, args, image_bytes, 3, per_image, push, sizeof push);
}

tsl_status tsl_maxpool_forward(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_maxpool_shape s, tsl_vk_range x,
                               tsl_vk_range y, tsl_vk_range indices) {
    const char *op = "maxpool_forward";
    TSL_TRY(check_maxpool(op, s));
    VkDeviceSize out = 4ull * s.n * s.c * tsl_maxpool_out_h(s) * tsl_maxpool_out_w(s);
    TSL_TRY(check_size(op, "x", x, 4ull * s.n * s.c * s.h * s.w));
    TSL_TRY(check_size(op, "y", y, out));
    TSL_TRY(check_size(op, "indices", indices, out));
    tsl_vk_arg args[] = {{x, TSL_READ}, {y, TSL_WRITE}, {indices, TSL_WRITE}};
    return maxpool_run(d, cmd, s, TSL_SHADER_MAXPOOL_FORWARD, op, args, false);
}

tsl_status tsl_maxpool_backward(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_maxpool_shape s, tsl_vk_range dy,
                                tsl_vk_range indices, tsl_vk_range dx) {
    const char *op = "maxpool_backward";
    TSL_TRY(check_maxpool(op, s));
    VkDeviceSize out = 4ull * s.n * s.c * tsl_maxpool_out_h(s) * tsl_maxpool_out_w(s);
    TSL_TRY(check_size(op, "dy", dy, out));
    TSL_TRY(check_size(op, "indices", indices, out));
    TSL_TRY(check_size(op, "dx", dx, 4ull * s.n * s.c * s.h * s.w));
    tsl_vk_arg args[] = {{dy, TSL_READ}, {indices, TSL_READ}, {dx, TSL_WRITE}};
    return maxpool_run(d, cmd, s, TSL_SHADER_MAXPOOL_BACKWARD, op, args, true);
}

static tsl_status avgpool_run(tsl_vk_device *d, tsl_vk_cmd *cmd, const char *op, bool backward, uint32_t n,
                              uint32_t c, uint32_t h, uint32_t w, tsl_vk_range src, tsl_vk_range dst) {
    if (n == 0 || c == 0 || h == 0 || w == 0 || (uint64_t)n * c * h * w > UINT32_MAX / 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: unsupported shape %ux%ux%ux%u", op, n, c, h, w);
    VkDeviceSize big = 4ull * n * c * h * w, small = 4ull * n * c;
    TSL_TRY(check_size(op, backward ? "dy" : "x", src, backward ? small : big));
    TSL_TRY(check_size(op, backward ? "dx" : "y", dst, backward ? big : small));
    uint32_t spec[] = {WORKGROUP, backward};
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_AVGPOOL_GLOBAL, spec, 2, &p));
    tsl_vk_arg args[] = {{src, TSL_READ}, {dst, TSL_WRITE}};
    VkDeviceSize image_bytes[] = {src.size / n, dst.size / n};
    uint32_t push[3] = {0, h * w, 0}; /* n (per chunk), hw, 1 / hw as fp32 bits */
    float inv_hw = (float)(1.0 / ((double)h * w));
    memcpy(&push[2], &inv_hw, 4);
    return dispatch_by_images(d, cmd, op, p, n, args, image_bytes, 2, backward ? c * h * w : c, push,
                              sizeof push);
}

tsl_status tsl_avgpool_global_forward(tsl_vk_device *d, tsl_vk_cmd *cmd, uint32_t n, uint32_t c, uint32_t h,
                                      uint32_t w, tsl_vk_range x, tsl_vk_range y) {
    return avgpool_run(d, cmd, "avgpool_global_forward", false, n, c, h, w, x, y);
}

tsl_status tsl_avgpool_global_backward(tsl_vk_device *d, tsl_vk_cmd *cmd, uint32_t n, uint32_t c, uint32_t h,
                                       uint32_t w, tsl_vk_range dy, tsl_vk_range dx) {
    return avgpool_run(d, cmd, "avgpool_global_backward", true, n, c, h, w, dy, dx);
}
