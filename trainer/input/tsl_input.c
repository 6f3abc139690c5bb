#include "tsl_input.h"

#include <stdlib.h>
#include <string.h>

struct tsl_input {
    tsl_vk_device *device;
    tsl_input_options options;
    tsl_augment_source *sources;
    uint32_t *widths, *heights, *half1, *half2;
    tsl_augment_sample *samples;
    tsl_augment_job *jobs;
    tsl_augment_record *records;
    tsl_vk_buffer params, scratch, output;
};

tsl_status tsl_input_create(tsl_vk_device *device, const tsl_input_options *options, tsl_input **out) {
    *out = NULL;
    TSL_TRY(tsl_augment_config_check(&options->config));
    uint32_t pairs = options->max_pairs;
    if (pairs == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "input: max_pairs must be at least 1");
    tsl_input *in = calloc(1, sizeof *in);
    if (!in)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    in->device = device;
    in->options = *options;
    in->sources = calloc(2 * (size_t)pairs, sizeof *in->sources);
    in->widths = calloc(pairs, sizeof *in->widths);
    in->heights = calloc(pairs, sizeof *in->heights);
    in->half1 = calloc(pairs, sizeof *in->half1);
    in->half2 = calloc(pairs, sizeof *in->half2);
    in->samples = calloc(2 * (size_t)pairs, sizeof *in->samples);
    in->jobs = calloc(4 * (size_t)pairs, sizeof *in->jobs);
    in->records = calloc(4 * (size_t)pairs, sizeof *in->records);
    tsl_status st = TSL_OK;
    if (!in->sources || !in->widths || !in->heights || !in->half1 || !in->half2 || !in->samples ||
        !in->jobs || !in->records)
        st = tsl_error(TSL_ERR_NOMEM, "out of memory");
    uint32_t n_out = 4 * pairs;
    if (st == TSL_OK)
        st = tsl_vk_alloc(device, TSL_MEM_DEVICE, (uint64_t)n_out * sizeof *in->records,
                          "augmentation records", &in->params);
    if (st == TSL_OK)
        st = tsl_vk_alloc(device, TSL_MEM_DEVICE, tsl_augment_scratch_bytes(&options->output, n_out),
                          "augmentation scratch", &in->scratch);
    if (st == TSL_OK)
        st = tsl_vk_alloc(device, TSL_MEM_DEVICE, tsl_augment_output_bytes(&options->output, n_out),
                          "network input batch", &in->output);
    if (st != TSL_OK) {
        tsl_input_destroy(in);
        return st;
    }
    *out = in;
    return TSL_OK;
}

/* Loader images [half 1 ; half 2] become augment sources in the same order. */
static void take_sources(tsl_input *in, const tsl_loader_batch *b) {
    for (uint32_t i = 0; i < b->images; i++)
        in->sources[i] =
            (tsl_augment_source){b->table_host[i].offset, b->table_host[i].width, b->table_host[i].height};
    for (uint32_t r = 0; r < b->count; r++) {
        in->half1[r] = r;
        in->half2[r] = b->count + r;
        in->widths[r] = b->table_host[r].width;
        in->heights[r] = b->table_host[r].height;
    }
}

tsl_status tsl_input_record(tsl_input *in, tsl_vk_cmd *cmd, const tsl_loader_batch *b, tsl_vk_range *images,
                            const tsl_augment_sample **samples) {
    if (b->images != 2 * b->count || b->count == 0 || b->count > in->options.max_pairs)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "input: expected a paired batch of 1 to %u pairs, got %u units and %u "
                         "images",
                         in->options.max_pairs, b->count, b->images);
    take_sources(in, b);
    uint32_t pairs = b->count, n_out = 4 * pairs;
    TSL_TRY(tsl_augment_sample_rows(&in->options.config, in->options.seed, b->epoch, b->step,
                                    in->options.first_row, pairs, in->widths, in->heights, in->samples));
    for (uint32_t r = 0; r < pairs; r++) {
        in->jobs[TSL_INPUT_T0 * pairs + r] = (tsl_augment_job){in->half1[r], in->samples[2 * r]};
        in->jobs[TSL_INPUT_P0 * pairs + r] = (tsl_augment_job){in->half1[r], in->samples[2 * r + 1]};
        in->jobs[TSL_INPUT_T1 * pairs + r] = (tsl_augment_job){in->half2[r], in->samples[2 * r]};
        in->jobs[TSL_INPUT_P1 * pairs + r] = (tsl_augment_job){in->half2[r], in->samples[2 * r + 1]};
    }
    TSL_TRY(tsl_augment_pack(in->sources, b->images, in->jobs, n_out, in->records));
    tsl_vk_range params = tsl_vk_subrange(&in->params, 0, (uint64_t)n_out * sizeof *in->records);
    TSL_TRY(tsl_vk_upload(in->device, params, in->records));
    tsl_vk_range output =
        tsl_vk_subrange(&in->output, 0, tsl_augment_output_bytes(&in->options.output, n_out));
    tsl_vk_range scratch =
        tsl_vk_subrange(&in->scratch, 0, tsl_augment_scratch_bytes(&in->options.output, n_out));
    TSL_TRY(tsl_augment_record_batch(in->device, cmd, &in->options.output, in->records, n_out, b->pixels,
                                     params, scratch, output));
    *images = output;
    *samples = in->samples;
    return TSL_OK;
}

void tsl_input_destroy(tsl_input *in) {
    if (!in)
        return;
    tsl_vk_free(in->device, &in->params);
    tsl_vk_free(in->device, &in->scratch);
    tsl_vk_free(in->device, &in->output);
    free(in->sources);
    free(in->widths);
    free(in->heights);
    free(in->half1);
    free(in->half2);
    free(in->samples);
    free(in->jobs);
    free(in->records);
    free(in);
}
