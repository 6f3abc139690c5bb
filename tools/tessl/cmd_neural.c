/* `tessl neural`: Brain-Score-style neural predictivity of a network's layer(s) on a neural data set;
 * writes DIR/results.json (docs/ANALYSES.md "Neural predictivity", formats in docs/NEURAL_DATA.md). */
#include "tsl_cli.h"
#include "tsl_file.h"
#include "tsl_neural_load.h"
#include "tsl_neural_score.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *weights, *stimuli, *responses, *list, *region, *layer, *out, *arch, *rule;
    bool sweep, save_features;
    int64_t device, batch, width, splits, components, seed, ceiling_splits, size;
    double stimulus_degrees, model_degrees, max_feature_gib;
} neural_args;

static const char *const sweep_layers[] = {"layer1", "layer2", "layer3", "layer4", "avgpool"};

static tsl_status options_from(const neural_args *a, tsl_neural_options *o) {
    tsl_neural_options_default(o);
    o->stimuli_dir = a->stimuli;
    o->view = (tsl_neural_view){(int)a->size, a->stimulus_degrees, a->model_degrees};
    o->batch = (uint32_t)a->batch;
    o->predictivity.n_splits = (size_t)a->splits;
    o->predictivity.n_components = (size_t)a->components;
    o->predictivity.seed = (uint64_t)a->seed;
    o->ceiling_splits = (size_t)a->ceiling_splits;
    o->max_feature_bytes = (uint64_t)(a->max_feature_gib * (double)(1ull << 30));
    if (strcmp(a->rule, "r2") != 0 && strcmp(a->rule, "ratio2") != 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "tessl neural: --ceiled-rule is r2 or ratio2, not '%s'",
                         a->rule);
    o->rule =
        strcmp(a->rule, "r2") == 0 ? TSL_ANALYSIS_CEILED_R2_OVER_CEILING : TSL_ANALYSIS_CEILED_RATIO_SQUARED;
    if (!(a->stimulus_degrees > 0) || !(a->model_degrees > 0) || !(a->max_feature_gib > 0))
        return tsl_error(TSL_ERR_INVALID_ARG, "tessl neural: degrees and --max-feature-gib must be positive");
    o->features_dir = a->save_features ? a->out : NULL;
    o->n_layers = a->sweep ? sizeof sweep_layers / sizeof *sweep_layers : 1;
    for (size_t i = 0; i < o->n_layers; i++)
        o->layers[i] = a->sweep ? sweep_layers[i] : a->layer;
    return TSL_OK;
}

/* The network: a safetensors file (checkpoint, export or torchvision state dict), or random:SEED. */
static tsl_status open_session(tsl_vk_device *dev, const neural_args *a, uint32_t chunk,
                               tsl_features_session **s) {
    if (strncmp(a->weights, "random:", 7) == 0) {
        tsl_resnet_arch arch;
        TSL_TRY(tsl_resnet_arch_parse(a->arch, &arch));
        return tsl_features_session_create(dev, NULL, arch, (int)a->width, strtoull(a->weights + 7, NULL, 10),
                                           (int)a->size, (int)a->size, chunk, s);
    }
    tsl_safetensors st;
    TSL_TRY(tsl_safetensors_read(a->weights, UINT64_C(1) << 36, &st));
    tsl_status r =
        tsl_features_session_create(dev, &st, TSL_RESNET18, 0, 0, (int)a->size, (int)a->size, chunk, s);
    tsl_safetensors_free(&st);
    return r;
}

static tsl_status run(tsl_vk_device *dev, const neural_args *a, const tsl_neural_options *o,
                      const tsl_neural_data *d) {
    tsl_features_session *s = NULL;
    tsl_neural_result r;
    uint32_t chunk = o->batch < d->n_stimuli ? o->batch : (uint32_t)d->n_stimuli;
    TSL_TRY(tsl_mkdirs(a->out));
    TSL_TRY(open_session(dev, a, chunk, &s));
    tsl_neural_options local = *o;
    local.batch = chunk;
    tsl_status st = tsl_neural_score(s, d, &local, &r);
    tsl_features_session_destroy(s);
    TSL_TRY(st);
    char path[4096];
    snprintf(path, sizeof path, "%s/results.json", a->out);
    const char *const header[][2] = {{"weights", a->weights},
                                     {"stimuli", a->stimuli},
                                     {"responses", a->responses},
                                     {"stimulus_list", a->list ? a->list : ""},
                                     {"region", a->region}};
    st = tsl_neural_write_report(path, header, 5, d, &local, &r, stdout);
    if (st == TSL_OK)
        printf("tessl: wrote %s\n", path);
    tsl_neural_result_free(&r);
    return st;
}

static tsl_status neural(const neural_args *a_in) {
    neural_args a = *a_in;
    char default_list[4096];
    struct stat info;
    snprintf(default_list, sizeof default_list, "%s/stimuli.csv", a.stimuli);
    if (!a.list && stat(default_list, &info) == 0)
        a.list = default_list;
    tsl_neural_options o;
    TSL_TRY(options_from(&a, &o));
    tsl_neural_data d;
    TSL_TRY(tsl_neural_load(a.responses, a.list, a.region, UINT64_C(1) << 34, &d));
    tsl_vk_device *dev = NULL;
    tsl_status st = tsl_cli_open_device(a.device, &dev);
    if (st == TSL_OK)
        st = run(dev, &a, &o, &d);
    tsl_status closed = dev ? tsl_cli_close_device(dev) : TSL_OK;
    tsl_neural_data_free(&d);
    return st != TSL_OK ? st : closed;
}

static const char details[] =
    "FILE is a BrainIO assembly (netCDF, as Brain-Score downloads it: region --region kept, time bins\n"
    "averaged, repetitions averaged and used for the split-half ceiling) or the simple format: a .npy of\n"
    "stimuli x neuroids or stimuli x trials x neuroids, rows in the order of --stimulus-list\n"
    "(docs/NEURAL_DATA.md). Images are DIR/<filename> from the list's filename column, else "
    "DIR/<id>[.png|.jpg].\n"
    "Each image is placed in the model's field of view (--stimulus-degrees / --model-degrees, gray canvas),\n"
    "resized to --size px and ImageNet-normalised; the layer's flattened evaluation-mode output is mapped\n"
    "to the responses by PLS over --splits 90/10 splits (stratified by object_name when known); the score "
    "is\n"
    "the mean over splits of the median Pearson r over neuroids (docs/ANALYSES.md). --sweep scores "
    "layer1..4\n"
    "and avgpool and reports the best. W is a checkpoint, an export, a torchvision state dict in\n"
    "safetensors, or random:SEED (--arch, --width).";

int tsl_cmd_neural(int argc, char **argv) {
    neural_args a = {.region = "IT",
                     .layer = "layer4",
                     .arch = "resnet50",
                     .rule = "r2",
                     .device = -1,
                     .batch = 32,
                     .width = 64,
                     .splits = 10,
                     .components = 25,
                     .seed = 1,
                     .ceiling_splits = 10,
                     .size = 224,
                     .stimulus_degrees = 8,
                     .model_degrees = 8,
                     .max_feature_gib = 32};
    tsl_opt opts[] = {
        {"--weights", TSL_OPT_STRING, &a.weights, "W", "network weights, or random:SEED (required)", 0, 0},
        {"--stimuli", TSL_OPT_STRING, &a.stimuli, "DIR", "folder of stimulus images (required)", 0, 0},
        {"--responses", TSL_OPT_STRING, &a.responses, "FILE", "BrainIO .nc assembly or .npy (required)", 0,
         0},
        {"--out", TSL_OPT_STRING, &a.out, "DIR", "folder for results.json (required)", 0, 0},
        {"--stimulus-list", TSL_OPT_STRING, &a.list, "CSV",
         "stimulus ids (and filename, object_name); default DIR/stimuli.csv if present", 0, 0},
        {"--layer", TSL_OPT_STRING, &a.layer, "NAME", "conv1, layer1..layer4 or avgpool", 0, 0},
        {"--sweep", TSL_OPT_FLAG, &a.sweep, NULL, "score layer1..layer4 and avgpool; report the best", 0, 0},
        {"--save-features", TSL_OPT_FLAG, &a.save_features, NULL,
         "also write DIR/features_<layer>.npy (float32)", 0, 0},
        {"--region", TSL_OPT_STRING, &a.region, "NAME", "BrainIO: neuroids of this region ('all': every one)",
         0, 0},
        {"--splits", TSL_OPT_INT, &a.splits, "N", "train/test splits (90/10)", 2, 1000},
        {"--components", TSL_OPT_INT, &a.components, "N", "PLS components", 1, 4096},
        {"--ceiling-splits", TSL_OPT_INT, &a.ceiling_splits, "N", "split-half ceiling splits", 2, 1000},
        {"--seed", TSL_OPT_INT, &a.seed, "S", "splits and halvings", 0, INT64_MAX},
        {"--ceiled-rule", TSL_OPT_STRING, &a.rule, "RULE",
         "r2: r^2/ceiling (Brain-Score since 2026-01); ratio2: (r/ceiling)^2", 0, 0},
        {"--stimulus-degrees", TSL_OPT_DOUBLE, &a.stimulus_degrees, "DEG", "visual angle of the stimuli", 0,
         0},
        {"--model-degrees", TSL_OPT_DOUBLE, &a.model_degrees, "DEG", "the model's field of view", 0, 0},
        {"--size", TSL_OPT_INT, &a.size, "PX", "model input side", 16, 1024},
        {"--batch", TSL_OPT_INT, &a.batch, "N", "stimuli per forward pass", 1, 4096},
        {"--max-feature-gib", TSL_OPT_DOUBLE, &a.max_feature_gib, "G", "largest feature matrix (doubles)", 0,
         0},
        {"--arch", TSL_OPT_STRING, &a.arch, "NAME", "random:SEED: resnet18, resnet34 or resnet50", 0, 0},
        {"--width", TSL_OPT_INT, &a.width, "N", "random:SEED: base width", 1, 1024},
        TSL_CLI_DEVICE_OPTION(&a.device),
    };
    tsl_command_spec spec = {
        .name = "tessl neural",
        .args = "",
        .summary = "Brain-Score-style neural predictivity (PLS, median Pearson r, split-half ceiling) of a\n"
                   "network's layer on neural responses; writes DIR/results.json with CIs.",
        .details = details,
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
    };
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    if (!a.weights || !a.stimuli || !a.responses || !a.out)
        return tsl_cli_fail(tsl_error(
            TSL_ERR_INVALID_ARG, "tessl neural: --weights, --stimuli, --responses and --out are required"));
    tsl_status st = neural(&a);
    return st == TSL_OK ? TSL_EXIT_OK : tsl_cli_fail(st);
}
