/* Host-side helpers shared by the kernel test suites: device tensors from host floats, NaN-poisoned
 * outputs, float <-> double conversion for comparing with the double references. Each fails the test on
 * error; returned host arrays are malloc'd (caller frees). */
#ifndef TSL_TEST_TENSOR_H
#define TSL_TEST_TENSOR_H

#include "tsl_safetensors.h" /* tsl_dtype */
#include "tsl_test.h"

/* A device buffer holding the n floats of `data`. */
tsl_vk_buffer tsl_test_upload_floats(tsl_vk_device *device, const float *data, size_t n, const char *name);

/* A device buffer of n floats filled with NaN. */
tsl_vk_buffer tsl_test_poisoned(tsl_vk_device *device, size_t n, const char *name);

/* The n floats of a device buffer. */
float *tsl_test_download_floats(tsl_vk_device *device, const tsl_vk_buffer *buffer, size_t n);

/* n floats uniform in [lo, hi). */
float *tsl_test_random_floats(tsl_test_rng *rng, size_t n, float lo, float hi);

double *tsl_test_to_double(const float *data, size_t n);

/* Batch-norm input, n x c x h x w (NCHW): each channel's sample standardised to exactly a drawn mean in
 * [-max_mean, max_mean] and std in [0.5, 2], so that the batch statistics meet the tolerances'
 * assumptions (tests/test_batchnorm.c: |mean| <= max_mean, std >= 0.5, so invstd <= 2). With a few
 * values per channel the raw sample std can be far below the population's, and every error in dx
 * scales with invstd (and, over two values, with how nearly they coincide). */
float *tsl_test_bn_input(tsl_test_rng *rng, uint32_t n, uint32_t c, uint32_t h, uint32_t w, double max_mean);

/* ---- tensors of a storage type (fp32 or fp16) ---- */

/* Rounds each of the n floats to the nearest value of type `t`, in place (nothing for fp32). Tests of
 * the fp16 variants round their random inputs so, so that the double reference sees exactly the values
 * the kernel reads. */
void tsl_test_round_to(float *data, size_t n, tsl_dtype t);

/* A device tensor of n elements of type `dtype`: `range` covers exactly them; the buffer behind it is
 * rounded up to whole 4-byte words so that fills (NaN poison) reach the last half too. */
typedef struct {
    tsl_vk_buffer buffer;
    tsl_vk_range range;
    tsl_dtype dtype;
    size_t n;
} tsl_test_tensor;

/* A tensor holding the n floats of `data` converted to `t` (round them first: tsl_test_round_to). */
tsl_test_tensor tsl_test_tensor_upload(tsl_vk_device *device, const float *data, size_t n, tsl_dtype t,
                                       const char *name);

/* A tensor of n elements of `t`, every one a quiet NaN of that type. */
tsl_test_tensor tsl_test_tensor_poisoned(tsl_vk_device *device, size_t n, tsl_dtype t, const char *name);

/* Fills the whole tensor with quiet NaNs of its type again. */
void tsl_test_tensor_poison(tsl_vk_device *device, const tsl_test_tensor *tensor);

/* The tensor's n values as floats (malloc'd). */
float *tsl_test_tensor_download(tsl_vk_device *device, const tsl_test_tensor *tensor);

void tsl_test_tensor_free(tsl_vk_device *device, tsl_test_tensor *tensor);

#endif
