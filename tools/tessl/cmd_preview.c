/* `tessl preview`: a picture of one TeSSL batch as the trainer sees it. Each row is one pair: image 1 and
 * image 2 under t, then both under t'. Within a view the two images share every parameter, so a user
 * can check that the halves are transformed alike. */
#include "image_io.h"
#include "tsl_cli.h"
#include "tsl_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GAP = 4 };

/* Undoes the normalisation of image `index` of the batch and writes it at (x0, y0) of the grid. */
static void place_image(const float *batch, const tsl_augment_output *out, uint32_t index, uint8_t *grid,
                        uint32_t grid_w, uint32_t x0, uint32_t y0) {
    uint32_t s = out->size;
    const float *img = batch + (uint64_t)index * 3 * s * s;
    for (uint32_t c = 0; c < 3; c++)
        for (uint32_t y = 0; y < s; y++)
            for (uint32_t x = 0; x < s; x++) {
                float v = img[(uint64_t)c * s * s + y * s + x] * out->std[c] + out->mean[c];
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                grid[((uint64_t)(y0 + y) * grid_w + x0 + x) * 3 + c] = (uint8_t)(v * 255.0f + 0.5f);
            }
}

static void print_sample(uint32_t row, const char *view, const tsl_augment_sample *s) {
    printf("  row %u %s: crop top %.2f left %.2f h %.2f w %.2f, flip %d, jitter %d (b %.2f c %.2f s %.2f h "
           "%+.3f), "
           "gray %d, blur sigma %.2f, solarize %d\n",
           row, view, s->crop_top, s->crop_left, s->crop_height, s->crop_width, s->flip, s->jitter,
           s->brightness, s->contrast, s->saturation, s->hue, s->gray, s->sigma, s->solarize);
}

typedef struct {
    const char *data, *out_path;
    int64_t device, rows, size, seed;
} preview_args;

static tsl_status write_grid(const preview_args *a, const float *batch, const tsl_augment_output *out,
                             uint32_t rows) {
    uint32_t s = out->size, grid_w = 4 * s + 5 * GAP, grid_h = rows * s + (rows + 1) * GAP;
    uint8_t *grid = malloc((uint64_t)grid_w * grid_h * 3);
    if (!grid)
        return tsl_error(TSL_ERR_NOMEM, "out of memory for the preview grid");
    memset(grid, 255, (uint64_t)grid_w * grid_h * 3);
    static const uint32_t quarter_of_column[4] = {TSL_INPUT_T0, TSL_INPUT_T1, TSL_INPUT_P0, TSL_INPUT_P1};
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t col = 0; col < 4; col++)
            place_image(batch, out, quarter_of_column[col] * rows + r, grid, grid_w, GAP + col * (s + GAP),
                        GAP + r * (s + GAP));
    tsl_status st = tsl_image_save_png(a->out_path, grid, grid_w, grid_h);
    free(grid);
    return st;
}

static tsl_status preview(const preview_args *a, tsl_vk_device *dev) {
    tsl_loader_options lo;
    tsl_loader_options_default(&lo);
    lo.dir = a->data;
    lo.batch_size = (uint32_t)a->rows;
    lo.paired = true;
    lo.seed = (uint64_t)a->seed;
    tsl_input_options io = {.seed = (uint64_t)a->seed, .max_pairs = (uint32_t)a->rows};
    tsl_augment_config_default(&io.config);
    tsl_augment_output_default(&io.output, (uint32_t)a->size);
    tsl_loader *loader = NULL;
    tsl_input *input = NULL;
    tsl_vk_cmd *cmd = NULL;
    float *batch = NULL;
    tsl_loader_batch b;
    tsl_vk_range images;
    const tsl_augment_sample *samples = NULL;
    tsl_status st = tsl_loader_open(dev, &lo, &loader);
    if (st == TSL_OK)
        st = tsl_loader_next(loader, &b);
    if (st == TSL_OK)
        st = tsl_input_create(dev, &io, &input);
    if (st == TSL_OK)
        st = tsl_vk_cmd_create(dev, &cmd);
    if (st == TSL_OK)
        st = tsl_vk_cmd_begin(cmd);
    if (st == TSL_OK)
        st = tsl_input_record(input, cmd, &b, &images, &samples);
    if (cmd && st == TSL_OK)
        st = tsl_vk_cmd_submit_wait(cmd);
    if (st == TSL_OK && !(batch = malloc(images.size)))
        st = tsl_error(TSL_ERR_NOMEM, "out of memory");
    if (st == TSL_OK)
        st = tsl_vk_download(dev, images, batch);
    if (st == TSL_OK)
        st = write_grid(a, batch, &io.output, b.count);
    if (st == TSL_OK) {
        printf("tessl: wrote %s: %u pairs; columns: image 1 under t, image 2 under t, image 1 under t', "
               "image 2 under t'\n",
               a->out_path, b.count);
        for (uint32_t r = 0; r < b.count; r++) {
            print_sample(r, "t ", &samples[2 * r]);
            print_sample(r, "t'", &samples[2 * r + 1]);
        }
    }
    free(batch);
    tsl_vk_cmd_destroy(cmd);
    tsl_input_destroy(input);
    tsl_loader_close(loader);
    return st;
}

int tsl_cmd_preview(int argc, char **argv) {
    preview_args a = {.out_path = "preview.png", .device = -1, .rows = 6, .size = 128, .seed = 0};
    tsl_opt opts[] = {
        TSL_CLI_DEVICE_OPTION(&a.device),
        {"--data", TSL_OPT_STRING, &a.data, "DIR", "a split's shards (OUT/train of tessl shard)", 0, 0},
        {"-o", TSL_OPT_STRING, &a.out_path, "PNG", "output picture", 0, 0},
        {"--rows", TSL_OPT_INT, &a.rows, "N", "pairs shown", 1, 64},
        {"--size", TSL_OPT_INT, &a.size, "PX", "augmented image size", 8, 1024},
        {"--seed", TSL_OPT_INT, &a.seed, "N", "order and augmentation seed", 0, INT64_MAX},
    };
    tsl_command_spec spec = {
        .name = "tessl preview",
        .args = "",
        .summary = "Draws one TeSSL batch as the trainer sees it: per row, a pair of images under the\n"
                   "same augmentation t, then under t'. Prints every parameter used.",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
    };
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    if (!a.data)
        return tsl_cli_fail(tsl_error(TSL_ERR_INVALID_ARG, "tessl preview: --data DIR is required"));
    tsl_vk_device *dev = NULL;
    tsl_status st = tsl_cli_open_device(a.device, &dev);
    if (st == TSL_OK)
        st = preview(&a, dev);
    tsl_status closed = dev ? tsl_cli_close_device(dev) : TSL_OK;
    st = st != TSL_OK ? st : closed;
    return st == TSL_OK ? TSL_EXIT_OK : tsl_cli_fail(st);
}
