/* Linear layer: the double reference's backward against central finite differences, and the device's
 * forward and backward against the reference at odd shapes, with and without bias.
 *
 * Tolerances: inputs uniform in [-1, 1]; every output is an fp32 sum of K terms |a b| <= 1 (K = in for y,
 * out for dx, n for dW and dbias), so as in test_gemm.c abs = 2e-7 * K * K / 4 + 2e-6 (the bias add and
 * rounding of the result), rel = 1e-5. */
#include "matrix_test_util.h"
#include "tsl_linear.h"
#include "tsl_ref_matrix.h"
#include "tsl_test_tensor.h"

#include <math.h>
#include <string.h>

static double tol(size_t k) {
    return 2e-7 * (double)k * (double)k / 4 + 2e-6;
}

/* L = sum(y * g): dL/dy = g, so the reference backward with dy = g must match differences of L. The
 * layer is linear in each input, so central differences are exact up to rounding (~1e-10 here). */
static double probe_loss(size_t n, size_t in, size_t out, const double *x, const double *w, const double *b,
                         const double *g) {
    double *y = malloc(n * out * sizeof *y);
    tsl_ref_linear_forward(n, in, out, x, w, b, y);
    double l = 0;
    for (size_t i = 0; i < n * out; i++)
        l += y[i] * g[i];
    free(y);
    return l;
}

static void check_fd(const char *what, double *param, size_t count, const double *analytic, size_t n,
                     size_t in, size_t out, const double *x, const double *w, const double *b,
                     const double *g) {
    const double h = 1e-4;
    for (size_t i = 0; i < count; i++) {
        double keep = param[i];
        param[i] = keep + h;
        double up = probe_loss(n, in, out, x, w, b, g);
        param[i] = keep - h;
        double down = probe_loss(n, in, out, x, w, b, g);
        param[i] = keep;
        double fd = (up - down) / (2 * h);
        ck_assert_msg(fabs(fd - analytic[i]) <= 1e-8 + 1e-7 * fabs(fd),
                      "%s[%zu]: finite difference %.12g, "
                      "reference backward %.12g",
                      what, i, fd, analytic[i]);
    }
}

START_TEST(reference_backward_matches_finite_differences) {
    uint64_t seed = tsl_test_seed("linear reference_backward_matches_finite_differences");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    const size_t n = 3, in = 5, out = 4;
    double x[15], w[20], b[4], g[12], dx[15], dw[20], db[4];
    for (size_t i = 0; i < 15; i++)
        x[i] = tsl_test_rng_normal(&rng);
    for (size_t i = 0; i < 20; i++)
        w[i] = tsl_test_rng_normal(&rng);
    for (size_t i = 0; i < 4; i++)
        b[i] = tsl_test_rng_normal(&rng);
    for (size_t i = 0; i < 12; i++)
        g[i] = tsl_test_rng_normal(&rng);
    tsl_ref_linear_backward(n, in, out, x, w, g, dx, dw, db);
    check_fd("dx", x, 15, dx, n, in, out, x, w, b, g);
    check_fd("dW", w, 20, dw, n, in, out, x, w, b, g);
    check_fd("db", b, 4, db, n, in, out, x, w, b, g);
}
END_TEST

static const uint32_t shapes[][3] = {{1, 1, 1},    {1, 13, 3},  {2, 17, 33},
                                     {13, 65, 17}, {33, 3, 65}, {65, 33, 13}};

static const tsl_linear_dtypes all_fp32 = {TSL_DTYPE_F32, TSL_DTYPE_F32, TSL_DTYPE_F32};

/* Tolerance of an output of storage type `t` that sums K terms. fp16 inputs are rounded before the
 * reference sees them, so they add nothing; an fp16 output adds its rounding to half (u = 2^-11 of the
 * value: rel += u), and y with a bias one more, of the bias stored into y before the product is added
 * (|bias| < 1: abs += u). */
static void check_output(const char *what, const char *name, uint64_t seed, const float *got,
                         const double *want, size_t n, size_t k, tsl_dtype t, bool bias_first) {
    const double u = 1.0 / 2048;
    double rel = 1e-5, abs = tol(k);
    if (t == TSL_DTYPE_F16)
        rel += u, abs += bias_first ? u : 0;
    char label[160];
    snprintf(label, sizeof label, "%s%s", what, name);
    tsl_test_check_close(label, seed, got, want, n, rel, abs);
}

static float *random_rounded(tsl_test_rng *rng, size_t n, tsl_dtype t) {
    float *v = mt_random_floats(rng, n, -1, 1);
    tsl_test_round_to(v, n, t);
    return v;
}

static void run_typed(tsl_vk_device *d, uint64_t seed, tsl_test_rng *rng, tsl_linear_shape s, bool with_bias,
                      tsl_linear_dtypes t) {
    size_t nx = (size_t)s.n * s.in, nw = (size_t)s.out * s.in, ny = (size_t)s.n * s.out;
    float *x = random_rounded(rng, nx, t.x), *w = random_rounded(rng, nw, t.w);
    float *b = mt_random_floats(rng, s.out, -1, 1), *dy = random_rounded(rng, ny, t.y);
    double *xd = mt_to_double(x, nx), *wd = mt_to_double(w, nw), *bd = mt_to_double(b, s.out);
    double *dyd = mt_to_double(dy, ny);
    double *y_want = malloc(ny * 8), *dx_want = malloc(nx * 8), *dw_want = malloc(nw * 8),
           *db_want = malloc(s.out * 8);
    tsl_ref_linear_forward(s.n, s.in, s.out, xd, wd, with_bias ? bd : NULL, y_want);
    tsl_ref_linear_backward(s.n, s.in, s.out, xd, wd, dyd, dx_want, dw_want, db_want);

    tsl_test_tensor gx = tsl_test_tensor_upload(d, x, nx, t.x, "x"),
                    gw = tsl_test_tensor_upload(d, w, nw, t.w, "W");
    tsl_test_tensor gdy = tsl_test_tensor_upload(d, dy, ny, t.y, "dy");
    tsl_vk_buffer gb = mt_upload(d, b, s.out, "b"), gdb = mt_poisoned(d, s.out, "db");
    tsl_test_tensor gy = tsl_test_tensor_poisoned(d, ny, t.y, "y"),
                    gdx = tsl_test_tensor_poisoned(d, nx, t.x, "dx");
    tsl_test_tensor gdw = tsl_test_tensor_poisoned(d, nw, t.w, "dW");
    tsl_vk_cmd *cmd = mt_begin(d);
    TSL_TEST_OK(
        tsl_linear_forward_typed(d, cmd, s, t, gx.range, gw.range, with_bias ? &gb.range : NULL, gy.range));
    TSL_TEST_OK(tsl_linear_backward_typed(d, cmd, s, t, gx.range, gw.range, gdy.range, &gdx.range, gdw.range,
                                          with_bias ? &gdb.range : NULL));
    mt_submit(cmd);
    float *y = tsl_test_tensor_download(d, &gy), *dx = tsl_test_tensor_download(d, &gdx);
    float *dw = tsl_test_tensor_download(d, &gdw), *db = mt_download(d, &gdb, s.out);
    char what[128];
    snprintf(what, sizeof what, "linear n=%u in=%u out=%u bias=%d x %s W %s y %s: ", s.n, s.in, s.out,
             with_bias, tsl_dtype_name(t.x), tsl_dtype_name(t.w), tsl_dtype_name(t.y));
    check_output(what, "y", seed, y, y_want, ny, s.in, t.y, with_bias);
    check_output(what, "dx", seed, dx, dx_want, nx, s.out, t.x, false);
    check_output(what, "dW", seed, dw, dw_want, nw, s.n, t.w, false);
    if (with_bias) {
        check_output(what, "db", seed, db, db_want, s.out, s.n, TSL_DTYPE_F32, false);
    } else {
        for (size_t i = 0; i < s.out; i++)
            ck_assert_msg(isnan(db[i]), "%sdb written without a bias", what);
    }
    tsl_test_tensor *tensors[] = {&gx, &gw, &gdy, &gy, &gdx, &gdw};
    for (size_t i = 0; i < 6; i++)
        tsl_test_tensor_free(d, tensors[i]);
    tsl_vk_free(d, &gb);
    tsl_vk_free(d, &gdb);
    void *mem[] = {x, w, b, dy, xd, wd, bd, dyd, y_want, dx_want, dw_want, db_want, y, dx, dw, db};
    for (size_t i = 0; i < 16; i++)
        free(mem[i]);
}

static void run_shape(tsl_vk_device *d, uint64_t seed, tsl_test_rng *rng, tsl_linear_shape s,
                      bool with_bias) {
    run_typed(d, seed, rng, s, with_bias, all_fp32);
}

START_TEST(device_matches_reference_at_odd_shapes) {
    uint64_t seed = tsl_test_seed("linear device_matches_reference_at_odd_shapes");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int bias = 0; bias < 2; bias++)
            run_shape(d, seed, &rng, (tsl_linear_shape){shapes[i][0], shapes[i][1], shapes[i][2]}, bias);
    tsl_test_device_close(d);
}
END_TEST

START_TEST(bad_arguments_are_rejected) {
    tsl_vk_device *d = tsl_test_device_open();
    tsl_vk_buffer buf = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "linear operands");
    tsl_vk_range x = tsl_vk_subrange(&buf, 0, 1024), w = tsl_vk_subrange(&buf, 1024, 1024);
    tsl_vk_range y = tsl_vk_subrange(&buf, 2048, 1024), b = tsl_vk_subrange(&buf, 3072, 16);
    tsl_vk_cmd *cmd = mt_begin(d);
    MT_EXPECT_INVALID(tsl_linear_forward(d, cmd, (tsl_linear_shape){0, 4, 4}, x, w, NULL, y),
                      "linear_forward", "zero dimension");
    MT_EXPECT_INVALID(tsl_linear_forward(d, cmd, (tsl_linear_shape){16, 17, 4}, x, w, NULL, y),
                      "linear_forward", "x (16 x 17 fp32) needs 1088 bytes");
    MT_EXPECT_INVALID(tsl_linear_forward(d, cmd, (tsl_linear_shape){4, 4, 8}, x, w, &b, y), "linear_forward",
                      "bias (1 x 8 fp32) needs 32 bytes");
    MT_EXPECT_INVALID(tsl_linear_forward(d, cmd, (tsl_linear_shape){4, 4, 4}, x, w, NULL, x),
                      "linear_forward", "overlaps");
    MT_EXPECT_INVALID(tsl_linear_backward(d, cmd, (tsl_linear_shape){4, 4, 4}, x, w, y, NULL,
                                          tsl_vk_subrange(&buf, 3072, 60), NULL),
                      "linear_backward", "dW (4 x 4 fp32) needs 64 bytes");
    tsl_linear_dtypes half = {TSL_DTYPE_F16, TSL_DTYPE_F16, TSL_DTYPE_F16};
    MT_EXPECT_INVALID(tsl_linear_forward_typed(d, cmd, (tsl_linear_shape){16, 33, 4}, half, x, w, NULL, y),
                      "linear_forward", "x (16 x 33 fp16) needs 1056 bytes");
    half.w = TSL_DTYPE_BF16;
    MT_EXPECT_INVALID(tsl_linear_forward_typed(d, cmd, (tsl_linear_shape){4, 4, 4}, half, x, w, NULL, y),
                      "linear_forward", "dtype of W must be F32 or F16");
    ck_assert_uint_eq(tsl_vk_cmd_stats_get(cmd).dispatches, 0);
    mt_submit(cmd);
    tsl_vk_free(d, &buf);
    tsl_test_device_close(d);
}
END_TEST

/* fp16 storage: all fp16, fp16 activations with fp32 W, and fp16 inputs with an fp32 y, at odd shapes
 * with and without bias (tolerances: check_output). */
START_TEST(fp16_storage_matches_reference) {
    uint64_t seed = tsl_test_seed("linear fp16_storage_matches_reference");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    ck_assert_msg(tsl_vk_device_features(d)->fp16_storage, "the test device lacks storageBuffer16BitAccess");
    const tsl_dtype F16 = TSL_DTYPE_F16, F32 = TSL_DTYPE_F32;
    const tsl_linear_dtypes types[] = {{F16, F16, F16}, {F16, F32, F16}, {F16, F16, F32}};
    for (size_t ty = 0; ty < 3; ty++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            run_typed(d, seed, &rng, (tsl_linear_shape){shapes[i][0], shapes[i][1], shapes[i][2]},
                      (i + ty) % 2, types[ty]);
    tsl_test_device_close(d);
}
END_TEST

int main(void) {
    Suite *s = suite_create("linear");
    TCase *tc = tcase_create("linear");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, device_matches_reference_at_odd_shapes);
    tcase_add_test(tc, fp16_storage_matches_reference);
    tcase_add_test(tc, bad_arguments_are_rejected);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
