#include "tsl_analyze_features.h"

#include <stdlib.h>
#include <string.h>

struct tsl_analyze_extractor {
    tsl_vk_device *device;
    tsl_model *model;
    uint32_t batch, dim;
    uint64_t max_image_bytes;
    tsl_augment_output output;
    uint8_t *staging; /* batch images packed at 4-byte aligned offsets */
    tsl_augment_source *sources;
    tsl_augment_job *jobs;
    tsl_augment_record *records;
    float *out;
    tsl_vk_cmd *cmd;
    tsl_vk_buffer pixels, params, scratch, input;
};

uint64_t tsl_analyze_image_bytes(const tsl_analyze_image *img) {
    return ((uint64_t)img->width * img->height * 3 + 3) & ~UINT64_C(3);
}

static tsl_status allocate(tsl_analyze_extractor *ex) {
    uint32_t b = ex->batch;
    ex->staging = malloc(b * ex->max_image_bytes);
    ex->sources = calloc(b, sizeof *ex->sources);
    ex->jobs = calloc(b, sizeof *ex->jobs);
    ex->records = calloc(b, sizeof *ex->records);
    ex->out = calloc((size_t)b * ex->dim, sizeof *ex->out);
    if (!ex->staging || !ex->sources || !ex->jobs || !ex->records || !ex->out)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    TSL_TRY(tsl_vk_cmd_create(ex->device, &ex->cmd));
    TSL_TRY(
        tsl_vk_alloc(ex->device, TSL_MEM_DEVICE, b * ex->max_image_bytes, "analysis images", &ex->pixels));
    TSL_TRY(
        tsl_vk_alloc(ex->device, TSL_MEM_DEVICE, b * sizeof *ex->records, "analysis records", &ex->params));
    TSL_TRY(tsl_vk_alloc(ex->device, TSL_MEM_DEVICE, tsl_augment_scratch_bytes(&ex->output, b),
                         "analysis scratch", &ex->scratch));
    return tsl_vk_alloc(ex->device, TSL_MEM_DEVICE, tsl_augment_output_bytes(&ex->output, b),
                        "analysis input", &ex->input);
}

tsl_status tsl_analyze_extractor_create(tsl_vk_device *device, tsl_model *model, uint32_t batch,
                                        uint64_t max_image_bytes, tsl_analyze_extractor **out) {
    *out = NULL;
    tsl_analyze_extractor *ex = calloc(1, sizeof *ex);
    if (!ex)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    ex->device = device;
    ex->model = model;
    ex->batch = batch;
    ex->dim = (uint32_t)tsl_model_feature_dim(model);
    ex->max_image_bytes = max_image_bytes;
    tsl_augment_output_default(&ex->output, (uint32_t)tsl_model_resnet(model)->res_h);
    tsl_status st = batch && ex->max_image_bytes
                        ? allocate(ex)
                        : tsl_error(TSL_ERR_INVALID_ARG, "analyze: empty batch or image size");
    if (st != TSL_OK) {
        tsl_analyze_extractor_destroy(ex);
        return st;
    }
    *out = ex;
    return TSL_OK;
}

/* Packs the batch's images (one copy per job: simpler than sharing, and a batch is small) and their
 * records; returns the bytes of image data. */
static tsl_status pack_batch(tsl_analyze_extractor *ex, const tsl_analyze_images *images,
                             const tsl_augment_job *jobs, uint32_t n, uint64_t *bytes) {
    uint64_t offset = 0;
    for (uint32_t j = 0; j < n; j++) {
        if (jobs[j].source >= images->count)
            return tsl_error(TSL_ERR_INVALID_ARG, "analyze: job source %u outside %zu images", jobs[j].source,
                             images->count);
        const tsl_analyze_image *img = &images->images[jobs[j].source];
        if (tsl_analyze_image_bytes(img) > ex->max_image_bytes)
            return tsl_error(TSL_ERR_INVALID_ARG, "analyze: image %u larger than the extractor's buffers",
                             jobs[j].source);
        memcpy(ex->staging + offset, img->rgb, (size_t)img->width * img->height * 3);
        ex->sources[j] = (tsl_augment_source){offset, img->width, img->height};
        ex->jobs[j] = (tsl_augment_job){j, jobs[j].sample};
        offset += tsl_analyze_image_bytes(img);
    }
    *bytes = offset;
    return tsl_augment_pack(ex->sources, n, ex->jobs, n, ex->records);
}

static tsl_status extract_batch(tsl_analyze_extractor *ex, const tsl_analyze_images *images,
                                const tsl_augment_job *jobs, uint32_t n, double *features) {
    uint64_t bytes = 0;
    TSL_TRY(pack_batch(ex, images, jobs, n, &bytes));
    tsl_vk_range pixels = tsl_vk_subrange(&ex->pixels, 0, bytes);
    tsl_vk_range params = tsl_vk_subrange(&ex->params, 0, n * sizeof *ex->records);
    tsl_vk_range scratch = tsl_vk_subrange(&ex->scratch, 0, tsl_augment_scratch_bytes(&ex->output, n));
    tsl_vk_range input = tsl_vk_subrange(&ex->input, 0, tsl_augment_output_bytes(&ex->output, n));
    TSL_TRY(tsl_vk_upload(ex->device, pixels, ex->staging));
    TSL_TRY(tsl_vk_upload(ex->device, params, ex->records));
    TSL_TRY(tsl_vk_cmd_begin(ex->cmd));
    tsl_status st = tsl_augment_record_batch(ex->device, ex->cmd, &ex->output, ex->records, n, pixels, params,
                                             scratch, input);
    tsl_status done = tsl_vk_cmd_submit_wait(ex->cmd);
    TSL_TRY(st);
    TSL_TRY(done);
    TSL_TRY(tsl_model_features(ex->model, input, n, "avgpool", ex->out, (uint64_t)n * ex->dim));
    for (uint64_t i = 0; i < (uint64_t)n * ex->dim; i++)
        features[i] = ex->out[i];
    return TSL_OK;
}

tsl_status tsl_analyze_extract(tsl_analyze_extractor *ex, const tsl_analyze_images *images,
                               const tsl_augment_job *jobs, size_t n_jobs, double *features) {
    for (size_t start = 0; start < n_jobs; start += ex->batch) {
        uint32_t n = (uint32_t)(n_jobs - start < ex->batch ? n_jobs - start : ex->batch);
        TSL_TRY(extract_batch(ex, images, jobs + start, n, features + start * ex->dim));
    }
    return TSL_OK;
}

size_t tsl_analyze_extractor_dim(const tsl_analyze_extractor *ex) {
    return ex->dim;
}

void tsl_analyze_extractor_destroy(tsl_analyze_extractor *ex) {
    if (!ex)
        return;
    tsl_vk_free(ex->device, &ex->pixels);
    tsl_vk_free(ex->device, &ex->params);
    tsl_vk_free(ex->device, &ex->scratch);
    tsl_vk_free(ex->device, &ex->input);
    tsl_vk_cmd_destroy(ex->cmd);
    free(ex->staging);
    free(ex->sources);
    free(ex->jobs);
    free(ex->records);
    free(ex->out);
    free(ex);
}
