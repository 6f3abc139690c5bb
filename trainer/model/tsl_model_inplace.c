/* Which trunk layers write their output over their input. A BatchNorm's or an addition's output is read
 * by no backward (BatchNorm's backward reads its input; an addition's reads nothing) and, when a single
 * layer consumes it, by nothing after that layer's forward. When that consumer is a ReLU or an addition
 * (elementwise ops that read each element before writing it, tsl_pointwise.h), it can write its output
 * into the same memory: the ReLU and residual sum of a block then cost no memory of their own, as
 * PyTorch's in-place ReLU does. A ReLU's backward reads its own output, which stays there: nothing later
 * writes over it. */
#include "tsl_model_internal.h"

bool tsl_model_reads_output(const tsl_resnet *net, int i, int j) {
    const tsl_layer *l = &net->layers[i];
    return tsl_layer_source(net->layers, i) == j || (l->kind == TSL_LAYER_ADD && l->skip == j);
}

/* How many layers read layer j's output. */
static int consumers(const tsl_resnet *net, int j) {
    int n = 0;
    for (int i = j + 1; i < net->n_layers; i++)
        n += tsl_model_reads_output(net, i, j);
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

/* Layer j's output is needed after the forward when a backward reads it: its own (a ReLU's reads its
 * output), a consumer's that reads its input (convolution, BatchNorm), the projectors' (the last layer),
 * or it is the memory a consumer writes in place. */
int tsl_model_forward_only_until(const tsl_resnet *net, int j) {
    const tsl_layer *l = &net->layers[j];
    if (l->kind == TSL_LAYER_RELU || j == net->n_layers - 1)
        return -1;
    int last = -1;
    for (int i = j + 1; i < net->n_layers; i++) {
        if (!tsl_model_reads_output(net, i, j))
            continue;
        const tsl_layer *r = &net->layers[i];
        if (r->kind == TSL_LAYER_CONV || r->kind == TSL_LAYER_BN || tsl_model_inplace_source(net, i) == j)
            return -1;
        last = i;
    }
    return last;
}
