/* The projector's linear layers and the Barlow Twins loss at the paper's sizes (2048 -> 8192 -> 8192,
 * D = 8192), a square GEMM for a plain FLOP rate, and the online classifier's cross-entropy. */
#include "tsl_barlow.h"
#include "tsl_bench.h"
#include "tsl_cross_entropy.h"
#include "tsl_gemm.h"
#include "tsl_half.h"
#include "tsl_linear.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    tsl_gemm_params gemm;
    tsl_linear_shape linear;
    tsl_barlow_params barlow;
    tsl_vk_buffer a, b, c, d, e, scratch, loss;
} matrix_ctx;

static void free_all(tsl_bench_run *run, matrix_ctx *m) {
    tsl_vk_buffer *all[] = {&m->a, &m->b, &m->c, &m->d, &m->e, &m->scratch, &m->loss};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tsl_vk_free(run->device, all[i]);
}

static tsl_status record_gemm(tsl_bench_run *run, void *ctx) {
    matrix_ctx *m = ctx;
    return tsl_gemm_f32(run->device, run->cmd, &m->gemm, m->a.range, m->b.range, m->c.range);
}

/* n halves uniform in [-1, 1) (the same stream as tsl_bench_random_buffer), for the fp16-storage cases. */
static tsl_status random_halves(tsl_bench_run *run, uint64_t n, uint32_t seed, const char *name,
                                tsl_vk_buffer *buffer) {
    uint16_t *host = malloc(n * sizeof *host);
    if (!host)
        return tsl_error(TSL_ERR_NOMEM, "out of memory for benchmark input %s", name);
    uint32_t state = seed * 2654435761u + 1;
    for (uint64_t i = 0; i < n; i++) {
        state = state * 1664525u + 1013904223u;
        host[i] = tsl_half_from_float((float)(state >> 8) / 8388608.0f - 1.0f);
    }
    tsl_status st = tsl_vk_alloc(run->device, TSL_MEM_DEVICE, n * 2, name, buffer);
    if (st == TSL_OK)
        st = tsl_vk_upload(run->device, buffer->range, host);
    free(host);
    return st;
}

/* A square 1024^3 GEMM with A, B, C all fp32 (gemm_f32) or all fp16 storage (gemm_f16, fp32
 * arithmetic; skipped without 16-bit storage); with `tensor_cores`, the same allowed to run on tensor
 * cores (gemm_f32_tensor_cores: inputs rounded to fp16; gemm_f16_tensor_cores). */
static tsl_status gemm_case(tsl_bench_run *run, bool half, bool tensor_cores) {
    const char *name = half ? (tensor_cores ? "gemm_f16_tensor_cores" : "gemm_f16")
                            : (tensor_cores ? "gemm_f32_tensor_cores" : "gemm_f32");
    if (!tsl_bench_selected(run, name) || (half && !tsl_vk_device_features(run->device)->fp16_storage))
        return TSL_OK;
    matrix_ctx m = {.gemm = tsl_gemm_params_make(1024, 1024, 1024, false, false)};
    m.gemm.allow_tensor_cores = tensor_cores;
    uint64_t n = 1024 * 1024;
    tsl_vk_buffer *bufs[] = {&m.a, &m.b, &m.c};
    const char *names[] = {"bench gemm a", "bench gemm b", "bench gemm c"};
    tsl_status st = TSL_OK;
    for (uint32_t i = 0; i < 3 && st == TSL_OK; i++)
        st = half ? random_halves(run, n, i + 1, names[i], bufs[i])
                  : tsl_bench_random_buffer(run, n, i + 1, names[i], bufs[i]);
    if (half)
        m.gemm.a_dtype = m.gemm.b_dtype = m.gemm.c_dtype = TSL_DTYPE_F16;
    if (st == TSL_OK)
        st = tsl_bench_case(run, name, "\"m\":1024,\"n\":1024,\"k\":1024", 2.0 * n * 1024,
                            (half ? 6.0 : 12.0) * n, record_gemm, &m);
    free_all(run, &m);
    return st;
}

static tsl_status gemm_cases(tsl_bench_run *run) {
    for (int tc = 0; tc <= (int)run->tensor_cores; tc++) {
        TSL_TRY(gemm_case(run, false, tc));
        TSL_TRY(gemm_case(run, true, tc));
    }
    return TSL_OK;
}

static tsl_status record_linear_forward(tsl_bench_run *run, void *ctx) {
    matrix_ctx *m = ctx;
    return tsl_linear_forward(run->device, run->cmd, m->linear, m->a.range, m->b.range, NULL, m->c.range);
}

static tsl_status record_linear_backward(tsl_bench_run *run, void *ctx) {
    matrix_ctx *m = ctx;
    return tsl_linear_backward(run->device, run->cmd, m->linear, m->a.range, m->b.range, m->c.range,
                               &m->d.range, m->e.range, NULL);
}

/* x (n x in), W (out x in), y and dy (n x out), dx (n x in), dW (out x in). */
static tsl_status linear_case(tsl_bench_run *run, uint32_t rows, uint32_t in, uint32_t out) {
    if (!tsl_bench_selected(run, "linear"))
        return TSL_OK;
    matrix_ctx m = {.linear = {rows, in, out}};
    tsl_status st = tsl_bench_random_buffer(run, (uint64_t)rows * in, 1, "bench x", &m.a);
    if (st == TSL_OK)
        st = tsl_bench_random_buffer(run, (uint64_t)out * in, 2, "bench W", &m.b);
    if (st == TSL_OK)
        st = tsl_bench_random_buffer(run, (uint64_t)rows * out, 3, "bench y/dy", &m.c);
    if (st == TSL_OK)
        st = tsl_bench_random_buffer(run, (uint64_t)rows * in, 4, "bench dx", &m.d);
    if (st == TSL_OK)
        st = tsl_bench_random_buffer(run, (uint64_t)out * in, 5, "bench dW", &m.e);
    char params[96];
    snprintf(params, sizeof params, "\"n\":%u,\"in\":%u,\"out\":%u", rows, in, out);
    double flops = 2.0 * rows * in * out;
    double bytes = 4.0 * ((double)rows * in + (double)in * out + (double)rows * out);
    if (st == TSL_OK)
        st = tsl_bench_case(run, "linear_forward", params, flops, bytes, record_linear_forward, &m);
    if (st == TSL_OK)
        st = tsl_bench_case(run, "linear_backward", params, 2 * flops, 2 * bytes, record_linear_backward, &m);
    free_all(run, &m);
    return st;
}

static tsl_status record_barlow_forward(tsl_bench_run *run, void *ctx) {
    matrix_ctx *m = ctx;
    TSL_TRY(
        tsl_barlow_cross_correlation(run->device, run->cmd, &m->barlow, m->a.range, m->b.range, m->c.range));
    return tsl_barlow_loss(run->device, run->cmd, &m->barlow, m->c.range, m->scratch.range, m->loss.range);
}

static tsl_status record_barlow_backward(tsl_bench_run *run, void *ctx) {
    matrix_ctx *m = ctx;
    TSL_TRY(tsl_barlow_loss_grad_c(run->device, run->cmd, &m->barlow, m->c.range, m->d.range));
    return tsl_barlow_backward(run->device, run->cmd, &m->barlow, m->a.range, m->b.range, m->d.range,
                               m->e.range, m->scratch.range);
}

/* za, zb (n x D); C and dC (D x D); dza (n x D) in e; dzb reuses scratch when large enough. */
static tsl_status barlow_case(tsl_bench_run *run, uint32_t rows, uint32_t dim) {
    if (!tsl_bench_selected(run, "barlow"))
        return TSL_OK;
    matrix_ctx m = {.barlow = {.n = rows, .dim = dim, .lambd = 0.0051f, .scale = 1.0f}};
    uint64_t z = (uint64_t)rows * dim, cc = (uint64_t)dim * dim;
    VkDeviceSize scratch = tsl_barlow_loss_scratch_bytes(run->device, &m.barlow);
    if (scratch < 4 * z)
        scratch = 4 * z;
    tsl_status st = tsl_bench_random_buffer(run, z, 1, "bench za", &m.a);
    if (st == TSL_OK)
        st = tsl_bench_random_buffer(run, z, 2, "bench zb", &m.b);
    if (st == TSL_OK)
        st = tsl_vk_alloc(run->device, TSL_MEM_DEVICE, 4 * cc, "bench C", &m.c);
    if (st == TSL_OK)
        st = tsl_vk_alloc(run->device, TSL_MEM_DEVICE, 4 * cc, "bench dC", &m.d);
    if (st == TSL_OK)
        st = tsl_vk_alloc(run->device, TSL_MEM_DEVICE, 4 * z, "bench dza", &m.e);
    if (st == TSL_OK)
        st = tsl_vk_alloc(run->device, TSL_MEM_DEVICE, scratch, "bench scratch", &m.scratch);
    if (st == TSL_OK)
        st = tsl_vk_alloc(run->device, TSL_MEM_DEVICE, 4, "bench loss", &m.loss);
    char params[96];
    snprintf(params, sizeof params, "\"n\":%u,\"d\":%u", rows, dim);
    if (st == TSL_OK)
        st = tsl_bench_case(run, "barlow_forward", params, 2.0 * z * dim + 3.0 * cc, 8.0 * z + 8.0 * cc,
                            record_barlow_forward, &m);
    if (st == TSL_OK) {
        m.scratch.range.size = 4 * z; /* dzb */
        st = tsl_bench_case(run, "barlow_backward", params, 4.0 * z * dim + 3.0 * cc, 16.0 * z + 12.0 * cc,
                            record_barlow_backward, &m);
    }
    free_all(run, &m);
    return st;
}

typedef struct {
    tsl_cross_entropy_shape shape;
    tsl_vk_buffer logits, labels, scratch, loss, dlogits;
} ce_ctx;

static tsl_status record_ce(tsl_bench_run *run, void *ctx) {
    ce_ctx *c = ctx;
    TSL_TRY(tsl_cross_entropy_loss(run->device, run->cmd, c->shape, c->logits.range, c->labels.range,
                                   c->scratch.range, c->loss.range));
    return tsl_cross_entropy_backward(run->device, run->cmd, c->shape, c->logits.range, c->labels.range,
                                      c->dlogits.range);
}

static tsl_status ce_case(tsl_bench_run *run, uint32_t rows, uint32_t classes) {
    if (!tsl_bench_selected(run, "cross_entropy"))
        return TSL_OK;
    ce_ctx c = {.shape = {rows, classes}};
    uint32_t *labels = calloc(rows, sizeof *labels);
    if (!labels)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < rows; i++)
        labels[i] = (i * 7919u) % classes;
    tsl_status st = tsl_bench_random_buffer(run, (uint64_t)rows * classes, 1, "bench logits", &c.logits);
    if (st == TSL_OK)
        st = tsl_vk_alloc(run->device, TSL_MEM_DEVICE, 4ull * rows, "bench labels", &c.labels);
    if (st == TSL_OK)
        st = tsl_vk_upload(run->device, c.labels.range, labels);
    if (st == TSL_OK)
        st = tsl_vk_alloc(run->device, TSL_MEM_DEVICE, tsl_cross_entropy_scratch_bytes(run->device, rows),
                          "bench ce scratch", &c.scratch);
    if (st == TSL_OK)
        st = tsl_vk_alloc(run->device, TSL_MEM_DEVICE, 4, "bench ce loss", &c.loss);
    if (st == TSL_OK)
        st = tsl_vk_alloc(run->device, TSL_MEM_DEVICE, 4ull * rows * classes, "bench dlogits", &c.dlogits);
    char params[64];
    snprintf(params, sizeof params, "\"n\":%u,\"classes\":%u", rows, classes);
    if (st == TSL_OK)
        st = tsl_bench_case(run, "cross_entropy_forward_backward", params, 6.0 * rows * classes,
                            8.0 * rows * classes, record_ce, &c);
    tsl_vk_buffer *all[] = {&c.logits, &c.labels, &c.scratch, &c.loss, &c.dlogits};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tsl_vk_free(run->device, all[i]);
    free(labels);
    return st;
}

tsl_status tsl_bench_matrix(tsl_bench_run *run) {
    TSL_TRY(gemm_cases(run));
    uint32_t rows = 2u * (uint32_t)run->batch; /* the invariant term sees both halves */
    TSL_TRY(linear_case(run, rows, 2048, 8192));
    TSL_TRY(linear_case(run, rows, 8192, 8192));
    TSL_TRY(barlow_case(run, rows, 8192));
    return ce_case(run, 4u * (uint32_t)run->batch, 1000);
}
