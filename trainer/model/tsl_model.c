/* Model creation from a configuration, destruction, and access to its named tensors and activations. */
#include "tsl_model_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tsl_model_config_default(tsl_model_config *config, tsl_resnet_arch arch) {
    *config = (tsl_model_config){
        .arch = arch,
        .base_width = TSL_RESNET_BASE_WIDTH,
        .image_h = 224,
        .image_w = 224,
        .batch = 0,
        .projector = "8192-8192-8192",
        .classes = 0,
        .lambda = 0.2f,
        .lambd = 0.0051f,
        .loss_scale = 1.0f,
    };
}

static const char *const optimizer_names[] = {"lars", "sgd", "adamw"};

const char *tsl_optimizer_name(tsl_optimizer_kind kind) {
    return (unsigned)kind < 3 ? optimizer_names[kind] : "?";
}

tsl_status tsl_optimizer_parse(const char *name, tsl_optimizer_kind *kind) {
    for (int k = 0; k < 3; k++)
        if (strcmp(name, optimizer_names[k]) == 0) {
            *kind = (tsl_optimizer_kind)k;
            return TSL_OK;
        }
    return tsl_error(TSL_ERR_INVALID_ARG, "unknown optimizer '%s' (expected lars, sgd or adamw)", name);
}

/* "8192-8192-512" -> dims[1..n] (dims[0] is the feature dimension). */
static tsl_status parse_projector(const char *text, int feature_dim, tsl_projector *p) {
    p->dims[0] = feature_dim;
    p->n_linear = 0;
    const char *at = text ? text : "";
    while (*at) {
        if (p->n_linear == TSL_MODEL_MAX_PROJ_LAYERS)
            return tsl_error(TSL_ERR_INVALID_ARG, "projector '%s': more than %d layers", text,
                             TSL_MODEL_MAX_PROJ_LAYERS);
        char *end;
        errno = 0;
        long v = strtol(at, &end, 10);
        if (end == at || errno || v < 1 || v > 65535 || (*end && *end != '-') || (*end == '-' && !end[1]))
            return tsl_error(TSL_ERR_INVALID_ARG,
                             "projector '%s': expected sizes 1..65535 joined by '-', e.g. 8192-8192-8192",
                             text);
        p->dims[++p->n_linear] = (int)v;
        at = *end ? end + 1 : end;
    }
    if (p->n_linear == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "projector: empty size list");
    return TSL_OK;
}

static tsl_status check_config(const tsl_model_config *c) {
    if (c->trunk_only && c->classes)
        return tsl_error(TSL_ERR_INVALID_ARG, "model: a trunk-only model has no classifier");
    if (c->trunk_only && c->update_in_backward)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "model: a trunk-only model does not train (update_in_backward)");
    if (c->batch < 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "model: batch %u per quarter; BatchNorm needs at least 2",
                         c->batch);
    if (!(c->lambda >= 0.0f && c->lambda <= 1.0f))
        return tsl_error(TSL_ERR_INVALID_ARG, "model: lambda %g outside [0, 1]", (double)c->lambda);
    if (!(c->loss_scale > 0.0f) || !(c->lambd >= 0.0f))
        return tsl_error(TSL_ERR_INVALID_ARG, "model: loss scale %g must be > 0 and lambd %g >= 0",
                         (double)c->loss_scale, (double)c->lambd);
    if ((uint64_t)c->batch * 4 > UINT32_MAX / 4)
        return tsl_error(TSL_ERR_INVALID_ARG, "model: batch %u too large", c->batch);
    return TSL_OK;
}

static tsl_status setup_heads(tsl_model *m) {
    const tsl_model_config *c = &m->config;
    const char *names[2] = {"g_inv", "g_equi"};
    float weights[2] = {1.0f - c->lambda, c->lambda};
    for (int h = 0; h < 2; h++) {
        tsl_projector *p = &m->proj[h];
        p->name = names[h];
        p->present = weights[h] > 0.0f && !c->trunk_only;
        TSL_TRY(parse_projector(c->projector, m->net.feature_dim, p));
        tsl_bt_term *t = &m->bt[h];
        t->weight = p->present ? weights[h] : 0.0f;
        t->rows = h == 0 ? 2 * c->batch : c->batch;
        t->dim = (uint32_t)p->dims[p->n_linear];
    }
    return TSL_OK;
}

tsl_status tsl_model_create(tsl_vk_device *device, const tsl_model_config *config, tsl_model **out) {
    *out = NULL;
    TSL_TRY(check_config(config));
    tsl_model *m = calloc(1, sizeof *m);
    if (!m)
        return tsl_error(TSL_ERR_NOMEM, "model: out of memory");
    m->device = device;
    m->config = *config;
    m->rows = 4 * config->batch;
    tsl_status s =
        tsl_resnet_describe(config->arch, config->base_width, config->image_h, config->image_w, &m->net);
    if (s == TSL_OK)
        s = setup_heads(m);
    m->config.projector = NULL; /* the caller's string is not kept: the parsed sizes are */
    if (s == TSL_OK)
        s = tsl_model_layout(m);
    if (s == TSL_OK)
        s = tsl_vk_cmd_create(device, &m->cmd);
    if (s != TSL_OK) {
        tsl_model_destroy(m);
        return s;
    }
    *out = m;
    return TSL_OK;
}

void tsl_model_destroy(tsl_model *m) {
    if (!m)
        return;
    tsl_vk_cmd_destroy(m->cmd);
    tsl_vk_buffer *buffers[] = {&m->params,     &m->grads,   &m->grad_slot, &m->momentum,
                                &m->second,     &m->stats,   &m->scratch,   &m->loss_host,
                                &m->grad_norms, &m->sync_in, &m->sync_out};
    for (size_t i = 0; i < sizeof buffers / sizeof *buffers; i++)
        tsl_vk_free(m->device, buffers[i]);
    for (int i = 0; i < m->n_activation_chunks; i++)
        tsl_vk_free(m->device, &m->activation_chunks[i]);
    free(m->activation_chunks);
    free(m->tensors);
    free(m->norm_at);
    free(m->pending);
    free(m->pending_grad);
    free(m->layers);
    free(m->plan);
    free(m->sync_host);
    free(m->grad_host);
    tsl_resnet_free(&m->net);
    free(m);
}

const tsl_resnet *tsl_model_resnet(const tsl_model *m) {
    return &m->net;
}

int tsl_model_feature_dim(const tsl_model *m) {
    return m->net.feature_dim;
}

uint64_t tsl_model_activation_bytes(const tsl_model *m) {
    return m->activation_bytes;
}

uint64_t tsl_model_state_bytes(const tsl_model *m) {
    const tsl_vk_buffer *b[] = {&m->params, &m->grads, &m->grad_slot, &m->momentum, &m->second, &m->stats};
    uint64_t bytes = 0;
    for (size_t i = 0; i < sizeof b / sizeof *b; i++)
        bytes += b[i]->range.size;
    return bytes;
}

uint64_t tsl_model_scratch_bytes(const tsl_model *m) {
    return m->scratch.range.size;
}

int tsl_model_activation_allocations(const tsl_model *m) {
    return m->n_activation_chunks;
}

uint64_t tsl_model_parameter_count(const tsl_model *m) {
    return m->param_floats;
}

const tsl_model_tensor *tsl_model_tensors(const tsl_model *m, int *count) {
    *count = m->n_tensors;
    return m->tensors;
}

const tsl_model_tensor *tsl_model_find_tensor(const tsl_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

tsl_status tsl_model_tensor_download(tsl_model *m, const tsl_model_tensor *t, float *data) {
    if (t->kind == TSL_MT_GRAD && !t->exclude && m->config.update_in_backward)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "model: %s is not kept: this model updates each weight inside the backward pass "
                         "(update_in_backward)",
                         t->name);
    return tsl_vk_download(m->device, t->range, data);
}

tsl_status tsl_model_tensor_upload(tsl_model *m, const tsl_model_tensor *t, const float *data) {
    return tsl_vk_upload(m->device, t->range, data);
}

/* Index of the trunk layer whose output is the named stage output, or -1. */
int tsl_model_layer_index(const tsl_model *m, const char *name) {
    const tsl_resnet *net = &m->net;
    if (strcmp(name, "conv1") == 0)
        return 0;
    if (strcmp(name, "avgpool") == 0)
        return net->n_layers - 1;
    if (strncmp(name, "layer", 5) != 0 || name[5] < '1' || name[5] > '4' || name[6])
        return -1;
    if (name[5] == '4') /* the last block's ReLU, just before the pool */
        return net->n_layers - 2;
    char next[16];
    snprintf(next, sizeof next, "layer%c.0.conv1", name[5] + 1);
    for (int i = 0; i < net->n_layers; i++)
        if (strcmp(net->layers[i].name, next) == 0)
            return i - 1; /* the ReLU that ends the previous stage */
    return -1;
}

tsl_status tsl_model_activation(const tsl_model *m, const char *name, tsl_vk_range *range, uint64_t *count) {
    if (strcmp(name, "z") == 0 || strcmp(name, "w") == 0) {
        const tsl_projector *p = &m->proj[name[0] == 'w'];
        if (!p->present)
            return tsl_error(TSL_ERR_NOT_FOUND, "model: %s is not built (its loss weight is 0)", p->name);
        *range = p->lin[p->n_linear - 1];
        *count = (uint64_t)m->rows * p->dims[p->n_linear];
        return TSL_OK;
    }
    int i = strcmp(name, "h") == 0 ? m->net.n_layers - 1 : tsl_model_layer_index(m, name);
    if (i < 0)
        return tsl_error(TSL_ERR_NOT_FOUND,
                         "model: no activation '%s' (conv1, layer1..layer4, avgpool, h, z, w)", name);
    *range = m->layers[i].out;
    *count = m->rows * m->layers[i].per_image;
    return TSL_OK;
}
