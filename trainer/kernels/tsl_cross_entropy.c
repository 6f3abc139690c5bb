#include "tsl_cross_entropy.h"

#include "tsl_reduce.h"

enum { WORKGROUP = 64 };

static uint64_t offset_alignment(const tsl_vk_device *d) {
    uint64_t a = tsl_vk_device_features(d)->min_storage_buffer_offset_alignment;
    return a < 4 ? 4 : a;
}

/* Row losses first, then tsl_reduce_sum_f32's partials at the next aligned offset. */
static uint64_t reduce_scratch_offset(const tsl_vk_device *d, uint32_t n) {
    uint64_t align = offset_alignment(d);
    return (4ull * n + align - 1) / align * align;
}

VkDeviceSize tsl_cross_entropy_scratch_bytes(const tsl_vk_device *d, uint32_t n) {
    return reduce_scratch_offset(d, n) + tsl_reduce_sum_scratch_bytes(n);
}

static tsl_status check_args(const char *what, tsl_cross_entropy_shape s, tsl_vk_range logits,
                             tsl_vk_range labels) {
    if (!s.n || !s.classes)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: shape n=%u classes=%u has a zero dimension", what, s.n,
                         s.classes);
    if (logits.size < 4ull * s.n * s.classes)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: logits (%u x %u fp32) need %llu bytes, the range has %llu",
                         what, s.n, s.classes, 4ull * s.n * s.classes, (unsigned long long)logits.size);
    if (labels.size < 4ull * s.n)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: labels (%u uint32) need %llu bytes, the range has %llu",
                         what, s.n, 4ull * s.n, (unsigned long long)labels.size);
    return TSL_OK;
}

/* One dispatch per chunk of whole rows that one binding covers; the output is bound chunked like the
 * logits (gradient) or whole (row losses, indexed from row0). */
static tsl_status run_rows(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_shader_id shader, tsl_cross_entropy_shape s,
                           tsl_vk_range logits, tsl_vk_range labels, tsl_vk_range out, bool out_per_row) {
    tsl_vk_pipeline *p;
    uint32_t spec[] = {WORKGROUP};
    TSL_TRY(tsl_vk_pipeline_get(d, shader, spec, 1, &p));
    uint64_t row_bytes = 4ull * s.classes;
    uint64_t step = tsl_vk_max_binding_bytes(d, row_bytes) / row_bytes;
    if (!step)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: one row of %u classes exceeds a binding",
                         tsl_shader_modules[shader].name, s.classes);
    labels.size = 4ull * s.n;
    for (uint64_t r0 = 0; r0 < s.n; r0 += step) {
        uint64_t rows = s.n - r0 < step ? s.n - r0 : step;
        tsl_vk_range chunk = {logits.vk, logits.offset + r0 * row_bytes, rows * row_bytes};
        tsl_vk_range dst = out_per_row
                               ? (tsl_vk_range){out.vk, out.offset, 4ull * s.n}
                               : (tsl_vk_range){out.vk, out.offset + r0 * row_bytes, rows * row_bytes};
        tsl_vk_arg args[] = {{chunk, TSL_READ}, {labels, TSL_READ}, {dst, TSL_WRITE}};
        float inv_n = 1.0f / (float)s.n;
        uint32_t push[4] = {(uint32_t)rows, s.classes, (uint32_t)r0, 0};
        __builtin_memcpy(&push[3], &inv_n, 4);
        uint32_t gx, gy;
        tsl_vk_grid_1d(d, (rows + WORKGROUP - 1) / WORKGROUP, &gx, &gy);
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, args, 3, push, sizeof push, gx, gy, 1));
    }
    return TSL_OK;
}

tsl_status tsl_cross_entropy_loss(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_cross_entropy_shape s,
                                  tsl_vk_range logits, tsl_vk_range labels, tsl_vk_range scratch,
                                  tsl_vk_range loss) {
    const char *what = "cross_entropy_loss";
    TSL_TRY(check_args(what, s, logits, labels));
    VkDeviceSize need = tsl_cross_entropy_scratch_bytes(d, s.n);
    if (scratch.size < need || loss.size < 4)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "%s: needs %llu scratch bytes (has %llu) and a 4-byte loss (has "
                         "%llu)",
                         what, (unsigned long long)need, (unsigned long long)scratch.size,
                         (unsigned long long)loss.size);
    tsl_vk_range row_loss = {scratch.vk, scratch.offset, 4ull * s.n};
    uint64_t at = reduce_scratch_offset(d, s.n);
    tsl_vk_range reduce_scratch = {scratch.vk, scratch.offset + at, scratch.size - at};
    TSL_TRY(run_rows(d, cmd, TSL_SHADER_CROSS_ENTROPY_LOSS_F32, s, logits, labels, row_loss, true));
    TSL_TRY_CTX(tsl_reduce_sum_f32(d, cmd, row_loss, reduce_scratch, loss), "%s", what);
    return TSL_OK;
}

tsl_status tsl_cross_entropy_backward(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_cross_entropy_shape s,
                                      tsl_vk_range logits, tsl_vk_range labels, tsl_vk_range dlogits) {
    const char *what = "cross_entropy_backward";
    TSL_TRY(check_args(what, s, logits, labels));
    uint64_t bytes = 4ull * s.n * s.classes;
    if (dlogits.size < bytes)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: dlogits need %llu bytes, the range has %llu", what,
                         (unsigned long long)bytes, (unsigned long long)dlogits.size);
    if (dlogits.vk == logits.vk && dlogits.offset < logits.offset + bytes &&
        logits.offset < dlogits.offset + bytes)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: dlogits overlap logits", what);
    return run_rows(d, cmd, TSL_SHADER_CROSS_ENTROPY_GRAD_F32, s, logits, labels, dlogits, false);
}
