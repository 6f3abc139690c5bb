/* Where the trunk's gradients, and in the model's own layout its outputs too, lie in one shared area. The
 * gradient of layer j's output is written first by the backward of its last consumer (the highest-numbered
 * layer that reads j's output: backward runs from the last layer down) and read for the last time by j's own
 * backward; the last layer's gradient is written by the projectors, before the trunk. Two gradients may
 * overlap in memory when those spans do not, so the area holds only what is alive at once (a few of the
 * largest gradients), not one gradient per layer. Offsets are given greedily, largest first, each at the
 * lowest offset clear of everything already placed that is alive at the same time.
 *
 * Some gradients can moreover *be* the gradient they are computed from ("aliases"): a residual sum
 * passes its output gradient unchanged to both summands, and a ReLU's backward is elementwise (written
 * in place, tsl_pointwise.h). Such a gradient takes the buffer of the gradient it comes from, with no
 * copy, when that buffer then holds nothing else still to be read. A buffer's contents change only by
 * a ReLU's in-place backward (the buffer then holds the new gradient only) and by a later path's
 * gradient added into it; the rules below make sure no other gradient still to be read lies in the
 * buffer at those times. In a ResNet the whole main path's gradient then stays in one buffer through a
 * stage, and the first summand of every block needs no buffer of its own.
 *
 * With the outputs planned as well, time runs over the whole step (forward, loss, backward) and each
 * output is alive from its layer's forward until its last reader (a forward that reads it, a backward
 * that reads a layer's input or a ReLU's own output; the features until the end of the step), so a
 * gradient takes the memory of outputs whose readers have all run: the gradients of the first stages,
 * the largest, then need almost nothing beyond the outputs, as in a framework that frees each saved
 * tensor after its last use. */
#include "tsl_model_internal.h"

#include <stdlib.h>

typedef struct {
    const tsl_resnet *net;
    tsl_trunk_plan_options options;
    uint64_t rows;
    tsl_trunk_plan *plan;
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
static int group_of(const tsl_trunk_plan *plan, int j) {
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

/* Floats of layer j's output (and gradient) for the plan's images, each image's rounded up to 64 floats
 * so that every offset is a multiple of 64 floats (256 bytes, TSL_MODEL_ALIGN). */
static uint64_t padded_floats(const planner *p, int j) {
    const tsl_layer *l = &p->net->layers[j];
    return ((uint64_t)l->c_out * l->h_out * l->w_out + 63) / 64 * 64 * p->rows;
}

/* The step's time line: layer i's forward at i, the projectors' forward and the loss at n, the
 * projectors' backward at n + 1, layer i's backward at 2n + 1 - i, after the step 2n + 2. */
static int forward_time(int i) {
    return i;
}
static int loss_time(const planner *p) {
    return p->net->n_layers;
}
static int backward_time(const planner *p, int i) { /* i = n: the projectors' backward */
    return 2 * p->net->n_layers + 1 - i;
}
static int end_time(const planner *p) {
    return 2 * p->net->n_layers + 2;
}

/* When layer j's output is read for the last time (its own and every consumer's forward and backward;
 * the features are the model's output, kept after the step). */
static int output_needed_until(const planner *p, int j) {
    const tsl_resnet *net = p->net;
    if (j == net->n_layers - 1)
        return end_time(p);
    int until = forward_time(j);
    if (net->layers[j].kind == TSL_LAYER_RELU) /* its backward reads its output */
        until = backward_time(p, j);
    for (int i = j + 1; i < net->n_layers; i++) {
        if (!tsl_model_reads_output(net, i, j))
            continue;
        tsl_layer_kind k = net->layers[i].kind;
        int t = k == TSL_LAYER_CONV || k == TSL_LAYER_BN ? backward_time(p, i) : forward_time(i);
        if (t > until)
            until = t;
    }
    return until;
}

/* The layer whose memory j's output is: j's own, or (in place) that of the source it overwrites. */
static int output_root(const tsl_resnet *net, int j) {
    int src;
    while ((src = tsl_model_inplace_source(net, j)) >= 0)
        j = src;
    return j;
}

/* Something to place: an alias group's gradient buffer, a temporary, a group of outputs sharing memory
 * or a loss buffer, alive from time `from` (first written) to `to` (last read), both included. */
typedef enum { ITEM_GRADIENT, ITEM_TEMPORARY, ITEM_OUTPUT, ITEM_LOSS } item_kind;
typedef struct {
    uint64_t floats, offset;
    int from, to;
    int index; /* the group's first gradient, the temporary's layer, the output root, the loss buffer */
    item_kind kind;
} item;

static int larger_first(const void *a, const void *b) {
    const item *x = a, *y = b;
    if (x->floats != y->floats)
        return x->floats < y->floats ? 1 : -1;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    return x->index - y->index;
}

static int lower_offset_first(const void *a, const void *b) {
    const item *x = *(item *const *)a, *y = *(item *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The lowest offset for items[k] clear of items[0..k) alive at the same time and not crossing a multiple
 * of `segment` (each segment is an allocation of its own). */
static uint64_t lowest_clear_offset(item *items, int k, item **overlapping, uint64_t segment) {
    int n = 0;
    for (int i = 0; i < k; i++)
        if (items[i].from <= items[k].to && items[k].from <= items[i].to)
            overlapping[n++] = &items[i];
    qsort(overlapping, (size_t)n, sizeof *overlapping, lower_offset_first);
    uint64_t at = 0, size = items[k].floats;
    for (int i = 0;;) {
        if (at / segment != (at + size - 1) / segment)
            at = (at / segment + 1) * segment;
        while (i < n && overlapping[i]->offset + overlapping[i]->floats <= at)
            i++;
        if (i == n || overlapping[i]->offset >= at + size)
            return at;
        at = overlapping[i]->offset + overlapping[i]->floats;
    }
}

/* Layer t's backward adds its gradient into one another path has written already (t is not its
 * source's last consumer): it forms it first in a temporary, alive only at time t. A residual sum
 * adds its own gradient, already there, and needs none. */
static bool needs_temporary(const planner *p, int t) {
    const tsl_layer *l = &p->net->layers[t];
    int src = tsl_layer_source(p->net->layers, t);
    return src >= 0 && l->kind != TSL_LAYER_ADD && p->writer[src] != t;
}

static void record_offset(tsl_trunk_plan *plan, const item *it) {
    switch (it->kind) {
    case ITEM_GRADIENT:
        plan->offset[it->index] = it->offset;
        break;
    case ITEM_TEMPORARY:
        plan->temp_offset[it->index] = it->offset;
        break;
    case ITEM_OUTPUT:
        plan->out_offset[it->index] = it->offset;
        break;
    case ITEM_LOSS:
        plan->loss_offset[it->index] = it->offset;
        break;
    }
}

static void place_items(planner *p, item *items, int n_items, item **scratch, uint64_t segment) {
    tsl_trunk_plan *plan = p->plan;
    qsort(items, (size_t)n_items, sizeof *items, larger_first);
    plan->area_floats = 0;
    for (int k = 0; k < n_items; k++) {
        items[k].offset = lowest_clear_offset(items, k, scratch, segment);
        if (items[k].offset + items[k].floats > plan->area_floats)
            plan->area_floats = items[k].offset + items[k].floats;
        record_offset(plan, &items[k]);
    }
    for (int j = 0; j < p->net->n_layers; j++) {
        plan->offset[j] = plan->offset[group_of(plan, j)];
        if (p->options.outputs)
            plan->out_offset[j] = plan->out_offset[output_root(p->net, j)];
    }
}

/* The gradients' items (alias groups and temporaries). */
static int gradient_items(planner *p, item *items) {
    int n = p->net->n_layers, n_items = 0;
    for (int j = 0; j < n; j++) {
        int from = backward_time(p, p->writer[j]), to = backward_time(p, p->last_read[j]);
        if (p->plan->alias_of[j] < 0)
            items[n_items++] = (item){padded_floats(p, j), 0, from, to, j, ITEM_GRADIENT};
        if (needs_temporary(p, j)) {
            int t = backward_time(p, j);
            items[n_items++] =
                (item){padded_floats(p, tsl_layer_source(p->net->layers, j)), 0, t, t, j, ITEM_TEMPORARY};
        }
    }
    return n_items;
}

/* The outputs' items (one per layer with memory of its own, alive until its last in-place successor's
 * last reader) and the loss buffers'. */
static int output_items(planner *p, item *items) {
    int n = p->net->n_layers, n_items = 0;
    int *until = malloc(sizeof *until * (size_t)n);
    if (!until)
        return -1;
    for (int j = 0; j < n; j++)
        until[j] = -1;
    for (int j = 0; j < n; j++) {
        int root = output_root(p->net, j), t = output_needed_until(p, j);
        if (t > until[root])
            until[root] = t;
    }
    for (int j = 0; j < n; j++)
        if (output_root(p->net, j) == j)
            items[n_items++] = (item){padded_floats(p, j), 0, forward_time(j), until[j], j, ITEM_OUTPUT};
    free(until);
    for (int b = 0; b < 2; b++)
        if (p->options.loss_floats[b])
            items[n_items++] = (item){
                (p->options.loss_floats[b] + 63) / 64 * 64, 0, loss_time(p), loss_time(p), b, ITEM_LOSS};
    return n_items;
}

static uint64_t segment_for(const item *items, int n_items, uint64_t requested) {
    uint64_t segment = requested ? requested / 64 * 64 : UINT64_MAX;
    for (int k = 0; k < n_items; k++)
        if (items[k].floats > segment)
            segment = items[k].floats;
    return segment ? segment : 64;
}

tsl_status tsl_model_plan_trunk(const tsl_resnet *net, const tsl_trunk_plan_options *options,
                                tsl_trunk_plan *plan) {
    int n = net->n_layers;
    tsl_assert(n <= TSL_MODEL_MAX_TRUNK_LAYERS && options->rows > 0);
    planner *p = calloc(1, sizeof *p);
    size_t cap = 3 * (size_t)n + 2;
    item *items = calloc(cap, sizeof *items);
    item **scratch = calloc(cap, sizeof *scratch);
    int n_items = -1;
    if (p && items && scratch) {
        p->net = net;
        p->plan = plan;
        p->options = *options;
        p->rows = options->rows;
        first_writers(net, p->writer);
        for (int j = 0; j < n; j++) {
            tsl_assert(p->writer[j] > j); /* every layer's output is read later (or by the projectors) */
            plan->alias_of[j] = -1;
            plan->temp_offset[j] = plan->out_offset[j] = UINT64_MAX;
            p->last_read[j] = j;
        }
        plan->loss_offset[0] = plan->loss_offset[1] = UINT64_MAX;
        /* Backward runs t = n - 1, ..., 0: the aliases chosen at t depend on those chosen before. */
        for (int t = n - 1; options->aliases && t >= 0; t--)
            choose_aliases(p, t);
        n_items = gradient_items(p, items);
        int outputs = options->outputs ? output_items(p, items + n_items) : 0;
        n_items = outputs < 0 ? -1 : n_items + outputs;
    }
    if (n_items >= 0) {
        plan->segment_floats = segment_for(items, n_items, options->segment_floats);
        place_items(p, items, n_items, scratch, plan->segment_floats);
    }
    free(p);
    free(items);
    free(scratch);
    return n_items >= 0 ? TSL_OK
                        : tsl_error(TSL_ERR_NOMEM, "model: out of memory planning the trunk's memory");
}
