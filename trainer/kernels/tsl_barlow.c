#include "tsl_barlow.h"

#include "tsl_gemm.h"
#include "tsl_reduce.h"

/* MAX_PER_GROUP: elements of C per workgroup of the loss's first pass, 128 per invocation: its
 * shared-memory tree then runs once per 32768 elements (lavapipe's barriers are slow: the pass at dim
 * 8192 took 223 ms per step with 4096, 122 with 32768; an H100 still gets 2048 workgroups).
 * GRAD_PER_GROUP: elements of dC per workgroup, 16 per invocation (each takes one integer division). */
enum { WORKGROUP = 256, MAX_PER_GROUP = 32768, GRAD_PER_GROUP = 16 * WORKGROUP, MAX_DIM = 65535 };

static tsl_status check_params(const char *what, const tsl_barlow_params *p) {
    if (!p->n || !p->dim || p->dim > MAX_DIM)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: n=%u must be >= 1 and dim=%u in 1..%d", what, p->n, p->dim,
                         MAX_DIM);
    return TSL_OK;
}

static tsl_status check_size(const char *what, const char *name, tsl_vk_range r, uint64_t bytes) {
    if (r.size < bytes)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %s needs %llu bytes, its range has %llu", what, name,
                         (unsigned long long)bytes, (unsigned long long)r.size);
    return TSL_OK;
}

static uint64_t binding_limit(const tsl_vk_device *d, const tsl_barlow_params *p) {
    uint64_t limit = tsl_vk_device_features(d)->max_storage_buffer_range;
    return p->max_binding_bytes && p->max_binding_bytes < limit ? p->max_binding_bytes : limit;
}

static uint64_t offset_alignment(const tsl_vk_device *d) {
    uint64_t a = tsl_vk_device_features(d)->min_storage_buffer_offset_alignment;
    return a < 4 ? 4 : a;
}

/* Elements per workgroup of the loss's first pass: a power of two whose bytes are a multiple of the
 * offset alignment (chunks of C then start bindable) and fit in the binding limit; 0 if none does. */
static uint64_t loss_per_group(const tsl_vk_device *d, const tsl_barlow_params *p) {
    uint64_t per = MAX_PER_GROUP;
    while (per && 4 * per > binding_limit(d, p))
        per /= 2;
    return per && (4 * per) % offset_alignment(d) == 0 ? per : 0;
}

static uint64_t partial_count(const tsl_barlow_params *p, uint64_t per_group) {
    uint64_t total = (uint64_t)p->dim * p->dim;
    return (total + per_group - 1) / per_group;
}

VkDeviceSize tsl_barlow_loss_scratch_bytes(const tsl_vk_device *d, const tsl_barlow_params *p) {
    uint64_t per = loss_per_group(d, p);
    if (check_params("barlow_loss", p) != TSL_OK || !per)
        return 0;
    uint64_t align = offset_alignment(d);
    uint64_t partials = (4 * partial_count(p, per) + align - 1) / align * align;
    return partials + tsl_reduce_sum_scratch_bytes(partial_count(p, per));
}

/* A pass over C's dim * dim elements in chunks of `chunk` elements (the last shorter), one dispatch
 * each, per_group elements per workgroup. Push word 0 receives the chunk's element count and words
 * rc_word, rc_word + 1 its starting row and column. A reduction pass (partial_base_word >= 0) binds its
 * output whole, receiving the chunk's first partial index; an elementwise pass binds the output chunked
 * like C. */
typedef struct {
    tsl_shader_id shader;
    uint32_t *push;
    uint32_t push_words, rc_word;
    uint64_t chunk, per_group; /* per_group: elements per workgroup */
    int partial_base_word;     /* -1: none */
} chunked_pass;

static tsl_status run_chunks(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_barlow_params *p,
                             const chunked_pass *pass, tsl_vk_range c, tsl_vk_arg second) {
    tsl_vk_pipeline *pl;
    uint32_t spec[] = {WORKGROUP};
    TSL_TRY(tsl_vk_pipeline_get(d, pass->shader, spec, 1, &pl));
    uint64_t total = (uint64_t)p->dim * p->dim;
    for (uint64_t e0 = 0; e0 < total; e0 += pass->chunk) {
        uint64_t n = total - e0 < pass->chunk ? total - e0 : pass->chunk;
        pass->push[0] = (uint32_t)n;
        pass->push[pass->rc_word] = (uint32_t)(e0 / p->dim);
        pass->push[pass->rc_word + 1] = (uint32_t)(e0 % p->dim);
        tsl_vk_arg args[2] = {{{c.vk, c.offset + 4 * e0, 4 * n}, TSL_READ}, second};
        if (pass->partial_base_word < 0) /* elementwise: the output is chunked like C */
            args[1].range = (tsl_vk_range){second.range.vk, second.range.offset + 4 * e0, 4 * n};
        else
            pass->push[pass->partial_base_word] = (uint32_t)(e0 / pass->per_group);
        uint64_t groups = (n + pass->per_group - 1) / pass->per_group;
        uint32_t gx, gy;
        tsl_vk_grid_1d(d, groups, &gx, &gy);
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, pl, args, 2, pass->push, 4 * pass->push_words, gx, gy, 1));
    }
    return TSL_OK;
}

static uint32_t float_bits(float f) {
    uint32_t u;
    __builtin_memcpy(&u, &f, 4);
    return u;
}

tsl_status tsl_barlow_cross_correlation(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_barlow_params *p,
                                        tsl_vk_range za, tsl_vk_range zb, tsl_vk_range c) {
    const char *what = "barlow_cross_correlation";
    TSL_TRY(check_params(what, p));
    tsl_gemm_params g = tsl_gemm_params_make(p->dim, p->dim, p->n, true, false);
    g.alpha = 1.0f / (float)p->n;
    g.max_binding_bytes = p->max_binding_bytes;
    TSL_TRY_CTX(tsl_gemm_f32(d, cmd, &g, za, zb, c), "%s", what);
    return TSL_OK;
}

tsl_status tsl_barlow_loss(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_barlow_params *p, tsl_vk_range c,
                           tsl_vk_range scratch, tsl_vk_range loss) {
    const char *what = "barlow_loss";
    TSL_TRY(check_params(what, p));
    uint64_t per = loss_per_group(d, p);
    if (!per)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: binding limit %llu bytes is too small", what,
                         (unsigned long long)binding_limit(d, p));
    TSL_TRY(check_size(what, "C", c, 4ull * p->dim * p->dim));
    TSL_TRY(check_size(what, "scratch", scratch, tsl_barlow_loss_scratch_bytes(d, p)));
    TSL_TRY(check_size(what, "loss", loss, 4));
    uint64_t align = offset_alignment(d), partials = partial_count(p, per);
    uint64_t reduce_at = (4 * partials + align - 1) / align * align;
    tsl_vk_range partial_range = {scratch.vk, scratch.offset, 4 * partials};
    tsl_vk_range reduce_scratch = {scratch.vk, scratch.offset + reduce_at, scratch.size - reduce_at};

    uint32_t push[8] = {0, (uint32_t)per, p->dim, 0, 0, 0, float_bits(p->lambd), float_bits(p->scale)};
    chunked_pass pass = {TSL_SHADER_BARLOW_LOSS_PARTIAL_F32,  push, 8, 3,
                         binding_limit(d, p) / 4 / per * per, per,  5};
    TSL_TRY(run_chunks(d, cmd, p, &pass, c, (tsl_vk_arg){partial_range, TSL_WRITE}));
    TSL_TRY_CTX(tsl_reduce_sum_f32(d, cmd, partial_range, reduce_scratch, loss), "%s", what);
    return TSL_OK;
}

tsl_status tsl_barlow_loss_grad_c(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_barlow_params *p,
                                  tsl_vk_range c, tsl_vk_range dc) {
    const char *what = "barlow_loss_grad_c";
    TSL_TRY(check_params(what, p));
    uint64_t bytes = 4ull * p->dim * p->dim, align = offset_alignment(d);
    TSL_TRY(check_size(what, "C", c, bytes));
    TSL_TRY(check_size(what, "dC", dc, bytes));
    if (c.vk == dc.vk && c.offset != dc.offset && c.offset < dc.offset + bytes &&
        dc.offset < c.offset + bytes)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: dC partly overlaps C", what);
    uint64_t chunk = binding_limit(d, p) / align * align / 4; /* elements; keeps chunk starts aligned */
    if (!chunk)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: binding limit %llu bytes is too small", what,
                         (unsigned long long)binding_limit(d, p));
    uint32_t push[7] = {0, p->dim, 0, 0, float_bits(p->lambd), float_bits(p->scale), GRAD_PER_GROUP};
    chunked_pass pass = {TSL_SHADER_BARLOW_GRAD_C_F32, push, 7, 2, chunk, GRAD_PER_GROUP, -1};
    return run_chunks(d, cmd, p, &pass, c, (tsl_vk_arg){dc, TSL_WRITE});
}

tsl_status tsl_barlow_backward(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_barlow_params *p, tsl_vk_range za,
                               tsl_vk_range zb, tsl_vk_range dc, tsl_vk_range dza, tsl_vk_range dzb) {
    const char *what = "barlow_backward";
    TSL_TRY(check_params(what, p));
    tsl_gemm_params g = tsl_gemm_params_make(p->n, p->dim, p->dim, false, true);
    g.alpha = 1.0f / (float)p->n;
    g.max_binding_bytes = p->max_binding_bytes;
    TSL_TRY_CTX(tsl_gemm_f32(d, cmd, &g, zb, dc, dza), "%s (dza = zb dC^T / n)", what);
    g.trans_b = false;
    TSL_TRY_CTX(tsl_gemm_f32(d, cmd, &g, za, dc, dzb), "%s (dzb = za dC / n)", what);
    return TSL_OK;
}
