/* Which trunk layers write their output over their input. A BatchNorm's or an addition's output is read
 * by no backward (BatchNorm's backward reads its input; an addition's reads nothing) and, when a single
 * layer consumes it, by nothing after that layer's forward. When that consumer is a ReLU or an addition
 * (elementwise ops that read each element before writing it, tsl_pointwise.h), it can write its output
 * into the same memory: the ReLU and residual sum of a block then cost no memory of their own, as
 * PyTorch's in-place ReLU does. A ReLU's backward reads its own output, which stays there: nothing later
 * writes over it. */
#include "tsl_model_internal.h"

/* How many layers read layer j's output (as input or as skip). */
static int consumers(const tsl_resnet *net, int j) {
    int n = 0;
    for (int i = j + 1; i < net->n_layers; i++) {
        const tsl_layer *l = &net->layers[i];
        n += tsl_layer_source(net->layers, i) == j;
        n += l->kind == TSL_LAYER_ADD && l->skip == j;
    }
    return n;
}

int tsl_model_inplace_source(const tsl_resnet *net, int i) {
    const tsl_layer *l = &net->layers[i];
    if (l->kind != TSL_LAYER_RELU && l->kind != TSL_LAYER_ADD)
        return -1;
    int src = tsl_layer_source(net->layers, i);
    if (src < 0 || (net->layers[src].kind != TSL_LAYER_BN && net->layers[src].kind != TSL_LAYER_ADD))
        return -1;
    if (l->kind == TSL_LAYER_ADD && l->skip == src)
        return -1; /* x + x: both operands are the memory written */
    return consumers(net, src) == 1 ? src : -1;
}
