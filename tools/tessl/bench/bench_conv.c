/* Every distinct convolution of ResNet-50 at the benchmarked batch and resolution: forward,
 * backward-data and backward-weights, with the workspace the model gives them (tsl_conv2d_workspace_bytes).
 */
#include "tsl_bench.h"
#include "tsl_conv2d.h"
#include "tsl_resnet.h"

#include <stdio.h>

typedef struct {
    tsl_conv2d_shape shape;
    tsl_vk_buffer x, w, y, dx, dw, workspace;
} conv_ctx;

static tsl_status record_forward(tsl_bench_run *run, void *ctx) {
    conv_ctx *c = ctx;
    return tsl_conv2d_forward(run->device, run->cmd, &c->shape, c->x.range, c->w.range, c->y.range,
                              c->workspace.range);
}

static tsl_status record_backward_data(tsl_bench_run *run, void *ctx) {
    conv_ctx *c = ctx;
    return tsl_conv2d_backward_data(run->device, run->cmd, &c->shape, c->y.range, c->w.range, c->dx.range,
                                    c->workspace.range);
}

static tsl_status record_backward_weights(tsl_bench_run *run, void *ctx) {
    conv_ctx *c = ctx;
    return tsl_conv2d_backward_weights(run->device, run->cmd, &c->shape, c->x.range, c->y.range, c->dw.range,
                                       c->workspace.range);
}

static tsl_status conv_cases(tsl_bench_run *run, conv_ctx *c, int count) {
    uint64_t nx = tsl_conv2d_x_count(&c->shape), nw = tsl_conv2d_w_count(&c->shape),
             ny = tsl_conv2d_y_count(&c->shape);
    TSL_TRY(tsl_bench_random_buffer(run, nx, 1, "bench conv x", &c->x));
    TSL_TRY(tsl_bench_random_buffer(run, nw, 2, "bench conv w", &c->w));
    TSL_TRY(tsl_bench_random_buffer(run, ny, 3, "bench conv y", &c->y));
    TSL_TRY(tsl_bench_random_buffer(run, nx, 4, "bench conv dx", &c->dx));
    TSL_TRY(tsl_bench_random_buffer(run, nw, 5, "bench conv dw", &c->dw));
    VkDeviceSize workspace = tsl_conv2d_workspace_bytes(run->device, &c->shape);
    if (workspace)
        TSL_TRY(tsl_vk_alloc(run->device, TSL_MEM_DEVICE, workspace, "bench conv workspace", &c->workspace));
    const tsl_conv2d_shape *s = &c->shape;
    char params[192];
    snprintf(
        params, sizeof params,
        "\"n\":%u,\"c_in\":%u,\"h\":%u,\"w\":%u,\"c_out\":%u,\"k\":%u,\"stride\":%u,\"pad\":%u,\"count\":%d",
        s->n, s->c_in, s->h, s->w, s->c_out, s->kh, s->stride, s->pad, count);
    double flops = 2.0 * ny * s->c_in * s->kh * s->kw, bytes = 4.0 * (nx + nw + ny);
    TSL_TRY(tsl_bench_case(run, "conv2d_forward", params, flops, bytes, record_forward, c));
    TSL_TRY(tsl_bench_case(run, "conv2d_backward_data", params, flops, bytes, record_backward_data, c));
    return tsl_bench_case(run, "conv2d_backward_weights", params, flops, bytes, record_backward_weights, c);
}

static bool same_conv(const tsl_layer *a, const tsl_layer *b) {
    return a->kind == TSL_LAYER_CONV && b->kind == TSL_LAYER_CONV && a->c_in == b->c_in &&
           a->c_out == b->c_out && a->kernel == b->kernel && a->stride == b->stride && a->h_in == b->h_in &&
           a->w_in == b->w_in;
}

/* Each distinct convolution once, with how many times the network uses it ("count"), so that the rows
 * weighted by count add up to the network's convolution time. */
tsl_status tsl_bench_conv(tsl_bench_run *run) {
    if (!tsl_bench_selected(run, "conv2d"))
        return TSL_OK;
    tsl_resnet net;
    TSL_TRY(tsl_resnet_describe(TSL_RESNET50, TSL_RESNET_BASE_WIDTH, run->res, run->res, &net));
    tsl_status st = TSL_OK;
    for (int i = 0; st == TSL_OK && i < net.n_layers; i++) {
        const tsl_layer *l = &net.layers[i];
        bool seen = false;
        int count = 0;
        for (int j = 0; j < net.n_layers; j++) {
            seen = seen || (j < i && same_conv(&net.layers[j], l));
            count += same_conv(&net.layers[j], l);
        }
        if (l->kind != TSL_LAYER_CONV || seen)
            continue;
        conv_ctx c = {.shape = {(uint32_t)run->batch, (uint32_t)l->c_in, (uint32_t)l->h_in, (uint32_t)l->w_in,
                                (uint32_t)l->c_out, (uint32_t)l->kernel, (uint32_t)l->kernel,
                                (uint32_t)l->stride, (uint32_t)l->pad}};
        st = conv_cases(run, &c, count);
        tsl_vk_buffer *all[] = {&c.x, &c.w, &c.y, &c.dx, &c.dw, &c.workspace};
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
            tsl_vk_free(run->device, all[k]);
    }
    tsl_resnet_free(&net);
    return st;
}
