/* Softmax cross-entropy: the double reference's gradient against central finite differences, and the
 * device's loss and gradient against the reference at odd shapes, including logits offset by +-1000
 * (which overflow exp unless the row max is subtracted).
 *
 * Tolerances (u = 2^-24 ~ 6e-8): per row the device computes log(s) - (x_label - m) where x - m is exact
 * and s = sum of `classes` exps (each within a few ulp): the relative error of s is at most about
 * (classes + 4) u, which is also the absolute error of log(s); log itself adds a few ulp of |log s| <=
 * log(classes). The mean of per-row errors, plus the fp32 sum over n rows (n u relative), gives
 * abs = (classes + 4 + 4 log(classes)) u + n u * loss. The gradient p_j = exp(x_j - m) / s inherits the
 * relative error of s plus a few ulp: abs = (classes + 8) u / n (p <= 1), rel 1e-5. */
#include "matrix_test_util.h"
#include "tsl_cross_entropy.h"
#include "tsl_ref_matrix.h"

#include <math.h>

static const double U = 5.96e-8;

START_TEST(reference_gradient_matches_finite_differences) {
    uint64_t seed = tsl_test_seed("cross_entropy reference_gradient_matches_finite_differences");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    const size_t n = 3, classes = 5;
    double x[15], g[15];
    uint32_t labels[3];
    for (size_t i = 0; i < 15; i++)
        x[i] = 3 * tsl_test_rng_normal(&rng);
    for (size_t r = 0; r < n; r++)
        labels[r] = (uint32_t)(tsl_test_rng_u64(&rng) % classes);
    tsl_ref_cross_entropy_grad(n, classes, x, labels, g);
    /* Smooth in x: central differences err by ~h^2 = 1e-10, plus rounding ~1e-16 / h. */
    const double h = 1e-5;
    for (size_t i = 0; i < 15; i++) {
        double keep = x[i];
        x[i] = keep + h;
        double up = tsl_ref_cross_entropy(n, classes, x, labels);
        x[i] = keep - h;
        double down = tsl_ref_cross_entropy(n, classes, x, labels);
        x[i] = keep;
        double fd = (up - down) / (2 * h);
        ck_assert_msg(fabs(fd - g[i]) <= 1e-9 + 1e-6 * fabs(fd),
                      "dlogits[%zu] (seed %llu): finite difference "
                      "%.12g, reference %.12g",
                      i, (unsigned long long)seed, fd, g[i]);
    }
}
END_TEST

static void run_ce(tsl_vk_device *d, uint64_t seed, tsl_test_rng *rng, tsl_cross_entropy_shape s,
                   float offset) {
    size_t nx = (size_t)s.n * s.classes;
    float *x = mt_random_floats(rng, nx, offset - 8, offset + 8);
    uint32_t *labels = malloc(s.n * sizeof *labels);
    for (size_t r = 0; r < s.n; r++)
        labels[r] = (uint32_t)(tsl_test_rng_u64(rng) % s.classes);
    double *xd = mt_to_double(x, nx), *want_g = malloc(nx * 8);
    double want_loss = tsl_ref_cross_entropy(s.n, s.classes, xd, labels);
    tsl_ref_cross_entropy_grad(s.n, s.classes, xd, labels, want_g);

    tsl_vk_buffer gx = mt_upload(d, x, nx, "logits"),
                  gl = tsl_test_alloc(d, TSL_MEM_DEVICE, 4 * s.n, "labels");
    tsl_test_upload(d, &gl, labels);
    tsl_vk_buffer gloss = mt_poisoned(d, 1, "loss"), gg = mt_poisoned(d, nx, "dlogits");
    tsl_vk_buffer gs = mt_poisoned(d, tsl_cross_entropy_scratch_bytes(d, s.n) / 4, "scratch");
    tsl_vk_cmd *cmd = mt_begin(d);
    TSL_TEST_OK(tsl_cross_entropy_loss(d, cmd, s, gx.range, gl.range, gs.range, gloss.range));
    TSL_TEST_OK(tsl_cross_entropy_backward(d, cmd, s, gx.range, gl.range, gg.range));
    mt_submit(cmd);
    float *loss = mt_download(d, &gloss, 1), *g = mt_download(d, &gg, nx);
    char what[96];
    snprintf(what, sizeof what, "cross_entropy n=%u classes=%u offset=%g: loss", s.n, s.classes, offset);
    double c = s.classes;
    tsl_test_check_close(what, seed, loss, &want_loss, 1, 0, (c + 4 + 4 * log(c)) * U + s.n * U * want_loss);
    snprintf(what, sizeof what, "cross_entropy n=%u classes=%u offset=%g: dlogits", s.n, s.classes, offset);
    tsl_test_check_close(what, seed, g, want_g, nx, 1e-5, (c + 8) * U / s.n);

    tsl_vk_buffer *bufs[] = {&gx, &gl, &gloss, &gg, &gs};
    for (size_t i = 0; i < 5; i++)
        tsl_vk_free(d, bufs[i]);
    free(x), free(labels), free(xd), free(want_g), free(loss), free(g);
}

START_TEST(device_matches_reference_at_odd_shapes) {
    uint64_t seed = tsl_test_seed("cross_entropy device_matches_reference_at_odd_shapes");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    const uint32_t shapes[][2] = {{1, 1}, {1, 13}, {2, 3}, {13, 17}, {33, 65}, {65, 33}, {17, 1000}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        run_ce(d, seed, &rng, (tsl_cross_entropy_shape){shapes[i][0], shapes[i][1]}, 0);
    run_ce(d, seed, &rng, (tsl_cross_entropy_shape){13, 17}, 1000); /* exp(1000) overflows without the max */
    run_ce(d, seed, &rng, (tsl_cross_entropy_shape){13, 17}, -1000);
    tsl_test_device_close(d);
}
END_TEST

START_TEST(bad_arguments_are_rejected) {
    tsl_vk_device *d = tsl_test_device_open();
    tsl_vk_buffer buf = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "cross_entropy operands");
    tsl_vk_range x = tsl_vk_subrange(&buf, 0, 1024), labels = tsl_vk_subrange(&buf, 1024, 64);
    tsl_vk_range scratch = tsl_vk_subrange(&buf, 2048, 1024), loss = tsl_vk_subrange(&buf, 3072, 4);
    tsl_vk_cmd *cmd = mt_begin(d);
    MT_EXPECT_INVALID(
        tsl_cross_entropy_loss(d, cmd, (tsl_cross_entropy_shape){4, 0}, x, labels, scratch, loss),
        "cross_entropy_loss", "zero dimension");
    MT_EXPECT_INVALID(
        tsl_cross_entropy_loss(d, cmd, (tsl_cross_entropy_shape){16, 17}, x, labels, scratch, loss),
        "cross_entropy_loss", "logits (16 x 17 fp32) need 1088 bytes");
    MT_EXPECT_INVALID(
        tsl_cross_entropy_loss(d, cmd, (tsl_cross_entropy_shape){17, 4}, x, labels, scratch, loss),
        "cross_entropy_loss", "labels (17 uint32) need 68 bytes");
    MT_EXPECT_INVALID(tsl_cross_entropy_loss(d, cmd, (tsl_cross_entropy_shape){16, 4}, x, labels,
                                             tsl_vk_subrange(&buf, 2048, 8), loss),
                      "cross_entropy_loss", "scratch bytes");
    MT_EXPECT_INVALID(tsl_cross_entropy_backward(d, cmd, (tsl_cross_entropy_shape){16, 4}, x, labels,
                                                 tsl_vk_subrange(&buf, 3200, 252)),
                      "cross_entropy_backward", "dlogits need 256 bytes");
    MT_EXPECT_INVALID(tsl_cross_entropy_backward(d, cmd, (tsl_cross_entropy_shape){16, 4}, x, labels,
                                                 tsl_vk_subrange(&buf, 128, 512)),
                      "cross_entropy_backward", "overlap");
    ck_assert_uint_eq(tsl_vk_cmd_stats_get(cmd).dispatches, 0);
    mt_submit(cmd);
    tsl_vk_free(d, &buf);
    tsl_test_device_close(d);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cross_entropy");
    TCase *tc = tcase_create("cross_entropy");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reference_gradient_matches_finite_differences);
    tcase_add_test(tc, device_matches_reference_at_odd_shapes);
    tcase_add_test(tc, bad_arguments_are_rejected);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
