/* `tessl analyze`: paper Figure 1's measurements of a trained trunk (and optionally of a baseline, with
 * per-unit differences) on a split's held-out images; writes DIR/results.json (docs/ANALYSES.md). */
#include "image_io.h"
#include "tsl_analyze.h"
#include "tsl_cli.h"
#include "tsl_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *weights, *baseline, *data, *out, *arch;
    int64_t device, images, augmentations, splits, probe_images, seed, batch, width, res;
} analyze_args;

/* A network's architecture: from a checkpoint's (or export's) metadata, else from the flags. */
typedef struct {
    char arch[32], projector[256];
    int width, res;
    double lambda; /* the equivariance weight it was trained with (metadata), NaN when not known */
} network_shape;

static bool is_random(const char *spec) {
    return strncmp(spec, "random:", 7) == 0;
}

static tsl_status shape_from_file(const tsl_safetensors *st, network_shape *s) {
    const char *arch = tsl_safetensors_meta(st, "arch"), *width = tsl_safetensors_meta(st, "width");
    const char *res = tsl_safetensors_meta(st, "res"), *projector = tsl_safetensors_meta(st, "projector");
    if (!arch || !width || !res || !projector || !*arch)
        return tsl_error(TSL_ERR_FORMAT, "%s: metadata lacks arch, width, res or projector", st->path);
    snprintf(s->arch, sizeof s->arch, "%s", arch);
    snprintf(s->projector, sizeof s->projector, "%s", projector);
    s->width = atoi(width);
    s->res = atoi(res);
    const char *lambda = tsl_safetensors_meta(st, "lambda");
    char *end = NULL;
    s->lambda = lambda ? strtod(lambda, &end) : NAN;
    if (lambda && (end == lambda || *end))
        return tsl_error(TSL_ERR_FORMAT, "%s: metadata lambda '%s' is not a number", st->path, lambda);
    return TSL_OK;
}

static tsl_status create_model(tsl_vk_device *dev, const network_shape *s, uint32_t batch,
                               tsl_model **model) {
    tsl_model_config c;
    tsl_resnet_arch arch;
    TSL_TRY(tsl_resnet_arch_parse(s->arch, &arch));
    tsl_model_config_default(&c, arch);
    c.base_width = s->width;
    c.image_h = c.image_w = s->res;
    c.batch = (batch + 3) / 4 < 2 ? 2 : (batch + 3) / 4;
    c.projector = s->projector;
    c.lambda = 0; /* the trunk is all that is measured; g_equi tensors in the file are ignored */
    return tsl_model_create(dev, &c, model);
}

/* Loads a checkpoint or export: the trunk must be there (conv1.weight), the heads may not be. */
static tsl_status load_file_network(tsl_vk_device *dev, const char *path, uint32_t batch, tsl_model **model,
                                    network_shape *shape) {
    tsl_safetensors st;
    TSL_TRY(tsl_safetensors_read(path, UINT64_C(1) << 36, &st));
    tsl_status s = shape_from_file(&st, shape);
    if (s == TSL_OK && !tsl_safetensors_find(&st, "conv1.weight"))
        s = tsl_error(TSL_ERR_FORMAT, "%s: no trunk weights (conv1.weight)", path);
    if (s == TSL_OK)
        s = create_model(dev, shape, batch, model);
    if (s == TSL_OK)
        s = tsl_model_load_safetensors(*model, &st, false, NULL);
    tsl_safetensors_free(&st);
    return s;
}

static tsl_status load_network(tsl_vk_device *dev, const char *spec, const network_shape *random_shape,
                               uint32_t batch, tsl_model **model, network_shape *shape) {
    *model = NULL;
    if (!is_random(spec))
        return load_file_network(dev, spec, batch, model, shape);
    *shape = *random_shape;
    shape->lambda = NAN; /* a random network was not trained */
    TSL_TRY(create_model(dev, shape, batch, model));
    return tsl_model_init_random(*model, strtoull(spec + 7, NULL, 10));
}

/* The architecture of "random:SEED": the other network's file when there is one, else the flags. */
static tsl_status random_shape_of(const analyze_args *a, network_shape *s) {
    *s = (network_shape){.width = (int)a->width, .res = (int)a->res, .lambda = NAN};
    snprintf(s->arch, sizeof s->arch, "%s", a->arch);
    snprintf(s->projector, sizeof s->projector, "16");
    const char *file = !is_random(a->weights)                   ? a->weights
                       : a->baseline && !is_random(a->baseline) ? a->baseline
                                                                : NULL;
    if (!file)
        return TSL_OK;
    tsl_safetensors st;
    TSL_TRY(tsl_safetensors_read(file, UINT64_C(1) << 36, &st));
    tsl_status r = shape_from_file(&st, s);
    tsl_safetensors_free(&st);
    return r;
}

static tsl_status measure_network(tsl_vk_device *dev, const analyze_args *a, const char *spec,
                                  const network_shape *random_shape, const tsl_analyze_images *val,
                                  const tsl_analyze_images *train, const tsl_analyze_options *o,
                                  tsl_analyze_result *result, network_shape *shape) {
    tsl_model *model = NULL;
    tsl_analyze_extractor *ex = NULL;
    tsl_status st = load_network(dev, spec, random_shape, (uint32_t)a->batch, &model, shape);
    uint64_t max_bytes = 0;
    for (size_t i = 0; i < val->count + train->count; i++) {
        const tsl_analyze_image *img = i < val->count ? &val->images[i] : &train->images[i - val->count];
        uint64_t b = tsl_analyze_image_bytes(img);
        max_bytes = b > max_bytes ? b : max_bytes;
    }
    if (st == TSL_OK)
        st = tsl_analyze_extractor_create(dev, model, (uint32_t)a->batch, max_bytes, &ex);
    if (st == TSL_OK)
        st = tsl_analyze_measure(ex, val, train, o, result);
    tsl_analyze_extractor_destroy(ex);
    tsl_model_destroy(model);
    return st;
}

static tsl_status load_images(const analyze_args *a, tsl_analyze_images *val, tsl_analyze_images *train) {
    char dir[4096];
    size_t n_val = (size_t)(a->images > a->probe_images ? a->images : a->probe_images);
    snprintf(dir, sizeof dir, "%s/val", a->data);
    TSL_TRY(tsl_analyze_images_load(dir, n_val, (uint64_t)a->seed, val));
    snprintf(dir, sizeof dir, "%s/train", a->data);
    return tsl_analyze_images_load(dir, (size_t)a->probe_images, (uint64_t)a->seed + 1, train);
}

/* DIR/summary.svg and DIR/summary.png. */
static tsl_status write_summary_figure(const char *dir, const tsl_analyze_result *w,
                                       const tsl_analyze_result *w0) {
    tsl_analyze_plot *plot = malloc(sizeof *plot);
    if (!plot)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    char path[4096], *svg = NULL;
    uint8_t *rgb = NULL;
    size_t size;
    int width, height;
    tsl_status st = tsl_analyze_plot_build(plot, w, w0);
    if (st == TSL_OK)
        st = tsl_plot_render_svg(&plot->figure, &svg, &size);
    snprintf(path, sizeof path, "%s/summary.svg", dir);
    if (st == TSL_OK)
        st = tsl_write_file_atomic(path, svg, size);
    if (st == TSL_OK)
        st = tsl_plot_render_rgb(&plot->figure, &rgb, &width, &height);
    snprintf(path, sizeof path, "%s/summary.png", dir);
    if (st == TSL_OK)
        st = tsl_image_save_png(path, rgb, (uint32_t)width, (uint32_t)height);
    free(svg);
    free(rgb);
    free(plot);
    return st;
}

static tsl_status analyze(tsl_vk_device *dev, const analyze_args *a) {
    tsl_analyze_options o = {(size_t)a->images, (size_t)a->augmentations, (size_t)a->splits,
                             (uint64_t)a->seed};
    tsl_analyze_images val = {0}, train = {0};
    tsl_analyze_result w = {0}, w0 = {0};
    network_shape random_shape, shape_w = {.lambda = NAN}, shape_w0 = {.lambda = NAN};
    tsl_status st = random_shape_of(a, &random_shape);
    if (st == TSL_OK)
        st = tsl_mkdirs(a->out);
    if (st == TSL_OK)
        st = load_images(a, &val, &train);
    if (st == TSL_OK)
        st = measure_network(dev, a, a->weights, &random_shape, &val, &train, &o, &w, &shape_w);
    if (st == TSL_OK && a->baseline)
        st = measure_network(dev, a, a->baseline, &random_shape, &val, &train, &o, &w0, &shape_w0);
    char path[4096], res[16], width[16];
    snprintf(path, sizeof path, "%s/results.json", a->out);
    snprintf(res, sizeof res, "%d", shape_w.res);
    snprintf(width, sizeof width, "%d", shape_w.width);
    /* lambda / baseline_lambda let tessl report place the networks on Figure 1's axis. */
    const tsl_analyze_field header[] = {{"weights_path", a->weights, 0},
                                        {"baseline_path", a->baseline ? a->baseline : "", 0},
                                        {"data", a->data, 0},
                                        {"arch", shape_w.arch, 0},
                                        {"width", width, 0},
                                        {"res", res, 0},
                                        {"layer", "avgpool", 0},
                                        {"lambda", NULL, shape_w.lambda},
                                        {"baseline_lambda", NULL, a->baseline ? shape_w0.lambda : NAN}};
    if (st == TSL_OK)
        st = tsl_analyze_write_report(path, header, sizeof header / sizeof header[0], &o, &w,
                                      a->baseline ? &w0 : NULL, stdout);
    if (st == TSL_OK)
        printf("tessl: wrote %s\n", path);
    if (st == TSL_OK)
        st = write_summary_figure(a->out, &w, a->baseline ? &w0 : NULL);
    tsl_analyze_result_free(&w);
    tsl_analyze_result_free(&w0);
    tsl_analyze_images_free(&val);
    tsl_analyze_images_free(&train);
    return st;
}

static const char details[] =
    "W and W0 are tessl checkpoints or exports (metadata gives arch, width, res), or random:SEED for a\n"
    "randomly initialised network of the other network's architecture (else --arch/--width/--res).\n"
    "Features are the trunk's avgpool output in evaluation mode. Measurements (docs/ANALYSES.md):\n"
    "augmentation decoding (ridge, r and R^2 per parameter), Bures distances (shared augmentation,\n"
    "augmentation vs content, crop vs photometric), factorization, linear probe; each with n and a 95%\n"
    "CI. SHARDS is the output of tessl shard (SHARDS/train, SHARDS/val).";

int tsl_cmd_analyze(int argc, char **argv) {
    analyze_args a = {.device = -1,
                      .images = 64,
                      .augmentations = 16,
                      .splits = 5,
                      .probe_images = 512,
                      .batch = 64,
                      .arch = "resnet50",
                      .width = 64,
                      .res = 224};
    tsl_opt opts[] = {
        {"--weights", TSL_OPT_STRING, &a.weights, "W", "checkpoint, export, or random:SEED (required)", 0, 0},
        {"--data", TSL_OPT_STRING, &a.data, "SHARDS", "tessl shard output (train/ and val/) (required)", 0,
         0},
        {"--out", TSL_OPT_STRING, &a.out, "DIR", "folder for results.json (required)", 0, 0},
        {"--baseline", TSL_OPT_STRING, &a.baseline, "W0", "second network: also its numbers and the deltas",
         0, 0},
        TSL_CLI_DEVICE_OPTION(&a.device),
        {"--images", TSL_OPT_INT, &a.images, "N", "validation images for the augmentation measurements", 4,
         1 << 20},
        {"--augmentations", TSL_OPT_INT, &a.augmentations, "K", "augmentations per image", 2, 4096},
        {"--splits", TSL_OPT_INT, &a.splits, "N", "random half splits for augmentation decoding", 2, 1000},
        {"--probe-images", TSL_OPT_INT, &a.probe_images, "N", "linear probe: train (and at most val) images",
         2, 1 << 24},
        {"--seed", TSL_OPT_INT, &a.seed, "S", "every sample and split", 0, INT64_MAX},
        {"--batch", TSL_OPT_INT, &a.batch, "N", "images per forward pass", 1, 4096},
        {"--arch", TSL_OPT_STRING, &a.arch, "NAME", "random:SEED without a file: architecture", 0, 0},
        {"--width", TSL_OPT_INT, &a.width, "N", "random:SEED without a file: base width", 1, 1024},
        {"--res", TSL_OPT_INT, &a.res, "PX", "random:SEED without a file: resolution", 8, 1024},
    };
    tsl_command_spec spec = {
        .name = "tessl analyze",
        .args = "",
        .summary = "Measures how a network's features carry augmentations (paper Figure 1) and writes\n"
                   "DIR/results.json with every number's n and 95% CI.",
        .details = details,
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
    };
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    if (!a.weights || !a.data || !a.out)
        return tsl_cli_fail(tsl_error(
            TSL_ERR_INVALID_ARG, "tessl analyze: --weights W, --data SHARDS and --out DIR are required"));
    tsl_vk_device *dev = NULL;
    tsl_status st = tsl_cli_open_device(a.device, &dev);
    if (st == TSL_OK)
        st = analyze(dev, &a);
    tsl_status closed = dev ? tsl_cli_close_device(dev) : TSL_OK;
    st = st != TSL_OK ? st : closed;
    return st == TSL_OK ? TSL_EXIT_OK : tsl_cli_fail(st);
}
