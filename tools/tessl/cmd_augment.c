/* `tessl augment IMAGE --params '...' -o OUT.png|OUT.npy`: runs the GPU augmentation chain on one image
 * with parameters given by hand, to look at (PNG) or to compare with torchvision (.npy, float32 HxWx3 in
 * [0, 1], before normalisation). */
#include "image_io.h"
#include "tsl_augment.h"
#include "tsl_augment_manual.h"
#include "tsl_cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    tsl_vk_device *dev;
    tsl_vk_cmd *cmd;
    tsl_vk_buffer images, params, scratch, output;
} augment_gpu;

/* Runs the chain on the device; `chw` receives 3 x S x S floats in [0, 1] (mean 0, std 1). */
static tsl_status run_chain(augment_gpu *g, const uint8_t *rgb, uint32_t width, uint32_t height,
                            const tsl_augment_manual *p, const tsl_augment_output *out, float *chw) {
    uint64_t src_bytes = (3ull * width * height + 3) & ~3ull;
    tsl_augment_source src = {0, width, height};
    tsl_augment_job job = {0, p->sample};
    tsl_augment_record rec;
    TSL_TRY(tsl_augment_pack(&src, 1, &job, 1, &rec));
    uint8_t *padded = calloc(src_bytes, 1);
    if (!padded)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    memcpy(padded, rgb, 3ull * width * height);
    uint64_t img = tsl_augment_image_bytes(out->size);
    tsl_status st = tsl_vk_alloc(g->dev, TSL_MEM_DEVICE, src_bytes, "augment source", &g->images);
    if (st == TSL_OK)
        st = tsl_vk_upload(g->dev, g->images.range, padded);
    free(padded);
    TSL_TRY(st);
    TSL_TRY(tsl_vk_alloc(g->dev, TSL_MEM_DEVICE, sizeof rec, "augment params", &g->params));
    TSL_TRY(tsl_vk_upload(g->dev, g->params.range, &rec));
    TSL_TRY(tsl_vk_alloc(g->dev, TSL_MEM_DEVICE, img, "augment scratch", &g->scratch));
    TSL_TRY(tsl_vk_alloc(g->dev, TSL_MEM_DEVICE, img, "augment output", &g->output));
    TSL_TRY(tsl_vk_cmd_create(g->dev, &g->cmd));
    TSL_TRY(tsl_vk_cmd_begin(g->cmd));
    TSL_TRY(tsl_augment_record_batch(g->dev, g->cmd, out, &rec, 1, g->images.range, g->params.range,
                                     g->scratch.range, g->output.range));
    TSL_TRY(tsl_vk_cmd_submit_wait(g->cmd));
    return tsl_vk_download(g->dev, g->output.range, chw);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static tsl_status save_output(const char *path, const float *chw, uint32_t S) {
    size_t plane = (size_t)S * S;
    float *hwc = malloc(3 * plane * sizeof *hwc);
    uint8_t *rgb = malloc(3 * plane);
    if (!hwc || !rgb) {
        free(hwc);
        free(rgb);
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    }
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++) {
            hwc[3 * p + c] = chw[c * plane + p];
            rgb[3 * p + c] = (uint8_t)lrintf(fminf(fmaxf(chw[c * plane + p], 0.0f), 1.0f) * 255.0f);
        }
    tsl_status st = ends_with(path, ".npy") ? tsl_image_save_npy_f32(path, hwc, S, S, 3)
                                            : tsl_image_save_png(path, rgb, S, S);
    free(hwc);
    free(rgb);
    return st;
}

static tsl_status augment_file(int64_t device, const char *in_path, const char *params_text, int64_t size,
                               const char *filter, const char *out_path) {
    if (!ends_with(out_path, ".png") && !ends_with(out_path, ".npy"))
        return tsl_error(TSL_ERR_INVALID_ARG, "tessl augment: -o %s: the output must end in .png or .npy",
                         out_path);
    if (strcmp(filter, "bicubic") && strcmp(filter, "bilinear"))
        return tsl_error(TSL_ERR_INVALID_ARG, "tessl augment: --filter %s: expected bicubic or bilinear",
                         filter);
    tsl_augment_manual p;
    TSL_TRY(tsl_augment_manual_parse(params_text, &p));
    uint8_t *rgb;
    uint32_t width, height;
    TSL_TRY(tsl_image_load_rgb8(in_path, &rgb, &width, &height));
    tsl_status st = tsl_augment_manual_place_crop(&p, width, height);
    tsl_augment_output out = {.size = (uint32_t)size,
                              .filter = strcmp(filter, "bilinear") ? TSL_RESIZE_BICUBIC : TSL_RESIZE_BILINEAR,
                              .mean = {0, 0, 0},
                              .std = {1, 1, 1}};
    float *chw = malloc(tsl_augment_image_bytes(out.size));
    augment_gpu g = {0};
    if (st == TSL_OK && !chw)
        st = tsl_error(TSL_ERR_NOMEM, "out of memory");
    if (st == TSL_OK)
        st = tsl_cli_open_device(device, &g.dev);
    if (st == TSL_OK)
        st = run_chain(&g, rgb, width, height, &p, &out, chw);
    if (st == TSL_OK)
        st = save_output(out_path, chw, out.size);
    if (g.dev) {
        tsl_vk_cmd_destroy(g.cmd);
        tsl_vk_buffer *bufs[] = {&g.images, &g.params, &g.scratch, &g.output};
        for (int i = 0; i < 4; i++)
            tsl_vk_free(g.dev, bufs[i]);
        tsl_status closed = tsl_cli_close_device(g.dev);
        st = st != TSL_OK ? st : closed;
    }
    free(chw);
    free(rgb);
    return st;
}

int tsl_cmd_augment(int argc, char **argv) {
    int64_t device = -1, size = 224;
    const char *params = "", *out = NULL, *filter = "bicubic";
    tsl_opt opts[] = {
        TSL_CLI_DEVICE_OPTION(&device),
        {"--params", TSL_OPT_STRING, &params, "'KEY=VALUE ...'", "augmentation parameters (see below)", 0, 0},
        {"--size", TSL_OPT_INT, &size, "S", "output is S x S pixels", 1, 4096},
        {"--filter", TSL_OPT_STRING, &filter, "NAME", "resize filter: bicubic or bilinear", 0, 0},
        {"-o", TSL_OPT_STRING, &out, "OUT", "output file: .png (8-bit) or .npy (float32 S x S x 3 in [0, 1])",
         0, 0},
    };
    tsl_command_spec spec = {
        .name = "tessl augment",
        .args = "IMAGE",
        .summary = "Applies the GPU augmentation chain with given parameters to one PNG or JPEG image.",
        .details =
            "--params keys (a missing key leaves that op off):\n"
            "  crop=TOP,LEFT,H,W    crop box in source pixels (default: the whole image)\n"
            "  flip=0|1             horizontal flip\n"
            "  brightness=F contrast=F saturation=F hue=H   colour jitter factors (hue in [-0.5, 0.5])\n"
            "  order=A,B,C,D        jitter op order, b=0 c=1 s=2 h=3 (default 0,1,2,3)\n"
            "  gray=0|1             grayscale (3 channels)\n"
            "  blur=SIGMA           Gaussian blur, kernel 2*ceil(3*SIGMA)+1, reflect padding\n"
            "  solarize=0|1         invert pixels >= 128/255\n"
            "Output is before normalisation.",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
        .min_positional = 1,
        .max_positional = 1};
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    if (!out) {
        fprintf(stderr, "tessl augment: -o OUT is required (see 'tessl augment --help')\n");
        return TSL_EXIT_USAGE;
    }
    tsl_status st = augment_file(device, args.positional[0], params, size, filter, out);
    if (st != TSL_OK)
        return tsl_cli_fail(st);
    printf("tessl: wrote %s\n", out);
    return TSL_EXIT_OK;
}
