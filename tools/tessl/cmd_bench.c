/* `tessl bench KIND`: speed measurements (docs/PERFORMANCE.md records them beside PyTorch's). */
#include "tsl_bench.h"
#include "tsl_bench_data.h"
#include "tsl_cli.h"
#include "tsl_shard_build.h"
#include "tsl_batchnorm.h"
#include "tsl_conv2d.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    tsl_status (*run)(tsl_bench_run *run);
} bench_family;

/* Kernel families of `tessl bench ops`, in the order printed. */
static const bench_family op_families[] = {
    {"convolution", tsl_bench_conv},
    {"batch norm", tsl_bench_batchnorm},
    {"pointwise and pooling", tsl_bench_pointwise_pool},
    {"matrix", tsl_bench_matrix},
    {"elementwise", tsl_bench_elementwise},
};

static tsl_status bench_ops(tsl_bench_run *run) {
    for (size_t i = 0; i < sizeof op_families / sizeof op_families[0]; i++)
        TSL_TRY_CTX(op_families[i].run(run), "benchmarking %s kernels", op_families[i].name);
    return TSL_OK;
}

/* Everything the options give, for any KIND. */
typedef struct {
    int64_t device, batch, res, threads, level, steps, warmup, width, bn_slice;
    double min_time, lambda;
    const char *filter, *data, *arch, *projector, *optimizer, *conv_tiles;
    bool json, paired, no_filter, profile, tensor_cores, separate_update;
} bench_args;

/* Closes `device` (when one was opened) after a benchmark that ended with `st`; the first failure wins. */
static tsl_status close_device_after(tsl_vk_device *device, tsl_status st) {
    tsl_status closed = device ? tsl_cli_close_device(device) : TSL_OK;
    return st != TSL_OK ? st : closed;
}

/* Runs a device benchmark (`ops`, `augment`) whose --batch defaults to `default_batch`. */
static tsl_status run_device_bench(const bench_args *a, tsl_status (*bench)(tsl_bench_run *),
                                   int default_batch) {
    tsl_bench_run run = {.batch = a->batch ? (int)a->batch : default_batch,
                         .res = (int)a->res,
                         .min_seconds = a->min_time,
                         .filter = a->filter,
                         .json = a->json,
                         .tensor_cores = a->tensor_cores};
    tsl_status st = tsl_cli_open_device_with(
        a->device, a->tensor_cores ? TSL_VK_TENSOR_CORES_PREFER_KHR : TSL_VK_TENSOR_CORES_OFF, &run.device);
    if (st == TSL_OK && a->tensor_cores &&
        tsl_vk_device_features(run.device)->coopmat_enabled == TSL_VK_COOPMAT_NONE)
        st = tsl_error(TSL_ERR_UNSUPPORTED,
                       "tessl bench --tensor-cores: %s offers no tensor-core GEMM (VK_KHR_ or "
                       "VK_NV_cooperative_matrix with fp16 16x16x16; see tessl devices)",
                       tsl_vk_device_features(run.device)->name);
    if (st == TSL_OK)
        st = tsl_vk_cmd_create(run.device, &run.cmd);
    if (st == TSL_OK)
        st = bench(&run);
    tsl_vk_cmd_destroy(run.cmd);
    return close_device_after(run.device, st);
}

static tsl_bench_data_options data_options(const bench_args *a, const char *data) {
    return (tsl_bench_data_options){.data = data,
                                    .threads = (int)a->threads,
                                    .batch = a->batch ? (int)a->batch : 256,
                                    .paired = a->paired,
                                    .level = (int)a->level,
                                    .no_filter = a->no_filter,
                                    .min_seconds = a->min_time > 1 ? a->min_time : 1};
}

static tsl_status run_loader(const bench_args *a) {
    if (!a->data)
        return tsl_error(TSL_ERR_INVALID_ARG, "tessl bench loader: --data SHARDS is required");
    tsl_bench_data_options o = data_options(a, a->data);
    tsl_vk_device *device = NULL;
    tsl_status st = tsl_cli_open_device(a->device, &device);
    if (st == TSL_OK)
        st = tsl_bench_loader(device, &o);
    return close_device_after(device, st);
}

static tsl_status run_train(const bench_args *a) {
    tsl_bench_train_options o = {.arch = a->arch,
                                 .projector = a->projector,
                                 .optimizer = a->optimizer,
                                 .batch = a->batch ? (int)a->batch : 8,
                                 .res = (int)a->res,
                                 .steps = (int)a->steps,
                                 .warmup = (int)a->warmup,
                                 .width = (int)a->width,
                                 .lambda = a->lambda,
                                 .profile = a->profile,
                                 .separate_update = a->separate_update};
    tsl_vk_device *device = NULL;
    tsl_status st = tsl_cli_open_device(a->device, &device);
    if (st == TSL_OK)
        st = tsl_bench_train(device, &o);
    return close_device_after(device, st);
}

static tsl_status run_shard(const bench_args *a, const char *src) {
    tsl_bench_data_options o = data_options(a, src);
    return tsl_bench_shard(&o);
}

/* --conv-tiles "FMxFN,DMxDN,WMxWN" and --bn-slice: the kernels' tuning hooks, before any work. */
static tsl_status apply_tuning(const bench_args *a) {
    if (a->bn_slice)
        tsl_batchnorm_set_test_threshold((uint32_t)a->bn_slice);
    if (!a->conv_tiles)
        return TSL_OK;
    uint32_t t[3][2];
    int used = 0;
    if (sscanf(a->conv_tiles, "%ux%u,%ux%u,%ux%u%n", &t[0][0], &t[0][1], &t[1][0], &t[1][1], &t[2][0],
               &t[2][1], &used) != 6 ||
        a->conv_tiles[used] != '\0')
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "tessl bench --conv-tiles '%s': expected three tiles, forward, dx and dw, as "
                         "MxN,MxN,MxN (0x0: built-in)",
                         a->conv_tiles);
    return tsl_conv2d_set_gpu_tiles(t);
}

/* Runs the benchmark that the first positional argument names. */
static tsl_status run_kind(const bench_args *a, const tsl_args_result *args) {
    const char *kind = args->positional[0];
    bool has_src = args->n_positional > 1;
    if (strcmp(kind, "shard") == 0)
        return has_src ? run_shard(a, args->positional[1])
                       : tsl_error(TSL_ERR_INVALID_ARG,
                                   "tessl bench shard: SRC (an ImageFolder tree) is required");
    if (has_src)
        return tsl_error(TSL_ERR_INVALID_ARG, "tessl bench %s: unexpected argument '%s'", kind,
                         args->positional[1]);
    if (strcmp(kind, "ops") == 0)
        return run_device_bench(a, bench_ops, 32); /* ResNet-50's usual per-GPU batch */
    if (strcmp(kind, "augment") == 0)
        return run_device_bench(a, tsl_bench_augment, 256);
    if (strcmp(kind, "loader") == 0)
        return run_loader(a);
    if (strcmp(kind, "train") == 0)
        return run_train(a);
    return tsl_error(TSL_ERR_INVALID_ARG,
                     "tessl bench: unknown benchmark '%s' (expected: ops, augment, loader, shard, train)",
                     kind);
}

int tsl_cmd_bench(int argc, char **argv) {
    tsl_shard_options shard_defaults;
    tsl_shard_options_default(&shard_defaults);
    bench_args a = {.device = -1,
                    .batch = 0, /* per KIND */
                    .res = 224,
                    .min_time = 0.3,
                    .level = shard_defaults.level,
                    .steps = 3,
                    .warmup = 1,
                    .width = 64,
                    .lambda = 0.2,
                    .arch = "resnet50",
                    .projector = "8192-8192-8192",
                    .optimizer = "lars"};
    tsl_opt opts[] = {
        TSL_CLI_DEVICE_OPTION(&a.device),
        {"--batch", TSL_OPT_INT, &a.batch, "N",
         "batch size: ops 32, augment 256 pairs, loader 256, train 8 pairs (defaults)", 1, 4096},
        {"--res", TSL_OPT_INT, &a.res, "PX", "input resolution of the benchmarked network", 8, 1024},
        {"--min-time", TSL_OPT_DOUBLE, &a.min_time, "SECONDS",
         "time per trial (ops: best of 3 trials; loader: at least 1 s)", 0, 0},
        {"--filter", TSL_OPT_STRING, &a.filter, "TEXT", "only ops whose name contains TEXT", 0, 0},
        {"--json", TSL_OPT_FLAG, &a.json, NULL, "one JSON object per row (for tools/bench_ops_vs_torch.py)",
         0, 0},
        {"--data", TSL_OPT_STRING, &a.data, "SHARDS", "loader: a shard directory or the OUT of tessl shard",
         0, 0},
        {"--threads", TSL_OPT_INT, &a.threads, "T", "loader / shard: worker threads (0: one per CPU)", 0,
         1024},
        {"--paired", TSL_OPT_FLAG, &a.paired, NULL, "loader: TeSSL pairs (2 images per batch row)", 0, 0},
        {"--level", TSL_OPT_INT, &a.level, "L", "shard: as tessl shard --level (0: uncompressed)", -7, 19},
        {"--no-filter", TSL_OPT_FLAG, &a.no_filter, NULL,
         "shard: store raw pixels, as tessl shard --no-filter", 0, 0},
        {"--arch", TSL_OPT_STRING, &a.arch, "NAME", "train: resnet18, resnet34 or resnet50", 0, 0},
        {"--width", TSL_OPT_INT, &a.width, "N", "train: base width (64: torchvision's)", 1, 1024},
        {"--steps", TSL_OPT_INT, &a.steps, "N", "train: timed steps", 1, 1 << 20},
        {"--warmup", TSL_OPT_INT, &a.warmup, "N", "train: untimed steps first", 0, 1 << 20},
        {"--lambda", TSL_OPT_DOUBLE, &a.lambda, "L", "train: equivariance weight (0: no g_equi)", 0, 0},
        {"--projector", TSL_OPT_STRING, &a.projector, "A-B-C", "train: projector sizes (both heads)", 0, 0},
        {"--optimizer", TSL_OPT_STRING, &a.optimizer, "NAME", "train: lars, sgd or adamw", 0, 0},
        {"--profile", TSL_OPT_FLAG, &a.profile, NULL, "train: per-kernel device times from timestamp queries",
         0, 0},
        {"--separate-update", TSL_OPT_FLAG, &a.separate_update, NULL,
         "train: keep every gradient and update after the backward pass, as a data-parallel run does "
         "(default: each weight inside it, as tessl train on one process)",
         0, 0},
        {"--conv-tiles", TSL_OPT_STRING, &a.conv_tiles, "FxF,DxD,WxW",
         "ops, train: the GPU conv kernels' register tiles (channels x columns) of forward, dx and dw, to "
         "tune them (0x0: built-in)",
         0, 0},
        {"--bn-slice", TSL_OPT_INT, &a.bn_slice, "N",
         "ops, train: values per BatchNorm lane, to tune it (0: built-in)", 0, 8192},
        {"--tensor-cores", TSL_OPT_FLAG, &a.tensor_cores, NULL,
         "ops: add GEMM rows on tensor cores (cooperative matrices, KHR else NV; inputs rounded to fp16)", 0,
         0},
    };
    tsl_command_spec spec = {
        .name = "tessl bench",
        .args = "KIND [SRC]",
        .summary = "Measures speed. KIND is:\n"
                   "  ops           every kernel at the shapes of ResNet-50 (--res, --batch)\n"
                   "  augment       the TeSSL augmentation chain: --batch pairs (4 outputs each, default\n"
                   "                256) at --res pixels\n"
                   "  loader        images/s the streaming loader delivers into device memory (--data)\n"
                   "  shard SRC     images/s of shard writing from an ImageFolder SRC, beside plain\n"
                   "                TurboJPEG decoding of the same files\n"
                   "  train         images/s of whole TeSSL training steps (forward, backward, both\n"
                   "                projectors, loss, optimizer) on random images: --arch, --res, --batch\n"
                   "                pairs, --steps after --warmup; --profile adds per-kernel times",
        .details =
            "Each ops row is the best of 3 trials of repeated iterations in one submission. Compare with\n"
            "PyTorch on the same machine: tools/bench_ops_vs_torch.py, tools/bench_loader_torch.py and\n"
            "tools/bench_train_torch.py (records in docs/PERFORMANCE.md).",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
        .min_positional = 1,
        .max_positional = 2,
    };
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    tsl_status st = apply_tuning(&a);
    if (st == TSL_OK)
        st = run_kind(&a, &args);
    return st == TSL_OK ? TSL_EXIT_OK : tsl_cli_fail(st);
}
