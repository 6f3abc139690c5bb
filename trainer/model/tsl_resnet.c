#include "tsl_resnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    bool bottleneck;
    int blocks[4];
} arch_spec;

static const arch_spec specs[TSL_RESNET_ARCH_COUNT] = {
    [TSL_RESNET18] = {"resnet18", false, {2, 2, 2, 2}},
    [TSL_RESNET34] = {"resnet34", false, {3, 4, 6, 3}},
    [TSL_RESNET50] = {"resnet50", true, {3, 4, 6, 3}},
};

tsl_status tsl_resnet_arch_parse(const char *name, tsl_resnet_arch *arch) {
    for (int i = 0; i < TSL_RESNET_ARCH_COUNT; i++)
        if (strcmp(name, specs[i].name) == 0) {
            *arch = (tsl_resnet_arch)i;
            return TSL_OK;
        }
    return tsl_error(TSL_ERR_INVALID_ARG,
                     "unknown architecture '%s' (expected resnet18, resnet34 or resnet50)", name);
}

const char *tsl_resnet_arch_name(tsl_resnet_arch arch) {
    return specs[arch].name;
}

static int conv_out(int in, int k, int stride, int pad) {
    return (in + 2 * pad - k) / stride + 1;
}

typedef struct {
    tsl_resnet *net;
    int cap;
    int c, h, w;    /* shape of the current output */
    int base_width; /* channels of the stem and of layer1's 3x3 convs (torchvision: 64) */
} builder;

static tsl_layer *push(builder *b, tsl_layer_kind kind, const char *name) {
    if (b->net->n_layers == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        tsl_layer *grown = realloc(b->net->layers, b->cap * sizeof *grown);
        if (!grown)
            return NULL;
        b->net->layers = grown;
    }
    tsl_layer *l = &b->net->layers[b->net->n_layers++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->c_in = l->c_out = b->c;
    l->h_in = l->h_out = b->h;
    l->w_in = l->w_out = b->w;
    l->input = -1;
    l->skip = -1;
    return l;
}

static tsl_layer *conv(builder *b, const char *name, int c_out, int k, int stride) {
    tsl_layer *l = push(b, TSL_LAYER_CONV, name);
    if (!l)
        return NULL;
    l->c_out = c_out;
    l->kernel = k;
    l->stride = stride;
    l->pad = k / 2;
    l->h_out = conv_out(b->h, k, stride, l->pad);
    l->w_out = conv_out(b->w, k, stride, l->pad);
    b->c = c_out;
    b->h = l->h_out;
    b->w = l->w_out;
    return l;
}

static bool conv_bn(builder *b, const char *prefix, const char *conv_name, const char *bn_name, int c_out,
                    int k, int stride, bool relu, bool zero_init) {
    char name[48];
    snprintf(name, sizeof name, "%s%s", prefix, conv_name);
    if (!conv(b, name, c_out, k, stride))
        return false;
    snprintf(name, sizeof name, "%s%s", prefix, bn_name);
    tsl_layer *bn = push(b, TSL_LAYER_BN, name);
    if (!bn)
        return false;
    bn->zero_init = zero_init;
    return !relu || push(b, TSL_LAYER_RELU, "relu");
}

/* One residual block; `block_input` is the index of the layer whose output enters the block. */
static bool residual_block(builder *b, const arch_spec *s, int stage, int index, int planes, int stride) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "layer%d.%d.", stage + 1, index);
    int block_input = b->net->n_layers - 1;
    int c_in = b->c, h_in = b->h, w_in = b->w;
    int expansion = s->bottleneck ? 4 : 1;
    if (s->bottleneck) {
        if (!conv_bn(b, prefix, "conv1", "bn1", planes, 1, 1, true, false) ||
            !conv_bn(b, prefix, "conv2", "bn2", planes, 3, stride, true, false) ||
            !conv_bn(b, prefix, "conv3", "bn3", planes * expansion, 1, 1, false, true))
            return false;
    } else {
        if (!conv_bn(b, prefix, "conv1", "bn1", planes, 3, stride, true, false) ||
            !conv_bn(b, prefix, "conv2", "bn2", planes, 3, 1, false, true))
            return false;
    }
    int main_out = b->net->n_layers - 1;
    int skip = block_input;
    if (stride != 1 || c_in != planes * expansion) {
        int c_out = b->c, h_out = b->h, w_out = b->w;
        b->c = c_in;
        b->h = h_in;
        b->w = w_in;
        tsl_layer *ds = conv(b, "", planes * expansion, 1, stride);
        if (!ds)
            return false;
        snprintf(ds->name, sizeof ds->name, "%sdownsample.0", prefix);
        ds->input = block_input;
        tsl_layer *bn = push(b, TSL_LAYER_BN, "");
        if (!bn)
            return false;
        snprintf(bn->name, sizeof bn->name, "%sdownsample.1", prefix);
        skip = b->net->n_layers - 1;
        b->c = c_out;
        b->h = h_out;
        b->w = w_out;
    }
    tsl_layer *add = push(b, TSL_LAYER_ADD, "add");
    if (!add)
        return false;
    add->input = main_out;
    add->skip = skip;
    return push(b, TSL_LAYER_RELU, "relu") != NULL;
}

static bool build(builder *b, const arch_spec *s) {
    if (!conv_bn(b, "", "conv1", "bn1", b->base_width, 7, 2, true, false))
        return false;
    b->net->layers[0].input = -2;
    tsl_layer *pool = push(b, TSL_LAYER_MAXPOOL, "maxpool");
    if (!pool)
        return false;
    pool->kernel = 3;
    pool->stride = 2;
    pool->pad = 1;
    pool->h_out = b->h = conv_out(b->h, 3, 2, 1);
    pool->w_out = b->w = conv_out(b->w, 3, 2, 1);
    for (int stage = 0; stage < 4; stage++)
        for (int i = 0; i < s->blocks[stage]; i++)
            if (!residual_block(b, s, stage, i, b->base_width << stage, (stage > 0 && i == 0) ? 2 : 1))
                return false;
    tsl_layer *avg = push(b, TSL_LAYER_AVGPOOL, "avgpool");
    if (!avg)
        return false;
    avg->h_out = avg->w_out = 1;
    b->net->feature_dim = b->c;
    return true;
}

tsl_status tsl_resnet_describe(tsl_resnet_arch arch, int base_width, int res_h, int res_w, tsl_resnet *net) {
    memset(net, 0, sizeof *net);
    if ((unsigned)arch >= TSL_RESNET_ARCH_COUNT || res_h < 1 || res_w < 1)
        return tsl_error(TSL_ERR_INVALID_ARG, "resnet: bad architecture or resolution %dx%d", res_h, res_w);
    if (base_width < 1 || base_width > 1024)
        return tsl_error(TSL_ERR_INVALID_ARG, "resnet: base width %d outside 1..1024", base_width);
    net->arch = arch;
    net->base_width = base_width;
    net->res_h = res_h;
    net->res_w = res_w;
    builder b = {.net = net, .c = 3, .h = res_h, .w = res_w, .base_width = base_width};
    if (!build(&b, &specs[arch])) {
        tsl_resnet_free(net);
        return tsl_error(TSL_ERR_NOMEM, "out of memory describing %s", specs[arch].name);
    }
    return TSL_OK;
}

void tsl_resnet_free(tsl_resnet *net) {
    free(net->layers);
    memset(net, 0, sizeof *net);
}

bool tsl_param_is_trainable(tsl_param_kind kind) {
    return kind == TSL_PARAM_CONV_WEIGHT || kind == TSL_PARAM_BN_WEIGHT || kind == TSL_PARAM_BN_BIAS;
}

static void add_param(tsl_param_info *p, int *n, const tsl_layer *l, int layer, tsl_param_kind kind,
                      const char *suffix, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    tsl_param_info *q = &p[(*n)++];
    memset(q, 0, sizeof *q);
    snprintf(q->name, sizeof q->name, "%s.%s", l->name, suffix);
    q->kind = kind;
    q->layer = layer;
    q->ndim = ndim;
    int64_t dims[4] = {d0, d1, d2, d3};
    q->count = 1;
    for (int i = 0; i < ndim; i++) {
        q->shape[i] = dims[i];
        q->count *= dims[i];
    }
}

tsl_status tsl_resnet_params(const tsl_resnet *net, tsl_param_info **params, int *n_params) {
    tsl_param_info *p = calloc((size_t)net->n_layers * 5, sizeof *p);
    if (!p)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    int n = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const tsl_layer *l = &net->layers[i];
        if (l->kind == TSL_LAYER_CONV) {
            add_param(p, &n, l, i, TSL_PARAM_CONV_WEIGHT, "weight", 4, l->c_out, l->c_in, l->kernel,
                      l->kernel);
        } else if (l->kind == TSL_LAYER_BN) {
            add_param(p, &n, l, i, TSL_PARAM_BN_WEIGHT, "weight", 1, l->c_out, 0, 0, 0);
            add_param(p, &n, l, i, TSL_PARAM_BN_BIAS, "bias", 1, l->c_out, 0, 0, 0);
            add_param(p, &n, l, i, TSL_PARAM_BN_RUNNING_MEAN, "running_mean", 1, l->c_out, 0, 0, 0);
            add_param(p, &n, l, i, TSL_PARAM_BN_RUNNING_VAR, "running_var", 1, l->c_out, 0, 0, 0);
            add_param(p, &n, l, i, TSL_PARAM_BN_NUM_BATCHES, "num_batches_tracked", 0, 0, 0, 0, 0);
        }
    }
    *params = p;
    *n_params = n;
    return TSL_OK;
}
