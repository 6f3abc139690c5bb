/* `tessl bench KIND`: speed measurements (docs/PERFORMANCE.md records them beside PyTorch's). */
#include "tsl_bench.h"
#include "tsl_cli.h"

#include <string.h>

typedef struct {
    const char *name;
    tsl_status (*run)(tsl_bench_run *run);
} bench_family;

/* Kernel families of `tessl bench ops`, in the order printed. */
static const bench_family op_families[] = {
    {"elementwise", tsl_bench_elementwise},
    {"batch norm", tsl_bench_batchnorm},
    {"pointwise and pooling", tsl_bench_pointwise_pool},
    {"matrix", tsl_bench_matrix},
};

static tsl_status bench_ops(tsl_bench_run *run) {
    for (size_t i = 0; i < sizeof op_families / sizeof op_families[0]; i++)
        TSL_TRY_CTX(op_families[i].run(run), "benchmarking %s kernels", op_families[i].name);
    return TSL_OK;
}

/* What `tessl bench KIND` measures. */
static const bench_family kinds[] = {
    {"ops", bench_ops},
    {"augment", tsl_bench_augment},
};

static const bench_family *find_kind(const char *name) {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    return NULL;
}

int tsl_cmd_bench(int argc, char **argv) {
    int64_t device = -1, batch = 32, res = 224;
    double min_time = 0.3;
    const char *filter = NULL;
    bool json = false;
    tsl_opt opts[] = {
        TSL_CLI_DEVICE_OPTION(&device),
        {"--batch", TSL_OPT_INT, &batch, "N", "batch size of the benchmarked network", 1, 4096},
        {"--res", TSL_OPT_INT, &res, "PX", "input resolution of the benchmarked network", 8, 1024},
        {"--min-time", TSL_OPT_DOUBLE, &min_time, "SECONDS", "time per trial (best of 3 trials)", 0, 0},
        {"--filter", TSL_OPT_STRING, &filter, "TEXT", "only ops whose name contains TEXT", 0, 0},
        {"--json", TSL_OPT_FLAG, &json, NULL, "one JSON object per row (for tools/bench_ops_vs_torch.py)", 0,
         0},
    };
    tsl_command_spec spec = {
        .name = "tessl bench",
        .args = "KIND",
        .summary = "Measures speed. KIND is:\n"
                   "  ops      every kernel at the shapes of ResNet-50 (--res, --batch)\n"
                   "  augment  the TeSSL augmentation chain: --batch pairs (4 outputs each) at --res pixels",
        .details =
            "Each row is the best of 3 trials of repeated iterations in one submission. Compare with\n"
            "PyTorch on the same machine: tools/bench_ops_vs_torch.py (records in docs/PERFORMANCE.md).",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
        .min_positional = 1,
        .max_positional = 1,
    };
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    const bench_family *kind = find_kind(args.positional[0]);
    if (!kind)
        return tsl_cli_fail(tsl_error(TSL_ERR_INVALID_ARG,
                                      "tessl bench: unknown benchmark '%s' (expected ops or augment)",
                                      args.positional[0]));
    tsl_bench_run run = {
        .batch = (int)batch, .res = (int)res, .min_seconds = min_time, .filter = filter, .json = json};
    tsl_status st = tsl_cli_open_device(device, &run.device);
    if (st == TSL_OK)
        st = tsl_vk_cmd_create(run.device, &run.cmd);
    if (st == TSL_OK)
        st = kind->run(&run);
    tsl_vk_cmd_destroy(run.cmd);
    tsl_status closed = run.device ? tsl_cli_close_device(run.device) : TSL_OK;
    st = st != TSL_OK ? st : closed;
    return st == TSL_OK ? TSL_EXIT_OK : tsl_cli_fail(st);
}
