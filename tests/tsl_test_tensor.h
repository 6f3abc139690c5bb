/* Host-side helpers shared by the kernel test suites: device tensors from host floats, NaN-poisoned
 * outputs, float <-> double conversion for comparing with the double references. Each fails the test on
 * error; returned host arrays are malloc'd (caller frees). */
#ifndef TSL_TEST_TENSOR_H
#define TSL_TEST_TENSOR_H

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

#endif
