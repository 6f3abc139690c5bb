/* Batch norm (trainer/kernels/tsl_batchnorm.h) against the double reference (tests/ref/ref_batchnorm.c).
 *
 * Tolerances. fp32 results against double; eps32 = 6e-8.
 * - y (forward): xhat = (x - mean) * invstd with |xhat| <~ 5. The fp32 mean has absolute error
 *   ~ eps32 * |mean| * a few (two-level reduction), the variance relative error ~ eps32 * a few, so
 *   |y error| <~ |gamma| * (eps32 * |mean| * 4 / std + 5 * 1e-6) + rounding: abs 2e-5 for data with
 *   |mean| <= 4, std >= 0.5, |gamma| <= 1.5, plus rel 1e-5.
 * - saved mean: abs 1e-6 * (|mean| + std); inverse std: rel 1e-5; running stats: rel 1e-5 + abs 1e-6.
 * - backward: dbeta, dgamma are sums of m terms of size ~|dy| * |xhat|: fp32 error ~ eps32 * sqrt(m) *
 *   a few per term -> abs 1e-6 * sqrt(m) * 5 plus rel 1e-5. dx = gamma * invstd * (dy - two means):
 *   each term O(|dy|) ~ 1 with error ~1e-6 after cancellation, times gamma*invstd (<= 3): abs 1e-5.
 * - finite differences on the reference (double): central differences with h = 1e-5 have truncation
 *   error ~ h^2 * |f'''| ~ 1e-10 and rounding ~ 1e-16 * |L| / h ~ 1e-10: rel 1e-6 + abs 1e-7. */
#include "ref_batchnorm.h"
#include "tsl_batchnorm.h"
#include "tsl_chunk.h"
#include "tsl_texel.h"
#include "tsl_test.h"
#include "tsl_test_tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t n, c, h, w;
} shape4;

/* Odd shapes: channels 1, 3, 13; batch 1, 2; spatial 1, 7, 13; 1-D (h = w = 1); a channel long enough
 * (2 * 48 * 48 = 4608 > 4096 values) to need two first-level slices. */
static const shape4 shapes[] = {
    {2, 3, 7, 7}, {1, 13, 13, 13}, {2, 1, 1, 1}, {1, 3, 1, 7}, {7, 13, 1, 1}, {2, 3, 48, 48},
};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

static size_t count_of(shape4 s) {
    return (size_t)s.n * s.c * s.h * s.w;
}

/* fp16 storage (shape dtype F16): x and dy are rounded to half before the reference sees them, so the
 * statistics, dgamma and dbeta (fp32, computed from exactly those values) keep the fp32 tolerances
 * above; y and dx are rounded to half once at their store, adding u = 2^-11 of the value: rel += u. */
static const double half_u = 1.0 / 2048;

static double out_rel(tsl_dtype t) {
    return 1e-5 + (t == TSL_DTYPE_F16 ? half_u : 0);
}

/* Runs the training forward on the GPU and checks y, saved statistics and running statistics. */
static void check_forward_train_typed(tsl_vk_device *dev, uint64_t seed, shape4 s, bool affine, tsl_dtype t) {
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t n = count_of(s), hw = (size_t)s.h * s.w;
    float *x = tsl_test_bn_input(&rng, s.n, s.c, s.h, s.w, 4.0);
    tsl_test_round_to(x, n, t);
    float *gamma = tsl_test_random_floats(&rng, s.c, 0.5f, 1.5f),
          *beta = tsl_test_random_floats(&rng, s.c, -1.0f, 1.0f);
    float *rmean = tsl_test_random_floats(&rng, s.c, -1.0f, 1.0f),
          *rvar = tsl_test_random_floats(&rng, s.c, 0.5f, 2.0f);
    tsl_batchnorm_shape bs = tsl_batchnorm_shape_2d(s.n, s.c, s.h, s.w);
    bs.dtype = t;

    tsl_test_tensor bx = tsl_test_tensor_upload(dev, x, n, t, "x"),
                    by = tsl_test_tensor_poisoned(dev, n, t, "y");
    tsl_vk_buffer bg = tsl_test_upload_floats(dev, gamma, s.c, "gamma"),
                  bb = tsl_test_upload_floats(dev, beta, s.c, "beta"),
                  brm = tsl_test_upload_floats(dev, rmean, s.c, "rmean"),
                  brv = tsl_test_upload_floats(dev, rvar, s.c, "rvar");
    tsl_vk_buffer bm = tsl_test_poisoned(dev, s.c, "mean"), bi = tsl_test_poisoned(dev, s.c, "invstd");
    VkDeviceSize scratch_bytes = tsl_batchnorm_scratch_bytes(dev, bs);
    tsl_vk_buffer bs_ = tsl_test_poisoned(dev, scratch_bytes / 4, "scratch");

    tsl_batchnorm_params prm = {affine ? bg.range : (tsl_vk_range){0},
                                affine ? bb.range : (tsl_vk_range){0},
                                brm.range,
                                brv.range,
                                TSL_BATCHNORM_MOMENTUM,
                                TSL_BATCHNORM_EPS};
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(
        tsl_batchnorm_forward_train(dev, cmd, bs, &prm, bx.range, by.range, bm.range, bi.range, bs_.range));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);

    double *xd = tsl_test_to_double(x, n), *gd = tsl_test_to_double(gamma, s.c),
           *bd = tsl_test_to_double(beta, s.c);
    double *rmd = tsl_test_to_double(rmean, s.c), *rvd = tsl_test_to_double(rvar, s.c);
    double *yd = malloc(8 * n), *md = malloc(8 * s.c), *id = malloc(8 * s.c);
    ref_batchnorm_forward_train(s.n, s.c, hw, xd, affine ? gd : NULL, affine ? bd : NULL, 0.1, 1e-5, rmd, rvd,
                                yd, md, id);
    float *y = tsl_test_tensor_download(dev, &by), *m = tsl_test_download_floats(dev, &bm, s.c),
          *inv = tsl_test_download_floats(dev, &bi, s.c), *rm = tsl_test_download_floats(dev, &brm, s.c),
          *rv = tsl_test_download_floats(dev, &brv, s.c);
    char what[96];
    snprintf(what, sizeof what, "forward_train %ux%ux%ux%u affine=%d %s", s.n, s.c, s.h, s.w, affine,
             tsl_dtype_name(t));
    tsl_test_check_close(what, seed, y, yd, n, out_rel(t), 2e-5);
    tsl_test_check_close("save_mean", seed, m, md, s.c, 0, 1e-6 * 6.0);
    tsl_test_check_close("save_invstd", seed, inv, id, s.c, 1e-5, 0);
    tsl_test_check_close("running_mean", seed, rm, rmd, s.c, 1e-5, 1e-6);
    tsl_test_check_close("running_var", seed, rv, rvd, s.c, 1e-5, 1e-6);

    tsl_test_tensor_free(dev, &bx), tsl_test_tensor_free(dev, &by);
    tsl_vk_buffer *all[] = {&bg, &bb, &brm, &brv, &bm, &bi, &bs_};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tsl_vk_free(dev, all[i]);
    void *host[] = {x, gamma, beta, rmean, rvar, xd, gd, bd, rmd, rvd, yd, md, id, y, m, inv, rm, rv};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        free(host[i]);
}

static void check_forward_train(tsl_vk_device *dev, uint64_t seed, shape4 s, bool affine) {
    check_forward_train_typed(dev, seed, s, affine, TSL_DTYPE_F32);
}

START_TEST(forward_train_matches_reference) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("batchnorm_forward_train");
    for (int i = 0; i < N_SHAPES; i++)
        for (int affine = 0; affine < 2; affine++)
            check_forward_train(dev, seed + 2 * i + affine, shapes[i], affine);
    tsl_test_device_close(dev);
}
END_TEST

/* |mean| / std = 1000: E[x^2] - E[x]^2 in fp32 would lose the variance entirely (1e6 * 6e-8 ~ 0.06 of
 * a unit variance per operation, far more summed). The corrected two-pass algorithm per lane (per
 * slice) and Chan's merge of slices keep invstd to ~eps32 * |mean|/std relative error per deviation:
 * rel 2e-4 on invstd; the mean itself to abs 1e-6 * 1000 * 4. */
static void check_large_mean(tsl_vk_device *dev, uint64_t seed, shape4 s) {
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t n = count_of(s);
    float *x = malloc(4 * n), *ones = malloc(4 * s.c);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(1000.0 + tsl_test_rng_normal(&rng));
    for (uint32_t i = 0; i < s.c; i++)
        ones[i] = 1.0f;
    tsl_batchnorm_shape bs = tsl_batchnorm_shape_2d(s.n, s.c, s.h, s.w);
    tsl_vk_buffer bx = tsl_test_upload_floats(dev, x, n, "x"),
                  brm = tsl_test_upload_floats(dev, ones, s.c, "rm"),
                  brv = tsl_test_upload_floats(dev, ones, s.c, "rv");
    tsl_vk_buffer by = tsl_test_poisoned(dev, n, "y"), bm = tsl_test_poisoned(dev, s.c, "mean"),
                  bi = tsl_test_poisoned(dev, s.c, "invstd");
    tsl_vk_buffer bsc = tsl_test_poisoned(dev, tsl_batchnorm_scratch_bytes(dev, bs) / 4, "scratch");
    tsl_batchnorm_params prm = {{0}, {0}, brm.range, brv.range, 0.1f, 1e-5f};
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(
        tsl_batchnorm_forward_train(dev, cmd, bs, &prm, bx.range, by.range, bm.range, bi.range, bsc.range));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    double *xd = tsl_test_to_double(x, n), *yd = malloc(8 * n), *md = malloc(8 * s.c), *id = malloc(8 * s.c);
    ref_batchnorm_forward_train(s.n, s.c, (size_t)s.h * s.w, xd, NULL, NULL, 0.1, 1e-5, NULL, NULL, yd, md,
                                id);
    float *m = tsl_test_download_floats(dev, &bm, s.c), *inv = tsl_test_download_floats(dev, &bi, s.c);
    char what[96];
    snprintf(what, sizeof what, "mean (|mean|/std = 1000) %ux%ux%ux%u", s.n, s.c, s.h, s.w);
    tsl_test_check_close(what, seed, m, md, s.c, 0, 4e-3);
    snprintf(what, sizeof what, "invstd (|mean|/std = 1000) %ux%ux%ux%u", s.n, s.c, s.h, s.w);
    tsl_test_check_close(what, seed, inv, id, s.c, 2e-4, 0);
    tsl_vk_buffer *all[] = {&bx, &brm, &brv, &by, &bm, &bi, &bsc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tsl_vk_free(dev, all[i]);
    void *host[] = {x, ones, xd, yd, md, id, m, inv};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        free(host[i]);
}

/* Two-level (4608 values per channel: two slices merged), one lane per channel with vec4 along H*W
 * (2048), and four channels per lane (1-D, 1024). */
START_TEST(statistics_stay_accurate_with_large_mean) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("batchnorm_large_mean");
    const shape4 cases[] = {{2, 3, 48, 48}, {2, 3, 32, 32}, {1024, 8, 1, 1}};
    for (int i = 0; i < 3; i++)
        check_large_mean(dev, seed + i, cases[i]);
    tsl_test_device_close(dev);
}
END_TEST

static void check_forward_eval_typed(tsl_vk_device *dev, uint64_t seed, shape4 s, bool affine, tsl_dtype t) {
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t n = count_of(s);
    float *x = tsl_test_bn_input(&rng, s.n, s.c, s.h, s.w, 4.0);
    tsl_test_round_to(x, n, t);
    float *gamma = tsl_test_random_floats(&rng, s.c, 0.5f, 1.5f),
          *beta = tsl_test_random_floats(&rng, s.c, -1.0f, 1.0f);
    float *rmean = tsl_test_random_floats(&rng, s.c, -4.0f, 4.0f),
          *rvar = tsl_test_random_floats(&rng, s.c, 0.25f, 4.0f);
    tsl_test_tensor bx = tsl_test_tensor_upload(dev, x, n, t, "x"),
                    by = tsl_test_tensor_poisoned(dev, n, t, "y");
    tsl_vk_buffer bg = tsl_test_upload_floats(dev, gamma, s.c, "gamma"),
                  bb = tsl_test_upload_floats(dev, beta, s.c, "beta"),
                  brm = tsl_test_upload_floats(dev, rmean, s.c, "rmean"),
                  brv = tsl_test_upload_floats(dev, rvar, s.c, "rvar");
    tsl_batchnorm_shape bs = tsl_batchnorm_shape_2d(s.n, s.c, s.h, s.w);
    bs.dtype = t;
    tsl_batchnorm_params prm = {affine ? bg.range : (tsl_vk_range){0},
                                affine ? bb.range : (tsl_vk_range){0},
                                brm.range,
                                brv.range,
                                TSL_BATCHNORM_MOMENTUM,
                                TSL_BATCHNORM_EPS};
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_batchnorm_forward_eval(dev, cmd, bs, &prm, bx.range, by.range));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    double *xd = tsl_test_to_double(x, n), *gd = tsl_test_to_double(gamma, s.c),
           *bd = tsl_test_to_double(beta, s.c);
    double *rmd = tsl_test_to_double(rmean, s.c), *rvd = tsl_test_to_double(rvar, s.c), *yd = malloc(8 * n);
    ref_batchnorm_forward_eval(s.n, s.c, (size_t)s.h * s.w, xd, affine ? gd : NULL, affine ? bd : NULL, rmd,
                               rvd, 1e-5, yd);
    float *y = tsl_test_tensor_download(dev, &by);
    /* One subtraction, one rsqrt (a few ulp), one fma on values <= ~20: rel 1e-5 + abs 1e-5 (fp16: rel += u).
     */
    tsl_test_check_close(t == TSL_DTYPE_F16 ? "forward_eval fp16" : "forward_eval", seed, y, yd, n,
                         out_rel(t), 1e-5);
    tsl_test_tensor_free(dev, &bx), tsl_test_tensor_free(dev, &by);
    tsl_vk_buffer *all[] = {&bg, &bb, &brm, &brv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tsl_vk_free(dev, all[i]);
    void *host[] = {x, gamma, beta, rmean, rvar, xd, gd, bd, rmd, rvd, yd, y};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        free(host[i]);
}

static void check_forward_eval(tsl_vk_device *dev, uint64_t seed, shape4 s, bool affine) {
    check_forward_eval_typed(dev, seed, s, affine, TSL_DTYPE_F32);
}

START_TEST(forward_eval_matches_reference) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("batchnorm_forward_eval");
    for (int i = 0; i < N_SHAPES; i++)
        for (int affine = 0; affine < 2; affine++)
            check_forward_eval(dev, seed + 2 * i + affine, shapes[i], affine);
    tsl_test_device_close(dev);
}
END_TEST

/* Forward (for the saved statistics) then backward on the GPU; compares dx, dgamma, dbeta. */
static void check_backward_typed(tsl_vk_device *dev, uint64_t seed, shape4 s, bool affine, tsl_dtype t) {
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t n = count_of(s), hw = (size_t)s.h * s.w;
    float *x = tsl_test_bn_input(&rng, s.n, s.c, s.h, s.w, 4.0),
          *dy = tsl_test_random_floats(&rng, n, -1.0f, 1.0f);
    tsl_test_round_to(x, n, t), tsl_test_round_to(dy, n, t);
    float *gamma = tsl_test_random_floats(&rng, s.c, 0.5f, 1.5f),
          *beta = tsl_test_random_floats(&rng, s.c, -1.0f, 1.0f);
    float *zeros = calloc(s.c, 4);
    tsl_batchnorm_shape bs = tsl_batchnorm_shape_2d(s.n, s.c, s.h, s.w);
    bs.dtype = t;
    tsl_test_tensor bx = tsl_test_tensor_upload(dev, x, n, t, "x"),
                    bdy = tsl_test_tensor_upload(dev, dy, n, t, "dy"),
                    by = tsl_test_tensor_poisoned(dev, n, t, "y"),
                    bdx = tsl_test_tensor_poisoned(dev, n, t, "dx");
    tsl_vk_buffer bg = tsl_test_upload_floats(dev, gamma, s.c, "gamma"),
                  bb = tsl_test_upload_floats(dev, beta, s.c, "beta"),
                  brm = tsl_test_upload_floats(dev, zeros, s.c, "rm"),
                  brv = tsl_test_upload_floats(dev, zeros, s.c, "rv");
    tsl_vk_buffer bm = tsl_test_poisoned(dev, s.c, "mean"), bi = tsl_test_poisoned(dev, s.c, "invstd"),
                  bdg = tsl_test_poisoned(dev, s.c, "dgamma"), bdb = tsl_test_poisoned(dev, s.c, "dbeta"),
                  bsc = tsl_test_poisoned(dev, tsl_batchnorm_scratch_bytes(dev, bs) / 4, "scratch");
    tsl_vk_range none = {0};
    tsl_batchnorm_params prm = {
        affine ? bg.range : none, affine ? bb.range : none, brm.range, brv.range, 0.1f, 1e-5f};
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(
        tsl_batchnorm_forward_train(dev, cmd, bs, &prm, bx.range, by.range, bm.range, bi.range, bsc.range));
    TSL_TEST_OK(tsl_batchnorm_backward(dev, cmd, bs, affine ? bg.range : none, bx.range, bdy.range, bm.range,
                                       bi.range, bdx.range, affine ? bdg.range : none,
                                       affine ? bdb.range : none, bsc.range));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);

    double *xd = tsl_test_to_double(x, n), *dyd = tsl_test_to_double(dy, n),
           *gd = tsl_test_to_double(gamma, s.c);
    double *dxd = malloc(8 * n), *dgd = malloc(8 * s.c), *dbd = malloc(8 * s.c);
    ref_batchnorm_backward(s.n, s.c, hw, xd, affine ? gd : NULL, dyd, 1e-5, dxd, dgd, dbd);
    float *dx = tsl_test_tensor_download(dev, &bdx);
    char what[96];
    snprintf(what, sizeof what, "backward dx %ux%ux%ux%u affine=%d %s", s.n, s.c, s.h, s.w, affine,
             tsl_dtype_name(t));
    tsl_test_check_close(what, seed, dx, dxd, n, out_rel(t), 1e-5);
    if (affine) {
        float *dg = tsl_test_download_floats(dev, &bdg, s.c), *db = tsl_test_download_floats(dev, &bdb, s.c);
        double sum_tol = 5e-6 * sqrt((double)s.n * hw);
        tsl_test_check_close("backward dgamma", seed, dg, dgd, s.c, 1e-5, sum_tol);
        tsl_test_check_close("backward dbeta", seed, db, dbd, s.c, 1e-5, sum_tol);
        free(dg), free(db);
    }
    tsl_test_tensor *tensors[] = {&bx, &bdy, &by, &bdx};
    for (size_t i = 0; i < 4; i++)
        tsl_test_tensor_free(dev, tensors[i]);
    tsl_vk_buffer *all[] = {&bg, &bb, &brm, &brv, &bm, &bi, &bdg, &bdb, &bsc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tsl_vk_free(dev, all[i]);
    void *host[] = {x, dy, gamma, beta, zeros, xd, dyd, gd, dxd, dgd, dbd, dx};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        free(host[i]);
}

static void check_backward(tsl_vk_device *dev, uint64_t seed, shape4 s, bool affine) {
    check_backward_typed(dev, seed, s, affine, TSL_DTYPE_F32);
}

START_TEST(backward_matches_reference) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("batchnorm_backward");
    for (int i = 0; i < N_SHAPES; i++)
        for (int affine = 0; affine < 2; affine++)
            check_backward(dev, seed + 2 * i + affine, shapes[i], affine);
    tsl_test_device_close(dev);
}
END_TEST

/* Work larger than one binding is split along the batch, and each chunk adds its own first-level slots
 * per channel. The chunk limit is lowered so that small tensors split: 9 images of 3x7x7 under 4 KiB
 * go in chunks of 4, 4, 1 (a multiple of 4 images keeps 588-byte images 16-byte aligned); 37 rows of a
 * 1-D (37, 13) batch under 512 bytes in chunks of 8. Same tolerances as the unsplit cases. */
START_TEST(split_along_batch_matches_reference) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("batchnorm_split");
    const struct {
        shape4 shape;
        VkDeviceSize limit;
    } cases[] = {{{9, 3, 7, 7}, 4096}, {{37, 13, 1, 1}, 512}};
    for (int i = 0; i < 2; i++) {
        shape4 s = cases[i].shape;
        tsl_chunk_set_test_limit(cases[i].limit);
        VkDeviceSize image_bytes = 4ull * s.c * s.h * s.w;
        ck_assert_uint_lt(tsl_batch_chunk_images(dev, &image_bytes, 1), s.n);
        for (int affine = 0; affine < 2; affine++) {
            check_forward_train(dev, seed + 4 * i + affine, s, affine);
            check_forward_eval(dev, seed + 4 * i + affine, s, affine);
            check_backward(dev, seed + 4 * i + 2 + affine, s, affine);
        }
    }
    tsl_chunk_set_test_limit(0);
    tsl_test_device_close(dev);
}
END_TEST

/* Both paths (tsl_batchnorm.c: use_channel_lanes) at shapes on both sides of the device's threshold
 * T values per channel (tsl_batchnorm_lane_values: 4096 on CPU drivers, 1024 on GPUs): one lane per
 * channel (one dispatch each way), or two-level (lanes summarise slices of at most T values, one invocation
 * per channel merges them, lanes write y and dx by slices). Each shape is also forced towards the other path
 * with tsl_batchnorm_set_test_threshold (1: a slice per vec4 or float; above T, capped at 8192 values because
 * of lavapipe's loop limit, so m = 1e5 and m = 8978 stay two-level). Layouts: vec4 across channels (1-D, C %
 * 4 == 0), vec4 along H*W, floats; slices of whole images and of segments of an image. Same reference and
 * tolerances as above, which stay valid: each lane's statistics are corrected two-pass over at most 8192
 * values, accurate to a few eps32 relative; its sums are blocked (32 units, then the total), so rounding
 * grows with 32 + m / 32 terms rather than m (simulated at m = 4096, 300 draws: the blocked sum of dy used at
 * most 0.13 of the dbeta tolerance, a plain sequential fp32 sum 1.4x, and sequential Welford's mean 1.2x of
 * the save_mean tolerance); slices are merged with Chan's formula, and dgamma/dbeta tolerances scale with
 * sqrt(m) as stated above. */
START_TEST(both_paths_match_reference_around_threshold) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("batchnorm_paths");
    const uint32_t t = tsl_batchnorm_lane_values(dev);
    const struct {
        shape4 shape;
        bool lanes, forced_lanes; /* the path taken by default, and with the threshold forced */
    } cases[] = {
        {{4, 8192, 1, 1}, true, false},          /* projector BatchNorm1d at batch 4: vec4 across C */
        {{3, 5, 4, 4}, true, false},             /* vec4 along H*W */
        {{2, 7, 2, 6}, true, false},             /* vec4 along H*W = 12, odd C */
        {{3, 6, 3, 5}, true, false},             /* floats: H*W = 15 */
        {{t / 256, 3, 16, 16}, true, false},     /* m = T: the last shape with one lane per channel */
        {{t / 256 + 1, 3, 16, 16}, false, true}, /* m = T + 256: two-level, slices of 16 images */
        {{t + 1, 4, 1, 1}, false, true},         /* 1-D with m = T + 1: two-level */
        {{4, 13, 125, 200}, false, false},       /* c = 13, m = 1e5: 7 segments of each image's run */
        {{2, 3, 67, 67}, false, false},          /* floats, H*W = 4489 > T: 2 segments per image */
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        shape4 s = cases[i].shape;
        tsl_batchnorm_shape bs = tsl_batchnorm_shape_2d(s.n, s.c, s.h, s.w);
        for (int forced = 0; forced < 2; forced++) {
            tsl_batchnorm_set_test_threshold(forced ? (cases[i].lanes ? 1 : UINT32_MAX) : 0);
            ck_assert_int_eq(tsl_batchnorm_uses_channel_lanes(dev, bs),
                             forced ? cases[i].forced_lanes : cases[i].lanes);
            if (forced && cases[i].forced_lanes == cases[i].lanes)
                continue; /* same path as the default run */
            uint64_t case_seed = seed + 8 * i + 4 * forced;
            check_forward_train(dev, case_seed, s, true);
            check_backward(dev, case_seed + 1, s, true);
            if (!forced) { /* affine=False takes the same route with other bindings */
                check_forward_train(dev, case_seed + 2, s, false);
                check_backward(dev, case_seed + 3, s, false);
                check_forward_eval(dev, case_seed, s, true); /* by slices, whatever the path */
            }
        }
    }
    tsl_batchnorm_set_test_threshold(0);
    tsl_test_device_close(dev);
}
END_TEST

/* On a CPU driver the fp32 builds read x and dy through texel buffers (tsl_texel.h), so the tests above
 * check those there; this one runs the storage-buffer builds too, on both paths (one lane per channel,
 * and two-level slices forced by a threshold of 1 value), at the same tolerances. */
START_TEST(storage_buffer_builds_match_reference) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("batchnorm_storage_buffer");
    tsl_texel_reads_set_enabled(false);
    for (int forced = 0; forced < 2; forced++) {
        tsl_batchnorm_set_test_threshold(forced ? 1 : 0);
        for (int i = 0; i < N_SHAPES; i++) {
            uint64_t case_seed = seed + 8 * i + 4 * forced;
            check_forward_train(dev, case_seed, shapes[i], true);
            check_forward_eval(dev, case_seed + 1, shapes[i], true);
            check_backward(dev, case_seed + 2, shapes[i], true);
        }
    }
    tsl_batchnorm_set_test_threshold(0);
    tsl_texel_reads_set_enabled(true);
    tsl_test_device_close(dev);
}
END_TEST

/* fp16 storage of x, y, dy, dx (statistics and parameters fp32) at the odd shapes, with and without
 * affine; on both paths (one lane per channel, and two-level slices forced by a threshold of 1 value)
 * in every layout (vec4 along H*W, vec4 across channels, floats); and split along the batch, where a
 * half image of 3x7x7 is 294 bytes (16-byte chunk starts need multiples of 8 images). Tolerances: as
 * the fp32 ones with rel += 2^-11 on y and dx (half_u above). */
START_TEST(fp16_storage_matches_reference) {
    tsl_vk_device *dev = tsl_test_device_open();
    ck_assert_msg(tsl_vk_device_features(dev)->fp16_storage,
                  "the test device lacks storageBuffer16BitAccess");
    uint64_t seed = tsl_test_seed("batchnorm_fp16");
    const tsl_dtype F16 = TSL_DTYPE_F16;
    for (int i = 0; i < N_SHAPES; i++) {
        check_forward_train_typed(dev, seed + 4 * i, shapes[i], i % 2, F16);
        check_forward_eval_typed(dev, seed + 4 * i + 1, shapes[i], (i + 1) % 2, F16);
        check_backward_typed(dev, seed + 4 * i + 2, shapes[i], i % 2, F16);
    }
    const shape4 layouts[] = {{8, 12, 1, 1}, {3, 5, 4, 4}, {3, 6, 3, 5}};
    tsl_batchnorm_set_test_threshold(1);
    for (int i = 0; i < 3; i++) {
        tsl_batchnorm_shape bs =
            tsl_batchnorm_shape_2d(layouts[i].n, layouts[i].c, layouts[i].h, layouts[i].w);
        bs.dtype = F16;
        ck_assert(!tsl_batchnorm_uses_channel_lanes(dev, bs));
        check_forward_train_typed(dev, seed + 100 + 2 * i, layouts[i], true, F16);
        check_backward_typed(dev, seed + 101 + 2 * i, layouts[i], true, F16);
    }
    tsl_batchnorm_set_test_threshold(0);
    for (int i = 0; i < 3; i++) {
        check_forward_train_typed(dev, seed + 200 + 2 * i, layouts[i], false, F16);
        check_backward_typed(dev, seed + 201 + 2 * i, layouts[i], false, F16);
    }
    const shape4 split = {19, 3, 7, 7};
    tsl_chunk_set_test_limit(4096);
    VkDeviceSize image_bytes = 2ull * split.c * split.h * split.w;
    ck_assert_uint_lt(tsl_batch_chunk_images(dev, &image_bytes, 1), split.n);
    check_forward_train_typed(dev, seed + 300, split, true, F16);
    check_forward_eval_typed(dev, seed + 301, split, true, F16);
    check_backward_typed(dev, seed + 302, split, true, F16);
    tsl_chunk_set_test_limit(0);
    tsl_test_device_close(dev);
}
END_TEST

/* L = sum w * y(x, gamma, beta) through the training forward (batch statistics included). */
static double loss(size_t n, size_t c, size_t hw, const double *x, const double *g, const double *b,
                   const double *w) {
    size_t total = n * c * hw;
    double *y = malloc(8 * total), l = 0.0;
    ref_batchnorm_forward_train(n, c, hw, x, g, b, 0.1, 1e-5, NULL, NULL, y, NULL, NULL);
    for (size_t i = 0; i < total; i++)
        l += w[i] * y[i];
    free(y);
    return l;
}

/* Central difference of L in `v[i]`. */
static double numeric(double *v, size_t i, size_t n, size_t c, size_t hw, const double *x, const double *g,
                      const double *b, const double *w) {
    const double h = 1e-5;
    double keep = v[i];
    v[i] = keep + h;
    double up = loss(n, c, hw, x, g, b, w);
    v[i] = keep - h;
    double down = loss(n, c, hw, x, g, b, w);
    v[i] = keep;
    return (up - down) / (2 * h);
}

static void check_reference_gradients(uint64_t seed, size_t n, size_t c, size_t hw) {
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t total = n * c * hw;
    double *x = malloc(8 * total), *w = malloc(8 * total), *g = malloc(8 * c), *b = malloc(8 * c);
    for (size_t i = 0; i < total; i++) {
        x[i] = tsl_test_rng_normal(&rng) * 2.0 + 1.0;
        w[i] = tsl_test_rng_uniform(&rng, -1, 1);
    }
    for (size_t i = 0; i < c; i++) {
        g[i] = tsl_test_rng_uniform(&rng, 0.5, 1.5);
        b[i] = tsl_test_rng_uniform(&rng, -1, 1);
    }
    double *dx = malloc(8 * total), *dg = malloc(8 * c), *db = malloc(8 * c);
    double *nx = malloc(8 * total), *ng = malloc(8 * c), *nb = malloc(8 * c);
    ref_batchnorm_backward(n, c, hw, x, g, w, 1e-5, dx, dg, db);
    for (size_t i = 0; i < total; i++)
        nx[i] = numeric(x, i, n, c, hw, x, g, b, w);
    for (size_t i = 0; i < c; i++) {
        ng[i] = numeric(g, i, n, c, hw, x, g, b, w);
        nb[i] = numeric(b, i, n, c, hw, x, g, b, w);
    }
    /* Compared as floats of the numeric gradient against the analytic double one. */
    float *f = malloc(4 * total);
    for (size_t i = 0; i < total; i++)
        f[i] = (float)nx[i];
    /* fp32 rounding of the numeric value adds rel 6e-8: within the 1e-6 budget. */
    tsl_test_check_close("reference dx vs finite differences", seed, f, dx, total, 1e-6, 1e-7);
    for (size_t i = 0; i < c; i++)
        f[i] = (float)ng[i];
    tsl_test_check_close("reference dgamma vs finite differences", seed, f, dg, c, 1e-6, 1e-7);
    for (size_t i = 0; i < c; i++)
        f[i] = (float)nb[i];
    tsl_test_check_close("reference dbeta vs finite differences", seed, f, db, c, 1e-6, 1e-7);
    void *host[] = {x, w, g, b, dx, dg, db, nx, ng, nb, f};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        free(host[i]);
}

START_TEST(reference_backward_matches_finite_differences) {
    uint64_t seed = tsl_test_seed("batchnorm_reference_fd");
    check_reference_gradients(seed, 2, 3, 4);     /* 2-D: 2 x 3 x 2 x 2 */
    check_reference_gradients(seed + 1, 5, 3, 1); /* 1-D: 5 x 3 */
    check_reference_gradients(seed + 2, 1, 1, 7); /* batch 1, one channel */
}
END_TEST

static void expect_invalid(tsl_status st, const char *fragment) {
    ck_assert_int_eq(st, TSL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(tsl_error_message(), "batchnorm"), "message '%s' does not name the op",
                  tsl_error_message());
    ck_assert_msg(strstr(tsl_error_message(), fragment), "message '%s' lacks '%s'", tsl_error_message(),
                  fragment);
}

START_TEST(bad_arguments_are_rejected) {
    tsl_vk_device *dev = tsl_test_device_open();
    tsl_batchnorm_shape s = tsl_batchnorm_shape_2d(2, 3, 4, 4);
    size_t n = 2 * 3 * 16;
    tsl_vk_buffer x = tsl_test_alloc(dev, TSL_MEM_DEVICE, 4 * n, "x"),
                  y = tsl_test_alloc(dev, TSL_MEM_DEVICE, 4 * n, "y");
    tsl_vk_buffer ch = tsl_test_alloc(dev, TSL_MEM_DEVICE, 4 * 3, "per-channel");
    tsl_vk_buffer ch2 = tsl_test_alloc(dev, TSL_MEM_DEVICE, 4 * 3, "per-channel 2");
    tsl_vk_buffer sc = tsl_test_alloc(dev, TSL_MEM_DEVICE, tsl_batchnorm_scratch_bytes(dev, s), "scratch");
    tsl_vk_range none = {0};
    tsl_batchnorm_params prm = {ch.range, ch.range, ch.range, ch.range, 0.1f, 1e-5f};
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    tsl_vk_range short_y = tsl_vk_subrange(&y, 0, 4 * n - 4);
    expect_invalid(
        tsl_batchnorm_forward_train(dev, cmd, s, &prm, x.range, short_y, ch.range, ch2.range, sc.range),
        "y is");
    tsl_vk_range short_scratch = tsl_vk_subrange(&sc, 0, sc.range.size - 4);
    expect_invalid(
        tsl_batchnorm_forward_train(dev, cmd, s, &prm, x.range, y.range, ch.range, ch2.range, short_scratch),
        "scratch");
    tsl_batchnorm_params half = prm;
    half.beta = none;
    expect_invalid(tsl_batchnorm_forward_eval(dev, cmd, s, &half, x.range, y.range), "both");
    tsl_batchnorm_shape one = tsl_batchnorm_shape_1d(1, 3);
    expect_invalid(tsl_batchnorm_forward_train(dev, cmd, one, &prm, tsl_vk_subrange(&x, 0, 12),
                                               tsl_vk_subrange(&y, 0, 12), ch.range, ch2.range, sc.range),
                   "more than 1 value");
    expect_invalid(
        tsl_batchnorm_forward_eval(dev, cmd, tsl_batchnorm_shape_2d(0, 3, 4, 4), &prm, x.range, y.range),
        "empty");
    /* 40000 images of 64 x 64: 40000 slices per channel, past the 32768 one merge may loop over. */
    expect_invalid(tsl_batchnorm_forward_eval(dev, cmd, tsl_batchnorm_shape_2d(40000, 1, 64, 64), &prm,
                                              x.range, y.range),
                   "slices");
    expect_invalid(tsl_batchnorm_backward(dev, cmd, s, ch.range, x.range, y.range, ch.range, ch2.range,
                                          x.range, none, ch.range, sc.range),
                   "all be given");
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_buffer *all[] = {&x, &y, &ch, &ch2, &sc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tsl_vk_free(dev, all[i]);
    tsl_test_device_close(dev);
}
END_TEST

int main(void) {
    Suite *s = suite_create("batchnorm");
    TCase *tc = tcase_create("batchnorm");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, forward_train_matches_reference);
    tcase_add_test(tc, statistics_stay_accurate_with_large_mean);
    tcase_add_test(tc, forward_eval_matches_reference);
    tcase_add_test(tc, backward_matches_reference);
    tcase_add_test(tc, split_along_batch_matches_reference);
    tcase_add_test(tc, both_paths_match_reference_around_threshold);
    tcase_add_test(tc, storage_buffer_builds_match_reference);
    tcase_add_test(tc, fp16_storage_matches_reference);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, bad_arguments_are_rejected);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
