#include "tsl_optim.h"

#include "tsl_chunk.h"
#include "tsl_texel.h"

#include <math.h>
#include <string.h>

enum {
    WORKGROUP = 256,
    GROUPS_PER_PIECE = 64, /* first-level partials per binding-sized piece of a tensor */
    ALIGN = 256,           /* Vulkan's largest minStorageBufferOffsetAlignment */
    MAX_TENSORS = 65535,   /* one second-level workgroup per tensor, in grid x */
};

static VkDeviceSize pieces_of(const tsl_vk_device *d, VkDeviceSize bytes) {
    VkDeviceSize step = tsl_chunk_max_bytes(d, 4);
    return (bytes + step - 1) / step;
}

/* Partial slots per tensor: the same for all tensors (GROUPS_PER_PIECE per piece of the largest). */
static uint32_t slots_per_tensor(const tsl_vk_device *d, const tsl_vk_range *a, size_t stride, uint32_t n) {
    VkDeviceSize most = 1;
    for (uint32_t t = 0; t < n; t++) {
        const tsl_vk_range *r = (const tsl_vk_range *)((const char *)a + t * stride);
        VkDeviceSize p = pieces_of(d, r->size);
        most = p > most ? p : most;
    }
    return (uint32_t)(GROUPS_PER_PIECE * most);
}

static VkDeviceSize padded(VkDeviceSize bytes) {
    return (bytes + ALIGN - 1) / ALIGN * ALIGN;
}

/* Scratch: [2n floats of norms, padded][partials: n * slots pairs]. */
static VkDeviceSize scratch_bytes(uint32_t n, uint32_t slots) {
    return padded(8ull * n) + 8ull * n * slots;
}

VkDeviceSize tsl_l2_norms_scratch_bytes(const tsl_vk_device *d, const tsl_vk_range *tensors, uint32_t n) {
    return scratch_bytes(n, slots_per_tensor(d, tensors, sizeof *tensors, n));
}

VkDeviceSize tsl_optim_lars_scratch_bytes(const tsl_vk_device *d, const tsl_optim_tensor *tensors,
                                          uint32_t n) {
    return scratch_bytes(n, slots_per_tensor(d, &tensors[0].param, sizeof *tensors, n));
}

static tsl_vk_range piece_of(tsl_vk_range r, VkDeviceSize offset, VkDeviceSize size) {
    return (tsl_vk_range){r.vk, r.offset + offset, size};
}

/* Whether `size` bytes at each of the offsets are whole vec4s at 16-byte offsets: the vec4 builds' condition
 * (one load step per four elements on a CPU driver). */
static bool whole_vec4s(VkDeviceSize size, VkDeviceSize off_a, VkDeviceSize off_b, VkDeviceSize off_c) {
    return (size | off_a | off_b | off_c) % 16 == 0;
}

/* First level for tensor t: sums of a^2 and (b + wd a)^2 into its partial pairs. Piece k of the tensor
 * owns slots [k GROUPS_PER_PIECE, (k + 1) GROUPS_PER_PIECE) but launches only the workgroups its size
 * needs (one per WORKGROUP values, at most GROUPS_PER_PIECE): a workgroup costs microseconds on a CPU
 * driver even when it has nothing to sum, and most tensors of a network are small. The slots no
 * workgroup writes hold the zeros clear_partials put there. Whole vec4s at 16-byte offsets take the
 * vec4 build (its pieces are whole vec4s too). */
static tsl_status record_partials(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_range a, tsl_vk_range b, float wd,
                                  tsl_vk_range tensor_slots) {
    VkDeviceSize step = tsl_chunk_max_bytes(d, 4);
    bool vec4 = whole_vec4s(a.size, a.offset, b.offset, step);
    tsl_vk_range reads[] = {a, b};
    bool texel = vec4 && tsl_texel_reads_fit(d, reads, 2, 16);
    uint32_t granule = vec4 ? 16 : 4, spec[] = {WORKGROUP};
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d,
                                texel  ? TSL_SHADER_OPTIM_NORM_PARTIAL_VEC4_TEXEL
                                : vec4 ? TSL_SHADER_OPTIM_NORM_PARTIAL_VEC4
                                       : TSL_SHADER_OPTIM_NORM_PARTIAL,
                                spec, 1, &p));
    uint32_t slot = 0;
    for (VkDeviceSize off = 0; off < a.size; off += step, slot += GROUPS_PER_PIECE) {
        VkDeviceSize bytes = a.size - off < step ? a.size - off : step;
        uint32_t n = (uint32_t)(bytes / granule);
        uint32_t groups = (n + WORKGROUP - 1) / WORKGROUP;
        groups = groups < GROUPS_PER_PIECE ? groups : GROUPS_PER_PIECE;
        struct {
            uint32_t n, per_group;
            float wd;
        } push = {n, (n + groups - 1) / groups, wd};
        tsl_vk_arg args[] = {{piece_of(a, off, bytes), TSL_READ},
                             {piece_of(b, off, bytes), TSL_READ},
                             {piece_of(tensor_slots, 8ull * slot, 8ull * groups), TSL_WRITE}};
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, args, 3, &push, sizeof push, groups, 1, 1));
    }
    return TSL_OK;
}

/* Zeroes every tensor's partial slots at once, so that each tensor writes only the slots it needs. */
static tsl_status clear_partials(tsl_vk_cmd *cmd, tsl_vk_range partials) {
    return tsl_vk_cmd_fill(cmd, partials, 0);
}

static tsl_status record_final(tsl_vk_device *d, tsl_vk_cmd *cmd, bool pairs, uint32_t n, uint32_t slots,
                               tsl_vk_range partials, tsl_vk_range norms) {
    uint32_t spec[] = {WORKGROUP, pairs};
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_OPTIM_NORM_FINAL, spec, 2, &p));
    tsl_vk_arg args[] = {{partials, TSL_READ}, {norms, TSL_WRITE}};
    return tsl_vk_cmd_dispatch(cmd, p, args, 2, &slots, sizeof slots, n, 1, 1);
}

static tsl_status check_count(const char *op, uint32_t n) {
    if (n == 0 || n > MAX_TENSORS)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %u tensors, expected 1 to %u", op, n, MAX_TENSORS);
    return TSL_OK;
}

static tsl_status check_tensor(const char *op, uint32_t t, tsl_vk_range r, VkDeviceSize size) {
    if (r.size == 0 || r.size % 4 || r.size != size)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "%s: tensor %u: %llu bytes where %llu (a non-zero multiple of 4) were "
                         "expected",
                         op, t, (unsigned long long)r.size, (unsigned long long)size);
    return TSL_OK;
}

static tsl_status check_scratch(const char *op, tsl_vk_range scratch, VkDeviceSize want) {
    if (scratch.size < want)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: scratch is %llu bytes, needs %llu", op,
                         (unsigned long long)scratch.size, (unsigned long long)want);
    return TSL_OK;
}

static tsl_vk_range partials_of(tsl_vk_range scratch, uint32_t n, uint32_t slots) {
    return (tsl_vk_range){scratch.vk, scratch.offset + padded(8ull * n), 8ull * n * slots};
}

tsl_status tsl_l2_norms(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_vk_range *tensors, uint32_t n,
                        tsl_vk_range scratch, tsl_vk_range norms) {
    const char *op = "l2_norms";
    TSL_TRY(check_count(op, n));
    for (uint32_t t = 0; t < n; t++)
        TSL_TRY(check_tensor(op, t, tensors[t], tensors[t].size ? tensors[t].size : 4));
    TSL_TRY(check_scratch(op, scratch, tsl_l2_norms_scratch_bytes(d, tensors, n)));
    if (norms.size != 4ull * n)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: norms is %llu bytes, expected %u", op,
                         (unsigned long long)norms.size, 4 * n);
    uint32_t slots = slots_per_tensor(d, tensors, sizeof *tensors, n);
    tsl_vk_range partials = partials_of(scratch, n, slots);
    TSL_TRY(clear_partials(cmd, partials));
    for (uint32_t t = 0; t < n; t++)
        TSL_TRY(record_partials(d, cmd, tensors[t], tensors[t], 0.0f,
                                piece_of(partials, 8ull * t * slots, 8ull * slots)));
    return record_final(d, cmd, false, n, slots, partials, norms);
}

static tsl_status check_optim(const char *op, const tsl_optim_tensor *tensors, uint32_t n, bool second) {
    TSL_TRY(check_count(op, n));
    for (uint32_t t = 0; t < n; t++) {
        VkDeviceSize size = tensors[t].param.size ? tensors[t].param.size : 4;
        TSL_TRY(check_tensor(op, t, tensors[t].param, size));
        TSL_TRY(check_tensor(op, t, tensors[t].grad, size));
        TSL_TRY(check_tensor(op, t, tensors[t].momentum, size));
        if (second)
            TSL_TRY(check_tensor(op, t, tensors[t].second, size));
    }
    return TSL_OK;
}

/* The update of every tensor; `norms` is read only when lars. */
static tsl_status record_updates(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_optim_tensor *tensors,
                                 uint32_t n, const tsl_optim_hparams *h, bool lars, tsl_vk_range norms) {
    for (uint32_t t = 0; t < n; t++) {
        const tsl_optim_tensor *x = &tensors[t];
        /* Its chunks are whole vec4s too. */
        bool vec4 = whole_vec4s(x->param.size, x->param.offset, x->grad.offset, x->momentum.offset);
        uint32_t granule = vec4 ? 16 : 4;
        VkDeviceSize step = tsl_chunk_max_bytes(d, granule);
        uint32_t spec[] = {WORKGROUP, !x->exclude, lars && !x->exclude};
        tsl_vk_pipeline *p;
        tsl_vk_range reads[] = {x->grad, x->param, x->momentum};
        bool texel = vec4 && tsl_texel_reads_fit(d, reads, 3, 16);
        TSL_TRY(tsl_vk_pipeline_get(d,
                                    texel  ? TSL_SHADER_OPTIM_UPDATE_VEC4_TEXEL
                                    : vec4 ? TSL_SHADER_OPTIM_UPDATE_VEC4
                                           : TSL_SHADER_OPTIM_UPDATE,
                                    spec, 3, &p));
        for (VkDeviceSize off = 0; off < x->param.size; off += step) {
            VkDeviceSize bytes = x->param.size - off < step ? x->param.size - off : step;
            /* The texel build reads param and momentum through views of their own (bindings 4, 5). */
            tsl_vk_arg args[] = {{piece_of(x->param, off, bytes), TSL_READ_WRITE},
                                 {piece_of(x->grad, off, bytes), TSL_READ},
                                 {piece_of(x->momentum, off, bytes), TSL_READ_WRITE},
                                 {norms, TSL_READ},
                                 {piece_of(x->param, off, bytes), TSL_READ},
                                 {piece_of(x->momentum, off, bytes), TSL_READ}};
            struct {
                uint32_t n, tensor;
                float lr, momentum, wd, eta;
            } push = {(uint32_t)(bytes / granule), t, h->lr, h->momentum, h->weight_decay, h->eta};
            uint32_t gx, gy;
            tsl_vk_grid_1d(d, (push.n + WORKGROUP - 1) / WORKGROUP, &gx, &gy);
            TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, args, texel ? 6 : 4, &push, sizeof push, gx, gy, 1));
        }
    }
    return TSL_OK;
}

tsl_status tsl_optim_lars_step(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_optim_tensor *tensors, uint32_t n,
                               const tsl_optim_hparams *h, tsl_vk_range scratch) {
    const char *op = "optim_lars_step";
    TSL_TRY(check_optim(op, tensors, n, false));
    TSL_TRY(check_scratch(op, scratch, tsl_optim_lars_scratch_bytes(d, tensors, n)));
    uint32_t slots = slots_per_tensor(d, &tensors[0].param, sizeof *tensors, n);
    tsl_vk_range norms = {scratch.vk, scratch.offset, 8ull * n};
    tsl_vk_range partials = partials_of(scratch, n, slots);
    TSL_TRY(clear_partials(cmd, partials));
    for (uint32_t t = 0; t < n; t++) {
        float wd = tensors[t].exclude ? 0.0f : h->weight_decay;
        TSL_TRY(record_partials(d, cmd, tensors[t].param, tensors[t].grad, wd,
                                piece_of(partials, 8ull * t * slots, 8ull * slots)));
    }
    TSL_TRY(record_final(d, cmd, true, n, slots, partials, norms));
    return record_updates(d, cmd, tensors, n, h, true, norms);
}

tsl_status tsl_optim_sgd_step(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_optim_tensor *tensors, uint32_t n,
                              const tsl_optim_hparams *h) {
    TSL_TRY(check_optim("optim_sgd_step", tensors, n, false));
    /* The shader's norms binding is unused without LARS; the first tensor's gradient fills it. */
    return record_updates(d, cmd, tensors, n, h, false, tensors[0].grad);
}

tsl_status tsl_optim_adamw_step(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_optim_tensor *tensors,
                                uint32_t n, const tsl_optim_adamw_hparams *h) {
    const char *op = "optim_adamw_step";
    TSL_TRY(check_optim(op, tensors, n, true));
    if (h->step == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: step 0 (steps count from 1)", op);
    /* Bias corrections in double, as PyTorch computes them in Python floats. */
    double bc1 = 1.0 - pow(h->beta1, (double)h->step), bc2 = 1.0 - pow(h->beta2, (double)h->step);
    uint32_t spec[] = {WORKGROUP};
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_OPTIM_ADAMW, spec, 1, &p));
    VkDeviceSize step = tsl_chunk_max_bytes(d, 4);
    for (uint32_t t = 0; t < n; t++) {
        const tsl_optim_tensor *x = &tensors[t];
        double wd = x->exclude ? 0.0 : h->weight_decay;
        struct {
            uint32_t n;
            float decay, beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps;
        } push = {0,
                  (float)(1.0 - h->lr * wd),
                  (float)h->beta1,
                  (float)(1.0 - h->beta1),
                  (float)h->beta2,
                  (float)(1.0 - h->beta2),
                  (float)(h->lr / bc1),
                  (float)sqrt(bc2),
                  (float)h->eps};
        for (VkDeviceSize off = 0; off < x->param.size; off += step) {
            VkDeviceSize bytes = x->param.size - off < step ? x->param.size - off : step;
            tsl_vk_arg args[] = {{piece_of(x->param, off, bytes), TSL_READ_WRITE},
                                 {piece_of(x->grad, off, bytes), TSL_READ},
                                 {piece_of(x->momentum, off, bytes), TSL_READ_WRITE},
                                 {piece_of(x->second, off, bytes), TSL_READ_WRITE}};
            push.n = (uint32_t)(bytes / 4);
            uint32_t gx, gy;
            tsl_vk_grid_1d(d, (push.n + WORKGROUP - 1) / WORKGROUP, &gx, &gy);
            TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, args, 4, &push, sizeof push, gx, gy, 1));
        }
    }
    return TSL_OK;
}
