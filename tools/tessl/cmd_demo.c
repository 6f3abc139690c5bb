/* `tessl demo`: the main job on built-in data, with no downloads. Generates the synthetic data set,
 * shards it, draws an augmented batch, and trains the same small network from the same seed with
 * lambda = 0 (plain Barlow Twins) and lambda = 0.2 (TeSSL), then compares them. Each stage is this
 * binary run as its own command, so every stage shows its own progress and errors, and can be rerun
 * by hand with the command line printed before it. */
#include "stage.h"
#include "tsl_cli.h"
#include "tsl_file.h"
#include "tsl_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { DEMO_CLASSES = 10 };

typedef struct {
    const char *out, *arch;
    int64_t device, width, res, epochs, pairs, per_class, val_per_class, seed;
    double lr, lr_biases;
    bool quick, textured;
} demo_args;

/* Stages run through stage.h (shared with tessl sweep); these names keep the stage code below short. */
typedef tsl_stage stage_cmd;

static void arg(stage_cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(stage_cmd *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tsl_stage_varg(c, fmt, ap);
    va_end(ap);
}

static tsl_status run_stage(const char *title, stage_cmd *c) {
    return tsl_stage_run(title, c);
}

static void device_arg(const demo_args *a, stage_cmd *c) {
    if (a->device >= 0) {
        arg(c, "--device");
        arg(c, "%lld", (long long)a->device);
    }
}

static tsl_status make_data(const demo_args *a, const char *data) {
    stage_cmd c = {0};
    arg(&c, "tessl");
    arg(&c, "synth");
    arg(&c, "%s/src", data);
    arg(&c, "--classes");
    arg(&c, "%d", DEMO_CLASSES);
    arg(&c, "--per-class");
    arg(&c, "%lld", (long long)a->per_class);
    arg(&c, "--val-per-class");
    arg(&c, "%lld", (long long)a->val_per_class);
    arg(&c, "--size");
    arg(&c, "%lld", (long long)(a->res * 3 / 2));
    arg(&c, "--seed");
    arg(&c, "%lld", (long long)a->seed);
    if (!a->textured)
        arg(&c, "--plain");
    TSL_TRY(run_stage("1/5 generate the synthetic data set", &c));
    stage_cmd s = {0};
    arg(&s, "tessl");
    arg(&s, "shard");
    arg(&s, "%s/src", data);
    arg(&s, "%s/shards", data);
    arg(&s, "--short-side");
    arg(&s, "%lld", (long long)(a->res * 9 / 8));
    arg(&s, "--strict");
    return run_stage("2/5 decode, resize and shard it", &s);
}

static tsl_status preview(const demo_args *a, const char *data) {
    stage_cmd c = {0};
    arg(&c, "tessl");
    arg(&c, "preview");
    arg(&c, "--data");
    arg(&c, "%s/shards/train", data);
    arg(&c, "-o");
    arg(&c, "%s/preview.png", a->out);
    arg(&c, "--rows");
    arg(&c, "6");
    arg(&c, "--size");
    arg(&c, "%lld", (long long)(a->res > 96 ? a->res : 96));
    device_arg(a, &c);
    return run_stage("3/5 draw one augmented batch (pairs share t, then t')", &c);
}

static tsl_status train(const demo_args *a, const char *data, double lambda) {
    stage_cmd c = {0};
    arg(&c, "tessl");
    arg(&c, "train");
    arg(&c, "--data");
    arg(&c, "%s/shards", data);
    arg(&c, "--out");
    arg(&c, "%s/run-lambda%g", a->out, lambda);
    arg(&c, "--arch");
    arg(&c, "%s", a->arch);
    arg(&c, "--width");
    arg(&c, "%lld", (long long)a->width);
    arg(&c, "--res");
    arg(&c, "%lld", (long long)a->res);
    arg(&c, "--batch");
    arg(&c, "%lld", (long long)a->pairs);
    arg(&c, "--epochs");
    arg(&c, "%lld", (long long)a->epochs);
    arg(&c, "--warmup-epochs");
    arg(&c, "1");
    arg(&c, "--projector");
    arg(&c, "256-256-256");
    arg(&c, "--lambda");
    arg(&c, "%g", lambda);
    arg(&c, "--lr");
    arg(&c, "%g", a->lr);
    arg(&c, "--lr-biases");
    arg(&c, "%g", a->lr_biases);
    arg(&c, "--classifier");
    arg(&c, "--seed");
    arg(&c, "%lld", (long long)a->seed);
    arg(&c, "--checkpoint-every");
    arg(&c, "0");
    device_arg(a, &c);
    char title[96];
    snprintf(title, sizeof title, "4/5 train with lambda = %g (%s)", lambda,
             lambda == 0 ? "plain Barlow Twins" : "TeSSL");
    return run_stage(title, &c);
}

/* `tessl analyze` of run `lambda` against `baseline` (a run folder or random:SEED). */
static tsl_status analyze(const demo_args *a, const char *data, double lambda, const char *baseline) {
    stage_cmd c = {0};
    arg(&c, "tessl");
    arg(&c, "analyze");
    arg(&c, "--weights");
    arg(&c, "%s/run-lambda%g/checkpoint.safetensors", a->out, lambda);
    arg(&c, "--baseline");
    arg(&c, "%s", baseline);
    arg(&c, "--data");
    arg(&c, "%s/shards", data);
    arg(&c, "--out");
    arg(&c, "%s/analysis-lambda%g", a->out, lambda);
    arg(&c, "--seed");
    arg(&c, "%lld", (long long)a->seed);
    /* Sized to the demo's 10-minute budget on 2 CPU cores (the defaults of tessl analyze are for GPUs). */
    arg(&c, "--images");
    arg(&c, a->quick ? "16" : "32");
    arg(&c, "--augmentations");
    arg(&c, "8");
    /* The probe fits on every training image and scores every validation image: a forward pass each,
     * cheap beside training, and the validation count sets the width of the probe's CI. */
    arg(&c, "--probe-images");
    int64_t per_class = a->per_class > a->val_per_class ? a->per_class : a->val_per_class;
    arg(&c, "%lld", (long long)(DEMO_CLASSES * per_class));
    device_arg(a, &c);
    char title[128];
    snprintf(title, sizeof title, "5/5 analyse lambda = %g against %s", lambda, baseline);
    return run_stage(title, &c);
}

/* Mean of a log field over the first and the last `window` steps of a run's log. */
static tsl_status log_trend(const char *path, const char *field, int window, double *first, double *last,
                            int *n) {
    void *text;
    size_t size;
    TSL_TRY(tsl_read_file(path, 1u << 30, &text, &size));
    double *v = malloc((size / 16 + 1) * sizeof *v);
    int count = 0;
    for (char *line = text, *end; v && line < (char *)text + size; line = end + 1) {
        end = memchr(line, '\n', (char *)text + size - line);
        if (!end)
            end = (char *)text + size;
        tsl_json *j;
        if (tsl_json_parse(line, (size_t)(end - line), path, &j) == TSL_OK) {
            const tsl_json *f = tsl_json_get(j, field);
            if (f && f->type == TSL_JSON_NUMBER)
                v[count++] = f->number;
            tsl_json_free(j);
        }
    }
    free(text);
    if (!v || count == 0) {
        free(v);
        return tsl_error(TSL_ERR_FORMAT, "%s: no '%s' values", path, field);
    }
    int w = window < count ? window : count;
    *first = *last = 0;
    for (int i = 0; i < w; i++) {
        *first += v[i] / w;
        *last += v[count - w + i] / w;
    }
    *n = count;
    free(v);
    return TSL_OK;
}

/* The {mean, ci95, n} of `key` in block `block` ("weights", "baseline", "delta") of a results.json. */
typedef struct {
    double mean, lo, hi;
    int64_t n;
} demo_number;

static tsl_status read_number(const char *path, const char *block, const char *key, demo_number *out) {
    void *text;
    size_t size;
    TSL_TRY(tsl_read_file(path, 64u << 20, &text, &size));
    tsl_json *j;
    tsl_status st = tsl_json_parse(text, size, path, &j);
    free(text);
    TSL_TRY(st);
    const tsl_json *v = tsl_json_get(tsl_json_get(j, block), key);
    const tsl_json *mean = tsl_json_get(v, "mean"), *ci = tsl_json_get(v, "ci95"), *n = tsl_json_get(v, "n");
    st = mean && mean->type == TSL_JSON_NUMBER && ci && ci->type == TSL_JSON_ARRAY && ci->count == 2 && n
             ? TSL_OK
             : tsl_error(TSL_ERR_FORMAT, "%s: no %s.%s with a mean, ci95 and n", path, block, key);
    if (st == TSL_OK)
        *out = (demo_number){mean->number, ci->items[0].number, ci->items[1].number, n->integer};
    tsl_json_free(j);
    return st;
}

static void print_number(const char *label, demo_number v) {
    printf("  %-58s %+.3f  [%+.3f, %+.3f]  n=%lld\n", label, v.mean, v.lo, v.hi, (long long)v.n);
}

/* What the demo prints from the two analyses: run 0 is lambda 0 against a random initialisation, run 1
 * is lambda 0.2 against lambda 0. A heading row has no key. */
typedef struct {
    int run;
    const char *block, *key, *label;
} demo_row;

static const demo_row demo_rows[] = {
    {0, NULL, NULL, "linear probe top-1 on held-out images (95% CI):"},
    {0, "baseline", "probe.top1", "random initialisation"},
    {0, "weights", "probe.top1", "lambda 0"},
    {1, "weights", "probe.top1", "lambda 0.2"},
    {0, "delta", "probe.top1", "lambda 0 minus random (the network learned if > 0)"},
    {1, NULL, NULL, "lambda 0.2 minus lambda 0 (paired over the same images):"},
    {1, "delta", "decoding.r.mean", "augmentation decoding, mean r (paper panel 3: > 0)"},
    {1, "delta", "bures.shared_augmentation", "Bures distance, shared augmentations (panel 2)"},
    {1, "delta", "bures.augmentation_vs_content", "Bures distance, augmentation vs content (panel 4)"},
    {1, "delta", "bures.crop_vs_photometric", "Bures distance, crop vs photometric (panel 5)"},
};

static tsl_status print_analyses(const demo_args *a) {
    char paths[2][4096];
    snprintf(paths[0], sizeof paths[0], "%s/analysis-lambda0/results.json", a->out);
    snprintf(paths[1], sizeof paths[1], "%s/analysis-lambda0.2/results.json", a->out);
    printf("\n");
    for (size_t i = 0; i < sizeof demo_rows / sizeof demo_rows[0]; i++) {
        const demo_row *r = &demo_rows[i];
        if (!r->key) {
            printf("%s\n", r->label);
            continue;
        }
        demo_number v;
        TSL_TRY(read_number(paths[r->run], r->block, r->key, &v));
        print_number(r->label, v);
    }
    return TSL_OK;
}

static tsl_status summarise(const demo_args *a) {
    fprintf(stderr, "\n== results (%s)\n", a->out);
    const double lambdas[2] = {0, 0.2};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/run-lambda%g/log.jsonl", a->out, lambdas[i]);
        double f_inv, l_inv, f_ce, l_ce;
        int n;
        TSL_TRY(log_trend(path, "inv", 5, &f_inv, &l_inv, &n));
        TSL_TRY(log_trend(path, "ce", 5, &f_ce, &l_ce, &n));
        printf("lambda %-4g %d steps: invariant loss %.2f -> %.2f, online classifier cross-entropy %.3f -> "
               "%.3f\n",
               lambdas[i], n, f_inv, l_inv, f_ce, l_ce);
    }
    TSL_TRY(print_analyses(a));
    printf("\naugmented batch: %s/preview.png\n", a->out);
    printf("runs (log.jsonl, checkpoint.safetensors): %s/run-lambda0, %s/run-lambda0.2\n", a->out, a->out);
    printf("analyses (results.json, summary.svg; docs/ANALYSES.md): %s/analysis-lambda0 (against a random\n"
           "initialisation), %s/analysis-lambda0.2 (against lambda 0)\n",
           a->out, a->out);
    return TSL_OK;
}

/* The demo's settings: plain backgrounds, 32 px, a narrow ResNet-18, 32 pairs per step and a learning
 * rate 5 times tessl train's default. The full demo runs 12 epochs of 2000 images (372 steps), --quick
 * 4 epochs (124 steps): both networks learn the shapes in either, the full one in about 4 minutes
 * on 2 CPU cores and --quick in under 2 (docs/ANALYSES.md "The demo" has the margins over several
 * seeds). Both score the probe on 1000 held-out images, so that its 95% interval is about +-0.025.
 * Options override these. */
static void demo_defaults(demo_args *a, bool quick) {
    *a = (demo_args){.out = "tessl-demo",
                     .arch = "resnet18",
                     .device = -1,
                     .width = 8,
                     .res = 32,
                     .epochs = quick ? 4 : 12,
                     .pairs = 32,
                     .per_class = 200,
                     .val_per_class = 100,
                     .lr = 1,
                     .lr_biases = 0.05,
                     .seed = 1,
                     .quick = quick};
}

int tsl_cmd_demo(int argc, char **argv) {
    bool quick = false;
    for (int i = 1; i < argc; i++)
        quick = quick || strcmp(argv[i], "--quick") == 0;
    demo_args a;
    demo_defaults(&a, quick);
    tsl_opt opts[] = {
        TSL_CLI_DEVICE_OPTION(&a.device),
        {"--out", TSL_OPT_STRING, &a.out, "DIR", "where data, runs and pictures go", 0, 0},
        {"--quick", TSL_OPT_FLAG, &a.quick, NULL, "a smaller run for CI (under 2 minutes on 2 CPU cores)", 0,
         0},
        {"--arch", TSL_OPT_STRING, &a.arch, "NAME", "resnet18, resnet34 or resnet50", 0, 0},
        {"--width", TSL_OPT_INT, &a.width, "N", "base width of the network (64: torchvision's)", 1, 1024},
        {"--res", TSL_OPT_INT, &a.res, "PX", "image size", 16, 1024},
        {"--epochs", TSL_OPT_INT, &a.epochs, "N", "training epochs per run", 1, 100000},
        {"--batch", TSL_OPT_INT, &a.pairs, "PAIRS", "pairs per step", 2, 65536},
        {"--per-class", TSL_OPT_INT, &a.per_class, "N", "training images per class (10 classes)", 4, 100000},
        {"--val-per-class", TSL_OPT_INT, &a.val_per_class, "N",
         "held-out images per class (the probe's test set)", 2, 100000},
        {"--lr", TSL_OPT_DOUBLE, &a.lr, "LR", "base learning rate of weights (tessl train --lr)", 0, 0},
        {"--lr-biases", TSL_OPT_DOUBLE, &a.lr_biases, "LR", "base learning rate of biases and BatchNorm", 0,
         0},
        {"--textured", TSL_OPT_FLAG, &a.textured, NULL,
         "textured backgrounds (tessl synth's default; harder: docs/ANALYSES.md)", 0, 0},
        {"--seed", TSL_OPT_INT, &a.seed, "N", "seed of data, initialisation and augmentations", 0, INT64_MAX},
    };
    tsl_command_spec spec = {
        .name = "tessl demo",
        .args = "",
        .summary = "Runs the main job on built-in synthetic data: generate and shard a data set, show an\n"
                   "augmented batch, train the same network with lambda = 0 and lambda = 0.2 from one seed,\n"
                   "and compare the runs in OUT/report/report.html. Everything stays under --out.",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
    };
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    char data[4096];
    snprintf(data, sizeof data, "%s/data", a.out);
    tsl_status st = tsl_mkdirs(a.out);
    if (st == TSL_OK)
        st = make_data(&a, data);
    if (st == TSL_OK)
        st = preview(&a, data);
    if (st == TSL_OK)
        st = train(&a, data, 0.0);
    if (st == TSL_OK)
        st = train(&a, data, 0.2);
    char random_init[64], lambda0[4096];
    snprintf(random_init, sizeof random_init, "random:%lld", (long long)a.seed);
    snprintf(lambda0, sizeof lambda0, "%s/run-lambda0/checkpoint.safetensors", a.out);
    if (st == TSL_OK)
        st = analyze(&a, data, 0.0, random_init);
    if (st == TSL_OK)
        st = analyze(&a, data, 0.2, lambda0);
    if (st == TSL_OK)
        st = summarise(&a);
    if (st == TSL_OK)
        st = tsl_stage_report(a.out, NULL, 0);
    return st == TSL_OK ? TSL_EXIT_OK : tsl_cli_fail(st);
}
