/* Linear layer: the double reference's backward against central finite differences, and the device's
 * forward and backward against the reference at odd shapes, with and without bias.
 *
 * Tolerances: inputs uniform in [-1, 1]; every output is an fp32 sum of K terms |a b| <= 1 (K = in for y,
 * out for dx, n for dW and dbias), so as in test_gemm.c abs = 2e-7 * K * K / 4 + 2e-6 (the bias add and
 * rounding of the result), rel = 1e-5. */
#include "matrix_test_util.h"
#include "tsl_linear.h"
#include "tsl_ref_matrix.h"

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

static void run_shape(tsl_vk_device *d, uint64_t seed, tsl_test_rng *rng, tsl_linear_shape s,
                      bool with_bias) {
    size_t nx = (size_t)s.n * s.in, nw = (size_t)s.out * s.in, ny = (size_t)s.n * s.out;
    float *x = mt_random_floats(rng, nx, -1, 1), *w = mt_random_floats(rng, nw, -1, 1);
    float *b = mt_random_floats(rng, s.out, -1, 1), *dy = mt_random_floats(rng, ny, -1, 1);
    double *xd = mt_to_double(x, nx), *wd = mt_to_double(w, nw), *bd = mt_to_double(b, s.out);
    double *dyd = mt_to_double(dy, ny);
    double *y_want = malloc(ny * 8), *dx_want = malloc(nx * 8), *dw_want = malloc(nw * 8),
           *db_want = malloc(s.out * 8);
    tsl_ref_linear_forward(s.n, s.in, s.out, xd, wd, with_bias ? bd : NULL, y_want);
    tsl_ref_linear_backward(s.n, s.in, s.out, xd, wd, dyd, dx_want, dw_want, db_want);

    tsl_vk_buffer gx = mt_upload(d, x, nx, "x"), gw = mt_upload(d, w, nw, "W"),
                  gb = mt_upload(d, b, s.out, "b");
    tsl_vk_buffer gdy = mt_upload(d, dy, ny, "dy");
    tsl_vk_buffer gy = mt_poisoned(d, ny, "y"), gdx = mt_poisoned(d, nx, "dx"),
                  gdw = mt_poisoned(d, nw, "dW");
    tsl_vk_buffer gdb = mt_poisoned(d, s.out, "db");
    tsl_vk_cmd *cmd = mt_begin(d);
    TSL_TEST_OK(tsl_linear_forward(d, cmd, s, gx.range, gw.range, with_bias ? &gb.range : NULL, gy.range));
    TSL_TEST_OK(tsl_linear_backward(d, cmd, s, gx.range, gw.range, gdy.range, &gdx.range, gdw.range,
                                    with_bias ? &gdb.range : NULL));
    mt_submit(cmd);
    float *y = mt_download(d, &gy, ny), *dx = mt_download(d, &gdx, nx), *dw = mt_download(d, &gdw, nw);
    float *db = mt_download(d, &gdb, s.out);
    char what[96];
    snprintf(what, sizeof what, "linear n=%u in=%u out=%u bias=%d: ", s.n, s.in, s.out, with_bias);
    char name[128];
    snprintf(name, sizeof name, "%sy", what);
    tsl_test_check_close(name, seed, y, y_want, ny, 1e-5, tol(s.in));
    snprintf(name, sizeof name, "%sdx", what);
    tsl_test_check_close(name, seed, dx, dx_want, nx, 1e-5, tol(s.out));
    snprintf(name, sizeof name, "%sdW", what);
    tsl_test_check_close(name, seed, dw, dw_want, nw, 1e-5, tol(s.n));
    if (with_bias) {
        snprintf(name, sizeof name, "%sdb", what);
        tsl_test_check_close(name, seed, db, db_want, s.out, 1e-5, tol(s.n));
    } else {
        for (size_t i = 0; i < s.out; i++)
            ck_assert_msg(isnan(db[i]), "%sdb written without a bias", what);
    }
    tsl_vk_buffer *bufs[] = {&gx, &gw, &gb, &gdy, &gy, &gdx, &gdw, &gdb};
    for (size_t i = 0; i < 8; i++)
        tsl_vk_free(d, bufs[i]);
    void *mem[] = {x, w, b, dy, xd, wd, bd, dyd, y_want, dx_want, dw_want, db_want, y, dx, dw, db};
    for (size_t i = 0; i < 16; i++)
        free(mem[i]);
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
    ck_assert_uint_eq(tsl_vk_cmd_stats_get(cmd).dispatches, 0);
    mt_submit(cmd);
    tsl_vk_free(d, &buf);
    tsl_test_device_close(d);
}
END_TEST

int main(void) {
    Suite *s = suite_create("linear");
    TCase *tc = tcase_create("linear");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, device_matches_reference_at_odd_shapes);
    tcase_add_test(tc, bad_arguments_are_rejected);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
