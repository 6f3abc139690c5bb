/* `tessl sweep`: networks at several lambdas from one seed (trained here, or given), each analysed
 * against the smallest lambda (that one against a random initialisation, as tessl demo does), each
 * scored by tessl neural when neural data is given, then tessl report over all of them: the paper's
 * Figure 1 against lambda. Stages run as in tessl demo. */
#include "report.h"
#include "stage.h"
#include "tsl_cli.h"
#include "tsl_file.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_LAMBDAS = 32 };

typedef struct {
    const char *data, *out, *lambdas_text, *weights_text;
    const char *stimuli, *responses, *neural_layer; /* tessl neural, when stimuli and responses are given */
    int64_t device, seed, images, augmentations, splits, probe_images, neural_size;
    char **train_opts; /* after "--", forwarded to tessl train */
    int n_train_opts;
    double lambdas[MAX_LAMBDAS];
    char weights[MAX_LAMBDAS][REPORT_PATH];
    int n;
} sweep_args;

/* Splits a comma-separated list into at most MAX_LAMBDAS items, copied to items[0..*n). */
static tsl_status split_list(const char *text, const char *what, char items[][REPORT_PATH], int *n) {
    *n = 0;
    for (const char *p = text;; p++) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= REPORT_PATH)
            return tsl_error(TSL_ERR_INVALID_ARG, "tessl sweep: %s '%s' has an empty or too long item", what,
                             text);
        if (*n == MAX_LAMBDAS)
            return tsl_error(TSL_ERR_INVALID_ARG, "tessl sweep: %s has more than %d items", what,
                             MAX_LAMBDAS);
        memcpy(items[*n], p, len);
        items[(*n)++][len] = '\0';
        p += len;
        if (!*p)
            return TSL_OK;
    }
}

static tsl_status parse_lambdas(sweep_args *a) {
    char items[MAX_LAMBDAS][REPORT_PATH];
    int n;
    TSL_TRY(split_list(a->lambdas_text, "--lambdas", items, &n));
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        a->lambdas[i] = strtod(items[i], &end);
        if (*end || errno || !isfinite(a->lambdas[i]) || a->lambdas[i] < 0)
            return tsl_error(TSL_ERR_INVALID_ARG, "tessl sweep: --lambdas item '%s' is not a number >= 0",
                             items[i]);
        char text[2][32]; /* folders are named by %g: lambdas that print alike would share them */
        snprintf(text[0], sizeof text[0], "%g", a->lambdas[i]);
        for (int k = 0; k < i; k++) {
            snprintf(text[1], sizeof text[1], "%g", a->lambdas[k]);
            if (strcmp(text[0], text[1]) == 0)
                return tsl_error(TSL_ERR_INVALID_ARG, "tessl sweep: lambda %g is listed twice",
                                 a->lambdas[i]);
        }
    }
    if (a->n && n != a->n)
        return tsl_error(TSL_ERR_INVALID_ARG, "tessl sweep: %d lambdas for %d --weights-list files", n, a->n);
    a->n = n;
    return TSL_OK;
}

/* --weights-list: the files; their lambdas from --lambdas, else from each file's metadata. */
static tsl_status parse_weights(sweep_args *a) {
    TSL_TRY(split_list(a->weights_text, "--weights-list", a->weights, &a->n));
    if (a->lambdas_text)
        return TSL_OK;
    for (int i = 0; i < a->n; i++) {
        TSL_TRY_CTX(report_checkpoint_lambda(a->weights[i], &a->lambdas[i]),
                    "--weights-list (or give --lambdas)");
        for (int k = 0; k < i; k++)
            if (a->lambdas[k] == a->lambdas[i])
                return tsl_error(TSL_ERR_INVALID_ARG, "tessl sweep: %s and %s both have lambda %g",
                                 a->weights[k], a->weights[i], a->lambdas[i]);
    }
    return TSL_OK;
}

/* Options the sweep sets itself may not be forwarded to tessl train. */
static tsl_status check_train_opts(const sweep_args *a) {
    static const char *const owned[] = {"--data", "--out", "--lambda", "--seed", "--device", "--resume"};
    for (int i = 0; i < a->n_train_opts; i++)
        for (size_t k = 0; k < sizeof owned / sizeof owned[0]; k++) {
            size_t len = strlen(owned[k]);
            const char *o = a->train_opts[i];
            if (strncmp(o, owned[k], len) == 0 && (o[len] == '\0' || o[len] == '='))
                return tsl_error(TSL_ERR_INVALID_ARG,
                                 "tessl sweep: %s is set by the sweep, not a train option", owned[k]);
        }
    return TSL_OK;
}

static void device_arg(const sweep_args *a, tsl_stage *c) {
    if (a->device >= 0) {
        tsl_stage_arg(c, "--device");
        tsl_stage_arg(c, "%lld", (long long)a->device);
    }
}

static tsl_status train(const sweep_args *a, int i) {
    tsl_stage c = {0};
    tsl_stage_arg(&c, "tessl");
    tsl_stage_arg(&c, "train");
    tsl_stage_arg(&c, "--data");
    tsl_stage_arg(&c, "%s", a->data);
    tsl_stage_arg(&c, "--out");
    tsl_stage_arg(&c, "%s/run-lambda%g", a->out, a->lambdas[i]);
    tsl_stage_arg(&c, "--lambda");
    tsl_stage_arg(&c, "%.9g", a->lambdas[i]);
    tsl_stage_arg(&c, "--seed");
    tsl_stage_arg(&c, "%lld", (long long)a->seed);
    device_arg(a, &c);
    if (a->n_train_opts > TSL_STAGE_MAX_ARGS - c.n)
        return tsl_error(TSL_ERR_INVALID_ARG, "tessl sweep: too many train options");
    for (int k = 0; k < a->n_train_opts; k++)
        tsl_stage_arg(&c, "%s", a->train_opts[k]);
    char title[96];
    snprintf(title, sizeof title, "train lambda = %g (%d of %d)", a->lambdas[i], i + 1, a->n);
    return tsl_stage_run(title, &c);
}

static void weights_of(const sweep_args *a, int i, char *path, size_t size) {
    if (a->weights_text)
        snprintf(path, size, "%s", a->weights[i]);
    else
        snprintf(path, size, "%s/run-lambda%g/checkpoint.safetensors", a->out, a->lambdas[i]);
}

/* Lambda i against the reference (index ref), or against random:SEED when it is the reference. */
static tsl_status analyze(const sweep_args *a, int i, int ref) {
    char weights[REPORT_PATH + 64], baseline[REPORT_PATH + 64];
    weights_of(a, i, weights, sizeof weights);
    if (i == ref)
        snprintf(baseline, sizeof baseline, "random:%lld", (long long)a->seed);
    else
        weights_of(a, ref, baseline, sizeof baseline);
    tsl_stage c = {0};
    tsl_stage_arg(&c, "tessl");
    tsl_stage_arg(&c, "analyze");
    tsl_stage_arg(&c, "--weights");
    tsl_stage_arg(&c, "%s", weights);
    tsl_stage_arg(&c, "--baseline");
    tsl_stage_arg(&c, "%s", baseline);
    tsl_stage_arg(&c, "--data");
    tsl_stage_arg(&c, "%s", a->data);
    tsl_stage_arg(&c, "--out");
    tsl_stage_arg(&c, "%s/analysis-lambda%g", a->out, a->lambdas[i]);
    const char *names[] = {"--seed", "--images", "--augmentations", "--splits", "--probe-images"};
    const int64_t values[] = {a->seed, a->images, a->augmentations, a->splits, a->probe_images};
    for (int k = 0; k < 5; k++) {
        tsl_stage_arg(&c, "%s", names[k]);
        tsl_stage_arg(&c, "%lld", (long long)values[k]);
    }
    device_arg(a, &c);
    char title[160];
    snprintf(title, sizeof title, "analyse lambda = %g against %s", a->lambdas[i],
             i == ref ? "a random initialisation" : "the reference");
    return tsl_stage_run(title, &c);
}

/* Panel 1: tessl neural on lambda i's network (OUT/neural-lambdaL, read by tessl report). */
static tsl_status neural(const sweep_args *a, int i) {
    char weights[REPORT_PATH + 64];
    weights_of(a, i, weights, sizeof weights);
    tsl_stage c = {0};
    tsl_stage_arg(&c, "tessl");
    tsl_stage_arg(&c, "neural");
    tsl_stage_arg(&c, "--weights");
    tsl_stage_arg(&c, "%s", weights);
    tsl_stage_arg(&c, "--stimuli");
    tsl_stage_arg(&c, "%s", a->stimuli);
    tsl_stage_arg(&c, "--responses");
    tsl_stage_arg(&c, "%s", a->responses);
    tsl_stage_arg(&c, "--layer");
    tsl_stage_arg(&c, "%s", a->neural_layer);
    tsl_stage_arg(&c, "--size");
    tsl_stage_arg(&c, "%lld", (long long)a->neural_size);
    tsl_stage_arg(&c, "--seed");
    tsl_stage_arg(&c, "%lld", (long long)a->seed);
    tsl_stage_arg(&c, "--out");
    tsl_stage_arg(&c, "%s/neural-lambda%g", a->out, a->lambdas[i]);
    device_arg(a, &c);
    char title[160];
    snprintf(title, sizeof title, "neural predictivity of lambda = %g", a->lambdas[i]);
    return tsl_stage_run(title, &c);
}

/* Run folders of --weights-list files that hold a log (for the loss curves), unless OUT already holds
 * them (tessl report reads OUT's sub-folders itself). */
static int given_runs(const sweep_args *a, char dirs[][REPORT_PATH], const char **extra) {
    char out_real[REPORT_PATH], parent_real[REPORT_PATH];
    if (!realpath(a->out, out_real))
        out_real[0] = '\0';
    int n = 0;
    for (int i = 0; a->weights_text && i < a->n; i++) {
        char *dir = dirs[n], log[REPORT_PATH + 16], parent[REPORT_PATH + 8];
        snprintf(dir, REPORT_PATH, "%s", a->weights[i]);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, REPORT_PATH, ".");
        snprintf(log, sizeof log, "%s/log.jsonl", dir);
        snprintf(parent, sizeof parent, "%s/..", dir);
        bool in_out = realpath(parent, parent_real) && strcmp(parent_real, out_real) == 0;
        FILE *f = in_out ? NULL : fopen(log, "r");
        if (f) {
            fclose(f);
            extra[n] = dir;
            n++;
        }
    }
    return n;
}

static tsl_status sweep(sweep_args *a) {
    TSL_TRY(check_train_opts(a));
    if (a->weights_text)
        TSL_TRY(parse_weights(a));
    if (a->lambdas_text)
        TSL_TRY(parse_lambdas(a));
    int ref = 0;
    for (int i = 1; i < a->n; i++)
        ref = a->lambdas[i] < a->lambdas[ref] ? i : ref;
    TSL_TRY(tsl_mkdirs(a->out));
    for (int i = 0; i < a->n && !a->weights_text; i++)
        TSL_TRY(train(a, i));
    TSL_TRY(analyze(a, ref, ref));
    for (int i = 0; i < a->n; i++)
        if (i != ref)
            TSL_TRY(analyze(a, i, ref));
    for (int i = 0; a->stimuli && i < a->n; i++)
        TSL_TRY(neural(a, i));
    char dirs[MAX_LAMBDAS][REPORT_PATH];
    const char *extra[MAX_LAMBDAS];
    int n_extra = given_runs(a, dirs, extra);
    return tsl_stage_report(a->out, extra, n_extra);
}

static const char details[] =
    "Trains one network per lambda with tessl train (same seed; OUT/run-lambdaL), or takes the given\n"
    "--weights-list checkpoints (lambdas from --lambdas or their metadata). Then tessl analyze: the\n"
    "smallest lambda (the reference, normally 0) against random:SEED, every other against the reference\n"
    "(OUT/analysis-lambdaL); with --stimuli and --responses, tessl neural on each (OUT/neural-lambdaL,\n"
    "Figure 1's first panel); and tessl report to OUT/report/report.html. Options after -- go to tessl\n"
    "train as they are, e.g. -- --arch resnet18 --width 32 --res 64 --epochs 20 --classifier.";

int tsl_cmd_sweep(int argc, char **argv) {
    sweep_args a = {.device = -1,
                    .images = 64,
                    .augmentations = 16,
                    .splits = 5,
                    .probe_images = 512,
                    .neural_layer = "layer4",
                    .neural_size = 224};
    tsl_opt opts[] = {
        {"--data", TSL_OPT_STRING, &a.data, "SHARDS", "tessl shard output (train/ and val/) (required)", 0,
         0},
        {"--out", TSL_OPT_STRING, &a.out, "DIR", "folder for runs, analyses and the report (required)", 0, 0},
        {"--lambdas", TSL_OPT_STRING, &a.lambdas_text, "L,L,...", "equivariance weights (default 0,0.2)", 0,
         0},
        {"--weights-list", TSL_OPT_STRING, &a.weights_text, "W,W,...",
         "take these checkpoints, train nothing", 0, 0},
        {"--seed", TSL_OPT_INT, &a.seed, "N", "seed of every run, the random baseline and the analyses", 0,
         INT64_MAX},
        TSL_CLI_DEVICE_OPTION(&a.device),
        {"--images", TSL_OPT_INT, &a.images, "N", "analyze: validation images", 4, 1 << 20},
        {"--augmentations", TSL_OPT_INT, &a.augmentations, "K", "analyze: augmentations per image", 2, 4096},
        {"--splits", TSL_OPT_INT, &a.splits, "N", "analyze: decoding splits", 2, 1000},
        {"--probe-images", TSL_OPT_INT, &a.probe_images, "N", "analyze: linear probe images", 2, 1 << 24},
        {"--stimuli", TSL_OPT_STRING, &a.stimuli, "DIR", "neural: stimulus images (with --responses)", 0, 0},
        {"--responses", TSL_OPT_STRING, &a.responses, "FILE", "neural: BrainIO .nc or .npy responses", 0, 0},
        {"--neural-layer", TSL_OPT_STRING, &a.neural_layer, "NAME", "neural: the layer scored", 0, 0},
        {"--neural-size", TSL_OPT_INT, &a.neural_size, "PX", "neural: model input side", 8, 4096},
    };
    tsl_command_spec spec = {
        .name = "tessl sweep",
        .args = "[-- TRAIN OPTIONS...]",
        .summary = "Trains (or takes) networks at several lambdas from one seed, analyses each against the\n"
                   "smallest lambda, and reports Figure 1 against lambda.",
        .details = details,
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
        .min_positional = 0,
        .max_positional = TSL_STAGE_MAX_ARGS,
    };
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    if (!a.data || !a.out)
        return tsl_cli_fail(
            tsl_error(TSL_ERR_INVALID_ARG, "tessl sweep: --data SHARDS and --out DIR are required"));
    if (!a.stimuli != !a.responses)
        return tsl_cli_fail(
            tsl_error(TSL_ERR_INVALID_ARG, "tessl sweep: --stimuli and --responses go together"));
    if (!a.weights_text && !a.lambdas_text)
        a.lambdas_text = "0,0.2";
    a.train_opts = args.positional;
    a.n_train_opts = args.n_positional;
    if (a.weights_text && a.n_train_opts)
        return tsl_cli_fail(
            tsl_error(TSL_ERR_INVALID_ARG,
                      "tessl sweep: train options given with --weights-list (nothing is trained)"));
    tsl_status st = sweep(&a);
    return st == TSL_OK ? TSL_EXIT_OK : tsl_cli_fail(st);
}
