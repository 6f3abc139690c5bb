#include "tsl_batchnorm.h"

#include "tsl_chunk.h"

enum {
    WORKGROUP = 256,
    PER_GROUP = 4096, /* values of one channel per first-level workgroup */
    MAX_GRID = 65535, /* channels go in grid y of the first level */
    ALIGN = 256,      /* Vulkan's largest minStorageBufferOffsetAlignment: sub-ranges of scratch start here */
    LANES_PER_GROUP = 64,     /* channels-parallel shaders: lanes (channels or groups of 4) per workgroup */
    LANE_LOOP_BUDGET = 60000, /* see lanes_fit_loop_limit */
    MAX_SLOTS = 32768,        /* first-level partials per channel: the final merges loop over them */
};

static uint32_t max_lane_values = TSL_BATCHNORM_MAX_LANE_VALUES;

void tsl_batchnorm_set_test_threshold(uint32_t values) {
    max_lane_values = values ? values : TSL_BATCHNORM_MAX_LANE_VALUES;
}

/* How the batch is split into chunks and each chunk's channel slices into first-level workgroups. */
typedef struct {
    uint32_t images_per_chunk;
    uint32_t slots; /* first-level partials per channel, over all chunks */
} bn_plan;

static uint32_t slices_in(tsl_batchnorm_shape s, uint32_t images) {
    return (uint32_t)(((uint64_t)images * s.hw + PER_GROUP - 1) / PER_GROUP);
}

static bn_plan plan_for(const tsl_vk_device *d, tsl_batchnorm_shape s) {
    VkDeviceSize image_bytes = 4ull * s.c * s.hw;
    bn_plan p = {tsl_batch_chunk_images(d, &image_bytes, 1), 0};
    if (p.images_per_chunk == 0)
        return p;
    for (uint32_t n0 = 0; n0 < s.n; n0 += p.images_per_chunk) {
        uint32_t images = s.n - n0 < p.images_per_chunk ? s.n - n0 : p.images_per_chunk;
        p.slots += slices_in(s, images);
    }
    return p;
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

static tsl_status check_size(const char *op, const char *name, tsl_vk_range r, VkDeviceSize want) {
    if (r.size != want)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %s is %llu bytes, expected %llu", op, name,
                         (unsigned long long)r.size, (unsigned long long)want);
    return TSL_OK;
}

/* Shape checks shared by every entry point; fills the plan. */
static tsl_status check_shape(const char *op, const tsl_vk_device *d, tsl_batchnorm_shape s, bn_plan *plan) {
    if (s.n == 0 || s.c == 0 || s.hw == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: empty shape (n %u, c %u, hw %u)", op, s.n, s.c, s.hw);
    if (s.c > MAX_GRID)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %u channels exceed %u", op, s.c, MAX_GRID);
    if ((uint64_t)s.n * s.hw > UINT32_MAX / 2 || (uint64_t)s.n * s.c * s.hw > UINT32_MAX / 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: tensor of %u x %u x %u is too large", op, s.n, s.c, s.hw);
    *plan = plan_for(d, s);
    if (plan->images_per_chunk == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: one image (%u x %u floats) exceeds a storage binding", op,
                         s.c, s.hw);
    if (plan->slots > MAX_SLOTS) /* lanes_fit_loop_limit: one invocation per channel merges the slots */
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %llu values per channel exceed %llu", op,
                         (unsigned long long)s.n * s.hw, (unsigned long long)MAX_SLOTS * PER_GROUP);
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

/* How the channels-parallel shaders group x's values (batchnorm_channels.glsl): one lane per channel
 * reading vec4s along H*W when H*W % 4 == 0; for 1-D batch norm with C % 4 == 0 one lane per four
 * channels reading vec4s across them; else one lane per channel reading floats. */
typedef struct {
    uint32_t lanes, images, image_units, run;
    float count, inv_m, momentum, eps;
} lanes_push;

typedef struct {
    bool vec4, components_are_channels;
    lanes_push push;
} lanes_plan;

static lanes_plan plan_lanes(tsl_batchnorm_shape s) {
    double m = (double)s.n * s.hw;
    lanes_plan l = {false, false, {s.c, s.n, s.c * s.hw, s.hw, (float)m, (float)(1.0 / m), 0.0f, 0.0f}};
    if (s.hw % 4 == 0) {
        l.vec4 = true;
        l.push.image_units = s.c * s.hw / 4;
        l.push.run = s.hw / 4;
    } else if (s.hw == 1 && s.c % 4 == 0) {
        l.vec4 = l.components_are_channels = true;
        l.push.lanes = l.push.image_units = s.c / 4;
        l.push.run = 1;
    }
    return l;
}

/* Lavapipe (gallivm, LP_MAX_TGSI_LOOP_ITERATIONS) ends every loop of a shader invocation once 65535
 * loop iterations have run in it, counted over all its loops together, silently leaving the rest
 * undone. A lane of the channels-parallel shaders runs at most three passes of images * (run + 1)
 * iterations; the path is only taken when that stays well inside the limit. */
static bool lanes_fit_loop_limit(tsl_batchnorm_shape s) {
    lanes_plan l = plan_lanes(s);
    return 3ull * l.push.images * (l.push.run + 1) <= LANE_LOOP_BUDGET;
}

/* The one place the path is chosen. Channels-parallel (one invocation per channel, sequential over its
 * m = N*H*W values, statistics and output in one dispatch each way) when m is at most the threshold
 * (TSL_BATCHNORM_MAX_LANE_VALUES, measured on lavapipe: docs/PERFORMANCE.md), the tensors fit one
 * binding and the lane's loops fit lavapipe's limit; otherwise the two-level path (workgroups of
 * PER_GROUP values per channel slice, then one invocation per channel merging its slices), whose
 * fixed cost per workgroup only pays off for long channels. */
static bool use_channel_lanes(tsl_batchnorm_shape s, bn_plan plan) {
    return (uint64_t)s.n * s.hw <= max_lane_values && plan.images_per_chunk >= s.n && lanes_fit_loop_limit(s);
}

bool tsl_batchnorm_uses_channel_lanes(const tsl_vk_device *d, tsl_batchnorm_shape s) {
    bn_plan plan = plan_for(d, s);
    return plan.images_per_chunk > 0 && use_channel_lanes(s, plan);
}

static tsl_status dispatch_lanes(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_shader_id scalar, tsl_shader_id vec4,
                                 const lanes_plan *l, bool affine, const tsl_vk_arg *args, uint32_t n_args) {
    uint32_t spec[] = {LANES_PER_GROUP, l->components_are_channels, affine};
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d, l->vec4 ? vec4 : scalar, spec, 3, &p));
    uint32_t gx, gy;
    tsl_vk_grid_1d(d, (l->push.lanes + LANES_PER_GROUP - 1) / LANES_PER_GROUP, &gx, &gy);
    return tsl_vk_cmd_dispatch(cmd, p, args, n_args, &l->push, sizeof l->push, gx, gy, 1);
}

static tsl_status record_forward_lanes(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s,
                                       const tsl_batchnorm_params *prm, tsl_vk_range x, tsl_vk_range y,
                                       tsl_vk_range save_mean, tsl_vk_range save_invstd) {
    bool affine = !is_null(prm->gamma);
    lanes_plan l = plan_lanes(s);
    l.push.momentum = prm->momentum;
    l.push.eps = prm->eps;
    /* Without affine the shader ignores gamma and beta; x, read anyway, fills their slots. */
    tsl_vk_arg args[] = {{x, TSL_READ},
                         {y, TSL_WRITE},
                         {affine ? prm->gamma : x, TSL_READ},
                         {affine ? prm->beta : x, TSL_READ},
                         {save_mean, TSL_WRITE},
                         {save_invstd, TSL_WRITE},
                         {prm->running_mean, TSL_READ_WRITE},
                         {prm->running_var, TSL_READ_WRITE}};
    return dispatch_lanes(d, cmd, TSL_SHADER_BATCHNORM_FORWARD_CHANNELS,
                          TSL_SHADER_BATCHNORM_FORWARD_CHANNELS_VEC4, &l, affine, args, 8);
}

/* y = normalise(x) chunk by chunk; `scale` holds inverse stds, or variances when use_running_var. */
static tsl_status record_apply(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s, bn_plan plan,
                               const tsl_batchnorm_params *prm, bool use_running_var, tsl_vk_range x,
                               tsl_vk_range y, tsl_vk_range mean, tsl_vk_range scale) {
    bool affine = !is_null(prm->gamma);
    uint32_t spec[] = {WORKGROUP, affine, use_running_var};
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_BATCHNORM_APPLY, spec, 3, &p));
    VkDeviceSize image_bytes = 4ull * s.c * s.hw;
    for (uint32_t n0 = 0; n0 < s.n; n0 += plan.images_per_chunk) {
        uint32_t images = images_in_chunk(s, plan, n0);
        /* Without affine the shader ignores gamma and beta; any read-only range fills their slots. */
        tsl_vk_arg args[] = {{tsl_batch_chunk(x, image_bytes, n0, images), TSL_READ},
                             {tsl_batch_chunk(y, image_bytes, n0, images), TSL_WRITE},
                             {mean, TSL_READ},
                             {scale, TSL_READ},
                             {affine ? prm->gamma : mean, TSL_READ},
                             {affine ? prm->beta : mean, TSL_READ}};
        struct {
            uint32_t n, c, hw;
            float eps;
        } push = {images * s.c * s.hw, s.c, s.hw, prm->eps};
        uint32_t gx, gy;
        tsl_vk_grid_1d(d, (push.n + WORKGROUP - 1) / WORKGROUP, &gx, &gy);
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, args, 6, &push, sizeof push, gx, gy, 1));
    }
    return TSL_OK;
}

/* First-level partials of every chunk: `shader` binds the chunk's tensors then the partials. */
typedef struct {
    uint32_t channels, hw, images, per_group, slots, first_slot;
} partial_push;

static tsl_status record_partials(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s, bn_plan plan,
                                  tsl_shader_id shader, tsl_vk_arg *args, const tsl_vk_range *chunked,
                                  uint32_t n_args) {
    uint32_t spec[] = {WORKGROUP};
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d, shader, spec, 1, &p));
    VkDeviceSize image_bytes = 4ull * s.c * s.hw;
    uint32_t first_slot = 0;
    for (uint32_t n0 = 0; n0 < s.n; n0 += plan.images_per_chunk) {
        uint32_t images = images_in_chunk(s, plan, n0);
        for (uint32_t i = 0; i < n_args; i++)
            if (!is_null(chunked[i]))
                args[i].range = tsl_batch_chunk(chunked[i], image_bytes, n0, images);
        uint32_t slices = slices_in(s, images);
        partial_push push = {s.c, s.hw, images, PER_GROUP, plan.slots, first_slot};
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, args, n_args, &push, sizeof push, slices, s.c, 1));
        first_slot += slices;
    }
    return TSL_OK;
}

static tsl_status record_stats(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s, bn_plan plan,
                               const tsl_batchnorm_params *prm, tsl_vk_range x, tsl_vk_range save_mean,
                               tsl_vk_range save_invstd, tsl_vk_range scratch) {
    tsl_vk_range partials = {scratch.vk, scratch.offset, 12ull * s.c * plan.slots};
    tsl_vk_arg first[] = {{x, TSL_READ}, {partials, TSL_WRITE}};
    tsl_vk_range chunked[] = {x, {0}};
    TSL_TRY(record_partials(d, cmd, s, plan, TSL_SHADER_BATCHNORM_STATS_PARTIAL, first, chunked, 2));

    uint32_t spec[] = {LANES_PER_GROUP};
    tsl_vk_pipeline *p;
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
    VkDeviceSize bytes = 4ull * s.n * s.c * s.hw;
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

/* Two-level sums: first-level partials per (slice, channel) in scratch after the padded sums area,
 * then one invocation per channel adds its slots. */
static tsl_status record_backward_sums(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s, bn_plan plan,
                                       tsl_vk_range x, tsl_vk_range dy, tsl_vk_range save_mean,
                                       tsl_vk_range save_invstd, bn_sums sums, tsl_vk_range scratch) {
    tsl_vk_range partials = {scratch.vk, scratch.offset + sums_bytes(s), 8ull * s.c * plan.slots};
    tsl_vk_arg first[] = {
        {x, TSL_READ}, {dy, TSL_READ}, {save_mean, TSL_READ}, {save_invstd, TSL_READ}, {partials, TSL_WRITE}};
    tsl_vk_range chunked[] = {x, dy, {0}, {0}, {0}};
    TSL_TRY(record_partials(d, cmd, s, plan, TSL_SHADER_BATCHNORM_BACKWARD_PARTIAL, first, chunked, 5));

    uint32_t spec[] = {LANES_PER_GROUP};
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_BATCHNORM_BACKWARD_FINAL, spec, 1, &p));
    tsl_vk_arg second[] = {{partials, TSL_READ}, {sums.dy, TSL_WRITE}, {sums.dy_xhat, TSL_WRITE}};
    uint32_t push[] = {s.c, plan.slots};
    return tsl_vk_cmd_dispatch(cmd, p, second, 3, push, sizeof push,
                               (s.c + LANES_PER_GROUP - 1) / LANES_PER_GROUP, 1, 1);
}

/* dx elementwise, chunk by chunk; `gamma` is any read-only range without affine (unused). */
static tsl_status record_backward_dx(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s, bn_plan plan,
                                     tsl_vk_range gamma, bool affine, tsl_vk_range x, tsl_vk_range dy,
                                     tsl_vk_range save_mean, tsl_vk_range save_invstd, bn_sums sums,
                                     tsl_vk_range dx) {
    uint32_t spec[] = {WORKGROUP, affine};
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_BATCHNORM_BACKWARD_DX, spec, 2, &p));
    VkDeviceSize image_bytes = 4ull * s.c * s.hw;
    for (uint32_t n0 = 0; n0 < s.n; n0 += plan.images_per_chunk) {
        uint32_t images = images_in_chunk(s, plan, n0);
        tsl_vk_arg args[] = {{tsl_batch_chunk(x, image_bytes, n0, images), TSL_READ},
                             {tsl_batch_chunk(dy, image_bytes, n0, images), TSL_READ},
                             {save_mean, TSL_READ},
                             {save_invstd, TSL_READ},
                             {gamma, TSL_READ},
                             {sums.dy, TSL_READ},
                             {sums.dy_xhat, TSL_READ},
                             {tsl_batch_chunk(dx, image_bytes, n0, images), TSL_WRITE}};
        struct {
            uint32_t n, c, hw;
            float inv_m;
        } push = {images * s.c * s.hw, s.c, s.hw, (float)(1.0 / ((double)s.n * s.hw))};
        uint32_t gx, gy;
        tsl_vk_grid_1d(d, (push.n + WORKGROUP - 1) / WORKGROUP, &gx, &gy);
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, args, 8, &push, sizeof push, gx, gy, 1));
    }
    return TSL_OK;
}

tsl_status tsl_batchnorm_backward(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_batchnorm_shape s,
                                  tsl_vk_range gamma, tsl_vk_range x, tsl_vk_range dy, tsl_vk_range save_mean,
                                  tsl_vk_range save_invstd, tsl_vk_range dx, tsl_vk_range dgamma,
                                  tsl_vk_range dbeta, tsl_vk_range scratch) {
    const char *op = "batchnorm_backward";
    bn_plan plan;
    TSL_TRY(check_shape(op, d, s, &plan));
    VkDeviceSize bytes = 4ull * s.n * s.c * s.hw;
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
    if (use_channel_lanes(s, plan)) {
        lanes_plan l = plan_lanes(s);
        tsl_vk_arg args[] = {{x, TSL_READ},
                             {dy, TSL_READ},
                             {save_mean, TSL_READ},
                             {save_invstd, TSL_READ},
                             {affine ? gamma : x, TSL_READ}, /* unused without affine */
                             {dx, TSL_WRITE},
                             {sums.dy, TSL_WRITE},
                             {sums.dy_xhat, TSL_WRITE}};
        return dispatch_lanes(d, cmd, TSL_SHADER_BATCHNORM_BACKWARD_CHANNELS,
                              TSL_SHADER_BATCHNORM_BACKWARD_CHANNELS_VEC4, &l, affine, args, 8);
    }
    TSL_TRY(record_backward_sums(d, cmd, s, plan, x, dy, save_mean, save_invstd, sums, scratch));
    return record_backward_dx(d, cmd, s, plan, affine ? gamma : save_mean, affine, x, dy, save_mean,
                              save_invstd, sums, dx);
}
