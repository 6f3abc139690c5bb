#include "tsl_batchnorm.h"

#include "tsl_chunk.h"
#include "tsl_texel.h"

enum {
    MAX_GRID = 65535, /* channels: a documented limit of the API */
    ALIGN = 256,      /* Vulkan's largest minStorageBufferOffsetAlignment: sub-ranges of scratch start here */
    LANES_PER_GROUP = 64,   /* lanes (one channel, or four) per workgroup of the lane shaders */
    MAX_LANE_VALUES = 8192, /* cap on a lane's values: see lane_values_override */
    MAX_SLOTS = 32768,      /* slices per channel: the final merges loop over them */
};

/* Values of one channel that one lane handles, unless tsl_batchnorm_set_test_threshold set this (0: the
 * device's, tsl_batchnorm_lane_values). Capped because lavapipe (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS)
 * ends every loop of an invocation once 65535 loop iterations have run in it, counted over all its
 * loops, silently leaving the rest undone: a lane runs at most three passes of images * (units + 1) <=
 * 2 * MAX_LANE_VALUES iterations each. */
static uint32_t lane_values_override;

void tsl_batchnorm_set_test_threshold(uint32_t values) {
    lane_values_override = values > MAX_LANE_VALUES ? MAX_LANE_VALUES : values;
}

/* CPU drivers: TSL_BATCHNORM_MAX_LANE_VALUES (measured on lavapipe: see use_channel_lanes). GPUs:
 * TSL_BATCHNORM_GPU_LANE_VALUES, so that ResNet's small planes still give several lanes per channel (at
 * 64 images of 7x7 a channel is 3136 values: one lane each at 4096, 2048 lanes for the whole tensor, far
 * too few for a GPU). Measured on an H200 (2026-11-25, `tessl bench ops --filter batchnorm --res 224
 * --batch 64 --bn-slice N`), the sums over ResNet-50's shapes of forward and backward: 4096 values 5.6
 * and 5.0 ms, 2048 3.3 and 3.2, 1024 2.9 and 3.1, 512 3.4 and 4.5, 256 4.6 and 6.0 (below 1024 the
 * per-channel merges of the slices grow longer than the lanes they save). */
uint32_t tsl_batchnorm_lane_values(const tsl_vk_device *d) {
    if (lane_values_override)
        return lane_values_override;
    return tsl_vk_device_features(d)->cpu_kernels ? TSL_BATCHNORM_MAX_LANE_VALUES
                                                  : TSL_BATCHNORM_GPU_LANE_VALUES;
}

/* Bytes of one element of x, y, dy, dx: 4, or 2 for fp16 storage. */
static VkDeviceSize elem_bytes(tsl_batchnorm_shape s) {
    return tsl_dtype_size(s.dtype);
}

/* Bytes of one image of x (y, dy, dx). */
static VkDeviceSize image_bytes_of(tsl_batchnorm_shape s) {
    return elem_bytes(s) * s.c * s.hw;
}

/* How the lane shaders group a chunk's values (batchnorm_channels.glsl): one lane per channel reading
 * vec4s along H*W when H*W % 4 == 0; for 1-D batch norm with C % 4 == 0 one lane per four channels
 * reading vec4s across them; else one lane per channel reading floats. */
typedef struct {
    bool vec4, components_are_channels;
    uint32_t lanes, image_units, run; /* lanes; units per image; units of a lane per image */
    uint32_t values_per_unit;         /* values of one channel in a unit */
} lane_layout;

static lane_layout layout_for(tsl_batchnorm_shape s) {
    if (s.hw % 4 == 0)
        return (lane_layout){true, false, s.c, s.c * s.hw / 4, s.hw / 4, 4};
    if (s.hw == 1 && s.c % 4 == 0)
        return (lane_layout){true, true, s.c / 4, s.c / 4, 1, 1};
    return (lane_layout){false, false, s.c, s.c * s.hw, s.hw, 1};
}

/* Slices of a channel for the first level (batchnorm_slices.glsl): whole images when a lane's run is
 * short, else segments of the run, so that a slice holds at most `values` values. */
typedef struct {
    uint32_t images_per_slice, segment, segments;
} lane_slicing;

static lane_slicing slicing_for(lane_layout l, uint32_t values) {
    uint32_t units = values / l.values_per_unit;
    units = units ? units : 1;
    if (l.run >= units)
        return (lane_slicing){1, units, (l.run + units - 1) / units};
    return (lane_slicing){units / l.run, l.run, 1};
}

static uint32_t slices_in(lane_slicing sl, uint32_t images) {
    return (images + sl.images_per_slice - 1) / sl.images_per_slice * sl.segments;
}

/* How the batch is split into chunks (each within one binding) and the chunks into slices. */
typedef struct {
    uint32_t images_per_chunk;
    uint32_t slots; /* slices per channel, over all chunks */
    lane_slicing slicing;
} bn_plan;

static bn_plan plan_for(const tsl_vk_device *d, tsl_batchnorm_shape s) {
    VkDeviceSize image_bytes = image_bytes_of(s);
    bn_plan p = {tsl_batch_chunk_images(d, &image_bytes, 1), 0,
                 slicing_for(layout_for(s), tsl_batchnorm_lane_values(d))};
    if (p.images_per_chunk == 0)
        return p;
    for (uint32_t n0 = 0; n0 < s.n; n0 += p.images_per_chunk) {
        uint32_t images = s.n - n0 < p.images_per_chunk ? s.n - n0 : p.images_per_chunk;
        p.slots += slices_in(p.slicing, images);
    }
    return p;
}

/* The one place the path is chosen. When a channel is one slice (m = N*H*W at most
 * tsl_batchnorm_lane_values(d) values, give or take a vec4's rounding) in one chunk, each direction is
 * one dispatch: a lane computes its channels' statistics (or gradient sums) and writes y (or dx).
 * Otherwise lanes summarise slices into scratch, one invocation per channel merges them, and lanes
 * write y (dx) by slices: three dispatches per direction and chunk.
 * Measured on lavapipe (2 shared cores, `tessl bench ops --filter batchnorm`, best of runs): one lane
 * per whole channel beat the old 256-wide workgroup tree (which it replaced) at every m it was tried,
 * up to m = 50176 (c = 64: 21 vs 103 ms forward), but a lane only runs ~65535 loop iterations on
 * lavapipe and few channels leave one core idle, so long channels are sliced. Slices of 1024, 2048,
 * 4096 and 8192 values were within run-to-run noise of each other on ResNet-50's shapes at batch 32 x
 * 64 px and batch 8 x 224 px (e.g. c = 256, m = 25088: 37, 32, 18, 26 ms forward); 4096 is the middle
 * of that range, and half of the 8192 that lavapipe's loop limit allows. */
static bool use_channel_lanes(tsl_batchnorm_shape s, bn_plan plan) {
    return plan.images_per_chunk >= s.n && plan.slots == 1;
}

bool tsl_batchnorm_uses_channel_lanes(const tsl_vk_device *d, tsl_batchnorm_shape s) {
    bn_plan plan = plan_for(d, s);
    return plan.images_per_chunk > 0 && use_channel_lanes(s, plan);
}

/* Bytes of C floats padded to ALIGN, so that what follows in scratch starts at an aligned offset. */
static VkDeviceSize padded_channel_bytes(tsl_batchnorm_shape s) {
    return (4ull * s.c + ALIGN - 1) / ALIGN * ALIGN;
}

/* Backward's per-channel sum dy and sum dy*xhat, each padded, at the start of scratch. */
static VkDeviceSize sums_bytes(tsl_batchnorm_shape s) {
    return 2 * padded_channel_bytes(s);
}

VkDeviceSize tsl_batchnorm_scratch_bytes(const tsl_vk_device *d, tsl_batchnorm_shape s) {
    bn_plan p = plan_for(d, s);
    VkDeviceSize forward = 12ull * s.c * p.slots, backward = sums_bytes(s) + 8ull * s.c * p.slots;
    return forward > backward ? forward : backward;
}

static bool is_null(tsl_vk_range r) {
    return r.vk == VK_NULL_HANDLE;
}

static const tsl_vk_range NO_RANGE = {VK_NULL_HANDLE, 0, 0};

static tsl_status check_size(const char *op, const char *name, tsl_vk_range r, VkDeviceSize want) {
    if (r.size != want)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %s is %llu bytes, expected %llu", op, name,
                         (unsigned long long)r.size, (unsigned long long)want);
    return TSL_OK;
}

/* Shape checks shared by every entry point; fills the plan. */
static tsl_status check_shape(const char *op, const tsl_vk_device *d, tsl_batchnorm_shape s, bn_plan *plan) {
    if (s.dtype != TSL_DTYPE_F32 && s.dtype != TSL_DTYPE_F16)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: x, y, dy, dx must be stored as F32 or F16", op);
    if (s.dtype == TSL_DTYPE_F16 && !tsl_vk_device_features(d)->fp16_storage)
        return tsl_error(TSL_ERR_UNSUPPORTED,
                         "%s: fp16 storage needs storageBuffer16BitAccess, which the device "
                         "lacks",
                         op);
    if (s.n == 0 || s.c == 0 || s.hw == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: empty shape (n %u, c %u, hw %u)", op, s.n, s.c, s.hw);
    if (s.c > MAX_GRID)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %u channels exceed %u", op, s.c, MAX_GRID);
    if ((uint64_t)s.n * s.hw > UINT32_MAX / 2 || (uint64_t)s.n * s.c * s.hw > UINT32_MAX / 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: tensor of %u x %u x %u is too large", op, s.n, s.c, s.hw);
    *plan = plan_for(d, s);
    if (plan->images_per_chunk == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: one image (%u x %u values) exceeds a storage binding", op,
                         s.c, s.hw);
    if (plan->slots > MAX_SLOTS) /* one invocation per channel merges the slots: lavapipe's loop limit */
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %llu values per channel make more than %u slices", op,
                         (unsigned long long)s.n * s.hw, MAX_SLOTS);
    return TSL_OK;
}

static tsl_status check_affine(const char *op, tsl_batchnorm_shape s, tsl_vk_range gamma, tsl_vk_range beta) {
    if (is_null(gamma) != is_null(beta))
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: gamma and beta must both be given or both be null", op);
    if (!is_null(gamma)) {
        TSL_TRY(check_size(op, "gamma", gamma, 4ull * s.c));
        TSL_TRY(check_size(op, "beta", beta, 4ull * s.c));
    }
    return TSL_OK;
}

static tsl_status check_scratch(const char *op, const tsl_vk_device *d, tsl_batchnorm_shape s,
                                tsl_vk_range scratch) {
    VkDeviceSize want = tsl_batchnorm_scratch_bytes(d, s);
    if (scratch.size < want)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: scratch is %llu bytes, needs %llu", op,
                         (unsigned long long)scratch.size, (unsigned long long)want);
    if (want > tsl_vk_max_binding_bytes(d, 4))
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %u channels need %llu scratch bytes, more than a binding",
                         op, s.c, (unsigned long long)want);
    return TSL_OK;
}

static uint32_t images_in_chunk(tsl_batchnorm_shape s, bn_plan p, uint32_t n0) {
    return s.n - n0 < p.images_per_chunk ? s.n - n0 : p.images_per_chunk;
}

/* The builds of one lane or slice shader: scalar or vec4 units, fp32 or fp16 storage of x, y, dy, dx. */
typedef struct {
    tsl_shader_id scalar, vec4, scalar_f16, vec4_f16;
    tsl_shader_id scalar_texel, vec4_texel; /* fp32, x and dy read through texel buffers (tsl_texel.h) */
} bn_builds;

#define BN_BUILDS(NAME)                                                                                      \
    {                                                                                                        \
        TSL_SHADER_BATCHNORM_##NAME, TSL_SHADER_BATCHNORM_##NAME##_VEC4, TSL_SHADER_BATCHNORM_##NAME##_F16,  \
            TSL_SHADER_BATCHNORM_##NAME##_VEC4_F16, TSL_SHADER_BATCHNORM_##NAME##_TEXEL,                     \
            TSL_SHADER_BATCHNORM_##NAME##_VEC4_TEXEL                                                         \
    }

static const bn_builds FORWARD_CHANNELS = BN_BUILDS(FORWARD_CHANNELS), APPLY_SLICES = BN_BUILDS(APPLY_SLICES),
                       STATS_SLICES = BN_BUILDS(STATS_SLICES),
                       BACKWARD_CHANNELS = BN_BUILDS(BACKWARD_CHANNELS),
                       BACKWARD_SLICES = BN_BUILDS(BACKWARD_SLICES), DX_SLICES = BN_BUILDS(DX_SLICES);

/* Gets the build of a lane shader for the shape's layout and storage type (spec constants:
 * batchnorm_channels.glsl and, for batchnorm_apply_slices, USE_RUNNING_VAR). The shader reads x and, when
 * `dy` is not null, dy: fp32 ones that fit texel views take the texel build (tsl_texel.h). */
static tsl_status lane_pipeline(tsl_vk_device *d, const bn_builds *b, tsl_batchnorm_shape s, bool affine,
                                bool use_running_var, tsl_vk_range x, tsl_vk_range dy, tsl_vk_pipeline **p) {
    lane_layout l = layout_for(s);
    uint32_t spec[] = {LANES_PER_GROUP, l.components_are_channels, affine, use_running_var};
    tsl_vk_range reads[] = {x, dy};
    bool texel =
        s.dtype == TSL_DTYPE_F32 && tsl_texel_reads_fit(d, reads, is_null(dy) ? 1 : 2, l.vec4 ? 16 : 4);
    tsl_shader_id id = texel                      ? (l.vec4 ? b->vec4_texel : b->scalar_texel)
                       : s.dtype == TSL_DTYPE_F16 ? (l.vec4 ? b->vec4_f16 : b->scalar_f16)
                                                  : (l.vec4 ? b->vec4 : b->scalar);
    return tsl_vk_pipeline_get(d, id, spec, 4, p);
}

static uint32_t lane_groups(lane_layout l) {
    return (l.lanes + LANES_PER_GROUP - 1) / LANES_PER_GROUP;
}

/* Training forward in one dispatch (use_channel_lanes). */
static tsl_status record_forward_lanes(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s,
                                       const tsl_batchnorm_params *prm, tsl_vk_range x, tsl_vk_range y,
                                       tsl_vk_range save_mean, tsl_vk_range save_invstd) {
    bool affine = !is_null(prm->gamma);
    lane_layout l = layout_for(s);
    tsl_vk_pipeline *p;
    TSL_TRY(lane_pipeline(d, &FORWARD_CHANNELS, s, affine, false, x, NO_RANGE, &p));
    /* Without affine the shader ignores gamma and beta; x, read anyway, fills their slots. */
    tsl_vk_arg args[] = {{x, TSL_READ},
                         {y, TSL_WRITE},
                         {affine ? prm->gamma : x, TSL_READ},
                         {affine ? prm->beta : x, TSL_READ},
                         {save_mean, TSL_WRITE},
                         {save_invstd, TSL_WRITE},
                         {prm->running_mean, TSL_READ_WRITE},
                         {prm->running_var, TSL_READ_WRITE}};
    struct {
        uint32_t lanes, images, image_units, run;
        float count, momentum, eps;
    } push = {l.lanes, s.n, l.image_units, l.run, (float)((double)s.n * s.hw), prm->momentum, prm->eps};
    uint32_t gx, gy;
    tsl_vk_grid_1d(d, lane_groups(l), &gx, &gy);
    return tsl_vk_cmd_dispatch(cmd, p, args, 8, &push, sizeof push, gx, gy, 1);
}

/* Dispatches a slice shader (batchnorm_slices.glsl) over every slice of every chunk; partials, where the
 * shader writes them, go to slot first_slot + slice. `args` binds the chunked tensors (those with a
 * `chunked` range, replaced by each chunk) and per-channel ranges. */
static tsl_status record_slices(tsl_vk_cmd *cmd, tsl_batchnorm_shape s, bn_plan plan,
                                const tsl_vk_pipeline *p, float param, tsl_vk_arg *args,
                                const tsl_vk_range *chunked, uint32_t n_args) {
    lane_layout l = layout_for(s);
    lane_slicing sl = plan.slicing;
    VkDeviceSize image_bytes = image_bytes_of(s);
    uint32_t first_slot = 0;
    for (uint32_t n0 = 0; n0 < s.n; n0 += plan.images_per_chunk) {
        uint32_t images = images_in_chunk(s, plan, n0);
        for (uint32_t i = 0; i < n_args; i++)
            if (!is_null(chunked[i]))
                args[i].range = tsl_batch_chunk(chunked[i], image_bytes, n0, images);
        uint32_t slices = slices_in(sl, images);
        struct {
            uint32_t lanes, images, image_units, run, images_per_slice, segment, segments, slots, first_slot;
            float param;
        } push = {l.lanes,    images,      l.image_units, l.run,      sl.images_per_slice,
                  sl.segment, sl.segments, plan.slots,    first_slot, param};
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, args, n_args, &push, sizeof push, lane_groups(l), slices, 1));
        first_slot += slices;
    }
    return TSL_OK;
}

/* y = normalise(x) by slices; `scale` holds inverse stds, or variances when use_running_var. */
static tsl_status record_apply(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s, bn_plan plan,
                               const tsl_batchnorm_params *prm, bool use_running_var, tsl_vk_range x,
                               tsl_vk_range y, tsl_vk_range mean, tsl_vk_range scale) {
    bool affine = !is_null(prm->gamma);
    tsl_vk_pipeline *p;
    TSL_TRY(lane_pipeline(d, &APPLY_SLICES, s, affine, use_running_var, x, NO_RANGE, &p));
    /* Without affine the shader ignores gamma and beta; any read-only range fills their slots. */
    tsl_vk_arg args[] = {{x, TSL_READ},
                         {y, TSL_WRITE},
                         {mean, TSL_READ},
                         {scale, TSL_READ},
                         {affine ? prm->gamma : mean, TSL_READ},
                         {affine ? prm->beta : mean, TSL_READ}};
    tsl_vk_range chunked[] = {x, y, {0}, {0}, {0}, {0}};
    return record_slices(cmd, s, plan, p, prm->eps, args, chunked, 6);
}

static tsl_status record_stats(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s, bn_plan plan,
                               const tsl_batchnorm_params *prm, tsl_vk_range x, tsl_vk_range save_mean,
                               tsl_vk_range save_invstd, tsl_vk_range scratch) {
    tsl_vk_range partials = {scratch.vk, scratch.offset, 12ull * s.c * plan.slots};
    tsl_vk_arg first[] = {{x, TSL_READ}, {partials, TSL_WRITE}};
    tsl_vk_range chunked[] = {x, {0}};
    tsl_vk_pipeline *p;
    TSL_TRY(lane_pipeline(d, &STATS_SLICES, s, false, false, x, NO_RANGE, &p));
    TSL_TRY(record_slices(cmd, s, plan, p, 0.0f, first, chunked, 2));

    uint32_t spec[] = {LANES_PER_GROUP};
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_BATCHNORM_STATS_FINAL, spec, 1, &p));
    tsl_vk_arg second[] = {{partials, TSL_READ},
                           {save_mean, TSL_WRITE},
                           {save_invstd, TSL_WRITE},
                           {prm->running_mean, TSL_READ_WRITE},
                           {prm->running_var, TSL_READ_WRITE}};
    struct {
        uint32_t channels, slots;
        float momentum, eps;
    } push = {s.c, plan.slots, prm->momentum, prm->eps};
    return tsl_vk_cmd_dispatch(cmd, p, second, 5, &push, sizeof push,
                               (s.c + LANES_PER_GROUP - 1) / LANES_PER_GROUP, 1, 1);
}

static tsl_status check_params(const char *op, tsl_batchnorm_shape s, const tsl_batchnorm_params *prm,
                               tsl_vk_range x, tsl_vk_range y) {
    VkDeviceSize bytes = image_bytes_of(s) * s.n;
    TSL_TRY(check_size(op, "x", x, bytes));
    TSL_TRY(check_size(op, "y", y, bytes));
    TSL_TRY(check_affine(op, s, prm->gamma, prm->beta));
    TSL_TRY(check_size(op, "running_mean", prm->running_mean, 4ull * s.c));
    TSL_TRY(check_size(op, "running_var", prm->running_var, 4ull * s.c));
    if (!(prm->eps > 0.0f) || !(prm->momentum >= 0.0f && prm->momentum <= 1.0f))
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: need eps > 0 and momentum in [0, 1], got %g and %g", op,
                         (double)prm->eps, (double)prm->momentum);
    return TSL_OK;
}

tsl_status tsl_batchnorm_forward_train(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s,
                                       const tsl_batchnorm_params *prm, tsl_vk_range x, tsl_vk_range y,
                                       tsl_vk_range save_mean, tsl_vk_range save_invstd,
                                       tsl_vk_range scratch) {
    const char *op = "batchnorm_forward_train";
    bn_plan plan;
    TSL_TRY(check_shape(op, d, s, &plan));
    TSL_TRY(check_params(op, s, prm, x, y));
    TSL_TRY(check_size(op, "save_mean", save_mean, 4ull * s.c));
    TSL_TRY(check_size(op, "save_invstd", save_invstd, 4ull * s.c));
    TSL_TRY(check_scratch(op, d, s, scratch));
    if ((uint64_t)s.n * s.hw < 2) /* PyTorch: "Expected more than 1 value per channel when training" */
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "%s: training needs more than 1 value per channel, got n*h*w = %u", op, s.n * s.hw);
    if (use_channel_lanes(s, plan))
        return record_forward_lanes(d, cmd, s, prm, x, y, save_mean, save_invstd);
    TSL_TRY(record_stats(d, cmd, s, plan, prm, x, save_mean, save_invstd, scratch));
    return record_apply(d, cmd, s, plan, prm, false, x, y, save_mean, save_invstd);
}

tsl_status tsl_batchnorm_forward_eval(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s,
                                      const tsl_batchnorm_params *prm, tsl_vk_range x, tsl_vk_range y) {
    const char *op = "batchnorm_forward_eval";
    bn_plan plan;
    TSL_TRY(check_shape(op, d, s, &plan));
    TSL_TRY(check_params(op, s, prm, x, y));
    return record_apply(d, cmd, s, plan, prm, true, x, y, prm->running_mean, prm->running_var);
}

/* Per-channel sum dy (= dbeta) and sum dy * xhat (= dgamma) of the backward. */
typedef struct {
    tsl_vk_range dy, dy_xhat;
} bn_sums;

/* Training backward in one dispatch (use_channel_lanes); `gamma` is any read-only range without affine. */
static tsl_status record_backward_lanes(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s,
                                        tsl_vk_range gamma, bool affine, tsl_vk_range x, tsl_vk_range dy,
                                        tsl_vk_range save_mean, tsl_vk_range save_invstd, bn_sums sums,
                                        tsl_vk_range dx) {
    lane_layout l = layout_for(s);
    tsl_vk_pipeline *p;
    TSL_TRY(lane_pipeline(d, &BACKWARD_CHANNELS, s, affine, false, x, dy, &p));
    tsl_vk_arg args[] = {{x, TSL_READ},           {dy, TSL_READ},           {save_mean, TSL_READ},
                         {save_invstd, TSL_READ}, {gamma, TSL_READ},        {dx, TSL_WRITE},
                         {sums.dy, TSL_WRITE},    {sums.dy_xhat, TSL_WRITE}};
    struct {
        uint32_t lanes, images, image_units, run;
        float inv_m;
    } push = {l.lanes, s.n, l.image_units, l.run, (float)(1.0 / ((double)s.n * s.hw))};
    uint32_t gx, gy;
    tsl_vk_grid_1d(d, lane_groups(l), &gx, &gy);
    return tsl_vk_cmd_dispatch(cmd, p, args, 8, &push, sizeof push, gx, gy, 1);
}

/* Two-level sums: first-level partials per (slice, channel) in scratch after the padded sums area,
 * then one invocation per channel adds its slots. */
static tsl_status record_backward_sums(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s, bn_plan plan,
                                       tsl_vk_range x, tsl_vk_range dy, tsl_vk_range save_mean,
                                       tsl_vk_range save_invstd, bn_sums sums, tsl_vk_range scratch) {
    tsl_vk_range partials = {scratch.vk, scratch.offset + sums_bytes(s), 8ull * s.c * plan.slots};
    tsl_vk_arg first[] = {
        {x, TSL_READ}, {dy, TSL_READ}, {save_mean, TSL_READ}, {save_invstd, TSL_READ}, {partials, TSL_WRITE}};
    tsl_vk_range chunked[] = {x, dy, {0}, {0}, {0}};
    tsl_vk_pipeline *p;
    TSL_TRY(lane_pipeline(d, &BACKWARD_SLICES, s, false, false, x, dy, &p));
    TSL_TRY(record_slices(cmd, s, plan, p, 0.0f, first, chunked, 5));

    uint32_t spec[] = {LANES_PER_GROUP};
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_BATCHNORM_BACKWARD_FINAL, spec, 1, &p));
    tsl_vk_arg second[] = {{partials, TSL_READ}, {sums.dy, TSL_WRITE}, {sums.dy_xhat, TSL_WRITE}};
    uint32_t push[] = {s.c, plan.slots};
    return tsl_vk_cmd_dispatch(cmd, p, second, 3, push, sizeof push,
                               (s.c + LANES_PER_GROUP - 1) / LANES_PER_GROUP, 1, 1);
}

/* dx by slices; `gamma` is any read-only range without affine (unused). */
static tsl_status record_backward_dx(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s, bn_plan plan,
                                     tsl_vk_range gamma, bool affine, tsl_vk_range x, tsl_vk_range dy,
                                     tsl_vk_range save_mean, tsl_vk_range save_invstd, bn_sums sums,
                                     float inv_m, tsl_vk_range dx) {
    tsl_vk_pipeline *p;
    TSL_TRY(lane_pipeline(d, &DX_SLICES, s, affine, false, x, dy, &p));
    tsl_vk_arg args[] = {
        {x, TSL_READ},     {dy, TSL_READ},      {save_mean, TSL_READ},    {save_invstd, TSL_READ},
        {gamma, TSL_READ}, {sums.dy, TSL_READ}, {sums.dy_xhat, TSL_READ}, {dx, TSL_WRITE}};
    tsl_vk_range chunked[] = {x, dy, {0}, {0}, {0}, {0}, {0}, dx};
    return record_slices(cmd, s, plan, p, inv_m, args, chunked, 8);
}

tsl_status tsl_batchnorm_backward(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s,
                                  tsl_vk_range gamma, tsl_vk_range x, tsl_vk_range dy, tsl_vk_range save_mean,
                                  tsl_vk_range save_invstd, tsl_vk_range dx, tsl_vk_range dgamma,
                                  tsl_vk_range dbeta, tsl_vk_range scratch) {
    const char *op = "batchnorm_backward";
    bn_plan plan;
    TSL_TRY(check_shape(op, d, s, &plan));
    VkDeviceSize bytes = image_bytes_of(s) * s.n;
    TSL_TRY(check_size(op, "x", x, bytes));
    TSL_TRY(check_size(op, "dy", dy, bytes));
    TSL_TRY(check_size(op, "dx", dx, bytes));
    TSL_TRY(check_size(op, "save_mean", save_mean, 4ull * s.c));
    TSL_TRY(check_size(op, "save_invstd", save_invstd, 4ull * s.c));
    bool affine = !is_null(gamma);
    if (is_null(dgamma) != !affine || is_null(dbeta) != !affine)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: gamma, dgamma and dbeta must all be given or all be null",
                         op);
    if (affine) {
        TSL_TRY(check_size(op, "gamma", gamma, 4ull * s.c));
        TSL_TRY(check_size(op, "dgamma", dgamma, 4ull * s.c));
        TSL_TRY(check_size(op, "dbeta", dbeta, 4ull * s.c));
    }
    TSL_TRY(check_scratch(op, d, s, scratch));

    /* The per-channel sums go straight to dbeta and dgamma, or without affine to scratch. */
    bn_sums sums = {
        affine ? dbeta : (tsl_vk_range){scratch.vk, scratch.offset, 4ull * s.c},
        affine ? dgamma : (tsl_vk_range){scratch.vk, scratch.offset + padded_channel_bytes(s), 4ull * s.c}};
    if (use_channel_lanes(s, plan))
        return record_backward_lanes(d, cmd, s, affine ? gamma : x, affine, x, dy, save_mean, save_invstd,
                                     sums, dx);
    TSL_TRY(record_backward_sums(d, cmd, s, plan, x, dy, save_mean, save_invstd, sums, scratch));
    return record_backward_dx(d, cmd, s, plan, affine ? gamma : save_mean, affine, x, dy, save_mean,
                              save_invstd, sums, (float)(1.0 / ((double)s.n * s.hw)), dx);
}

/* ---- the pieces of the training passes, for batch statistics over several processes (SyncBN) ---- */

uint32_t tsl_batchnorm_partial_slots(const tsl_vk_device *d, tsl_batchnorm_shape s) {
    return plan_for(d, s).slots;
}

tsl_status tsl_batchnorm_stats_partials(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s,
                                        tsl_vk_range x, tsl_vk_range partials) {
    const char *op = "batchnorm_stats_partials";
    bn_plan plan;
    TSL_TRY(check_shape(op, d, s, &plan));
    TSL_TRY(check_size(op, "x", x, image_bytes_of(s) * s.n));
    TSL_TRY(check_size(op, "partials", partials, 12ull * s.c * plan.slots));
    if (partials.size > tsl_vk_max_binding_bytes(d, 4))
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %u channels need %llu partial bytes, more than a binding",
                         op, s.c, (unsigned long long)partials.size);
    tsl_vk_arg args[] = {{x, TSL_READ}, {partials, TSL_WRITE}};
    tsl_vk_range chunked[] = {x, {0}};
    tsl_vk_pipeline *p;
    TSL_TRY(lane_pipeline(d, &STATS_SLICES, s, false, false, x, NO_RANGE, &p));
    return record_slices(cmd, s, plan, p, 0.0f, args, chunked, 2);
}

void tsl_batchnorm_merge_partials(const float *partials, uint32_t slots, uint32_t channel, double *count,
                                  double *mean, double *m2) {
    double n = 0.0, mu = 0.0, sq = 0.0;
    for (uint32_t i = 0; i < slots; i++) {
        const float *p = partials + 3ull * ((uint64_t)channel * slots + i);
        double nb = p[0], d = p[1] - mu;
        if (nb == 0.0)
            continue;
        double nab = n + nb;
        mu += d * (nb / nab);
        sq += p[2] + d * d * (n * nb / nab);
        n = nab;
    }
    *count = n;
    *mean = mu;
    *m2 = sq;
}

tsl_status tsl_batchnorm_apply_train(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s,
                                     const tsl_batchnorm_params *prm, tsl_vk_range x, tsl_vk_range y,
                                     tsl_vk_range mean, tsl_vk_range invstd) {
    const char *op = "batchnorm_apply_train";
    bn_plan plan;
    TSL_TRY(check_shape(op, d, s, &plan));
    TSL_TRY(check_params(op, s, prm, x, y));
    TSL_TRY(check_size(op, "mean", mean, 4ull * s.c));
    TSL_TRY(check_size(op, "invstd", invstd, 4ull * s.c));
    return record_apply(d, cmd, s, plan, prm, false, x, y, mean, invstd);
}

tsl_status tsl_batchnorm_backward_sums(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s,
                                       tsl_vk_range x, tsl_vk_range dy, tsl_vk_range save_mean,
                                       tsl_vk_range save_invstd, tsl_vk_range sum_dy,
                                       tsl_vk_range sum_dy_xhat, tsl_vk_range scratch) {
    const char *op = "batchnorm_backward_sums";
    bn_plan plan;
    TSL_TRY(check_shape(op, d, s, &plan));
    VkDeviceSize bytes = image_bytes_of(s) * s.n;
    TSL_TRY(check_size(op, "x", x, bytes));
    TSL_TRY(check_size(op, "dy", dy, bytes));
    TSL_TRY(check_size(op, "save_mean", save_mean, 4ull * s.c));
    TSL_TRY(check_size(op, "save_invstd", save_invstd, 4ull * s.c));
    TSL_TRY(check_size(op, "sum_dy", sum_dy, 4ull * s.c));
    TSL_TRY(check_size(op, "sum_dy_xhat", sum_dy_xhat, 4ull * s.c));
    TSL_TRY(check_scratch(op, d, s, scratch));
    return record_backward_sums(d, cmd, s, plan, x, dy, save_mean, save_invstd,
                                (bn_sums){sum_dy, sum_dy_xhat}, scratch);
}

tsl_status tsl_batchnorm_backward_dx(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s,
                                     tsl_vk_range gamma, tsl_vk_range x, tsl_vk_range dy,
                                     tsl_vk_range save_mean, tsl_vk_range save_invstd, tsl_vk_range sum_dy,
                                     tsl_vk_range sum_dy_xhat, double count, tsl_vk_range dx) {
    const char *op = "batchnorm_backward_dx";
    bn_plan plan;
    TSL_TRY(check_shape(op, d, s, &plan));
    VkDeviceSize bytes = image_bytes_of(s) * s.n;
    TSL_TRY(check_size(op, "x", x, bytes));
    TSL_TRY(check_size(op, "dy", dy, bytes));
    TSL_TRY(check_size(op, "dx", dx, bytes));
    TSL_TRY(check_size(op, "sum_dy", sum_dy, 4ull * s.c));
    TSL_TRY(check_size(op, "sum_dy_xhat", sum_dy_xhat, 4ull * s.c));
    bool affine = !is_null(gamma);
    if (affine)
        TSL_TRY(check_size(op, "gamma", gamma, 4ull * s.c));
    if (!(count >= (double)s.n * s.hw))
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: count %g is below this batch's %llu values", op, count,
                         (unsigned long long)s.n * s.hw);
    return record_backward_dx(d, cmd, s, plan, affine ? gamma : save_mean, affine, x, dy, save_mean,
                              save_invstd, (bn_sums){sum_dy, sum_dy_xhat}, (float)(1.0 / count), dx);
}
