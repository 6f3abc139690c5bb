/* Evaluation-mode features of a trained (or torchvision) trunk: the engine of `tessl features`. */
#ifndef TSL_FEATURES_H
#define TSL_FEATURES_H

#include "tsl_resnet.h"
#include "tsl_safetensors.h"
#include "tsl_vk.h"

#include <stdint.h>

/* The architecture and base width of a torchvision-named ResNet state dict: resnet50 when
 * layer1.0.conv3.weight exists, else resnet34 when layer3.2.conv1.weight does, else resnet18; the base
 * width is conv1.weight's output channels. TSL_ERR_FORMAT when conv1.weight is missing or not 4-D. */
tsl_status tsl_resnet_infer(const tsl_safetensors *weights, tsl_resnet_arch *arch, int *base_width);

typedef struct {
    int ndim; /* 4 for conv1 and layer1..layer4 (n, c, h, w); 2 for avgpool (n, features) */
    int64_t shape[4];
    uint64_t count;
    float *data; /* malloc'd */
} tsl_features;

/* Runs `images` (n x 3 x h x w floats, NCHW) through the trunk in evaluation mode (BatchNorm with the
 * running statistics) in chunks of at most `chunk` images and returns the output of `layer` ("conv1":
 * the stem's convolution, "layer1".."layer4": a stage's output, "avgpool": the pooled features). Every
 * trunk tensor must be in `weights` (torchvision names; others such as fc.* are ignored). Errors:
 * TSL_ERR_INVALID_ARG for an unknown layer or empty input, TSL_ERR_FORMAT for missing or misshapen
 * weights. */
tsl_status tsl_features_extract(tsl_vk_device *device, const tsl_safetensors *weights, const float *images,
                                uint32_t n, int h, int w, const char *layer, uint32_t chunk,
                                tsl_features *out);

void tsl_features_free(tsl_features *features);

/* The engine behind tsl_features_extract, for callers that stream images in chunks: a trunk ready to run
 * up to `chunk` h x w images at a time in evaluation mode. With `weights`, the architecture and width are
 * inferred from them (arch, base_width and seed are ignored); with weights NULL, a `arch` trunk of
 * `base_width` gets torchvision's random initialisation from `seed` (tsl_model_init_random). */
typedef struct tsl_features_session tsl_features_session;
tsl_status tsl_features_session_create(tsl_vk_device *device, const tsl_safetensors *weights,
                                       tsl_resnet_arch arch, int base_width, uint64_t seed, int h, int w,
                                       uint32_t chunk, tsl_features_session **out);

/* The shape of `layer`'s output for n images (shape->data stays NULL). TSL_ERR_INVALID_ARG for an unknown
 * layer. */
tsl_status tsl_features_session_shape(const tsl_features_session *session, const char *layer, uint32_t n,
                                      tsl_features *shape);

/* Runs n (1..chunk) images (n x 3 x h x w floats) and writes `layer`'s output (out_count = n x the
 * per-image size) to `out`. */
tsl_status tsl_features_session_run(tsl_features_session *session, const float *images, uint32_t n,
                                    const char *layer, float *out, uint64_t out_count);

void tsl_features_session_destroy(tsl_features_session *session); /* accepts NULL */

#endif
