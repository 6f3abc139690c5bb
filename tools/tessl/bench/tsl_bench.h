/* Kernel benchmarks: each case records one iteration of a kernel into a command buffer; the harness
 * repeats it, times whole submissions, and reports the best of several trials as time, GFLOP/s and GB/s.
 * Rows print as a table, or as JSON lines (--json) that tools/bench_ops_vs_torch.py replays in PyTorch. */
#ifndef TSL_BENCH_H
#define TSL_BENCH_H

#include "tsl_vk.h"

#include <stdbool.h>

typedef struct {
    tsl_vk_device *device;
    tsl_vk_cmd *cmd;
    int batch, res;     /* the network shapes being benchmarked */
    double min_seconds; /* per trial */
    const char *filter; /* run only ops whose name contains this (NULL: all) */
    bool json;
    bool tensor_cores; /* the device has a cooperative-matrix extension enabled: add the tensor-core rows */
    int rows;
} tsl_bench_run;

/* Records one iteration of the case into `cmd`. */
typedef tsl_status (*tsl_bench_record_fn)(tsl_bench_run *run, void *ctx);

/* Times one case. `params` is a JSON object body ("\"n\":32,\"c\":64") naming the shape in terms the
 * PyTorch replay understands; `flops` and `bytes` are per iteration (bytes: the minimum traffic, each
 * input read once and each output written once). Skips the case (returning TSL_OK) when it does not
 * match the filter. */
tsl_status tsl_bench_case(tsl_bench_run *run, const char *op, const char *params, double flops, double bytes,
                          tsl_bench_record_fn record, void *ctx);

/* True when `op` passes the run's filter (so setup work can be skipped). */
bool tsl_bench_selected(const tsl_bench_run *run, const char *op);

/* Allocates a device buffer filled with uniform random floats in [-1, 1) from `seed`. */
tsl_status tsl_bench_random_buffer(tsl_bench_run *run, uint64_t floats, uint32_t seed, const char *name,
                                   tsl_vk_buffer *buffer);

/* Op families. */
tsl_status tsl_bench_elementwise(tsl_bench_run *run);
tsl_status tsl_bench_conv(tsl_bench_run *run);
tsl_status tsl_bench_batchnorm(tsl_bench_run *run);
tsl_status tsl_bench_pointwise_pool(tsl_bench_run *run);
tsl_status tsl_bench_matrix(tsl_bench_run *run);

/* `tessl bench augment`. */
tsl_status tsl_bench_augment(tsl_bench_run *run);

/* `tessl bench train` (bench_train.c): whole TeSSL steps of a full-width model on random images. */
typedef struct {
    const char *arch, *projector, *optimizer;
    int batch, res, steps, warmup; /* batch: pairs per step */
    int width;                     /* base width (64: torchvision's) */
    double lambda;                 /* 0 drops g_equi */
    bool profile;                  /* print per-kernel device times (timestamp queries) */
    bool separate_update;          /* every gradient kept, the optimiser after the backward pass (as a
                                      data-parallel run); else updates inside it (tessl train alone) */
} tsl_bench_train_options;

tsl_status tsl_bench_train(tsl_vk_device *device, const tsl_bench_train_options *options);

#endif
