#include "tsl_test_tensor.h"

#include <stdlib.h>

tsl_vk_buffer tsl_test_upload_floats(tsl_vk_device *dev, const float *data, size_t n, const char *name) {
    tsl_vk_buffer b = tsl_test_alloc(dev, TSL_MEM_DEVICE, 4 * n, name);
    tsl_test_upload(dev, &b, data);
    return b;
}

tsl_vk_buffer tsl_test_poisoned(tsl_vk_device *dev, size_t n, const char *name) {
    tsl_vk_buffer b = tsl_test_alloc(dev, TSL_MEM_DEVICE, 4 * n, name);
    tsl_test_poison(dev, &b);
    return b;
}

float *tsl_test_download_floats(tsl_vk_device *dev, const tsl_vk_buffer *b, size_t n) {
    float *f = malloc(4 * n);
    ck_assert_ptr_nonnull(f);
    tsl_test_download(dev, b, f);
    return f;
}

float *tsl_test_random_floats(tsl_test_rng *rng, size_t n, float lo, float hi) {
    float *f = malloc(4 * n);
    ck_assert_ptr_nonnull(f);
    tsl_test_fill_uniform(rng, f, n, lo, hi);
    return f;
}

double *tsl_test_to_double(const float *data, size_t n) {
    double *d = malloc(8 * n);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++)
        d[i] = data[i];
    return d;
}
