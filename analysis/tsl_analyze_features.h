/* Features for the analyses: a trunk's avgpool output h (evaluation mode, BatchNorm running statistics)
 * of images under given augmentation samples, computed on the device in batches: the host images of a
 * batch are uploaded, augmented by the GPU chain (tsl_augment_record_batch, ImageNet normalisation,
 * bicubic, the model's resolution: exactly the trainer's input), and passed through the trunk. */
#ifndef TSL_ANALYZE_FEATURES_H
#define TSL_ANALYZE_FEATURES_H

#include "tsl_analyze_data.h"
#include "tsl_augment.h"
#include "tsl_model.h"

typedef struct tsl_analyze_extractor tsl_analyze_extractor;

/* `model` (not owned) takes up to `batch` images per forward (batch <= 4 x its configured N). Image
 * buffers hold `batch` images of up to `max_image_bytes` (tsl_analyze_image_bytes) each. */
tsl_status tsl_analyze_extractor_create(tsl_vk_device *device, tsl_model *model, uint32_t batch,
                                        uint64_t max_image_bytes, tsl_analyze_extractor **out);

/* Bytes one image takes in the device buffer: width * height * 3 rounded up to a multiple of 4. */
uint64_t tsl_analyze_image_bytes(const tsl_analyze_image *image);

/* features (n_jobs x feature_dim, row-major) of images->images[jobs[j].source] under jobs[j].sample.
 * Errors: TSL_ERR_INVALID_ARG for a source index outside `images` or an image larger than the buffers. */
tsl_status tsl_analyze_extract(tsl_analyze_extractor *ex, const tsl_analyze_images *images,
                               const tsl_augment_job *jobs, size_t n_jobs, double *features);

size_t tsl_analyze_extractor_dim(const tsl_analyze_extractor *ex); /* feature_dim */

void tsl_analyze_extractor_destroy(tsl_analyze_extractor *ex); /* accepts NULL */

#endif
