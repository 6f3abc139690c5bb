/* Max pooling and global average pooling (trainer/kernels/tsl_pool.h) against the double reference
 * (tests/ref/ref_pool.c).
 *
 * Tolerances:
 * - max-pool forward selects an input value: exact, and its argmax index must equal the reference's.
 * - max-pool backward sums at most ceil(k/s)^2 = 4 values of dy (|dy| < 1) per input: partial sums
 *   stay < 4, each of 3 additions rounds by <= 2.4e-7: abs 1e-6.
 * - average-pool forward: sequential fp32 sum of hw values in [-1, 1) then a scaling: error
 *   <= ~hw * 6e-8 / hw per term in the worst case, ~6e-8 * sqrt(hw) typical: rel 1e-6 + abs 2e-7.
 *   backward: dy times fp32(1/hw), two roundings: rel 2e-7.
 * - finite differences of the references in double, h = 1e-6: max pooling is linear in x near inputs
 *   whose window values are >= 1e-3 apart, average pooling is linear: rounding ~1e-16 / h: abs 1e-8. */
#include "ref_pool.h"
#include "tsl_chunk.h"
#include "tsl_pool.h"
#include "tsl_test.h"
#include "tsl_test_tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ResNet's 3x3 stride 2 padding 1 at odd shapes (spatial 1, 7, 13, even 8x6), plus 2x2 stride 2. */
static const tsl_maxpool_shape max_shapes[] = {
    {2, 3, 7, 7, 3, 2, 1}, {1, 1, 1, 1, 3, 2, 1},   {1, 13, 13, 13, 3, 2, 1},
    {2, 3, 8, 6, 3, 2, 1}, {1, 3, 32, 32, 3, 2, 1}, {2, 3, 7, 7, 2, 2, 0},
};
enum { N_MAX_SHAPES = sizeof max_shapes / sizeof max_shapes[0] };

static ref_maxpool_shape to_ref(tsl_maxpool_shape s) {
    return (ref_maxpool_shape){s.n, s.c, s.h, s.w, s.kernel, s.stride, s.padding};
}

static size_t in_count(tsl_maxpool_shape s) {
    return (size_t)s.n * s.c * s.h * s.w;
}

static size_t out_count(tsl_maxpool_shape s) {
    return (size_t)s.n * s.c * tsl_maxpool_out_h(s) * tsl_maxpool_out_w(s);
}

/* Forward then backward on the GPU; checks y, indices and dx. With `ties`, x takes only the values
 * 0, 1, 2, so most windows tie and the first-maximum rule decides. */
static void check_maxpool(tsl_vk_device *dev, uint64_t seed, tsl_maxpool_shape s, bool ties) {
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t ni = in_count(s), no = out_count(s);
    float *x = tsl_test_random_floats(&rng, ni, -2, 2), *dy = tsl_test_random_floats(&rng, no, -1, 1);
    if (ties)
        for (size_t i = 0; i < ni; i++)
            x[i] = (float)(tsl_test_rng_u64(&rng) % 3);
    tsl_vk_buffer bx = tsl_test_upload_floats(dev, x, ni, "x"),
                  bdy = tsl_test_upload_floats(dev, dy, no, "dy");
    tsl_vk_buffer by = tsl_test_poisoned(dev, no, "y"), bi = tsl_test_poisoned(dev, no, "indices"),
                  bdx = tsl_test_poisoned(dev, ni, "dx");
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_maxpool_forward(dev, cmd, s, bx.range, by.range, bi.range));
    TSL_TEST_OK(tsl_maxpool_backward(dev, cmd, s, bdy.range, bi.range, bdx.range));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);

    double *xd = tsl_test_to_double(x, ni), *dyd = tsl_test_to_double(dy, no);
    double *yd = malloc(8 * no), *dxd = malloc(8 * ni), *idx_want = malloc(8 * no);
    uint32_t *argmax = malloc(4 * no), *idx = malloc(4 * no);
    ref_maxpool_forward(to_ref(s), xd, yd, argmax);
    ref_maxpool_backward(to_ref(s), xd, dyd, dxd);
    float *y = tsl_test_download_floats(dev, &by, no), *dx = tsl_test_download_floats(dev, &bdx, ni);
    tsl_test_download(dev, &bi, idx);
    char what[96];
    snprintf(what, sizeof what, "maxpool y %ux%ux%ux%u k%u s%u p%u ties=%d", s.n, s.c, s.h, s.w, s.kernel,
             s.stride, s.padding, ties);
    tsl_test_check_close(what, seed, y, yd, no, 0, 0);
    /* Indices compared as floats (exact below 2^24). */
    float *idx_got = malloc(4 * no);
    for (size_t i = 0; i < no; i++) {
        idx_got[i] = (float)idx[i];
        idx_want[i] = argmax[i];
    }
    tsl_test_check_close("maxpool indices", seed, idx_got, idx_want, no, 0, 0);
    tsl_test_check_close("maxpool dx", seed, dx, dxd, ni, 0, 1e-6);
    tsl_vk_free(dev, &bx), tsl_vk_free(dev, &bdy), tsl_vk_free(dev, &by), tsl_vk_free(dev, &bi);
    tsl_vk_free(dev, &bdx);
    void *host[] = {x, dy, xd, dyd, yd, dxd, idx_want, argmax, idx, y, dx, idx_got};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        free(host[i]);
}

START_TEST(maxpool_matches_reference) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("maxpool");
    for (int i = 0; i < N_MAX_SHAPES; i++)
        for (int ties = 0; ties < 2; ties++)
            check_maxpool(dev, seed + 2 * i + ties, max_shapes[i], ties);
    tsl_test_device_close(dev);
}
END_TEST

static void check_avgpool(tsl_vk_device *dev, uint64_t seed, uint32_t n, uint32_t c, uint32_t h, uint32_t w) {
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t big = (size_t)n * c * h * w, small = (size_t)n * c, hw = (size_t)h * w;
    float *x = tsl_test_random_floats(&rng, big, -1, 1), *dy = tsl_test_random_floats(&rng, small, -1, 1);
    tsl_vk_buffer bx = tsl_test_upload_floats(dev, x, big, "x"),
                  bdy = tsl_test_upload_floats(dev, dy, small, "dy");
    tsl_vk_buffer by = tsl_test_poisoned(dev, small, "y"), bdx = tsl_test_poisoned(dev, big, "dx");
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_avgpool_global_forward(dev, cmd, n, c, h, w, bx.range, by.range));
    TSL_TEST_OK(tsl_avgpool_global_backward(dev, cmd, n, c, h, w, bdy.range, bdx.range));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    double *xd = tsl_test_to_double(x, big), *dyd = tsl_test_to_double(dy, small);
    double *yd = malloc(8 * small), *dxd = malloc(8 * big);
    ref_avgpool_global_forward(n, c, hw, xd, yd);
    ref_avgpool_global_backward(n, c, hw, dyd, dxd);
    float *y = tsl_test_download_floats(dev, &by, small), *dx = tsl_test_download_floats(dev, &bdx, big);
    char what[96];
    snprintf(what, sizeof what, "avgpool forward %ux%ux%ux%u", n, c, h, w);
    tsl_test_check_close(what, seed, y, yd, small, 1e-6, 2e-7);
    tsl_test_check_close("avgpool backward", seed, dx, dxd, big, 2e-7, 0);
    tsl_vk_free(dev, &bx), tsl_vk_free(dev, &bdy), tsl_vk_free(dev, &by), tsl_vk_free(dev, &bdx);
    free(x), free(dy), free(xd), free(dyd), free(yd), free(dxd), free(y), free(dx);
}

START_TEST(avgpool_matches_reference) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("avgpool");
    check_avgpool(dev, seed, 2, 3, 7, 7);
    check_avgpool(dev, seed + 1, 1, 13, 13, 13);
    check_avgpool(dev, seed + 2, 2, 1, 1, 1);
    check_avgpool(dev, seed + 3, 1, 3, 1, 7);
    check_avgpool(dev, seed + 4, 3, 300, 7, 7); /* more planes than one workgroup */
    tsl_test_device_close(dev);
}
END_TEST

/* Batches larger than one binding are split along the batch: with the chunk limit lowered to 4 KiB,
 * 9 images of 3x13x13 (2028 bytes; 588 bytes pooled) go in chunks of 4, 4, 1 (multiples of 4 keep
 * every chunk 16-byte aligned). Same tolerances. */
START_TEST(split_along_batch_matches_reference) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("pool_split");
    tsl_chunk_set_test_limit(4096);
    tsl_maxpool_shape s = tsl_maxpool_shape_resnet(9, 3, 13, 13);
    VkDeviceSize image_bytes = 4ull * 3 * 13 * 13;
    ck_assert_uint_lt(tsl_batch_chunk_images(dev, &image_bytes, 1), 9);
    check_maxpool(dev, seed, s, false);
    check_maxpool(dev, seed + 1, s, true);
    check_avgpool(dev, seed + 2, 9, 3, 13, 13);
    tsl_chunk_set_test_limit(0);
    tsl_test_device_close(dev);
}
END_TEST

/* L = sum w * pool(x); returns dL/dx[i] by central differences. */
static double numeric_maxpool(ref_maxpool_shape s, double *x, const double *w, size_t i) {
    size_t no = s.n * s.c * ref_maxpool_out_h(s) * ref_maxpool_out_w(s);
    double *y = malloc(8 * no), keep = x[i], l[2];
    for (int side = 0; side < 2; side++) {
        x[i] = keep + (side ? -1e-6 : 1e-6);
        ref_maxpool_forward(s, x, y, NULL);
        l[side] = 0.0;
        for (size_t k = 0; k < no; k++)
            l[side] += w[k] * y[k];
    }
    x[i] = keep;
    free(y);
    return (l[0] - l[1]) / 2e-6;
}

static double numeric_avgpool(size_t n, size_t c, size_t hw, double *x, const double *w, size_t i) {
    double y[64], keep = x[i], l[2];
    for (int side = 0; side < 2; side++) {
        x[i] = keep + (side ? -1e-6 : 1e-6);
        ref_avgpool_global_forward(n, c, hw, x, y);
        l[side] = 0.0;
        for (size_t k = 0; k < n * c; k++)
            l[side] += w[k] * y[k];
    }
    x[i] = keep;
    return (l[0] - l[1]) / 2e-6;
}

START_TEST(reference_backward_matches_finite_differences) {
    uint64_t seed = tsl_test_seed("pool_reference_fd");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    /* Max pooling: distinct values 1e-2 apart (a shuffled ramp), so each window's argmax is stable. */
    ref_maxpool_shape s = {2, 2, 7, 7, 3, 2, 1};
    size_t ni = s.n * s.c * s.h * s.w, no = s.n * s.c * ref_maxpool_out_h(s) * ref_maxpool_out_w(s);
    double *x = malloc(8 * ni), *w = malloc(8 * no), *dx = malloc(8 * ni);
    float *num = malloc(4 * ni);
    for (size_t i = 0; i < ni; i++)
        x[i] = (double)i * 1e-2;
    for (size_t i = ni - 1; i > 0; i--) {
        size_t j = tsl_test_rng_u64(&rng) % (i + 1);
        double t = x[i];
        x[i] = x[j], x[j] = t;
    }
    for (size_t i = 0; i < no; i++)
        w[i] = tsl_test_rng_uniform(&rng, -1, 1);
    ref_maxpool_backward(s, x, w, dx);
    for (size_t i = 0; i < ni; i++)
        num[i] = (float)numeric_maxpool(s, x, w, i);
    /* fp32 storage of the numeric value: rel 1e-7. */
    tsl_test_check_close("reference maxpool dx vs finite differences", seed, num, dx, ni, 1e-7, 1e-8);

    size_t n = 2, c = 3, hw = 5;
    double xa[30], wa[6], dxa[30];
    float numa[30];
    for (size_t i = 0; i < 30; i++)
        xa[i] = tsl_test_rng_uniform(&rng, -1, 1);
    for (size_t i = 0; i < 6; i++)
        wa[i] = tsl_test_rng_uniform(&rng, -1, 1);
    ref_avgpool_global_backward(n, c, hw, wa, dxa);
    for (size_t i = 0; i < 30; i++)
        numa[i] = (float)numeric_avgpool(n, c, hw, xa, wa, i);
    tsl_test_check_close("reference avgpool dx vs finite differences", seed, numa, dxa, 30, 1e-7, 1e-8);
    free(x), free(w), free(dx), free(num);
}
END_TEST

static void expect_invalid(tsl_status st, const char *op, const char *fragment) {
    ck_assert_int_eq(st, TSL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(tsl_error_message(), op), "message '%s' does not name %s", tsl_error_message(), op);
    ck_assert_msg(strstr(tsl_error_message(), fragment), "message '%s' lacks '%s'", tsl_error_message(),
                  fragment);
}

START_TEST(bad_arguments_are_rejected) {
    tsl_vk_device *dev = tsl_test_device_open();
    tsl_vk_buffer a = tsl_test_alloc(dev, TSL_MEM_DEVICE, 4 * 2 * 3 * 7 * 7, "a");
    tsl_vk_buffer b = tsl_test_alloc(dev, TSL_MEM_DEVICE, 4 * 2 * 3 * 4 * 4, "b");
    tsl_vk_buffer i = tsl_test_alloc(dev, TSL_MEM_DEVICE, 4 * 2 * 3 * 4 * 4, "i");
    tsl_maxpool_shape s = tsl_maxpool_shape_resnet(2, 3, 7, 7);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    expect_invalid(tsl_maxpool_forward(dev, cmd, s, a.range, tsl_vk_subrange(&b, 0, 8), i.range),
                   "maxpool_forward", "y is 8 bytes");
    expect_invalid(tsl_maxpool_backward(dev, cmd, s, b.range, i.range, tsl_vk_subrange(&a, 0, 4)),
                   "maxpool_backward", "dx is");
    tsl_maxpool_shape bad_pad = s;
    bad_pad.padding = 2;
    expect_invalid(tsl_maxpool_forward(dev, cmd, bad_pad, a.range, b.range, i.range), "maxpool_forward",
                   "padding");
    expect_invalid(tsl_avgpool_global_forward(dev, cmd, 2, 3, 7, 7, a.range, b.range),
                   "avgpool_global_forward", "y is");
    expect_invalid(tsl_avgpool_global_backward(dev, cmd, 0, 3, 7, 7, b.range, a.range),
                   "avgpool_global_backward", "shape");
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(dev, &a), tsl_vk_free(dev, &b), tsl_vk_free(dev, &i);
    tsl_test_device_close(dev);
}
END_TEST

int main(void) {
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, maxpool_matches_reference);
    tcase_add_test(tc, avgpool_matches_reference);
    tcase_add_test(tc, split_along_batch_matches_reference);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, bad_arguments_are_rejected);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
