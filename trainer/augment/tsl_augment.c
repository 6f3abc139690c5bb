#include "tsl_augment.h"

#include <string.h>

enum { WORKGROUP = 256, MAX_GRID_Y = 65535 };

void tsl_augment_output_default(tsl_augment_output *out, uint32_t size) {
    *out = (tsl_augment_output){.size = size,
                                .filter = TSL_RESIZE_BICUBIC,
                                .mean = {0.485f, 0.456f, 0.406f},
                                .std = {0.229f, 0.224f, 0.225f}};
}

enum { SCRATCH_ALIGN = 256 }; /* the largest minStorageBufferOffsetAlignment Vulkan allows */

uint64_t tsl_augment_image_bytes(uint32_t size) {
    return 3ull * size * size * sizeof(float);
}

uint64_t tsl_augment_output_bytes(const tsl_augment_output *out, uint32_t n) {
    return (uint64_t)n * tsl_augment_image_bytes(out->size) / (out->fp16 ? 2 : 1);
}

/* Offset of the second fp32 work batch in scratch (fp16 output only). */
static uint64_t second_work_offset(const tsl_augment_output *out, uint32_t n) {
    uint64_t one = (uint64_t)n * tsl_augment_image_bytes(out->size);
    return (one + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN;
}

uint64_t tsl_augment_scratch_bytes(const tsl_augment_output *out, uint32_t n) {
    uint64_t one = (uint64_t)n * tsl_augment_image_bytes(out->size);
    return out->fp16 ? second_work_offset(out, n) + one : one;
}

void tsl_augment_tessl_jobs(uint32_t rows, const uint32_t *sources_half1, const uint32_t *sources_half2,
                            const tsl_augment_sample *samples, tsl_augment_job *jobs) {
    for (uint32_t v = 0; v < TSL_VIEW_COUNT; v++)
        for (uint32_t r = 0; r < rows; r++) {
            jobs[(2 * v) * rows + r] = (tsl_augment_job){sources_half1[r], samples[2 * r + v]};
            jobs[(2 * v + 1) * rows + r] = (tsl_augment_job){sources_half2[r], samples[2 * r + v]};
        }
}

static uint32_t pack_flags(const tsl_augment_sample *s) {
    uint32_t flags = (s->flip ? TSL_AUGMENT_FLIP : 0) | (s->gray ? TSL_AUGMENT_GRAY : 0) |
                     (s->solarize ? TSL_AUGMENT_SOLARIZE : 0) | (s->jitter ? TSL_AUGMENT_JITTER : 0);
    for (uint32_t k = 0; k < 4; k++)
        flags |= (uint32_t)(s->order[k] & 3) << (16 + 2 * k);
    return flags;
}

static tsl_status check_order(const tsl_augment_sample *s, uint32_t job) {
    unsigned seen = 0;
    for (int k = 0; k < 4; k++)
        seen |= s->order[k] < 4 ? 1u << s->order[k] : 0;
    if (s->jitter && seen != 15)
        return tsl_error(TSL_ERR_INVALID_ARG, "augment: job %u: jitter order is not a permutation of 0..3",
                         job);
    return TSL_OK;
}

tsl_status tsl_augment_pack(const tsl_augment_source *sources, uint32_t n_sources,
                            const tsl_augment_job *jobs, uint32_t n_jobs, tsl_augment_record *records) {
    for (uint32_t i = 0; i < n_jobs; i++) {
        const tsl_augment_job *j = &jobs[i];
        if (j->source >= n_sources)
            return tsl_error(TSL_ERR_INVALID_ARG, "augment: job %u names source %u of %u", i, j->source,
                             n_sources);
        const tsl_augment_source *src = &sources[j->source];
        if (src->width == 0 || src->height == 0 || src->offset % 4 ||
            src->offset + 3ull * src->width * src->height > UINT32_MAX)
            return tsl_error(TSL_ERR_INVALID_ARG,
                             "augment: source %u (%ux%u at byte %llu) is empty, not 4-byte aligned or "
                             "beyond 4 GiB",
                             j->source, src->width, src->height, (unsigned long long)src->offset);
        TSL_TRY(check_order(&j->sample, i));
        tsl_augment_record *r = &records[i];
        memset(r, 0, sizeof *r);
        r->src_offset = (uint32_t)src->offset;
        r->src_width = src->width;
        r->src_height = src->height;
        tsl_augment_crop_pixels(&j->sample, src->width, src->height, &r->crop_top, &r->crop_left,
                                &r->crop_height, &r->crop_width);
        r->flags = pack_flags(&j->sample);
        r->factors[0] = j->sample.brightness;
        r->factors[1] = j->sample.contrast;
        r->factors[2] = j->sample.saturation;
        r->factors[3] = j->sample.hue;
        r->sigma = j->sample.sigma;
    }
    return TSL_OK;
}

/* What the chunk planner needs to know about the batch and the device. */
typedef struct {
    const tsl_augment_record *records;
    uint32_t n;
    uint64_t image_bytes; /* fp32 work image */
    uint64_t out_bytes;   /* output image (fp32 or fp16) */
    uint64_t max_binding; /* bytes one binding may cover */
    uint64_t align;       /* minStorageBufferOffsetAlignment */
    uint32_t chunk_step;  /* chunks start at multiples of this many images, so their offsets align */
} plan;

static uint64_t gcd_u64(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static uint64_t source_end(const tsl_augment_record *r) {
    return ((uint64_t)r->src_offset + 3ull * r->src_width * r->src_height + 3) & ~3ull;
}

/* Byte window [*lo, *hi) of the image buffer that images [k, k + c) read; lo aligned for binding. */
static void source_window(const plan *p, uint32_t k, uint32_t c, uint64_t *lo, uint64_t *hi) {
    *lo = UINT64_MAX;
    *hi = 0;
    for (uint32_t i = k; i < k + c; i++) {
        uint64_t a = p->records[i].src_offset, b = source_end(&p->records[i]);
        *lo = a < *lo ? a : *lo;
        *hi = b > *hi ? b : *hi;
    }
    *lo -= *lo % p->align;
}

/* Number of images of the next chunk from image k: as many as one binding holds (outputs, and sources
 * when `with_sources`), a multiple of chunk_step unless it is the last. */
static tsl_status next_chunk(const plan *p, uint32_t k, bool with_sources, uint32_t *count) {
    uint64_t c = p->max_binding / p->image_bytes;
    c = c < MAX_GRID_Y ? c : MAX_GRID_Y;
    c = c < p->n - k ? c : p->n - k;
    if (c < p->n - k)
        c -= c % p->chunk_step;
    while (with_sources && c > 0) {
        uint64_t lo, hi;
        source_window(p, k, (uint32_t)c, &lo, &hi);
        if (hi - lo <= p->max_binding)
            break;
        c = (c - 1) / p->chunk_step * p->chunk_step; /* shrink, keeping the next chunk's start aligned */
    }
    if (c == 0)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "augment: image %u and its source do not fit one storage binding (%llu bytes)", k,
                         (unsigned long long)p->max_binding);
    *count = (uint32_t)c;
    return TSL_OK;
}

static tsl_vk_range sub(tsl_vk_range r, uint64_t offset, uint64_t size) {
    return (tsl_vk_range){r.vk, r.offset + offset, size};
}

static tsl_status check_batch(const tsl_augment_output *out, const tsl_augment_record *records, uint32_t n,
                              tsl_vk_range images, tsl_vk_range params, tsl_vk_range scratch,
                              tsl_vk_range output) {
    if (out->size == 0 || out->size > 4096)
        return tsl_error(TSL_ERR_INVALID_ARG, "augment: output size %u is not in 1..4096", out->size);
    for (int c = 0; c < 3; c++)
        if (!(out->std[c] > 0))
            return tsl_error(TSL_ERR_INVALID_ARG, "augment: std[%d] = %g is not positive", c, out->std[c]);
    uint64_t need_out = tsl_augment_output_bytes(out, n), need_scratch = tsl_augment_scratch_bytes(out, n);
    if (output.size < need_out || scratch.size < need_scratch)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "augment: output (%llu bytes) or scratch (%llu) is below the %llu and %llu needed",
                         (unsigned long long)output.size, (unsigned long long)scratch.size,
                         (unsigned long long)need_out, (unsigned long long)need_scratch);
    if (params.size < (uint64_t)n * sizeof(tsl_augment_record))
        return tsl_error(TSL_ERR_INVALID_ARG, "augment: params hold %llu bytes, %u records need %llu",
                         (unsigned long long)params.size, n,
                         (unsigned long long)(n * sizeof(tsl_augment_record)));
    for (uint32_t i = 0; i < n; i++) {
        const tsl_augment_record *r = &records[i];
        if (r->crop_height == 0 || r->crop_width == 0 || r->crop_top + r->crop_height > r->src_height ||
            r->crop_left + r->crop_width > r->src_width)
            return tsl_error(
                TSL_ERR_INVALID_ARG, "augment: image %u: crop %ux%u at (%u, %u) leaves its %ux%u source", i,
                r->crop_height, r->crop_width, r->crop_top, r->crop_left, r->src_height, r->src_width);
        if (source_end(r) > images.size)
            return tsl_error(TSL_ERR_INVALID_ARG,
                             "augment: image %u: source ends at byte %llu of a %llu-byte buffer", i,
                             (unsigned long long)source_end(r), (unsigned long long)images.size);
    }
    return TSL_OK;
}

static tsl_status record_resize(tsl_vk_device *d, tsl_vk_cmd *cmd, const plan *p,
                                const tsl_augment_output *out, tsl_vk_range images, tsl_vk_range params,
                                tsl_vk_range output) {
    tsl_vk_pipeline *pipe;
    uint32_t spec[] = {WORKGROUP};
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_AUGMENT_RESIZE, spec, 1, &pipe));
    uint32_t gx = (out->size * out->size + WORKGROUP - 1) / WORKGROUP;
    for (uint32_t k = 0, c; k < p->n; k += c) {
        TSL_TRY(next_chunk(p, k, true, &c));
        uint64_t lo, hi;
        source_window(p, k, c, &lo, &hi);
        tsl_vk_arg args[] = {{sub(images, lo, hi - lo), TSL_READ},
                             {params, TSL_READ},
                             {sub(output, k * p->image_bytes, c * p->image_bytes), TSL_WRITE}};
        uint32_t push[] = {out->size, k, (uint32_t)lo, out->filter == TSL_RESIZE_BICUBIC};
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, pipe, args, 3, push, sizeof push, gx, c, 1));
    }
    return TSL_OK;
}

static tsl_status record_color(tsl_vk_device *d, tsl_vk_cmd *cmd, const plan *p,
                               const tsl_augment_output *out, tsl_vk_range params, tsl_vk_range output) {
    tsl_vk_pipeline *pipe;
    uint32_t spec[] = {WORKGROUP};
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_AUGMENT_COLOR, spec, 1, &pipe));
    for (uint32_t k = 0, c; k < p->n; k += c) {
        TSL_TRY(next_chunk(p, k, false, &c));
        tsl_vk_arg args[] = {{params, TSL_READ},
                             {sub(output, k * p->image_bytes, c * p->image_bytes), TSL_READ_WRITE}};
        uint32_t push[] = {out->size, k};
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, pipe, args, 2, push, sizeof push, c, 1, 1));
    }
    return TSL_OK;
}

/* `dst_bytes`: bytes of one image in `dst` (fp32 work, or the fp16 output). */
static tsl_status record_blur(tsl_vk_device *d, tsl_vk_cmd *cmd, const plan *p, const tsl_augment_output *out,
                              tsl_shader_id shader, tsl_vk_range params, tsl_vk_range src, tsl_vk_range dst,
                              uint64_t dst_bytes) {
    tsl_vk_pipeline *pipe;
    uint32_t spec[] = {WORKGROUP};
    TSL_TRY(tsl_vk_pipeline_get(d, shader, spec, 1, &pipe));
    struct {
        uint32_t size, first;
        float threshold, mean[3], inv_std[3];
    } push = {out->size, 0, TSL_AUGMENT_SOLARIZE_THRESHOLD, {0}, {0}};
    for (int ch = 0; ch < 3; ch++) {
        push.mean[ch] = out->mean[ch];
        push.inv_std[ch] = 1.0f / out->std[ch];
    }
    uint32_t gx = (3 * out->size * out->size + WORKGROUP - 1) / WORKGROUP;
    for (uint32_t k = 0, c; k < p->n; k += c) {
        TSL_TRY(next_chunk(p, k, false, &c));
        push.first = k;
        tsl_vk_arg args[] = {{params, TSL_READ},
                             {sub(src, k * p->image_bytes, c * p->image_bytes), TSL_READ},
                             {sub(dst, k * dst_bytes, c * dst_bytes), TSL_WRITE}};
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, pipe, args, 3, &push, sizeof push, gx, c, 1));
    }
    return TSL_OK;
}

tsl_status tsl_augment_record_batch(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_augment_output *out,
                                    const tsl_augment_record *records, uint32_t n, tsl_vk_range images,
                                    tsl_vk_range params, tsl_vk_range scratch, tsl_vk_range output) {
    return tsl_augment_record_batch_limited(d, cmd, out, records, n, images, params, scratch, output, 0);
}

tsl_status tsl_augment_record_batch_limited(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_augment_output *out,
                                            const tsl_augment_record *records, uint32_t n,
                                            tsl_vk_range images, tsl_vk_range params, tsl_vk_range scratch,
                                            tsl_vk_range output, uint64_t max_binding) {
    TSL_TRY(check_batch(out, records, n, images, params, scratch, output));
    if (n == 0)
        return TSL_OK;
    const tsl_vk_features *f = tsl_vk_device_features(d);
    if (out->fp16 && !f->fp16_storage)
        return tsl_error(TSL_ERR_UNSUPPORTED, "augment: fp16 output needs 16-bit storage, which %s lacks",
                         f->name);
    plan p = {.records = records,
              .n = n,
              .image_bytes = tsl_augment_image_bytes(out->size),
              .out_bytes = tsl_augment_output_bytes(out, 1),
              .max_binding = tsl_vk_max_binding_bytes(d, 4),
              .align = f->min_storage_buffer_offset_alignment ? f->min_storage_buffer_offset_alignment : 4};
    if (max_binding && max_binding < p.max_binding)
        p.max_binding = max_binding & ~3ull;
    /* Both steps are powers of two (the alignment is), so the larger is a multiple of the smaller. */
    uint64_t step_work = p.align / gcd_u64(p.image_bytes, p.align),
             step_out = p.align / gcd_u64(p.out_bytes, p.align);
    p.chunk_step = (uint32_t)(step_work > step_out ? step_work : step_out);
    uint32_t gx = (3 * out->size * out->size + WORKGROUP - 1) / WORKGROUP;
    if (gx > f->max_workgroup_count[0])
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "augment: output size %u needs %u workgroups per image, above %u", out->size, gx,
                         f->max_workgroup_count[0]);
    tsl_vk_range params_all = sub(params, 0, (uint64_t)n * sizeof(tsl_augment_record));
    /* fp32 work space: the output itself when it is fp32, else both halves of scratch. */
    uint64_t work_bytes = (uint64_t)n * p.image_bytes;
    tsl_vk_range work_a = out->fp16 ? sub(scratch, 0, work_bytes) : output;
    tsl_vk_range work_b = out->fp16 ? sub(scratch, second_work_offset(out, n), work_bytes) : scratch;
    TSL_TRY_CTX(record_resize(d, cmd, &p, out, images, params_all, work_a), "augment resize");
    TSL_TRY_CTX(record_color(d, cmd, &p, out, params_all, work_a), "augment colour");
    TSL_TRY_CTX(
        record_blur(d, cmd, &p, out, TSL_SHADER_AUGMENT_BLUR_H, params_all, work_a, work_b, p.image_bytes),
        "augment blur");
    TSL_TRY_CTX(record_blur(d, cmd, &p, out,
                            out->fp16 ? TSL_SHADER_AUGMENT_BLUR_V_F16 : TSL_SHADER_AUGMENT_BLUR_V, params_all,
                            work_b, output, p.out_bytes),
                "augment blur");
    return TSL_OK;
}
