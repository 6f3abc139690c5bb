/* Where the trunk's gradients lie in one shared area. The gradient of layer j's output is written first
 * by the backward of its last consumer (the highest-numbered layer that reads j's output: backward runs
 * from the last layer down) and read for the last time by j's own backward; the last layer's gradient is
 * written by the projectors, before the trunk. Two gradients may overlap in memory when those spans do
 * not, so the area holds only what is alive at once (a few of the largest gradients), not one gradient
 * per layer. Offsets are given greedily, largest first, each at the lowest offset clear of everything
 * already placed that is alive at the same time.
 *
 * Some gradients can moreover *be* the gradient they are computed from ("aliases"): a residual sum
 * passes its output gradient unchanged to both summands, and a ReLU's backward is elementwise (written
 * in place, tsl_pointwise.h). Such a gradient takes the buffer of the gradient it comes from, with no
 * copy, when that buffer then holds nothing else still to be read. A buffer's contents change only by
 * a ReLU's in-place backward (the buffer then holds the new gradient only) and by a later path's
 * gradient added into it; the rules below make sure no other gradient still to be read lies in the
 * buffer at those times. In a ResNet the whole main path's gradient then stays in one buffer through a
 * stage, and the first summand of every block needs no buffer of its own. */
#include "tsl_model_internal.h"

#include <stdlib.h>

typedef struct {
    const tsl_resnet *net;
    tsl_grad_plan *plan;
    int writer[TSL_MODEL_MAX_TRUNK_LAYERS];    /* per layer: the backward that first writes its gradient */
    int last_read[TSL_MODEL_MAX_TRUNK_LAYERS]; /* per alias group's first member: its last member read */
} planner;

/* The layer whose backward first writes layer j's gradient (n_layers: the projectors). */
static void first_writers(const tsl_resnet *net, int *writer) {
    for (int j = 0; j < net->n_layers; j++)
        writer[j] = -1;
    writer[net->n_layers - 1] = net->n_layers;
    for (int i = 0; i < net->n_layers; i++)
        for (int j = 0; j < i; j++)
            if (tsl_model_reads_output(net, i, j) && writer[j] < i)
                writer[j] = i;
}

/* Does some layer other than `except` read j's output, and is it numbered `bound` or above? Such a
 * layer adds its path's gradient into j's while a gradient read by `bound` may still be needed. */
static bool other_consumer_from(const tsl_resnet *net, int j, int except, int bound) {
    for (int i = bound; i < net->n_layers; i++)
        if (i != except && tsl_model_reads_output(net, i, j))
            return true;
    return false;
}

/* The first gradient of j's alias group: the one whose buffer the others are. */
static int group_of(const tsl_grad_plan *plan, int j) {
    while (plan->alias_of[j] >= 0)
        j = plan->alias_of[j];
    return j;
}

static void alias(planner *p, int j, int t) {
    p->plan->alias_of[j] = t;
    int g = group_of(p->plan, t);
    if (j < p->last_read[g])
        p->last_read[g] = j;
}

/* At time t (layer t's backward), the gradients first written there that take t's buffer. Only when
 * t's gradient is the last one still to be read in that buffer: then nothing else in it can be
 * disturbed, now or by what later happens to the aliases. */
static void choose_aliases(planner *p, int t) {
    const tsl_layer *l = &p->net->layers[t];
    int src = tsl_layer_source(p->net->layers, t);
    if (p->last_read[group_of(p->plan, t)] != t || src < 0)
        return;
    bool src_first = p->writer[src] == t;
    if (l->kind == TSL_LAYER_RELU) { /* dx = dy * (y > 0), in place */
        if (src_first)
            alias(p, src, t);
        return;
    }
    if (l->kind != TSL_LAYER_ADD || l->skip == src)
        return;
    bool skip_first = p->writer[l->skip] == t;
    int lo = src < l->skip ? src : l->skip, hi = src < l->skip ? l->skip : src;
    bool lo_first = lo == src ? src_first : skip_first, hi_first = lo == src ? skip_first : src_first;
    /* Both summands in t's buffer at once: the one read first (hi) must see nothing added into it
     * (no other consumer) and must not hand the buffer on (choose_aliases at hi refuses: lo is still
     * to be read); whatever is added into lo must come after hi has been read. */
    bool both = lo_first && hi_first && !other_consumer_from(p->net, hi, t, 0) &&
                !other_consumer_from(p->net, lo, t, hi);
    if (lo_first)
        alias(p, lo, t); /* the longer-lived one */
    else if (hi_first)
        alias(p, hi, t);
    if (both)
        alias(p, hi, t);
}

/* Floats per image, rounded up so that every offset is a multiple of 64 floats per image: 256 bytes
 * (TSL_MODEL_ALIGN) times the images. */
static uint64_t padded_floats(const tsl_resnet *net, int j) {
    const tsl_layer *l = &net->layers[j];
    return ((uint64_t)l->c_out * l->h_out * l->w_out + 63) / 64 * 64;
}

/* Something to place: an alias group's buffer or a temporary, alive from backward time `from` (when
 * it is written first) down to `to` (when it is read last), both included. */
typedef struct {
    uint64_t floats, offset;
    int from, to;
    int layer; /* the group's first gradient, or the layer a temporary belongs to */
    bool temporary;
} item;

static int larger_first(const void *a, const void *b) {
    const item *x = a, *y = b;
    if (x->floats != y->floats)
        return x->floats < y->floats ? 1 : -1;
    if (x->from != y->from)
        return x->from < y->from ? 1 : -1;
    if (x->layer != y->layer)
        return x->layer - y->layer;
    return (int)x->temporary - (int)y->temporary;
}

static int lower_offset_first(const void *a, const void *b) {
    const item *x = *(item *const *)a, *y = *(item *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The lowest offset for items[k] clear of items[0..k) alive at the same time. */
static uint64_t lowest_clear_offset(item *items, int k, item **overlapping) {
    int n = 0;
    for (int i = 0; i < k; i++)
        if (items[i].to <= items[k].from && items[k].to <= items[i].from)
            overlapping[n++] = &items[i];
    qsort(overlapping, (size_t)n, sizeof *overlapping, lower_offset_first);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        if (overlapping[i]->offset >= at + items[k].floats)
            break;
        if (overlapping[i]->offset + overlapping[i]->floats > at)
            at = overlapping[i]->offset + overlapping[i]->floats;
    }
    return at;
}

/* Layer t's backward adds its gradient into one another path has written already (t is not its
 * source's last consumer): it forms it first in a temporary, alive only at time t. A residual sum
 * adds its own gradient, already there, and needs none. */
static bool needs_temporary(const planner *p, int t) {
    const tsl_layer *l = &p->net->layers[t];
    int src = tsl_layer_source(p->net->layers, t);
    return src >= 0 && l->kind != TSL_LAYER_ADD && p->writer[src] != t;
}

static void place_items(planner *p, item *items, int n_items, item **scratch) {
    tsl_grad_plan *plan = p->plan;
    qsort(items, (size_t)n_items, sizeof *items, larger_first);
    plan->area_floats = 0;
    for (int k = 0; k < n_items; k++) {
        items[k].offset = lowest_clear_offset(items, k, scratch);
        if (items[k].offset + items[k].floats > plan->area_floats)
            plan->area_floats = items[k].offset + items[k].floats;
        if (items[k].temporary)
            plan->temp_offset[items[k].layer] = items[k].offset;
        else
            plan->offset[items[k].layer] = items[k].offset;
    }
    for (int j = 0; j < p->net->n_layers; j++)
        plan->offset[j] = plan->offset[group_of(plan, j)];
}

tsl_status tsl_model_plan_gradients(const tsl_resnet *net, bool aliases, tsl_grad_plan *plan) {
    int n = net->n_layers;
    tsl_assert(n <= TSL_MODEL_MAX_TRUNK_LAYERS);
    planner *p = calloc(1, sizeof *p);
    item *items = calloc(2 * (size_t)n, sizeof *items);
    item **scratch = calloc(2 * (size_t)n, sizeof *scratch);
    if (!p || !items || !scratch) {
        free(p);
        free(items);
        free(scratch);
        return tsl_error(TSL_ERR_NOMEM, "model: out of memory planning the gradients");
    }
    p->net = net;
    p->plan = plan;
    first_writers(net, p->writer);
    for (int j = 0; j < n; j++) {
        tsl_assert(p->writer[j] > j); /* every layer's output is read later (or by the projectors) */
        plan->alias_of[j] = -1;
        plan->temp_offset[j] = UINT64_MAX;
        p->last_read[j] = j;
    }
    /* Time runs backward, t = n - 1, ..., 0: the aliases chosen at t depend on those chosen before. */
    for (int t = n - 1; aliases && t >= 0; t--)
        choose_aliases(p, t);
    int n_items = 0;
    for (int j = 0; j < n; j++) {
        if (plan->alias_of[j] < 0)
            items[n_items++] = (item){padded_floats(net, j), 0, p->writer[j], p->last_read[j], j, false};
        if (needs_temporary(p, j))
            items[n_items++] = (item){padded_floats(net, tsl_layer_source(net->layers, j)), 0, j, j, j, true};
    }
    place_items(p, items, n_items, scratch);
    free(p);
    free(items);
    free(scratch);
    return TSL_OK;
}
