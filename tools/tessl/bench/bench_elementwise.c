/* Elementwise kernels at the size of ResNet-50's largest activation at the benchmarked shape. */
#include "tsl_bench.h"
#include "tsl_elementwise.h"
#include "tsl_reduce.h"

#include <stdio.h>

typedef struct {
    tsl_vk_buffer x, y, scratch, out;
} elementwise_ctx;

static tsl_status record_axpy(tsl_bench_run *run, void *ctx) {
    elementwise_ctx *c = ctx;
    return tsl_axpy_f32(run->device, run->cmd, 0.5f, c->x.range, c->y.range);
}

static tsl_status record_copy(tsl_bench_run *run, void *ctx) {
    elementwise_ctx *c = ctx;
    return tsl_copy_u32(run->device, run->cmd, c->x.range, c->y.range);
}

static tsl_status record_sum(tsl_bench_run *run, void *ctx) {
    elementwise_ctx *c = ctx;
    return tsl_reduce_sum_f32(run->device, run->cmd, c->x.range, c->scratch.range, c->out.range);
}

static tsl_status run_cases(tsl_bench_run *run, elementwise_ctx *c, uint64_t n) {
    char params[96];
    snprintf(params, sizeof params, "\"n\":%llu", (unsigned long long)n);
    TSL_TRY(tsl_bench_random_buffer(run, n, 1, "bench x", &c->x));
    TSL_TRY(tsl_bench_random_buffer(run, n, 2, "bench y", &c->y));
    TSL_TRY(tsl_vk_alloc(run->device, TSL_MEM_DEVICE, tsl_reduce_sum_scratch_bytes(n), "bench scratch",
                         &c->scratch));
    TSL_TRY(tsl_vk_alloc(run->device, TSL_MEM_DEVICE, 4, "bench sum", &c->out));
    TSL_TRY(tsl_bench_case(run, "axpy_f32", params, 2.0 * n, 12.0 * n, record_axpy, c));
    TSL_TRY(tsl_bench_case(run, "copy_u32", params, 0, 8.0 * n, record_copy, c));
    return tsl_bench_case(run, "reduce_sum_f32", params, 1.0 * n, 4.0 * n, record_sum, c);
}

tsl_status tsl_bench_elementwise(tsl_bench_run *run) {
    /* conv1's output, N x 64 x H/2 x W/2, the largest activation of the network. */
    uint64_t half = (uint64_t)(run->res + 1) / 2;
    uint64_t n = (uint64_t)run->batch * 64 * half * half;
    uint64_t max_floats = tsl_vk_device_features(run->device)->max_storage_buffer_range / 4;
    if (n > max_floats)
        n = max_floats; /* reduce_sum binds its input whole */
    elementwise_ctx c = {0};
    tsl_status st = run_cases(run, &c, n);
    tsl_vk_free(run->device, &c.x);
    tsl_vk_free(run->device, &c.y);
    tsl_vk_free(run->device, &c.scratch);
    tsl_vk_free(run->device, &c.out);
    return st;
}
