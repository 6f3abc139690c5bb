/* The model's tensor table and the carving of its device memory: parameters (and, at the same offsets,
 * gradients and momentum), running statistics, activations and scratch. Every tensor starts at a
 * multiple of TSL_MODEL_ALIGN bytes, which any device accepts as a storage-buffer offset. */
#include "tsl_model_internal.h"

#include "tsl_barlow.h"
#include "tsl_batchnorm.h"
#include "tsl_cross_entropy.h"
#include "tsl_optim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tensor table ---- */

typedef struct {
    tsl_model_tensor *params, *stats;
    int n_params, n_stats;
} table;

static int add_tensor(table *t, bool stat, tsl_model_tensor_kind kind, const char *name, int ndim, int64_t d0,
                      int64_t d1, int64_t d2, int64_t d3) {
    tsl_model_tensor *x = stat ? &t->stats[t->n_stats++] : &t->params[t->n_params++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    x->kind = kind;
    x->ndim = ndim;
    int64_t dims[4] = {d0, d1, d2, d3};
    x->count = 1;
    for (int i = 0; i < ndim; i++) {
        x->shape[i] = dims[i];
        x->count *= (uint64_t)dims[i];
    }
    x->exclude = ndim == 1;
    return stat ? -2 - (t->n_stats - 1) : t->n_params - 1; /* stats are re-indexed once all are known */
}

static tsl_status add_trunk(tsl_model *m, table *t) {
    tsl_param_info *info;
    int n;
    TSL_TRY(tsl_resnet_params(&m->net, &info, &n));
    for (int i = 0; i < n; i++) {
        const tsl_param_info *p = &info[i];
        tsl_trunk_layer *L = &m->layers[p->layer];
        switch (p->kind) {
        case TSL_PARAM_CONV_WEIGHT:
            L->weight = add_tensor(t, false, TSL_MT_PARAM, p->name, 4, p->shape[0], p->shape[1], p->shape[2],
                                   p->shape[3]);
            break;
        case TSL_PARAM_BN_WEIGHT:
            L->weight = add_tensor(t, false, TSL_MT_PARAM, p->name, 1, p->shape[0], 0, 0, 0);
            break;
        case TSL_PARAM_BN_BIAS:
            L->bias = add_tensor(t, false, TSL_MT_PARAM, p->name, 1, p->shape[0], 0, 0, 0);
            break;
        case TSL_PARAM_BN_RUNNING_MEAN:
            L->running_mean = add_tensor(t, true, TSL_MT_RUNNING_MEAN, p->name, 1, p->shape[0], 0, 0, 0);
            break;
        case TSL_PARAM_BN_RUNNING_VAR:
            L->running_var = add_tensor(t, true, TSL_MT_RUNNING_VAR, p->name, 1, p->shape[0], 0, 0, 0);
            break;
        case TSL_PARAM_BN_NUM_BATCHES:
            break; /* an int64 counter PyTorch keeps but never uses with momentum set: not stored */
        }
    }
    free(info);
    return TSL_OK;
}

/* Projector tensors under PyTorch's nn.Sequential indices: linear k is module 3k, its BN 3k + 1. */
static void add_projector(tsl_projector *p, table *t) {
    char name[96];
    for (int k = 0; k < p->n_linear; k++) {
        snprintf(name, sizeof name, "%s.%d.weight", p->name, 3 * k);
        p->weight[k] = add_tensor(t, false, TSL_MT_PARAM, name, 2, p->dims[k + 1], p->dims[k], 0, 0);
        if (k == p->n_linear - 1)
            break;
        const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
        int *slot[4] = {&p->gamma[k], &p->beta[k], &p->running_mean[k], &p->running_var[k]};
        tsl_model_tensor_kind kinds[4] = {TSL_MT_PARAM, TSL_MT_PARAM, TSL_MT_RUNNING_MEAN,
                                          TSL_MT_RUNNING_VAR};
        for (int j = 0; j < 4; j++) {
            snprintf(name, sizeof name, "%s.%d.%s", p->name, 3 * k + 1, suffix[j]);
            *slot[j] = add_tensor(t, j >= 2, kinds[j], name, 1, p->dims[k + 1], 0, 0, 0);
        }
    }
}

/* Stats were numbered -2, -3, ... (-1 is "none"); they come after params, grads and the optimiser state
 * in the final table. */
static int stat_index(const tsl_model *m, int provisional) {
    return provisional <= -2 ? m->n_state * m->n_params + (-2 - provisional) : provisional;
}

static void renumber_stats(tsl_model *m) {
    for (int i = 0; i < m->net.n_layers; i++) {
        m->layers[i].running_mean = stat_index(m, m->layers[i].running_mean);
        m->layers[i].running_var = stat_index(m, m->layers[i].running_var);
    }
    for (int h = 0; h < 2; h++)
        for (int k = 0; k + 1 < m->proj[h].n_linear; k++) {
            m->proj[h].running_mean[k] = stat_index(m, m->proj[h].running_mean[k]);
            m->proj[h].running_var[k] = stat_index(m, m->proj[h].running_var[k]);
        }
}

static tsl_status build_table(tsl_model *m) {
    int cap = 5 * m->net.n_layers + 2 * 5 * TSL_MODEL_MAX_PROJ_LAYERS + 2;
    table t = {calloc(cap, sizeof *t.params), calloc(cap, sizeof *t.stats), 0, 0};
    tsl_status s = t.params && t.stats ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "model: out of memory");
    if (s == TSL_OK)
        s = add_trunk(m, &t);
    if (s == TSL_OK) {
        for (int h = 0; h < 2; h++)
            if (m->proj[h].present)
                add_projector(&m->proj[h], &t);
        if (m->config.classes) {
            int f = m->net.feature_dim;
            m->cls_weight =
                add_tensor(&t, false, TSL_MT_PARAM, "classifier.weight", 2, m->config.classes, f, 0, 0);
            m->cls_bias =
                add_tensor(&t, false, TSL_MT_PARAM, "classifier.bias", 1, m->config.classes, 0, 0, 0);
        }
        m->n_params = t.n_params;
        m->n_state = m->config.optimizer == TSL_OPTIMIZER_ADAMW ? 4 : 3;
        m->n_tensors = m->n_state * t.n_params + t.n_stats;
        m->tensors = calloc(m->n_tensors, sizeof *m->tensors);
        if (!m->tensors)
            s = tsl_error(TSL_ERR_NOMEM, "model: out of memory");
    }
    if (s == TSL_OK) {
        static const struct {
            tsl_model_tensor_kind kind;
            const char *prefix;
        } state[] = {{TSL_MT_GRAD, "grad."}, {TSL_MT_MOMENTUM, "mu."}, {TSL_MT_SECOND_MOMENT, "nu."}};
        for (int i = 0; i < t.n_params; i++) {
            m->tensors[i] = t.params[i];
            for (int k = 1; k < m->n_state; k++) {
                tsl_model_tensor *x = &m->tensors[k * t.n_params + i];
                *x = t.params[i];
                x->kind = state[k - 1].kind;
                snprintf(x->name, sizeof x->name, "%s%.80s", state[k - 1].prefix, t.params[i].name);
            }
        }
        memcpy(&m->tensors[m->n_state * t.n_params], t.stats, t.n_stats * sizeof *t.stats);
        renumber_stats(m);
    }
    free(t.params);
    free(t.stats);
    return s;
}

/* ---- parameter memory ---- */

/* With update_in_backward, the 1-D parameters' gradients packed in `grads` and the weights' slot, the
 * size of the largest weight's gradient, which every weight's GRAD tensor names (tsl_model_update.c
 * hands out places in it during the backward pass). */
static tsl_status allocate_gradients_for_updates_in_backward(tsl_model *m) {
    uint64_t packed = 0, slot = 0;
    for (int i = 0; i < m->n_params; i++) {
        uint64_t bytes = tsl_model_align_up(4 * m->tensors[i].count);
        if (m->tensors[i].exclude)
            packed += bytes;
        else if (bytes > slot)
            slot = bytes;
    }
    TSL_TRY(tsl_vk_alloc(m->device, TSL_MEM_DEVICE, packed ? packed : 4, "model gradients (1-D parameters)",
                         &m->grads));
    TSL_TRY(tsl_vk_alloc(m->device, TSL_MEM_DEVICE, slot ? slot : 4, "weight gradient slot", &m->grad_slot));
    m->pending = calloc(m->n_params, sizeof *m->pending);
    m->pending_grad = calloc(m->n_params, sizeof *m->pending_grad);
    if (!m->pending || !m->pending_grad)
        return tsl_error(TSL_ERR_NOMEM, "model: out of memory");
    uint64_t at = 0;
    for (int i = 0; i < m->n_params; i++) {
        tsl_model_tensor *g = &m->tensors[i + m->n_params];
        if (g->exclude) {
            g->range = tsl_vk_subrange(&m->grads, at, 4 * g->count);
            at += tsl_model_align_up(4 * g->count);
        } else {
            g->range = tsl_vk_subrange(&m->grad_slot, 0, 4 * g->count);
        }
    }
    return TSL_OK;
}

static tsl_status allocate_params(tsl_model *m) {
    uint64_t pbytes = 0, sbytes = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        tsl_model_tensor *x = &m->tensors[i];
        bool stat = x->kind == TSL_MT_RUNNING_MEAN || x->kind == TSL_MT_RUNNING_VAR;
        if (x->kind == TSL_MT_GRAD || x->kind == TSL_MT_MOMENTUM || x->kind == TSL_MT_SECOND_MOMENT)
            continue;
        uint64_t *at = stat ? &sbytes : &pbytes;
        x->range.offset = *at;
        x->range.size = 4 * x->count;
        *at += tsl_model_align_up(4 * x->count);
        if (!stat)
            m->param_floats += x->count;
    }
    bool slot = m->config.update_in_backward;
    TSL_TRY(tsl_vk_alloc(m->device, TSL_MEM_DEVICE, pbytes, "model parameters", &m->params));
    if (!slot)
        TSL_TRY(tsl_vk_alloc(m->device, TSL_MEM_DEVICE, pbytes, "model gradients", &m->grads));
    TSL_TRY(tsl_vk_alloc(m->device, TSL_MEM_DEVICE, pbytes, "optimizer momentum", &m->momentum));
    if (m->n_state == 4)
        TSL_TRY(tsl_vk_alloc(m->device, TSL_MEM_DEVICE, pbytes, "AdamW second moments", &m->second));
    TSL_TRY(tsl_vk_alloc(m->device, TSL_MEM_DEVICE, sbytes, "BatchNorm running statistics", &m->stats));
    for (int i = 0; i < m->n_tensors; i++) {
        tsl_model_tensor *x = &m->tensors[i];
        if (slot && x->kind == TSL_MT_GRAD)
            continue;
        const tsl_vk_buffer *b = x->kind == TSL_MT_PARAM           ? &m->params
                                 : x->kind == TSL_MT_GRAD          ? &m->grads
                                 : x->kind == TSL_MT_MOMENTUM      ? &m->momentum
                                 : x->kind == TSL_MT_SECOND_MOMENT ? &m->second
                                                                   : &m->stats;
        /* Params come first in the table and are placed first; gradients and optimiser state take their
         * param's offset within its buffer. */
        int param = i >= m->n_params && i < m->n_state * m->n_params ? i % m->n_params : -1;
        uint64_t offset =
            param >= 0 ? m->tensors[param].range.offset - m->params.range.offset : x->range.offset;
        x->range = tsl_vk_subrange(b, offset, 4 * x->count);
    }
    return slot ? allocate_gradients_for_updates_in_backward(m) : TSL_OK;
}

/* ---- activations: carved in two passes (measure, then assign) by the same code ----
 *
 * The activations are split into chunks, each its own allocation of at most `limit` bytes (the device's
 * maxMemoryAllocationSize and maxBufferSize): a tensor that would cross the limit starts the next chunk.
 * Tensors never span chunks, and no kernel binds two tensors as one range, so where a tensor lies does
 * not change what is computed. */

typedef struct {
    const tsl_vk_buffer *chunks; /* NULL while measuring */
    uint64_t limit;
    int chunk;   /* the chunk being filled */
    uint64_t at; /* bytes of it already carved */
    /* Measuring: the bytes of each chunk (malloc'd; failed is set when growing it fails). */
    uint64_t *sizes;
    int cap;
    bool failed;
} carver;

static void record_chunk_size(carver *c) {
    if (c->chunks || c->failed)
        return;
    if (c->chunk >= c->cap) {
        int cap = c->cap ? 2 * c->cap : 8;
        uint64_t *grown = realloc(c->sizes, sizeof *grown * (size_t)cap);
        if (!grown) {
            c->failed = true;
            return;
        }
        c->sizes = grown;
        c->cap = cap;
    }
    c->sizes[c->chunk] = c->at;
}

static tsl_vk_range carve(carver *c, uint64_t floats) {
    uint64_t bytes = 4 * floats;
    if (c->at > 0 && c->at + tsl_model_align_up(bytes) > c->limit) {
        c->chunk++;
        c->at = 0;
    }
    tsl_vk_range r = {VK_NULL_HANDLE, c->at, bytes};
    if (c->chunks)
        r = tsl_vk_subrange(&c->chunks[c->chunk], c->at, bytes);
    c->at += tsl_model_align_up(bytes);
    record_chunk_size(c);
    return r;
}

static void carve_quarters(carver *c, tsl_vk_range *r, uint64_t floats) {
    for (int q = 0; q < 4; q++)
        r[q] = carve(c, floats);
}

/* The plan's area (m->plan), carved one segment at a time: each lies within one allocation. */
typedef struct {
    tsl_vk_range *segments;
    uint64_t n_segments, segment_floats, area_floats;
} trunk_area;

static void carve_area(carver *c, trunk_area *a) {
    for (uint64_t k = 0; k < a->n_segments; k++) {
        uint64_t left = a->area_floats - k * a->segment_floats;
        a->segments[k] = carve(c, left < a->segment_floats ? left : a->segment_floats);
    }
}

/* The `floats` at `offset` in the area (the plan keeps every item inside one segment). */
static tsl_vk_range area_range(const trunk_area *a, uint64_t offset, uint64_t floats) {
    tsl_vk_range seg = a->segments[offset / a->segment_floats];
    return (tsl_vk_range){seg.vk, seg.offset + 4 * (offset % a->segment_floats), 4 * floats};
}

/* The trunk's output gradients and the backward's temporaries in their places in the area. */
static void place_trunk_gradients(tsl_model *m, const trunk_area *a) {
    const tsl_trunk_plan *plan = m->plan;
    for (int i = 0; i < m->net.n_layers; i++) {
        tsl_trunk_layer *L = &m->layers[i];
        L->grad = area_range(a, plan->offset[i], m->rows * L->per_image);
        L->temp = (tsl_vk_range){0};
        if (plan->temp_offset[i] != UINT64_MAX)
            L->temp = area_range(a, plan->temp_offset[i],
                                 m->rows * m->layers[tsl_layer_source(m->net.layers, i)].per_image);
    }
}

/* Outputs in memory of their own, one after the other, except in-place ones; with gradients (the
 * reference layout), an output only the forward reads lives at the start of their area, which holds
 * nothing during the forward pass, one at a time. */
static tsl_vk_range carve_output_in_sequence(tsl_model *m, carver *c, const trunk_area *a, int i,
                                             int *area_busy_until) {
    tsl_trunk_layer *L = &m->layers[i];
    int in_place = tsl_model_inplace_source(&m->net, i), until = tsl_model_forward_only_until(&m->net, i);
    uint64_t first_segment = a->area_floats < a->segment_floats ? a->area_floats : a->segment_floats;
    if (in_place >= 0)
        return m->layers[in_place].out;
    if (a->n_segments && until >= 0 && i > *area_busy_until && m->rows * L->per_image <= first_segment) {
        *area_busy_until = until;
        return area_range(a, 0, m->rows * L->per_image);
    }
    return carve(c, m->rows * L->per_image);
}

static void carve_trunk(tsl_model *m, carver *c, const trunk_area *a) {
    bool planned_outputs = m->plan && m->plan->out_offset[0] != UINT64_MAX;
    int area_busy_until = -1; /* the last reader of the forward-only output now in the area */
    if (m->plan)
        place_trunk_gradients(m, a);
    for (int i = 0; i < m->net.n_layers; i++) {
        const tsl_layer *l = &m->net.layers[i];
        tsl_trunk_layer *L = &m->layers[i];
        L->out = planned_outputs ? area_range(a, m->plan->out_offset[i], m->rows * L->per_image)
                                 : carve_output_in_sequence(m, c, a, i, &area_busy_until);
        if (l->kind == TSL_LAYER_BN) {
            carve_quarters(c, L->save_mean, l->c_out);
            carve_quarters(c, L->save_invstd, l->c_out);
            carve_quarters(c, L->dgamma_q, l->c_out);
            carve_quarters(c, L->dbeta_q, l->c_out);
        }
        if (l->kind == TSL_LAYER_MAXPOOL)
            L->indices = carve(c, m->rows * L->per_image);
    }
    if (m->plan)
        m->features_accum = carve(c, (uint64_t)m->rows * m->net.feature_dim);
    m->features = m->layers[m->net.n_layers - 1].out;
    m->d_features = m->layers[m->net.n_layers - 1].grad;
}

static void carve_projector(tsl_model *m, tsl_projector *p, carver *c) {
    for (int k = 0; k < p->n_linear; k++) {
        uint64_t d = p->dims[k + 1];
        p->lin[k] = carve(c, m->rows * d);
        p->d_lin[k] = carve(c, m->rows * d);
        if (k == p->n_linear - 1)
            break;
        p->bn[k] = carve(c, m->rows * d);
        p->d_bn[k] = carve(c, m->rows * d);
        p->relu[k] = carve(c, m->rows * d);
        p->d_relu[k] = carve(c, m->rows * d);
        carve_quarters(c, p->save_mean[k], d);
        carve_quarters(c, p->save_invstd[k], d);
        carve_quarters(c, p->dgamma_q[k], d);
        carve_quarters(c, p->dbeta_q[k], d);
    }
}

/* A term's dim x dim C and dC in one buffer: dC is written over C once the loss has been read from it
 * (tsl_barlow_loss_grad_c works in place), and the invariant and equivariant terms run one after the
 * other (the recorder orders the second's writes after the first's reads), so the second takes the
 * first's when it is as large: at 8192-wide projectors, 256 MiB instead of 1 GiB. */
static bool shares_first_c(const tsl_model *m, int h) {
    return h == 1 && m->bt[0].weight > 0 && m->bt[0].dim == m->bt[1].dim;
}

/* Floats of term h's C, or 0 when it has none of its own (absent, or sharing the first term's). */
static uint64_t loss_c_floats(const tsl_model *m, int h) {
    const tsl_bt_term *t = &m->bt[h];
    return t->weight <= 0 || shares_first_c(m, h) ? 0 : (uint64_t)t->dim * t->dim;
}

/* In the model's own layout C lies in the trunk's area, in memory the trunk's gradients use later. */
static void carve_bt(tsl_model *m, int h, carver *c, const trunk_area *a) {
    tsl_bt_term *t = &m->bt[h];
    uint64_t rd = (uint64_t)t->rows * t->dim;
    tsl_vk_range *rows_x_dim[] = {&t->a, &t->b, &t->an, &t->bn, &t->dan, &t->dbn, &t->da, &t->db};
    for (size_t i = 0; i < sizeof rows_x_dim / sizeof *rows_x_dim; i++)
        *rows_x_dim[i] = carve(c, rd);
    tsl_vk_range *per_dim[] = {&t->mean_a,   &t->invstd_a,     &t->mean_b,
                               &t->invstd_b, &t->running_mean, &t->running_var};
    for (size_t i = 0; i < sizeof per_dim / sizeof *per_dim; i++)
        *per_dim[i] = carve(c, t->dim);
    if (shares_first_c(m, h))
        t->c = t->dc = m->bt[0].c;
    else if (m->plan && m->plan->loss_offset[h] != UINT64_MAX)
        t->c = t->dc = area_range(a, m->plan->loss_offset[h], loss_c_floats(m, h));
    else
        t->c = t->dc = carve(c, loss_c_floats(m, h));
}

static void carve_all(tsl_model *m, carver *c, trunk_area *a) {
    carve_area(c, a);
    for (int h = 0; h < 2; h++)
        if (m->bt[h].weight > 0)
            carve_bt(m, h, c, a);
    carve_trunk(m, c, a);
    for (int h = 0; h < 2; h++)
        if (m->proj[h].present)
            carve_projector(m, &m->proj[h], c);
    if (m->config.classes) {
        m->logits = carve(c, (uint64_t)m->rows * m->config.classes);
        m->dlogits = carve(c, (uint64_t)m->rows * m->config.classes);
    }
}

/* The most bytes one allocation may hold on this device, in whole TSL_MODEL_ALIGN units. */
static uint64_t allocation_limit(const tsl_model *m) {
    const tsl_vk_features *f = tsl_vk_device_features(m->device);
    uint64_t limit =
        f->max_allocation_size < f->max_buffer_size ? f->max_allocation_size : f->max_buffer_size;
    return limit / TSL_MODEL_ALIGN * TSL_MODEL_ALIGN;
}

static tsl_status allocate_activation_chunks(tsl_model *m, const uint64_t *sizes, int n) {
    m->activation_chunks = calloc((size_t)n, sizeof *m->activation_chunks);
    if (!m->activation_chunks)
        return tsl_error(TSL_ERR_NOMEM, "model: out of memory");
    m->n_activation_chunks = n;
    char name[64];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "model activations (part %d of %d)", i + 1, n);
        TSL_TRY(tsl_vk_alloc(m->device, TSL_MEM_DEVICE, sizes[i] ? sizes[i] : 4,
                             n > 1 ? name : "model activations", &m->activation_chunks[i]));
    }
    return TSL_OK;
}

/* Plans the trunk's memory (m->plan; none for an evaluation-only trunk): in the model's own layout its
 * outputs, gradients and the Barlow C share one area by lifetime; in the reference layout
 * (config.plain_gradients) only the gradients do, without aliases. */
static tsl_status plan_trunk(tsl_model *m, uint64_t limit, trunk_area *a) {
    for (int i = 0; i < m->net.n_layers; i++) {
        const tsl_layer *l = &m->net.layers[i];
        m->layers[i].per_image = (uint64_t)l->c_out * l->h_out * l->w_out;
    }
    if (m->config.trunk_only)
        return TSL_OK;
    m->plan = malloc(sizeof *m->plan);
    if (!m->plan)
        return tsl_error(TSL_ERR_NOMEM, "model: out of memory");
    bool own = !m->config.plain_gradients;
    tsl_trunk_plan_options o = {.rows = m->rows, .aliases = own, .outputs = own, .segment_floats = limit / 4};
    for (int h = 0; own && h < 2; h++)
        o.loss_floats[h] = loss_c_floats(m, h);
    TSL_TRY(tsl_model_plan_trunk(&m->net, &o, m->plan));
    a->area_floats = m->plan->area_floats;
    a->segment_floats = m->plan->segment_floats;
    a->n_segments = (a->area_floats + a->segment_floats - 1) / a->segment_floats;
    a->segments = calloc(a->n_segments ? a->n_segments : 1, sizeof *a->segments);
    return a->segments ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "model: out of memory");
}

static tsl_status allocate_activations(tsl_model *m) {
    carver measure = {.limit = allocation_limit(m)};
    trunk_area area = {0};
    tsl_status s = plan_trunk(m, measure.limit, &area);
    if (s == TSL_OK) {
        record_chunk_size(&measure); /* chunk 0 exists even when nothing is carved */
        carve_all(m, &measure, &area);
        s = measure.failed ? tsl_error(TSL_ERR_NOMEM, "model: out of memory") : TSL_OK;
    }
    m->activation_bytes = 0;
    for (int i = 0; s == TSL_OK && i <= measure.chunk; i++)
        m->activation_bytes += measure.sizes[i];
    if (s == TSL_OK)
        s = allocate_activation_chunks(m, measure.sizes, measure.chunk + 1);
    free(measure.sizes);
    if (s == TSL_OK) {
        carver assign = {.chunks = m->activation_chunks, .limit = measure.limit};
        carve_all(m, &assign, &area);
        tsl_assert(assign.chunk == m->n_activation_chunks - 1);
    }
    free(area.segments);
    return s;
}

/* ---- scratch: the largest need of any kernel that takes one ---- */

static uint64_t max_u64(uint64_t a, uint64_t b) {
    return a > b ? a : b;
}

static uint64_t lars_scratch(const tsl_model *m, bool exclude) {
    tsl_optim_tensor *t = calloc(m->n_params, sizeof *t);
    uint32_t n = 0;
    if (!t)
        return 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->tensors[i].exclude == exclude)
            t[n++] = (tsl_optim_tensor){.param = tsl_model_param(m, i),
                                        .grad = tsl_model_grad(m, i),
                                        .momentum = tsl_model_param(m, i),
                                        .exclude = exclude};
    uint64_t bytes = n ? tsl_optim_lars_scratch_bytes(m->device, t, n) : 0;
    free(t);
    return bytes;
}

/* The per-step gradient norms of every parameter (tsl_model_grad_norms). */
static uint64_t grad_norms_scratch(const tsl_model *m) {
    tsl_vk_range *r = calloc(m->n_params, sizeof *r);
    if (!r)
        return 0;
    for (int i = 0; i < m->n_params; i++)
        r[i] = tsl_model_grad(m, i);
    uint64_t bytes = m->n_params ? tsl_l2_norms_scratch_bytes(m->device, r, (uint32_t)m->n_params) : 0;
    free(r);
    return bytes;
}

static tsl_status allocate_scratch(tsl_model *m) {
    uint64_t need = max_u64(lars_scratch(m, false), lars_scratch(m, true));
    need = max_u64(need, grad_norms_scratch(m));
    uint32_t n = m->config.batch;
    for (int i = 0; i < m->net.n_layers; i++) {
        const tsl_layer *l = &m->net.layers[i];
        if (l->kind == TSL_LAYER_BN) /* training per quarter; evaluation needs none */
            need = max_u64(need, tsl_batchnorm_scratch_bytes(
                                     m->device, tsl_batchnorm_shape_2d(n, l->c_out, l->h_out, l->w_out)));
        if (l->kind == TSL_LAYER_CONV) { /* the im2col workspace (one image's columns) */
            tsl_conv2d_shape s = tsl_model_conv_shape(l, m->rows);
            need = max_u64(need, tsl_conv2d_workspace_bytes(m->device, &s));
        }
    }
    for (int h = 0; h < 2; h++)
        for (int k = 0; m->proj[h].present && k + 1 < m->proj[h].n_linear; k++)
            need = max_u64(need, tsl_batchnorm_scratch_bytes(
                                     m->device, tsl_batchnorm_shape_1d(n, m->proj[h].dims[k + 1])));
    for (int h = 0; h < 2; h++) {
        const tsl_bt_term *t = &m->bt[h];
        if (t->weight <= 0)
            continue;
        tsl_barlow_params bp = {t->rows, t->dim, m->config.lambd, 1.0f, 0};
        need = max_u64(need, tsl_barlow_loss_scratch_bytes(m->device, &bp));
        need = max_u64(need, tsl_batchnorm_scratch_bytes(m->device, tsl_batchnorm_shape_1d(t->rows, t->dim)));
    }
    if (m->config.classes)
        need = max_u64(need, tsl_cross_entropy_scratch_bytes(m->device, m->rows));
    TSL_TRY(tsl_vk_alloc(m->device, TSL_MEM_DEVICE, tsl_model_align_up(need ? need : 4), "model scratch",
                         &m->scratch));
    TSL_TRY(tsl_vk_alloc(m->device, TSL_MEM_DOWNLOAD, TSL_LOSS_SLOTS * TSL_MODEL_ALIGN, "loss values",
                         &m->loss_host));
    m->loss_values = m->loss_host.host;
    if (!m->n_params)
        return TSL_OK;
    m->norm_at = calloc(m->n_params, sizeof *m->norm_at);
    if (!m->norm_at)
        return tsl_error(TSL_ERR_NOMEM, "model: out of memory");
    return tsl_vk_alloc(m->device, TSL_MEM_DOWNLOAD, 4 * tsl_model_grad_norms_floats(m), "gradient norms",
                        &m->grad_norms);
}

/* Per-quarter BatchNorm binds each quarter of an activation, so a quarter's bytes must be a valid
 * storage-buffer offset step on this device. */
static tsl_status check_quarter_alignment(const tsl_model *m) {
    uint64_t align = tsl_vk_device_features(m->device)->min_storage_buffer_offset_alignment;
    if (align <= 4 || m->config.trunk_only) /* evaluation binds whole batches only */
        return TSL_OK;
    for (int i = 0; i < m->net.n_layers; i++)
        if ((4 * m->config.batch * m->layers[i].per_image) % align)
            return tsl_error(TSL_ERR_UNSUPPORTED,
                             "model: a quarter of %s's output (%u images, %llu bytes) is not a multiple of "
                             "the device's storage offset alignment %llu; choose another batch size",
                             m->net.layers[i].name, m->config.batch,
                             (unsigned long long)(4 * m->config.batch * m->layers[i].per_image),
                             (unsigned long long)align);
    for (int h = 0; h < 2; h++)
        for (int k = 0; m->proj[h].present && k < m->proj[h].n_linear; k++)
            if ((4ull * m->config.batch * m->proj[h].dims[k + 1]) % align)
                return tsl_error(TSL_ERR_UNSUPPORTED,
                                 "model: a quarter of %s layer %d (%u x %d floats) is not a multiple of the "
                                 "device's storage offset alignment %llu",
                                 m->proj[h].name, k, m->config.batch, m->proj[h].dims[k + 1],
                                 (unsigned long long)align);
    return TSL_OK;
}

tsl_status tsl_model_layout(tsl_model *m) {
    m->layers = calloc(m->net.n_layers, sizeof *m->layers);
    if (!m->layers)
        return tsl_error(TSL_ERR_NOMEM, "model: out of memory");
    for (int i = 0; i < m->net.n_layers; i++)
        m->layers[i].weight = m->layers[i].bias = m->layers[i].running_mean = m->layers[i].running_var = -1;
    m->cls_weight = m->cls_bias = -1;
    TSL_TRY(build_table(m));
    TSL_TRY(allocate_params(m));
    TSL_TRY(allocate_activations(m));
    TSL_TRY(check_quarter_alignment(m));
    return allocate_scratch(m);
}
