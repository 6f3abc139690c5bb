/* ResNet-18/34/50 trunks with exactly torchvision's structure (v1.5: a bottleneck strides on its 3x3
 * conv), described as data: every layer with its shapes at a given input resolution, and every tensor of
 * the state dict under torchvision's name. The trainer builds its graph from this description, export
 * names tensors from it, and `tessl bench ops` draws its shapes from it. */
#ifndef TSL_RESNET_H
#define TSL_RESNET_H

#include "tsl_status.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum { TSL_RESNET18, TSL_RESNET34, TSL_RESNET50, TSL_RESNET_ARCH_COUNT } tsl_resnet_arch;

/* "resnet18" / "resnet34" / "resnet50" -> arch; TSL_ERR_INVALID_ARG naming the accepted values otherwise. */
tsl_status tsl_resnet_arch_parse(const char *name, tsl_resnet_arch *arch);
const char *tsl_resnet_arch_name(tsl_resnet_arch arch);

typedef enum {
    TSL_LAYER_CONV, /* no bias */
    TSL_LAYER_BN,   /* BatchNorm2d: weight, bias, running_mean, running_var, num_batches_tracked */
    TSL_LAYER_RELU,
    TSL_LAYER_MAXPOOL, /* 3x3 stride 2 pad 1 */
    TSL_LAYER_ADD,     /* residual add (then a ReLU layer follows) */
    TSL_LAYER_AVGPOOL, /* global average pool to (N, C) */
} tsl_layer_kind;

typedef struct {
    tsl_layer_kind kind;
    char name[48]; /* torchvision module name: "conv1", "layer1.0.conv2", "layer2.0.downsample.0" */
    int c_in, c_out, kernel, stride, pad;
    int h_in, w_in, h_out, w_out;
    /* Which earlier layer's output feeds this one (-1: the previous layer, -2: the network input); ADD
     * also reads `skip`, the block's input or its downsample output. */
    int input, skip;
    bool zero_init; /* BN whose gamma starts at 0 (last BN of a residual block, zero_init_residual) */
} tsl_layer;

/* Index of the layer that feeds layer i: its `input`, with -1 resolved to the previous layer (-2: the
 * network input). */
static inline int tsl_layer_source(const tsl_layer *layers, int i) {
    return layers[i].input == -1 ? i - 1 : layers[i].input;
}

typedef struct {
    tsl_resnet_arch arch;
    int base_width; /* 64 for torchvision's nets */
    int res_h, res_w;
    int n_layers;
    tsl_layer *layers;
    int feature_dim; /* 8 * base_width (18/34) or 32 * base_width (50): 512 or 2048 at width 64 */
} tsl_resnet;

#define TSL_RESNET_BASE_WIDTH 64

/* Builds the description for an input of res_h x res_w (each >= 1; small inputs shrink to 1x1 as in
 * PyTorch). `base_width` (1..1024) is the stem's channel count, from which every stage's width follows
 * as in torchvision (stage s has base_width << s planes): TSL_RESNET_BASE_WIDTH for the standard nets,
 * a narrow net (e.g. 8) for tests and demos. Free with tsl_resnet_free. */
tsl_status tsl_resnet_describe(tsl_resnet_arch arch, int base_width, int res_h, int res_w, tsl_resnet *net);
void tsl_resnet_free(tsl_resnet *net);

typedef enum {
    TSL_PARAM_CONV_WEIGHT, /* (c_out, c_in, k, k) */
    TSL_PARAM_BN_WEIGHT,   /* (c): trained, excluded from weight decay and LARS */
    TSL_PARAM_BN_BIAS,
    TSL_PARAM_BN_RUNNING_MEAN, /* buffers: not trained */
    TSL_PARAM_BN_RUNNING_VAR,
    TSL_PARAM_BN_NUM_BATCHES, /* int64 scalar buffer */
} tsl_param_kind;

typedef struct {
    char name[80]; /* state-dict key: "layer1.0.bn1.running_var" */
    tsl_param_kind kind;
    int layer; /* index into tsl_resnet.layers */
    int ndim;
    int64_t shape[4];
    int64_t count;
} tsl_param_info;

/* Every state-dict tensor of the trunk in torchvision's order (fc excluded). `*params` is malloc'd. */
tsl_status tsl_resnet_params(const tsl_resnet *net, tsl_param_info **params, int *n_params);

/* True for the tensors an optimiser trains (conv weights, BN weight and bias). */
bool tsl_param_is_trainable(tsl_param_kind kind);

#endif
