/* Parameter initialisation: torchvision's random init from a seed, or weights loaded by name from a
 * safetensors file (a tessl export, a PyTorch fixture, a torchvision state dict). */
#include "tsl_model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a counter-based generator: every value is a pure function of (seed, tensor, element) ---- */

static uint64_t mix64(uint64_t z) { /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1): 53 random bits, offset by half a step so that 0 never occurs (log in Box-Muller). */
static double uniform01(uint64_t seed, uint64_t tensor, uint64_t counter) {
    uint64_t h = mix64(mix64(mix64(seed) ^ (tensor + 0x9e3779b97f4a7c15ull)) ^ counter);
    return ((double)(h >> 11) + 0.5) * 0x1p-53;
}

static double normal01(uint64_t seed, uint64_t tensor, uint64_t i) {
    double u1 = uniform01(seed, tensor, 2 * i), u2 = uniform01(seed, tensor, 2 * i + 1);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

typedef enum { INIT_CONST, INIT_NORMAL, INIT_UNIFORM } init_kind;

typedef struct {
    init_kind kind;
    double value; /* CONST: the value; NORMAL: the std; UNIFORM: the bound b of U(-b, b) */
} init_rule;

static void fill(float *data, uint64_t count, init_rule r, uint64_t seed, uint64_t tensor) {
    for (uint64_t i = 0; i < count; i++)
        data[i] = r.kind == INIT_CONST    ? (float)r.value
                  : r.kind == INIT_NORMAL ? (float)(r.value * normal01(seed, tensor, i))
                                          : (float)(r.value * (2.0 * uniform01(seed, tensor, i) - 1.0));
}

/* The rule of every tensor, from the structures that own them. */
static void trunk_rules(const tsl_model *m, init_rule *rules) {
    for (int i = 0; i < m->net.n_layers; i++) {
        const tsl_layer *l = &m->net.layers[i];
        const tsl_trunk_layer *L = &m->layers[i];
        if (l->kind == TSL_LAYER_CONV) /* kaiming_normal_(mode='fan_out', nonlinearity='relu') */
            rules[L->weight] =
                (init_rule){INIT_NORMAL, sqrt(2.0 / ((double)l->c_out * l->kernel * l->kernel))};
        if (l->kind == TSL_LAYER_BN) { /* zero_init_residual: the block's last BN starts at gamma 0 */
            rules[L->weight] = (init_rule){INIT_CONST, l->zero_init ? 0.0 : 1.0};
            rules[L->bias] = (init_rule){INIT_CONST, 0.0};
        }
    }
}

static void head_rules(const tsl_model *m, init_rule *rules) {
    for (int h = 0; h < 2; h++) {
        const tsl_projector *p = &m->proj[h];
        for (int k = 0; p->present && k < p->n_linear; k++) {
            rules[p->weight[k]] = (init_rule){INIT_UNIFORM, 1.0 / sqrt((double)p->dims[k])};
            if (k + 1 < p->n_linear) {
                rules[p->gamma[k]] = (init_rule){INIT_CONST, 1.0};
                rules[p->beta[k]] = (init_rule){INIT_CONST, 0.0};
            }
        }
    }
    if (m->config.classes) { /* nn.Linear's default: kaiming_uniform_(a=sqrt(5)) and its bias rule */
        double bound = 1.0 / sqrt((double)m->net.feature_dim);
        rules[m->cls_weight] = (init_rule){INIT_UNIFORM, bound};
        rules[m->cls_bias] = (init_rule){INIT_UNIFORM, bound};
    }
}

static tsl_status zero_momentum(tsl_model *m) {
    TSL_TRY(tsl_vk_cmd_begin(m->cmd));
    tsl_status s = tsl_vk_cmd_fill(m->cmd, m->momentum.range, 0);
    if (s == TSL_OK && m->n_state == 4)
        s = tsl_vk_cmd_fill(m->cmd, m->second.range, 0);
    tsl_status done = tsl_vk_cmd_submit_wait(m->cmd);
    return s != TSL_OK ? s : done;
}

static uint64_t largest_tensor(const tsl_model *m) {
    uint64_t most = 0;
    for (int i = 0; i < m->n_tensors; i++)
        most = m->tensors[i].count > most ? m->tensors[i].count : most;
    return most;
}

tsl_status tsl_model_init_random(tsl_model *m, uint64_t seed) {
    init_rule *rules = calloc(m->n_tensors, sizeof *rules);
    float *host = malloc(4 * largest_tensor(m));
    tsl_status s = rules && host ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "model init: out of memory");
    if (s == TSL_OK) {
        trunk_rules(m, rules);
        head_rules(m, rules);
    }
    for (int i = 0; i < m->n_tensors && s == TSL_OK; i++) {
        const tsl_model_tensor *t = &m->tensors[i];
        if (t->kind == TSL_MT_GRAD || t->kind == TSL_MT_MOMENTUM || t->kind == TSL_MT_SECOND_MOMENT)
            continue;
        init_rule r = t->kind == TSL_MT_RUNNING_MEAN  ? (init_rule){INIT_CONST, 0.0}
                      : t->kind == TSL_MT_RUNNING_VAR ? (init_rule){INIT_CONST, 1.0}
                                                      : rules[i];
        fill(host, t->count, r, seed, (uint64_t)i);
        s = tsl_model_tensor_upload(m, t, host);
    }
    free(rules);
    free(host);
    TSL_TRY(s);
    return zero_momentum(m);
}

/* ---- loading by name ---- */

static tsl_status check_loadable(const tsl_model_tensor *t, const tsl_st_tensor *f, const char *source) {
    bool same = f->dtype == TSL_DTYPE_F32 && f->ndim == t->ndim && f->count == t->count;
    for (int d = 0; same && d < t->ndim; d++)
        same = f->shape[d] == t->shape[d];
    if (!same)
        return tsl_error(TSL_ERR_FORMAT,
                         "%s: tensor %s is %s with %d dims (%llu elements); the model needs F32 "
                         "of %d dims (%llu elements)",
                         source, t->name, tsl_dtype_name(f->dtype), f->ndim, (unsigned long long)f->count,
                         t->ndim, (unsigned long long)t->count);
    return TSL_OK;
}

tsl_status tsl_model_load_safetensors(tsl_model *m, const tsl_safetensors *st, bool require_all,
                                      int *loaded) {
    int n = 0;
    const char *source = st->path ? st->path : "safetensors";
    TSL_TRY(zero_momentum(m)); /* then overwritten by any "mu." tensors the file has (a checkpoint) */
    for (int i = 0; i < m->n_tensors; i++) {
        const tsl_model_tensor *t = &m->tensors[i];
        if (t->kind == TSL_MT_GRAD)
            continue;
        const tsl_st_tensor *f = tsl_safetensors_find(st, t->name);
        if (!f) {
            if (require_all && t->kind != TSL_MT_MOMENTUM && t->kind != TSL_MT_SECOND_MOMENT)
                return tsl_error(TSL_ERR_FORMAT, "%s: no tensor %s", source, t->name);
            continue;
        }
        TSL_TRY(check_loadable(t, f, source));
        TSL_TRY_CTX(tsl_model_tensor_upload(m, t, f->data), "loading %s", t->name);
        n++;
    }
    if (loaded)
        *loaded = n;
    return TSL_OK;
}
