/* `tessl features`: evaluation-mode features of a ResNet trunk (tessl export or torchvision state dict in
 * safetensors) for images in a .npy file, written as .npy. */
#include "tsl_cli.h"
#include "tsl_features.h"
#include "tsl_npy.h"

#include <stdio.h>

static tsl_status extract(int64_t device_index, const tsl_safetensors *st, const tsl_npy_f32 *x,
                          const char *layer, int64_t batch, const char *out_path) {
    if (x->ndim != 4 || x->shape[1] != 3 || x->shape[0] < 1 || x->shape[0] > UINT32_MAX || x->shape[2] < 1 ||
        x->shape[3] < 1 || x->shape[2] > 65536 || x->shape[3] > 65536)
        return tsl_error(TSL_ERR_INVALID_ARG, "features: --input must be N x 3 x H x W float32 (got %d dims)",
                         x->ndim);
    tsl_vk_device *dev;
    TSL_TRY(tsl_cli_open_device(device_index, &dev));
    tsl_features f;
    tsl_status s = tsl_features_extract(dev, st, x->data, (uint32_t)x->shape[0], (int)x->shape[2],
                                        (int)x->shape[3], layer, (uint32_t)batch, &f);
    if (s == TSL_OK) {
        s = tsl_npy_write_f32(out_path, f.data, f.ndim, f.shape);
        if (s == TSL_OK) {
            printf("wrote %s: %s output, shape", out_path, layer);
            for (int i = 0; i < f.ndim; i++)
                printf(i ? " x %lld" : " %lld", (long long)f.shape[i]);
            printf("\n");
        }
        tsl_features_free(&f);
    }
    tsl_status closed = tsl_cli_close_device(dev);
    return s != TSL_OK ? s : closed;
}

int tsl_cmd_features(int argc, char **argv) {
    const char *weights = NULL, *input = NULL, *layer = "avgpool", *out = NULL;
    int64_t batch = 64, device = -1;
    tsl_opt opts[] = {
        {"--weights", TSL_OPT_STRING, &weights, "W.safetensors", "trunk weights under torchvision's names", 0,
         0},
        {"--input", TSL_OPT_STRING, &input, "X.npy",
         "images: float32 N x 3 x H x W (normalised as in training)", 0, 0},
        {"--layer", TSL_OPT_STRING, &layer, "NAME", "conv1, layer1, layer2, layer3, layer4 or avgpool", 0, 0},
        {"-o", TSL_OPT_STRING, &out, "Y.npy", "output: N x C x H' x W' (avgpool: N x C) float32", 0, 0},
        {"--batch", TSL_OPT_INT, &batch, "B", "images per device pass", 1, 65536},
        TSL_CLI_DEVICE_OPTION(&device),
    };
    tsl_command_spec spec = {
        .name = "tessl features",
        .args = "",
        .summary =
            "Runs images through a ResNet trunk in evaluation mode (BatchNorm with running statistics)\n"
            "and writes one layer's output. The architecture (resnet18/34/50) and width come from the\n"
            "weights.",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
    };
    tsl_args_result args;
    int code = tsl_cli_parse(&spec, argc, argv, &args);
    if (code != TSL_CLI_CONTINUE)
        return code;
    if (!weights || !input || !out)
        return tsl_cli_fail(
            tsl_error(TSL_ERR_INVALID_ARG, "tessl features: --weights, --input and -o are required"));
    tsl_safetensors st;
    tsl_status s = tsl_safetensors_read(weights, (uint64_t)16 << 30, &st);
    if (s != TSL_OK)
        return tsl_cli_fail(s);
    tsl_npy_f32 x;
    s = tsl_npy_read_f32(input, (size_t)64 << 30, &x);
    if (s == TSL_OK) {
        s = extract(device, &st, &x, layer, batch, out);
        tsl_npy_free(&x);
    }
    tsl_safetensors_free(&st);
    return s == TSL_OK ? TSL_EXIT_OK : tsl_cli_fail(s);
}
