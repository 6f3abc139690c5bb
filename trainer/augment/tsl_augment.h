/* tessl's GPU augmentations: from a batch of decoded source images to the trainer's input tensor.
 *
 * Input layout (what the streaming loader uploads): one device buffer of RGB8 images, each interleaved
 * HWC uint8 (row-major, R G B per pixel), packed one after another, each starting at a byte offset that
 * is a multiple of 4; plus a host table of tsl_augment_source {offset, width, height}. The whole image
 * buffer must be smaller than 4 GiB (offsets are 32-bit on the device).
 *
 * Output: n images of 3 x S x S, NCHW fp32 (or fp16 when asked and the device has 16-bit storage),
 * contiguous, normalised ((x - mean) / std per channel; mean 0 and std 1 give the [0, 1] image before
 * normalisation). Every stage computes in fp32; fp16 only rounds the final store.
 *
 * The chain per image (torchvision.transforms.functional semantics on float tensors in [0, 1]):
 *   resized_crop (anti-aliased bilinear or bicubic; clamped to [0, 1]) -> hflip -> colour jitter in the
 *   sampled order -> rgb_to_grayscale (3 channels) -> gaussian_blur -> solarize -> normalize.
 * Gaussian blur kernel size: 2*ceil(3*sigma) + 1. The Barlow Twins recipe blurs PIL images with
 * ImageFilter.GaussianBlur(radius=sigma), whose kernel extends to about 3 sigma as well; torchvision's
 * GaussianBlur transform instead takes a fixed size (e.g. 23), which truncates nothing more for sigma <= 2
 * (weights beyond 3 sigma are < 1.2e-2 of the peak and the kernel is renormalised either way).
 * Solarize threshold: 128/255 on [0, 1] floats, so that pixels that came from uint8 invert exactly when
 * PIL's solarize(threshold=128) would invert them (pixel >= threshold -> 1 - pixel).
 *
 * Stages (one dispatch each over the whole batch, unless it exceeds one binding: then chunks):
 *   1. augment_resize: crop + resize + flip, uint8 HWC -> fp32 NCHW (into `output`)
 *   2. augment_color: jitter + gray in place (one workgroup per image: contrast needs the image mean)
 *   3. augment_blur_h: horizontal blur (output -> scratch)
 *   4. augment_blur_v: vertical blur + solarize + normalise (scratch -> output) */
#ifndef TSL_AUGMENT_H
#define TSL_AUGMENT_H

#include "tsl_augment_params.h"
#include "tsl_vk.h"

#include <stdbool.h>
#include <stdint.h>

/* One source image in the batch's image buffer. */
typedef struct {
    uint64_t offset; /* bytes from the buffer's start; a multiple of 4 */
    uint32_t width, height;
} tsl_augment_source;

/* One output image: which source, and the view's parameters (crop in relative coordinates). */
typedef struct {
    uint32_t source;
    tsl_augment_sample sample;
} tsl_augment_job;

/* The trainer's TeSSL batch of `rows` pairs: jobs[v*2*rows + h*rows + r] is view v (t, t') of the row-r
 * image of half h (1, 2), i.e. four blocks [half 1, t; half 2, t; half 1, t'; half 2, t'] of `rows`
 * images each, so that Z1A, Z2A, Z1B, Z2B are contiguous row blocks of the output. Sources:
 * sources_half1[r] and sources_half2[r]; samples as tsl_augment_sample_batch draws them. Fills 4*rows
 * jobs. */
void tsl_augment_tessl_jobs(uint32_t rows, const uint32_t *sources_half1, const uint32_t *sources_half2,
                            const tsl_augment_sample *samples, tsl_augment_job *jobs);

typedef enum { TSL_RESIZE_BILINEAR = 0, TSL_RESIZE_BICUBIC = 1 } tsl_resize_filter;

typedef struct {
    uint32_t size; /* S: output images are S x S */
    tsl_resize_filter filter;
    float mean[3], std[3];
    bool fp16; /* store the output as IEEE half floats (needs storageBuffer16BitAccess) */
} tsl_augment_output;

/* ImageNet normalisation, bicubic, fp32, S = size. */
void tsl_augment_output_default(tsl_augment_output *out, uint32_t size);

enum { TSL_AUGMENT_FLIP = 1, TSL_AUGMENT_GRAY = 2, TSL_AUGMENT_SOLARIZE = 4, TSL_AUGMENT_JITTER = 8 };

#define TSL_AUGMENT_SOLARIZE_THRESHOLD (128.0f / 255.0f)

/* The device record of one output image (std430, 64 bytes; shaders/augment_common.glsl mirrors it). */
typedef struct {
    uint32_t src_offset, src_width, src_height;
    uint32_t crop_top, crop_left, crop_height, crop_width; /* pixels of the source */
    uint32_t flags;   /* TSL_AUGMENT_* bits; bits 16 + 2k: jitter op applied k-th */
    float factors[4]; /* brightness, contrast, saturation, hue */
    float sigma;
    uint32_t pad[3];
} tsl_augment_record;

_Static_assert(sizeof(tsl_augment_record) == 64, "tsl_augment_record mirrors a 64-byte std430 struct");

/* Fills records[i] for jobs[i] (crop boxes placed on each job's own source in pixels). Fails with
 * TSL_ERR_INVALID_ARG naming the job when a source index is out of range, a source is empty or not
 * 4-byte aligned, or an offset reaches 4 GiB. */
tsl_status tsl_augment_pack(const tsl_augment_source *sources, uint32_t n_sources,
                            const tsl_augment_job *jobs, uint32_t n_jobs, tsl_augment_record *records);

/* Bytes of one fp32 image (3 * S * S floats). */
uint64_t tsl_augment_image_bytes(uint32_t size);

/* Bytes `output` must hold for n images: n * 3 * S * S elements of fp32 or fp16. */
uint64_t tsl_augment_output_bytes(const tsl_augment_output *out, uint32_t n);

/* Bytes `scratch` must hold for n images: one fp32 batch, or two (the second at an offset rounded up to
 * 256 bytes) when the output is fp16 and cannot serve as fp32 work space. */
uint64_t tsl_augment_scratch_bytes(const tsl_augment_output *out, uint32_t n);

/* Records the four stages for n output images. `records` is the host copy of what `params` holds (n
 * records, uploaded by the caller), read to plan chunks; `images` is the image buffer the records'
 * offsets point into; `scratch` and `output` hold tsl_augment_scratch_bytes / tsl_augment_output_bytes.
 * Returns TSL_ERR_INVALID_ARG naming the problem when a size is wrong or a crop box leaves its source,
 * TSL_ERR_UNSUPPORTED for fp16 output on a device without 16-bit storage. */
tsl_status tsl_augment_record_batch(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_augment_output *out,
                                    const tsl_augment_record *records, uint32_t n, tsl_vk_range images,
                                    tsl_vk_range params, tsl_vk_range scratch, tsl_vk_range output);

/* tsl_augment_record_batch as if one binding could cover at most `max_binding` bytes (0: the device's
 * limit), so that tests reach the chunked path with small batches. */
tsl_status tsl_augment_record_batch_limited(tsl_vk_device *device, tsl_vk_cmd *cmd,
                                            const tsl_augment_output *out, const tsl_augment_record *records,
                                            uint32_t n, tsl_vk_range images, tsl_vk_range params,
                                            tsl_vk_range scratch, tsl_vk_range output, uint64_t max_binding);

#endif
