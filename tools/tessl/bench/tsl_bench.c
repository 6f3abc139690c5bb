#include "tsl_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TRIALS = 3, MAX_REPS = 1 << 16 };

static double clock_seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now_seconds(void) {
    return clock_seconds(CLOCK_MONOTONIC);
}

/* CPU time of every thread of this process: on a CPU driver (lavapipe runs its workers in-process) this
 * is the work a kernel costs, much less disturbed than wall time by other jobs sharing the cores. */
static double cpu_seconds(void) {
    return clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
}

bool tsl_bench_selected(const tsl_bench_run *run, const char *op) {
    return !run->filter || strstr(op, run->filter);
}

/* Seconds for `reps` iterations recorded into one submission. */
static tsl_status time_reps(tsl_bench_run *run, tsl_bench_record_fn record, void *ctx, int reps,
                            double *seconds, double *cpu) {
    TSL_TRY(tsl_vk_cmd_begin(run->cmd));
    tsl_status st = TSL_OK;
    for (int i = 0; i < reps && st == TSL_OK; i++)
        st = record(run, ctx);
    double t0 = now_seconds(), c0 = cpu_seconds();
    TSL_TRY(tsl_vk_cmd_submit_wait(run->cmd)); /* also ends a recording cut short by an error */
    *seconds = now_seconds() - t0;
    *cpu = cpu_seconds() - c0;
    return st;
}

static void print_row(tsl_bench_run *run, const char *op, const char *params, double seconds, double cpu,
                      double flops, double bytes, int reps) {
    double gflops = flops / seconds / 1e9, gbs = bytes / seconds / 1e9;
    if (run->json) {
        printf("{\"op\":\"%s\",%s,\"seconds\":%.9g,\"cpu_seconds\":%.9g,\"gflops\":%.4g,\"gbs\":%.4g,"
               "\"reps\":%d}\n",
               op, params, seconds, cpu, gflops, gbs, reps);
    } else {
        if (run->rows == 0)
            printf("%-28s %-58s %10s %9s %8s\n", "op", "shape", "ms", "GFLOP/s", "GB/s");
        char shape[128];
        size_t n = 0;
        for (const char *p = params; *p && n + 1 < sizeof shape; p++)
            if (*p != '"')
                shape[n++] = *p == ':' ? '=' : *p;
        shape[n] = '\0';
        printf("%-28s %-58s %10.3f %9.2f %8.2f\n", op, shape, seconds * 1e3, gflops, gbs);
    }
    fflush(stdout);
    run->rows++;
}

tsl_status tsl_bench_case(tsl_bench_run *run, const char *op, const char *params, double flops, double bytes,
                          tsl_bench_record_fn record, void *ctx) {
    if (!tsl_bench_selected(run, op))
        return TSL_OK;
    double warm, warm_cpu;
    TSL_TRY_CTX(time_reps(run, record, ctx, 1, &warm, &warm_cpu), "benchmark %s {%s}", op,
                params); /* builds pipelines */
    TSL_TRY(time_reps(run, record, ctx, 1, &warm, &warm_cpu));
    int reps = 1;
    if (warm < run->min_seconds)
        reps = (int)(run->min_seconds / (warm > 1e-6 ? warm : 1e-6));
    reps = reps < 1 ? 1 : reps > MAX_REPS ? MAX_REPS : reps;
    /* One trial when a single repetition already takes several trial lengths (full-size convolutions on a
     * CPU driver): the variance that trials guard against is small next to such a run. */
    int trials = warm > 3 * run->min_seconds ? 1 : TRIALS;
    double best = 0, best_cpu = 0;
    for (int t = 0; t < trials; t++) {
        double s, c;
        TSL_TRY(time_reps(run, record, ctx, reps, &s, &c));
        if (t == 0 || s < best)
            best = s;
        if (t == 0 || c < best_cpu)
            best_cpu = c;
    }
    print_row(run, op, params, best / reps, best_cpu / reps, flops, bytes, reps);
    return TSL_OK;
}

tsl_status tsl_bench_random_buffer(tsl_bench_run *run, uint64_t floats, uint32_t seed, const char *name,
                                   tsl_vk_buffer *buffer) {
    float *host = malloc(floats * sizeof *host);
    if (!host)
        return tsl_error(TSL_ERR_NOMEM, "out of memory for benchmark input %s", name);
    uint32_t state = seed * 2654435761u + 1;
    for (uint64_t i = 0; i < floats; i++) {
        state = state * 1664525u + 1013904223u;
        host[i] = (float)(state >> 8) / 8388608.0f - 1.0f;
    }
    tsl_status st = tsl_vk_alloc(run->device, TSL_MEM_DEVICE, floats * 4, name, buffer);
    if (st == TSL_OK)
        st = tsl_vk_upload(run->device, buffer->range, host);
    free(host);
    return st;
}
