#include "tsl_test_tensor.h"

#include "tsl_half.h"

#include <math.h>
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

float *tsl_test_bn_input(tsl_test_rng *rng, uint32_t n, uint32_t c, uint32_t h, uint32_t w, double max_mean) {
    size_t hw = (size_t)h * w, m = (size_t)n * hw;
    float *x = malloc(4 * m * c);
    double *v = malloc(8 * m);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(v);
    for (uint32_t ch = 0; ch < c; ch++) {
        double mu = tsl_test_rng_uniform(rng, -max_mean, max_mean), sd = tsl_test_rng_uniform(rng, 0.5, 2.0);
        double sum = 0.0, sq = 0.0;
        for (size_t j = 0; j < m; j++)
            sum += v[j] = tsl_test_rng_normal(rng);
        for (size_t j = 0; j < m; j++)
            sq += (v[j] - sum / m) * (v[j] - sum / m);
        double scale = sq > 0.0 ? sd / sqrt(sq / m) : sd;
        for (size_t j = 0; j < m; j++)
            x[((j / hw) * c + ch) * hw + j % hw] = (float)(mu + scale * (v[j] - sum / m));
    }
    free(v);
    return x;
}

double *tsl_test_to_double(const float *data, size_t n) {
    double *d = malloc(8 * n);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++)
        d[i] = data[i];
    return d;
}

void tsl_test_round_to(float *data, size_t n, tsl_dtype t) {
    if (t == TSL_DTYPE_F16)
        for (size_t i = 0; i < n; i++)
            data[i] = tsl_half_round(data[i]);
}

static tsl_test_tensor tensor_alloc(tsl_vk_device *dev, size_t n, tsl_dtype t, const char *name) {
    tsl_test_tensor x = {.dtype = t, .n = n};
    VkDeviceSize bytes = (VkDeviceSize)n * (uint32_t)tsl_dtype_size(t);
    x.buffer = tsl_test_alloc(dev, TSL_MEM_DEVICE, (bytes + 3) / 4 * 4, name);
    x.range = tsl_vk_subrange(&x.buffer, 0, bytes);
    return x;
}

tsl_test_tensor tsl_test_tensor_upload(tsl_vk_device *dev, const float *data, size_t n, tsl_dtype t,
                                       const char *name) {
    tsl_test_tensor x = tensor_alloc(dev, n, t, name);
    if (t == TSL_DTYPE_F16) {
        uint16_t *h = malloc(2 * (n ? n : 1));
        ck_assert_ptr_nonnull(h);
        for (size_t i = 0; i < n; i++)
            h[i] = tsl_half_from_float(data[i]);
        TSL_TEST_OK(tsl_vk_upload(dev, x.range, h));
        free(h);
    } else {
        TSL_TEST_OK(tsl_vk_upload(dev, x.range, data));
    }
    return x;
}

void tsl_test_tensor_poison(tsl_vk_device *dev, const tsl_test_tensor *x) {
    /* Two half quiet NaNs per word for fp16 (the fp32 NaN 0x7fc00000 would read as 0 and NaN). */
    uint32_t pattern = x->dtype == TSL_DTYPE_F16 ? 0x7e007e00u : 0x7fc00000u;
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_vk_cmd_fill(cmd, x->buffer.range, pattern));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
}

tsl_test_tensor tsl_test_tensor_poisoned(tsl_vk_device *dev, size_t n, tsl_dtype t, const char *name) {
    tsl_test_tensor x = tensor_alloc(dev, n, t, name);
    tsl_test_tensor_poison(dev, &x);
    return x;
}

float *tsl_test_tensor_download(tsl_vk_device *dev, const tsl_test_tensor *x) {
    float *f = malloc(4 * (x->n ? x->n : 1));
    ck_assert_ptr_nonnull(f);
    if (x->dtype == TSL_DTYPE_F16) {
        uint16_t *h = malloc(2 * (x->n ? x->n : 1));
        ck_assert_ptr_nonnull(h);
        TSL_TEST_OK(tsl_vk_download(dev, x->range, h));
        for (size_t i = 0; i < x->n; i++)
            f[i] = tsl_half_to_float(h[i]);
        free(h);
    } else {
        TSL_TEST_OK(tsl_vk_download(dev, x->range, f));
    }
    return f;
}

void tsl_test_tensor_free(tsl_vk_device *dev, tsl_test_tensor *x) {
    tsl_vk_free(dev, &x->buffer);
}
