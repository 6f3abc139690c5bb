/* Which trunk gradients can share memory. The gradient of layer j's output is written first by the
 * backward of its last consumer (the highest-numbered layer that reads j's output: backward runs from
 * the last layer down) and read for the last time by j's own backward; the last layer's gradient is
 * written by the projectors, before the trunk. Two gradients may share a buffer when those spans do not
 * overlap, so the trunk needs only as many gradient buffers as gradients are alive at once (a handful
 * for a ResNet: a block's input gradient lives across the block), not one per layer. */
#include "tsl_model_internal.h"

/* The layer whose backward first writes layer j's gradient (n_layers: the projectors). */
static void first_writers(const tsl_resnet *net, int *writer) {
    for (int j = 0; j < net->n_layers; j++)
        writer[j] = -1;
    writer[net->n_layers - 1] = net->n_layers;
    for (int i = 0; i < net->n_layers; i++) {
        const tsl_layer *l = &net->layers[i];
        int src = tsl_layer_source(net->layers, i);
        if (src >= 0 && writer[src] < i)
            writer[src] = i;
        if (l->kind == TSL_LAYER_ADD && l->skip >= 0 && writer[l->skip] < i)
            writer[l->skip] = i;
    }
}

int tsl_model_gradient_slots(const tsl_resnet *net, int *slot_of) {
    int n = net->n_layers, n_slots = 0;
    int writer[TSL_MODEL_MAX_TRUNK_LAYERS], owner[TSL_MODEL_MAX_TRUNK_LAYERS];
    tsl_assert(n <= TSL_MODEL_MAX_TRUNK_LAYERS);
    first_writers(net, writer);
    for (int j = 0; j < n; j++)
        tsl_assert(writer[j] > j); /* every layer's output is read later (or by the projectors) */
    /* Time runs backward, t = n (the projectors), n-1, ..., 0. At time t the gradients first written
     * there take slots whose owner was read for the last time earlier (owner > t): not t's own, which
     * t's backward is still reading. */
    for (int t = n; t >= 0; t--)
        for (int j = t - 1; j >= 0; j--) {
            if (writer[j] != t)
                continue;
            int s = 0;
            while (s < n_slots && owner[s] <= t)
                s++;
            if (s == n_slots)
                n_slots++;
            owner[s] = j;
            slot_of[j] = s;
        }
    return n_slots;
}
