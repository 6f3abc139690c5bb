/* Batch norm, ReLU, residual add and pooling at every distinct shape ResNet-50 gives them. */
#include "tsl_batchnorm.h"
#include "tsl_bench.h"
#include "tsl_pointwise.h"
#include "tsl_pool.h"
#include "tsl_resnet.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    tsl_batchnorm_shape shape;
    tsl_batchnorm_params params;
    tsl_vk_buffer x, y, dy, dx, mean, invstd, gamma, beta, rmean, rvar, dgamma, dbeta, scratch;
} bn_ctx;

static tsl_status record_bn_forward(tsl_bench_run *run, void *ctx) {
    bn_ctx *c = ctx;
    return tsl_batchnorm_forward_train(run->device, run->cmd, c->shape, &c->params, c->x.range, c->y.range,
                                       c->mean.range, c->invstd.range, c->scratch.range);
}

static tsl_status record_bn_backward(tsl_bench_run *run, void *ctx) {
    bn_ctx *c = ctx;
    return tsl_batchnorm_backward(run->device, run->cmd, c->shape, c->gamma.range, c->x.range, c->dy.range,
                                  c->mean.range, c->invstd.range, c->dx.range, c->dgamma.range,
                                  c->dbeta.range, c->scratch.range);
}

static void bn_free(tsl_bench_run *run, bn_ctx *c) {
    tsl_vk_buffer *all[] = {&c->x,    &c->y,     &c->dy,   &c->dx,     &c->mean,  &c->invstd, &c->gamma,
                            &c->beta, &c->rmean, &c->rvar, &c->dgamma, &c->dbeta, &c->scratch};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tsl_vk_free(run->device, all[i]);
}

static tsl_status bn_case(tsl_bench_run *run, uint32_t c, uint32_t h, uint32_t w) {
    if (!tsl_bench_selected(run, "batchnorm"))
        return TSL_OK;
    bn_ctx k = {.shape = tsl_batchnorm_shape_2d((uint32_t)run->batch, c, h, w)};
    uint64_t n = (uint64_t)run->batch * c * h * w;
    tsl_status st = TSL_OK;
    tsl_vk_buffer *big[] = {&k.x, &k.y, &k.dy, &k.dx};
    tsl_vk_buffer *per_channel[] = {&k.mean,  &k.invstd, &k.gamma,  &k.beta,
                                    &k.rmean, &k.rvar,   &k.dgamma, &k.dbeta};
    for (size_t i = 0; st == TSL_OK && i < 4; i++)
        st = tsl_bench_random_buffer(run, n, (uint32_t)i, "bench bn tensor", big[i]);
    for (size_t i = 0; st == TSL_OK && i < 8; i++)
        st = tsl_bench_random_buffer(run, c, (uint32_t)(10 + i), "bench bn channel", per_channel[i]);
    if (st == TSL_OK)
        st = tsl_vk_alloc(run->device, TSL_MEM_DEVICE, tsl_batchnorm_scratch_bytes(run->device, k.shape),
                          "bench bn scratch", &k.scratch);
    k.params = (tsl_batchnorm_params){k.gamma.range, k.beta.range,           k.rmean.range,
                                      k.rvar.range,  TSL_BATCHNORM_MOMENTUM, TSL_BATCHNORM_EPS};
    char params[128];
    snprintf(params, sizeof params, "\"n\":%d,\"c\":%u,\"h\":%u,\"w\":%u", run->batch, c, h, w);
    if (st == TSL_OK)
        st = tsl_bench_case(run, "batchnorm_train_forward", params, 8.0 * n, 12.0 * n, record_bn_forward, &k);
    if (st == TSL_OK)
        st = tsl_bench_case(run, "batchnorm_backward", params, 12.0 * n, 16.0 * n, record_bn_backward, &k);
    bn_free(run, &k);
    return st;
}

/* Each distinct (channels, height, width) that a BatchNorm2d of the network sees, once, then the
 * projector's BatchNorm1d. */
tsl_status tsl_bench_batchnorm(tsl_bench_run *run) {
    tsl_resnet net;
    TSL_TRY(tsl_resnet_describe(TSL_RESNET50, TSL_RESNET_BASE_WIDTH, run->res, run->res, &net));
    tsl_status st = TSL_OK;
    for (int i = 0; st == TSL_OK && i < net.n_layers; i++) {
        const tsl_layer *l = &net.layers[i];
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = net.layers[j].kind == TSL_LAYER_BN && net.layers[j].c_out == l->c_out &&
                   net.layers[j].h_out == l->h_out && net.layers[j].w_out == l->w_out;
        if (l->kind == TSL_LAYER_BN && !seen)
            st = bn_case(run, (uint32_t)l->c_out, (uint32_t)l->h_out, (uint32_t)l->w_out);
    }
    tsl_resnet_free(&net);
    /* The projector's BatchNorm1d (8192 features, n = batch): few values per channel, many channels. */
    return st == TSL_OK ? bn_case(run, 8192, 1, 1) : st;
}

typedef struct {
    tsl_maxpool_shape pool;
    uint32_t n, c, h, w;
    uint64_t pooled; /* elements of the max-pool output */
    tsl_vk_buffer a, b, y, indices, dy, dx;
} pool_ctx;

static tsl_status record_relu(tsl_bench_run *run, void *ctx) {
    pool_ctx *c = ctx;
    return tsl_relu_forward(run->device, run->cmd, c->a.range, c->y.range);
}

static tsl_status record_add_relu(tsl_bench_run *run, void *ctx) {
    pool_ctx *c = ctx;
    return tsl_add_relu(run->device, run->cmd, c->a.range, c->b.range, c->y.range);
}

static tsl_status record_maxpool_forward(tsl_bench_run *run, void *ctx) {
    pool_ctx *c = ctx;
    return tsl_maxpool_forward(run->device, run->cmd, c->pool, c->a.range,
                               tsl_vk_subrange(&c->y, 0, 4 * c->pooled), c->indices.range);
}

static tsl_status record_maxpool_backward(tsl_bench_run *run, void *ctx) {
    pool_ctx *c = ctx;
    return tsl_maxpool_backward(run->device, run->cmd, c->pool, c->dy.range, c->indices.range, c->dx.range);
}

static tsl_status record_avgpool(tsl_bench_run *run, void *ctx) {
    pool_ctx *c = ctx;
    uint64_t in = (uint64_t)c->n * c->c * c->h * c->w, out = (uint64_t)c->n * c->c;
    return tsl_avgpool_global_forward(run->device, run->cmd, c->n, c->c, c->h, c->w,
                                      tsl_vk_subrange(&c->a, 0, 4 * in), tsl_vk_subrange(&c->dy, 0, 4 * out));
}

static tsl_status pointwise_and_pool_cases(tsl_bench_run *run, pool_ctx *k) {
    /* ReLU / add at conv1's output shape (N, 64, H/2, W/2), the stem max-pool on it, and the global
     * average pool on layer4's output (N, 2048, H/32, W/32). */
    tsl_resnet net;
    TSL_TRY(tsl_resnet_describe(TSL_RESNET50, TSL_RESNET_BASE_WIDTH, run->res, run->res, &net));
    const tsl_layer *conv1 = &net.layers[0], *last = &net.layers[net.n_layers - 2];
    k->pool = (tsl_maxpool_shape){
        (uint32_t)run->batch, 64, (uint32_t)conv1->h_out, (uint32_t)conv1->w_out, 3, 2, 1};
    k->n = (uint32_t)run->batch;
    k->c = (uint32_t)last->c_out;
    k->h = (uint32_t)last->h_out;
    k->w = (uint32_t)last->w_out;
    tsl_resnet_free(&net);
    uint64_t n = (uint64_t)k->pool.n * 64 * k->pool.h * k->pool.w;
    uint64_t pooled = (uint64_t)k->pool.n * 64 * tsl_maxpool_out_h(k->pool) * tsl_maxpool_out_w(k->pool);
    k->pooled = pooled;
    TSL_TRY(tsl_bench_random_buffer(run, n, 1, "bench a", &k->a));
    TSL_TRY(tsl_bench_random_buffer(run, n, 2, "bench b", &k->b));
    TSL_TRY(tsl_bench_random_buffer(run, n, 3, "bench y", &k->y));
    TSL_TRY(tsl_bench_random_buffer(run, n, 4, "bench dx", &k->dx));
    TSL_TRY(tsl_bench_random_buffer(run, pooled, 5, "bench dy", &k->dy));
    TSL_TRY(tsl_vk_alloc(run->device, TSL_MEM_DEVICE, 4 * pooled, "bench indices", &k->indices));
    char params[128];
    snprintf(params, sizeof params, "\"n\":%u,\"c\":64,\"h\":%u,\"w\":%u", k->pool.n, k->pool.h, k->pool.w);
    TSL_TRY(tsl_bench_case(run, "relu_forward", params, 1.0 * n, 8.0 * n, record_relu, k));
    TSL_TRY(tsl_bench_case(run, "add_relu", params, 2.0 * n, 12.0 * n, record_add_relu, k));
    TSL_TRY(tsl_bench_case(run, "maxpool_forward", params, 9.0 * pooled, 4.0 * n + 8.0 * pooled,
                           record_maxpool_forward, k));
    TSL_TRY(tsl_bench_case(run, "maxpool_backward", params, 0, 4.0 * n + 8.0 * pooled,
                           record_maxpool_backward, k));
    uint64_t avg_in = (uint64_t)k->n * k->c * k->h * k->w;
    if (avg_in <= n && (uint64_t)k->n * k->c <= pooled) { /* reuses a and dy */
        snprintf(params, sizeof params, "\"n\":%u,\"c\":%u,\"h\":%u,\"w\":%u", k->n, k->c, k->h, k->w);
        TSL_TRY(
            tsl_bench_case(run, "avgpool_forward", params, 1.0 * avg_in, 4.0 * avg_in, record_avgpool, k));
    }
    return TSL_OK;
}

tsl_status tsl_bench_pointwise_pool(tsl_bench_run *run) {
    pool_ctx k = {0};
    tsl_status st = pointwise_and_pool_cases(run, &k);
    tsl_vk_buffer *all[] = {&k.a, &k.b, &k.y, &k.indices, &k.dy, &k.dx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tsl_vk_free(run->device, all[i]);
    return st;
}
