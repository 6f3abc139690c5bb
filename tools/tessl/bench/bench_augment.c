/* `tessl bench augment`: output images per second of the TeSSL augmentation chain for a batch of pairs
 * (4 outputs per pair: both images under t and t'), from stored RGB8 images of ImageNet's shard size.
 * The host side (parameter sampling and packing) is timed apart from the device side. */
#include "tsl_augment.h"
#include "tsl_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    uint32_t pairs, n_out;
    tsl_augment_output out;
    tsl_augment_config config;
    tsl_augment_source *sources;
    uint32_t *widths, *heights, *half1, *half2;
    tsl_augment_sample *samples;
    tsl_augment_job *jobs;
    tsl_augment_record *records;
    tsl_vk_buffer images, params, scratch, output;
} augment_ctx;

/* Draws parameters for one batch and packs the device records (what the trainer does per step). */
static tsl_status host_side(augment_ctx *a, uint64_t step) {
    TSL_TRY(tsl_augment_sample_batch(&a->config, 1, 0, step, a->pairs, a->widths, a->heights, a->samples));
    tsl_augment_tessl_jobs(a->pairs, a->half1, a->half2, a->samples, a->jobs);
    return tsl_augment_pack(a->sources, 2 * a->pairs, a->jobs, a->n_out, a->records);
}

static tsl_status record_augment(tsl_bench_run *run, void *ctx) {
    augment_ctx *a = ctx;
    return tsl_augment_record_batch(run->device, run->cmd, &a->out, a->records, a->n_out, a->images.range,
                                    a->params.range, a->scratch.range, a->output.range);
}

/* Random RGB8 sources of 256 x 341 (a 4:3 ImageNet image after `tessl shard --short-side 256`). */
static tsl_status make_sources(tsl_bench_run *run, augment_ctx *a, uint32_t w, uint32_t h) {
    uint32_t n = 2 * a->pairs;
    uint64_t bytes_each = ((uint64_t)w * h * 3 + 3) / 4 * 4;
    uint8_t *pixels = malloc(bytes_each * n);
    if (!pixels)
        return tsl_error(TSL_ERR_NOMEM, "out of memory for %u source images", n);
    uint32_t state = 7;
    for (uint64_t i = 0; i < bytes_each * n; i++) {
        state = state * 1664525u + 1013904223u;
        pixels[i] = (uint8_t)(state >> 24);
    }
    for (uint32_t i = 0; i < n; i++) {
        a->sources[i] = (tsl_augment_source){i * bytes_each, w, h};
        (i < a->pairs ? a->half1 : a->half2)[i % a->pairs] = i;
    }
    for (uint32_t i = 0; i < a->pairs; i++) {
        a->widths[i] = w;
        a->heights[i] = h;
    }
    tsl_status st =
        tsl_vk_alloc(run->device, TSL_MEM_DEVICE, bytes_each * n, "bench source images", &a->images);
    if (st == TSL_OK)
        st = tsl_vk_upload(run->device, a->images.range, pixels);
    free(pixels);
    return st;
}

static tsl_status setup(tsl_bench_run *run, augment_ctx *a, uint32_t pairs, uint32_t size) {
    a->pairs = pairs;
    a->n_out = 4 * pairs;
    tsl_augment_output_default(&a->out, size);
    tsl_augment_config_default(&a->config);
    a->sources = calloc(2 * pairs, sizeof *a->sources);
    a->widths = calloc(pairs, sizeof *a->widths);
    a->heights = calloc(pairs, sizeof *a->heights);
    a->half1 = calloc(pairs, sizeof *a->half1);
    a->half2 = calloc(pairs, sizeof *a->half2);
    a->samples = calloc(2 * (size_t)pairs, sizeof *a->samples);
    a->jobs = calloc(a->n_out, sizeof *a->jobs);
    a->records = calloc(a->n_out, sizeof *a->records);
    if (!a->sources || !a->widths || !a->heights || !a->half1 || !a->half2 || !a->samples || !a->jobs ||
        !a->records)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    TSL_TRY(make_sources(run, a, 341, 256));
    TSL_TRY(host_side(a, 0));
    TSL_TRY(tsl_vk_alloc(run->device, TSL_MEM_DEVICE, (uint64_t)a->n_out * sizeof *a->records,
                         "bench records", &a->params));
    TSL_TRY(tsl_vk_upload(run->device, a->params.range, a->records));
    TSL_TRY(tsl_vk_alloc(run->device, TSL_MEM_DEVICE, tsl_augment_scratch_bytes(&a->out, a->n_out),
                         "bench scratch", &a->scratch));
    return tsl_vk_alloc(run->device, TSL_MEM_DEVICE, tsl_augment_output_bytes(&a->out, a->n_out),
                        "bench output", &a->output);
}

static tsl_status time_host_side(augment_ctx *a, double *seconds) {
    int reps = 0;
    double t0 = now_seconds();
    do {
        TSL_TRY(host_side(a, (uint64_t)reps + 1));
        reps++;
    } while (now_seconds() - t0 < 0.2);
    *seconds = (now_seconds() - t0) / reps;
    return TSL_OK;
}

static void teardown(tsl_bench_run *run, augment_ctx *a) {
    tsl_vk_buffer *all[] = {&a->images, &a->params, &a->scratch, &a->output};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tsl_vk_free(run->device, all[i]);
    free(a->sources);
    free(a->widths);
    free(a->heights);
    free(a->half1);
    free(a->half2);
    free(a->samples);
    free(a->jobs);
    free(a->records);
}

tsl_status tsl_bench_augment(tsl_bench_run *run) {
    augment_ctx a = {0};
    uint32_t size = (uint32_t)run->res;
    tsl_status st = setup(run, &a, (uint32_t)run->batch, size);
    char params[96];
    snprintf(params, sizeof params, "\"pairs\":%d,\"outputs\":%u,\"size\":%u,\"src\":\"341x256\"", run->batch,
             a.n_out, size);
    if (st == TSL_OK)
        st = tsl_bench_case(run, "augment_tessl_batch", params, 0, (double)a.n_out * 3 * size * size * 4,
                            record_augment, &a);
    double host = 0;
    if (st == TSL_OK)
        st = time_host_side(&a, &host);
    if (st == TSL_OK && !run->json)
        printf("host side (sampling + packing): %.3f ms per batch, %.0f output images/s on one core\n",
               host * 1e3, a.n_out / host);
    else if (st == TSL_OK)
        printf("{\"op\":\"augment_host_side\",%s,\"seconds\":%.9g}\n", params, host);
    teardown(run, &a);
    return st;
}
