/* `tessl bench train`: images per second of whole TeSSL training steps (forward and backward through the
 * trunk and both projectors, the loss, the optimiser step) on random inputs, after warm-up steps; with
 * --profile, the device time of each kernel from timestamp queries. tools/bench_train_torch.py times the
 * same step in PyTorch. */
#include "bench_clock.h"
#include "tsl_bench.h"
#include "tsl_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static tsl_status model_config(const tsl_bench_train_options *o, tsl_model_config *c) {
    tsl_resnet_arch arch;
    TSL_TRY(tsl_resnet_arch_parse(o->arch, &arch));
    tsl_model_config_default(c, arch);
    c->base_width = o->width;
    c->image_h = c->image_w = o->res;
    c->batch = (uint32_t)o->batch;
    c->projector = o->projector;
    c->lambda = (float)o->lambda;
    c->update_in_backward = !o->separate_update;
    return tsl_optimizer_parse(o->optimizer, &c->optimizer);
}

/* One step, as tessl train takes it minus loading and augmentation; waits for the optimiser step (through
 * the gradient norms it writes), so that each step's time is its own. */
static tsl_status one_step(tsl_model *m, tsl_vk_range images, int64_t step, int batch, float *norms,
                           double *loss) {
    tsl_loss_terms terms;
    double scale = 2.0 * batch / 256.0;
    tsl_optimizer_config opt = {.lr_weights = (float)(0.2 * scale),
                                .lr_biases = (float)(0.0048 * scale),
                                .weight_decay = 1e-6f,
                                .momentum = 0.9f,
                                .eta = 0.001f,
                                .beta1 = 0.9,
                                .beta2 = 0.999,
                                .eps = 1e-8,
                                .step = (uint64_t)step + 1};
    TSL_TRY(tsl_model_train_step(m, images, (tsl_vk_range){0}, step, &opt, &terms));
    *loss = terms.total;
    return tsl_model_grad_norms(m, norms);
}

static void print_profile(tsl_vk_device *d, int steps, double wall) {
    tsl_vk_profile_row *rows;
    uint32_t n;
    uint64_t untimed;
    if (tsl_vk_profile_report(d, &rows, &n, &untimed) != TSL_OK)
        return;
    double total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += rows[i].ms;
    printf("\nper-kernel device time over the %d timed steps (timestamp queries; %.1f ms of %.1f ms wall per "
           "step):\n",
           steps, total / steps, wall * 1e3 / steps);
    printf("%-32s %10s %12s %12s %7s\n", "kernel", "commands", "ms in all", "ms per step", "share");
    for (uint32_t i = 0; i < n; i++)
        printf("%-32s %10llu %12.2f %12.2f %6.1f%%\n", rows[i].name, (unsigned long long)rows[i].count,
               rows[i].ms, rows[i].ms / steps, total > 0 ? 100.0 * rows[i].ms / total : 0.0);
    if (untimed)
        printf("(%llu commands found a recording's query pool full and are not timed)\n",
               (unsigned long long)untimed);
    free(rows);
}

static tsl_status run_steps(tsl_vk_device *d, tsl_model *m, tsl_vk_range images,
                            const tsl_bench_train_options *o, float *norms, double *wall_seconds) {
    double loss = 0;
    for (int i = 0; i < o->warmup; i++) {
        double t0 = now_seconds();
        TSL_TRY(one_step(m, images, i, o->batch, norms, &loss));
        printf("warm-up step %d: %.3f s (loss %.4f)\n", i, now_seconds() - t0, loss);
        fflush(stdout);
    }
    if (o->profile)
        tsl_vk_profile_reset(d);
    double start = now_seconds();
    tsl_bench_clock clock_start = tsl_bench_clock_now();
    for (int i = 0; i < o->steps; i++) {
        double t0 = now_seconds();
        TSL_TRY(one_step(m, images, o->warmup + i, o->batch, norms, &loss));
        printf("step %d: %.3f s (loss %.4f)\n", i, now_seconds() - t0, loss);
        fflush(stdout);
    }
    double wall = now_seconds() - start;
    double cpu = tsl_bench_clock_since(clock_start).cpu;
    printf("tessl: %.2f img/s (%.3f s per step, %d steps after %d warm-up); %.2f images per CPU second (all "
           "threads, lavapipe's included)\n",
           4.0 * o->batch * o->steps / wall, wall / o->steps, o->steps, o->warmup,
           4.0 * o->batch * o->steps / cpu);
    if (o->profile)
        printf("(profiling on: timestamps after every command add their own cost)\n");
    *wall_seconds = wall;
    return TSL_OK;
}

/* The peak of tessl's device memory over the run (every pool: on a CPU driver all are host memory), in
 * all and per image: the figure docs/PERFORMANCE.md compares with PyTorch's peak tensor memory. */
static void print_memory(tsl_vk_device *d, const tsl_model *m, int batch) {
    tsl_vk_memory_stats s;
    tsl_vk_memory_stats_get(d, &s);
    uint64_t peak = 0, reserved = 0;
    for (int k = 0; k < TSL_MEM_KIND_COUNT; k++) {
        peak += s.peak_bytes_in_use[k];
        reserved += s.bytes_reserved[k];
    }
    printf("peak memory in use: %.1f MiB (%.1f MiB per image; device pool %.1f MiB, upload %.1f, download "
           "%.1f); activations %.1f MiB in %d allocation(s); %.1f MiB reserved from the driver at the end\n",
           peak / 1048576.0, peak / 1048576.0 / (4.0 * batch),
           s.peak_bytes_in_use[TSL_MEM_DEVICE] / 1048576.0, s.peak_bytes_in_use[TSL_MEM_UPLOAD] / 1048576.0,
           s.peak_bytes_in_use[TSL_MEM_DOWNLOAD] / 1048576.0, tsl_model_activation_bytes(m) / 1048576.0,
           tsl_model_activation_allocations(m), reserved / 1048576.0);
}

tsl_status tsl_bench_train(tsl_vk_device *d, const tsl_bench_train_options *o) {
    tsl_model_config c;
    TSL_TRY(model_config(o, &c));
    if (o->profile)
        TSL_TRY(tsl_vk_profile_enable(d));
    tsl_model *m = NULL;
    TSL_TRY(tsl_model_create(d, &c, &m));
    int n = 0;
    const tsl_model_tensor *all = tsl_model_tensors(m, &n);
    int n_params = 0;
    while (n_params < n && all[n_params].kind == TSL_MT_PARAM)
        n_params++;
    const tsl_vk_features *f = tsl_vk_device_features(d);
    printf("%s (width %d) at %d px, %d pairs (%d images) per step, projector %s, lambda %g, %s (%s); "
           "%.1f M parameters, %.1f MiB of activations; %s\n",
           o->arch, o->width, o->res, o->batch, 4 * o->batch, o->projector, o->lambda, o->optimizer,
           o->separate_update ? "after the backward pass" : "inside the backward pass",
           tsl_model_parameter_count(m) / 1e6, tsl_model_activation_bytes(m) / 1048576.0, f->name);
    tsl_bench_run run = {.device = d};
    tsl_vk_buffer images = {0};
    float *norms = calloc((size_t)n_params, sizeof *norms);
    double wall = 0;
    tsl_status st = norms ? tsl_model_init_random(m, 0) : tsl_error(TSL_ERR_NOMEM, "out of memory");
    if (st == TSL_OK)
        st = tsl_bench_random_buffer(&run, 4ull * o->batch * 3 * o->res * o->res, 1, "benchmark images",
                                     &images);
    if (st == TSL_OK)
        st = run_steps(d, m, images.range, o, norms, &wall);
    if (st == TSL_OK)
        print_memory(d, m, o->batch);
    tsl_vk_free(d, &images);
    tsl_model_destroy(m); /* its recorder's last submission is collected into the profile here */
    free(norms);
    if (st == TSL_OK && o->profile)
        print_profile(d, o->steps, wall);
    return st;
}
