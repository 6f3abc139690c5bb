/* The SyncBN pieces of trainer/kernels/tsl_batchnorm.h (stats partials, apply, backward sums, dx with a
 * global count) against the double reference over the whole batch, with the batch split in two halves
 * as two ranks would hold it: each half's partials are merged on the host (tsl_batchnorm_merge_partials,
 * then Chan's formula across halves, as tsl_model_sync.c does), each half is normalised with the global
 * statistics, and each half's gradient sums are added before dx. The result must be the whole batch's
 * batch norm. Tolerances as tests/test_batchnorm.c (same fp32 arithmetic, one more merge level), whose
 * assumptions on the batch statistics the input meets by construction (tsl_test_bn_input: with uniform
 * values, the two values of a 2 x 1 x 1 x 1 channel could nearly coincide, and dx's error grows as
 * their variance shrinks):
 * y abs 2e-5 + rel 1e-5; mean abs 6e-6; invstd rel 1e-5; dx abs 1e-5 + rel 1e-5; dgamma, dbeta (the
 * halves' sums added) rel 1e-5 + abs 5e-6 * sqrt(m). */
#include "ref_batchnorm.h"
#include "tsl_batchnorm.h"
#include "tsl_test.h"
#include "tsl_test_tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t n, c, h, w; /* n even: two halves */
} shape4;

/* Odd channel counts, 1-D and 2-D, one value per channel per half, and a channel long enough (2 x 48 x
 * 48 per half) for several slices per half. */
static const shape4 shapes[] = {{2, 3, 7, 7}, {2, 1, 1, 1}, {8, 13, 1, 1}, {4, 3, 1, 7}, {4, 3, 48, 48}};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

typedef struct {
    tsl_vk_device *dev;
    tsl_vk_cmd *cmd;
    tsl_batchnorm_shape half;
    size_t half_floats;
} ctx;

/* Each half of a batch tensor starts at a multiple of 64 floats (256 bytes), as a bindable offset must;
 * the model's quarters are aligned the same way (tsl_model_layout.c). */
static size_t stride_of(size_t half_floats) {
    return (half_floats + 63) / 64 * 64;
}

static tsl_vk_range half_of(const tsl_vk_buffer *b, size_t half_floats, int h) {
    return tsl_vk_subrange(b, 4ull * stride_of(half_floats) * h, 4ull * half_floats);
}

static tsl_vk_buffer upload_halves(tsl_vk_device *dev, const float *data, size_t half_floats,
                                   const char *name) {
    size_t stride = stride_of(half_floats);
    float *padded = calloc(2 * stride, 4);
    memcpy(padded, data, 4 * half_floats);
    memcpy(padded + stride, data + half_floats, 4 * half_floats);
    tsl_vk_buffer b = tsl_test_upload_floats(dev, padded, 2 * stride, name);
    free(padded);
    return b;
}

static float *download_halves(tsl_vk_device *dev, const tsl_vk_buffer *b, size_t half_floats) {
    size_t stride = stride_of(half_floats);
    float *padded = tsl_test_download_floats(dev, b, 2 * stride), *out = malloc(8 * half_floats);
    memcpy(out, padded, 4 * half_floats);
    memcpy(out + half_floats, padded + stride, 4 * half_floats);
    free(padded);
    return out;
}

/* Global mean and invstd of the two halves from their partials. */
static void merge_halves(ctx *c, const float *partials[2], uint32_t slots, float *mean, float *invstd) {
    for (uint32_t ch = 0; ch < c->half.c; ch++) {
        double n = 0, mu = 0, m2 = 0;
        for (int h = 0; h < 2; h++) {
            double nb, mb, m2b;
            tsl_batchnorm_merge_partials(partials[h], slots, ch, &nb, &mb, &m2b);
            double nab = n + nb, d = mb - mu;
            mu += d * (nb / nab);
            m2 += m2b + d * d * (n * nb / nab);
            n = nab;
        }
        mean[ch] = (float)mu;
        invstd[ch] = (float)(1.0 / sqrt(m2 / n + 1e-5));
    }
}

static void check_shape(tsl_vk_device *dev, uint64_t seed, shape4 s, bool affine) {
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t n = (size_t)s.n * s.c * s.h * s.w, hw = (size_t)s.h * s.w;
    ctx c = {dev, NULL, tsl_batchnorm_shape_2d(s.n / 2, s.c, s.h, s.w), n / 2};
    float *x = tsl_test_bn_input(&rng, s.n, s.c, s.h, s.w, 4.0),
          *dy = tsl_test_random_floats(&rng, n, -1.0f, 1.0f);
    float *gamma = tsl_test_random_floats(&rng, s.c, 0.5f, 1.5f),
          *beta = tsl_test_random_floats(&rng, s.c, -1, 1);
    float *zeros = calloc(s.c, 4);
    uint32_t slots = tsl_batchnorm_partial_slots(dev, c.half);
    size_t pfloats = (3ull * s.c * slots + 63) / 64 * 64; /* each half's partials 256-byte aligned */
    tsl_vk_buffer bx = upload_halves(dev, x, n / 2, "x"), bdy = upload_halves(dev, dy, n / 2, "dy"),
                  bg = tsl_test_upload_floats(dev, gamma, s.c, "gamma"),
                  bb = tsl_test_upload_floats(dev, beta, s.c, "beta"),
                  brs = tsl_test_upload_floats(dev, zeros, s.c, "running");
    tsl_vk_buffer by = tsl_test_poisoned(dev, 2 * stride_of(n / 2), "y"),
                  bdx = tsl_test_poisoned(dev, 2 * stride_of(n / 2), "dx"),
                  bp = tsl_test_poisoned(dev, 2 * pfloats, "partials"),
                  bsums = tsl_test_poisoned(dev, 4 * 64 * ((s.c + 63) / 64), "sums"),
                  bsc = tsl_test_poisoned(dev, tsl_batchnorm_scratch_bytes(dev, c.half) / 4, "scratch");
    tsl_vk_range none = {0};
    tsl_batchnorm_params prm = {
        affine ? bg.range : none, affine ? bb.range : none, brs.range, brs.range, 0.1f, 1e-5f};
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &c.cmd));

    /* forward: partials per half, merged on the host, then each half normalised */
    TSL_TEST_OK(tsl_vk_cmd_begin(c.cmd));
    for (int h = 0; h < 2; h++)
        TSL_TEST_OK(
            tsl_batchnorm_stats_partials(dev, c.cmd, c.half, half_of(&bx, c.half_floats, h),
                                         tsl_vk_subrange(&bp, 4ull * pfloats * h, 12ull * s.c * slots)));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(c.cmd));
    float *partials = tsl_test_download_floats(dev, &bp, 2 * pfloats);
    const float *halves[2] = {partials, partials + pfloats};
    float *mean = malloc(4 * s.c), *invstd = malloc(4 * s.c);
    merge_halves(&c, halves, slots, mean, invstd);
    tsl_vk_buffer bm = tsl_test_upload_floats(dev, mean, s.c, "mean"),
                  bi = tsl_test_upload_floats(dev, invstd, s.c, "invstd");
    size_t ch_floats = (s.c + 63) / 64 * 64; /* sums: [dy half 0 | dyx half 0 | dy half 1 | dyx half 1] */
    TSL_TEST_OK(tsl_vk_cmd_begin(c.cmd));
    for (int h = 0; h < 2; h++) {
        TSL_TEST_OK(tsl_batchnorm_apply_train(dev, c.cmd, c.half, &prm, half_of(&bx, c.half_floats, h),
                                              half_of(&by, c.half_floats, h), bm.range, bi.range));
        TSL_TEST_OK(tsl_batchnorm_backward_sums(
            dev, c.cmd, c.half, half_of(&bx, c.half_floats, h), half_of(&bdy, c.half_floats, h), bm.range,
            bi.range, tsl_vk_subrange(&bsums, 4ull * ch_floats * 2 * h, 4ull * s.c),
            tsl_vk_subrange(&bsums, 4ull * ch_floats * (2 * h + 1), 4ull * s.c), bsc.range));
    }
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(c.cmd));
    float *sums = tsl_test_download_floats(dev, &bsums, 4 * ch_floats);
    float *global = calloc(2 * ch_floats, 4); /* sum dy, then (aligned) sum dy * xhat, over both halves */
    for (uint32_t ch = 0; ch < s.c; ch++) {
        global[ch] = sums[ch] + sums[2 * ch_floats + ch];
        global[ch_floats + ch] = sums[ch_floats + ch] + sums[3 * ch_floats + ch];
    }
    tsl_vk_buffer bgs = tsl_test_upload_floats(dev, global, 2 * ch_floats, "global sums");
    TSL_TEST_OK(tsl_vk_cmd_begin(c.cmd));
    for (int h = 0; h < 2; h++)
        TSL_TEST_OK(tsl_batchnorm_backward_dx(dev, c.cmd, c.half, affine ? bg.range : none,
                                              half_of(&bx, c.half_floats, h), half_of(&bdy, c.half_floats, h),
                                              bm.range, bi.range, tsl_vk_subrange(&bgs, 0, 4ull * s.c),
                                              tsl_vk_subrange(&bgs, 4ull * ch_floats, 4ull * s.c),
                                              (double)s.n * hw, half_of(&bdx, c.half_floats, h)));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(c.cmd));
    tsl_vk_cmd_destroy(c.cmd);

    double *xd = tsl_test_to_double(x, n), *dyd = tsl_test_to_double(dy, n),
           *gd = tsl_test_to_double(gamma, s.c), *bd = tsl_test_to_double(beta, s.c);
    double *yd = malloc(8 * n), *md = malloc(8 * s.c), *id = malloc(8 * s.c), *dxd = malloc(8 * n),
           *dgd = malloc(8 * s.c), *dbd = malloc(8 * s.c);
    ref_batchnorm_forward_train(s.n, s.c, hw, xd, affine ? gd : NULL, affine ? bd : NULL, 0.1, 1e-5, NULL,
                                NULL, yd, md, id);
    ref_batchnorm_backward(s.n, s.c, hw, xd, affine ? gd : NULL, dyd, 1e-5, dxd, dgd, dbd);
    float *y = download_halves(dev, &by, n / 2), *dx = download_halves(dev, &bdx, n / 2);
    char what[96];
    snprintf(what, sizeof what, "sync forward %ux%ux%ux%u affine=%d", s.n, s.c, s.h, s.w, affine);
    tsl_test_check_close(what, seed, y, yd, n, 1e-5, 2e-5);
    tsl_test_check_close("sync mean", seed, mean, md, s.c, 0, 6e-6);
    tsl_test_check_close("sync invstd", seed, invstd, id, s.c, 1e-5, 0);
    snprintf(what, sizeof what, "sync backward dx %ux%ux%ux%u affine=%d", s.n, s.c, s.h, s.w, affine);
    tsl_test_check_close(what, seed, dx, dxd, n, 1e-5, 1e-5);
    double sum_tol = 5e-6 * sqrt((double)s.n * hw);
    tsl_test_check_close("sync dbeta", seed, global, dbd, s.c, 1e-5, sum_tol);
    tsl_test_check_close("sync dgamma", seed, global + ch_floats, dgd, s.c, 1e-5, sum_tol);

    tsl_vk_buffer *all[] = {&bx, &bdy, &bg, &bb, &brs, &by, &bdx, &bp, &bsums, &bsc, &bm, &bi, &bgs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tsl_vk_free(dev, all[i]);
    void *host[] = {x,   dy, gamma, beta, zeros, partials, mean, invstd, sums, global, xd,
                    dyd, gd, bd,    yd,   md,    id,       dxd,  dgd,    dbd,  y,      dx};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        free(host[i]);
}

START_TEST(two_halves_match_the_whole_batch) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("batchnorm_sync");
    for (int i = 0; i < N_SHAPES; i++)
        for (int affine = 0; affine < 2; affine++)
            check_shape(dev, seed + 2 * i + affine, shapes[i], affine);
    tsl_test_device_close(dev);
}
END_TEST

START_TEST(bad_arguments_are_rejected) {
    tsl_vk_device *dev = tsl_test_device_open();
    tsl_vk_buffer b = tsl_test_poisoned(dev, 1024, "b");
    tsl_batchnorm_shape s = tsl_batchnorm_shape_2d(2, 3, 4, 4);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    tsl_vk_range x = tsl_vk_subrange(&b, 0, 4 * 96), c3 = tsl_vk_subrange(&b, 2048, 12), none = {0};
    ck_assert_int_eq(tsl_batchnorm_stats_partials(dev, cmd, s, x, tsl_vk_subrange(&b, 2048, 8)),
                     TSL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(tsl_error_message(), "partials"));
    ck_assert_int_eq(tsl_batchnorm_backward_dx(dev, cmd, s, none, x, x, c3, c3, c3, c3, 10.0, x),
                     TSL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(tsl_error_message(), "count"));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(dev, &b);
    tsl_test_device_close(dev);
}
END_TEST

int main(void) {
    Suite *s = suite_create("batchnorm_sync");
    TCase *tc = tcase_create("batchnorm_sync");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, two_halves_match_the_whole_batch);
    tcase_add_test(tc, bad_arguments_are_rejected);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
