/* Barlow Twins loss pieces: the double reference's gradients (through C) against central finite
 * differences of the reference loss, and each device kernel against the reference, fed the device's own
 * previous result (so each kernel's error is judged alone): C from za, zb; L and dC from the device C;
 * dza, dzb from the device dC. Includes a forced small binding limit so every piece splits its work.
 *
 * Inputs: za, zb columns normalised to mean 0, variance 1 over the batch (what BatchNorm1d without
 * affine produces), so |C_ij| <= 1.
 * Tolerances (u = 2^-24 ~ 6e-8, fp32 unit roundoff):
 * - C and dza, dzb are dot products of K terms: the classic bound |err| <= K u sum|terms| is computed
 *   per test from the data (max over elements of sum|terms|, via the reference on |A| and |B|), times 2
 *   for the alpha = 1/n scaling and the final rounding; rel 1e-5.
 * - L: all terms are >= 0 (lambd, scale > 0), so the fp32 two-level sum has relative error about
 *   (per-invocation run 16 + tree depth 8 + second pass ~12) u < 3e-6 of L: rel 1e-5.
 * - dC: two or three fp32 operations per element: rel 1e-6, abs 1e-7 * scale. */
#include "matrix_test_util.h"
#include "tsl_barlow.h"
#include "tsl_ref_matrix.h"

#include <math.h>
#include <stdio.h>

static const double U = 5.96e-8;

/* n x dim values, each column normalised to mean 0 and variance 1 over the n rows (n >= 2). */
static float *normalised_embeddings(tsl_test_rng *rng, size_t n, size_t dim) {
    float *z = malloc(n * dim * sizeof *z);
    double *col = malloc(n * sizeof *col);
    ck_assert_ptr_nonnull(z);
    for (size_t j = 0; j < dim; j++) {
        double mean = 0, var = 0;
        for (size_t r = 0; r < n; r++)
            mean += col[r] = tsl_test_rng_normal(rng) * 2 + 0.5;
        mean /= (double)n;
        for (size_t r = 0; r < n; r++)
            var += (col[r] - mean) * (col[r] - mean);
        var /= (double)n;
        for (size_t r = 0; r < n; r++)
            z[r * dim + j] = n > 1 ? (float)((col[r] - mean) / sqrt(var + 1e-12)) : (float)col[r];
    }
    free(col);
    return z;
}

static double *abs_copy(const double *x, size_t n) {
    double *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++)
        y[i] = fabs(x[i]);
    return y;
}

static double max_abs(const double *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(x[i]));
    return m;
}

/* ---- (a) reference gradients vs finite differences ---- */

static double ref_loss_of(size_t n, size_t dim, double lambd, double scale, const double *za,
                          const double *zb) {
    double *c = malloc(dim * dim * sizeof *c);
    tsl_ref_barlow_cross_correlation(n, dim, za, zb, c);
    double l = tsl_ref_barlow_loss(dim, lambd, scale, c);
    free(c);
    return l;
}

START_TEST(reference_gradients_match_finite_differences) {
    uint64_t seed = tsl_test_seed("barlow reference_gradients_match_finite_differences");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    const size_t n = 4, dim = 5;
    const double lambd = 0.0051 * 40, scale = 0.048; /* a large lambd so off-diagonal terms matter */
    double za[20], zb[20], c[25], dc[25], dza[20], dzb[20];
    for (size_t i = 0; i < 20; i++)
        za[i] = tsl_test_rng_normal(&rng), zb[i] = tsl_test_rng_normal(&rng);
    tsl_ref_barlow_cross_correlation(n, dim, za, zb, c);
    tsl_ref_barlow_loss_grad_c(dim, lambd, scale, c, dc);
    tsl_ref_barlow_backward(n, dim, za, zb, dc, dza, dzb);
    /* L is a quartic polynomial in the inputs: central differences err by h^2 * (third derivative)
     * ~ 1e-10, plus rounding ~ 1e-16 / h. */
    const double h = 1e-5;
    double *params[2] = {za, zb}, *grads[2] = {dza, dzb};
    for (int which = 0; which < 2; which++)
        for (size_t i = 0; i < n * dim; i++) {
            double keep = params[which][i];
            params[which][i] = keep + h;
            double up = ref_loss_of(n, dim, lambd, scale, za, zb);
            params[which][i] = keep - h;
            double down = ref_loss_of(n, dim, lambd, scale, za, zb);
            params[which][i] = keep;
            double fd = (up - down) / (2 * h);
            ck_assert_msg(fabs(fd - grads[which][i]) <= 1e-8 + 1e-6 * fabs(fd),
                          "d%s[%zu] (seed %llu): finite difference %.12g, reference %.12g",
                          which ? "zb" : "za", i, (unsigned long long)seed, fd, grads[which][i]);
        }
}
END_TEST

/* ---- (b) device vs reference ---- */

static void run_barlow(tsl_vk_device *d, uint64_t seed, tsl_test_rng *rng, tsl_barlow_params p) {
    size_t nz = (size_t)p.n * p.dim, nc = (size_t)p.dim * p.dim;
    float *za = normalised_embeddings(rng, p.n, p.dim), *zb = normalised_embeddings(rng, p.n, p.dim);
    double *zad = mt_to_double(za, nz), *zbd = mt_to_double(zb, nz);
    tsl_vk_buffer gza = mt_upload(d, za, nz, "za"), gzb = mt_upload(d, zb, nz, "zb");
    tsl_vk_buffer gc = mt_poisoned(d, nc, "C"), gdc = mt_poisoned(d, nc, "dC");
    tsl_vk_buffer gdza = mt_poisoned(d, nz, "dza"), gdzb = mt_poisoned(d, nz, "dzb");
    tsl_vk_buffer gloss = mt_poisoned(d, 1, "loss");
    VkDeviceSize scratch_bytes = tsl_barlow_loss_scratch_bytes(d, &p);
    ck_assert_uint_gt(scratch_bytes, 0);
    tsl_vk_buffer gscratch = mt_poisoned(d, scratch_bytes / 4, "loss scratch");

    tsl_vk_cmd *cmd = mt_begin(d);
    TSL_TEST_OK(tsl_barlow_cross_correlation(d, cmd, &p, gza.range, gzb.range, gc.range));
    TSL_TEST_OK(tsl_barlow_loss(d, cmd, &p, gc.range, gscratch.range, gloss.range));
    TSL_TEST_OK(tsl_barlow_loss_grad_c(d, cmd, &p, gc.range, gdc.range));
    TSL_TEST_OK(tsl_barlow_backward(d, cmd, &p, gza.range, gzb.range, gdc.range, gdza.range, gdzb.range));
    mt_submit(cmd);
    float *c = mt_download(d, &gc, nc), *dc = mt_download(d, &gdc, nc), *loss = mt_download(d, &gloss, 1);
    float *dza = mt_download(d, &gdza, nz), *dzb = mt_download(d, &gdzb, nz);

    char what[128];
    /* C: dot products over n terms; sum|terms| / n <= 1 for normalised columns (Cauchy-Schwarz). */
    double *want_c = malloc(nc * 8), *abs_za = abs_copy(zad, nz), *abs_zb = abs_copy(zbd, nz);
    double *mag = malloc((nc > nz ? nc : nz) * 8);
    tsl_ref_barlow_cross_correlation(p.n, p.dim, zad, zbd, want_c);
    tsl_ref_barlow_cross_correlation(p.n, p.dim, abs_za, abs_zb, mag);
    snprintf(what, sizeof what, "barlow n=%u dim=%u limit=%llu: C", p.n, p.dim,
             (unsigned long long)p.max_binding_bytes);
    tsl_test_check_close(what, seed, c, want_c, nc, 1e-5, 2 * (p.n + 2) * U * max_abs(mag, nc));

    /* L and dC from the device's C. */
    double *cd = mt_to_double(c, nc), *want_dc = malloc(nc * 8);
    double want_loss = tsl_ref_barlow_loss(p.dim, p.lambd, p.scale, cd);
    snprintf(what, sizeof what, "barlow n=%u dim=%u limit=%llu: loss", p.n, p.dim,
             (unsigned long long)p.max_binding_bytes);
    tsl_test_check_close(what, seed, loss, &want_loss, 1, 1e-5, 0);
    tsl_ref_barlow_loss_grad_c(p.dim, p.lambd, p.scale, cd, want_dc);
    snprintf(what, sizeof what, "barlow n=%u dim=%u limit=%llu: dC", p.n, p.dim,
             (unsigned long long)p.max_binding_bytes);
    tsl_test_check_close(what, seed, dc, want_dc, nc, 1e-6, 1e-7 * p.scale);

    /* dza, dzb from the device's dC: dot products over dim terms. */
    double *dcd = mt_to_double(dc, nc), *abs_dc = abs_copy(dcd, nc);
    double *want_dza = malloc(nz * 8), *want_dzb = malloc(nz * 8), *mag_b = malloc(nz * 8);
    tsl_ref_barlow_backward(p.n, p.dim, zad, zbd, dcd, want_dza, want_dzb);
    tsl_ref_barlow_backward(p.n, p.dim, abs_za, abs_zb, abs_dc, mag, mag_b);
    double tol_dz = 2 * (p.dim + 2) * U * fmax(max_abs(mag, nz), max_abs(mag_b, nz));
    snprintf(what, sizeof what, "barlow n=%u dim=%u limit=%llu: dza", p.n, p.dim,
             (unsigned long long)p.max_binding_bytes);
    tsl_test_check_close(what, seed, dza, want_dza, nz, 1e-5, tol_dz);
    snprintf(what, sizeof what, "barlow n=%u dim=%u limit=%llu: dzb", p.n, p.dim,
             (unsigned long long)p.max_binding_bytes);
    tsl_test_check_close(what, seed, dzb, want_dzb, nz, 1e-5, tol_dz);

    tsl_vk_buffer *bufs[] = {&gza, &gzb, &gc, &gdc, &gdza, &gdzb, &gloss, &gscratch};
    for (size_t i = 0; i < 8; i++)
        tsl_vk_free(d, bufs[i]);
    void *mem[] = {za,     zb,     zad, zbd, c,       dc,  loss,   dza,      dzb,      want_c,
                   abs_za, abs_zb, mag, cd,  want_dc, dcd, abs_dc, want_dza, want_dzb, mag_b};
    for (size_t i = 0; i < sizeof mem / sizeof mem[0]; i++)
        free(mem[i]);
}

START_TEST(device_matches_reference_at_odd_shapes) {
    uint64_t seed = tsl_test_seed("barlow device_matches_reference_at_odd_shapes");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    const uint32_t shapes[][2] = {{2, 1}, {3, 13}, {17, 3}, {13, 33}, {7, 257}, {65, 65}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        tsl_barlow_params p = {shapes[i][0], shapes[i][1], 0.0051f, 0.048f, 0};
        run_barlow(d, seed, &rng, p);
    }
    tsl_test_device_close(d);
}
END_TEST

/* Every piece with a 4 KiB binding limit: C (257 x 257 = 258 KiB) is split into ~65 chunks. */
START_TEST(split_under_forced_binding_limit) {
    uint64_t seed = tsl_test_seed("barlow split_under_forced_binding_limit");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    run_barlow(d, seed, &rng, (tsl_barlow_params){9, 257, 0.0051f, 0.048f, 4096});
    run_barlow(d, seed, &rng, (tsl_barlow_params){5, 13, 0.5f, 1.0f, 256});
    tsl_test_device_close(d);
}
END_TEST

/* dC written over C itself (the model keeps one dim x dim buffer for both) equals dC written elsewhere,
 * bit for bit (the kernel is elementwise; same arithmetic), whole and split into chunks (limit 4 KiB). */
START_TEST(grad_c_in_place_matches_out_of_place) {
    uint64_t seed = tsl_test_seed("barlow grad_c_in_place");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    const uint64_t limits[] = {0, 4096};
    for (int k = 0; k < 2; k++) {
        tsl_barlow_params p = {8, 131, 0.0051f, 0.048f, limits[k]};
        size_t nc = (size_t)p.dim * p.dim;
        float *c = mt_random_floats(&rng, nc, -1, 1);
        tsl_vk_buffer gc = mt_upload(d, c, nc, "C"), gdc = mt_poisoned(d, nc, "dC");
        tsl_vk_cmd *cmd = mt_begin(d);
        TSL_TEST_OK(tsl_barlow_loss_grad_c(d, cmd, &p, gc.range, gdc.range));
        TSL_TEST_OK(tsl_barlow_loss_grad_c(d, cmd, &p, gc.range, gc.range));
        mt_submit(cmd);
        float *apart = mt_download(d, &gdc, nc), *in_place = mt_download(d, &gc, nc);
        ck_assert_msg(memcmp(apart, in_place, 4 * nc) == 0, "seed %llu limit %llu: in-place dC differs",
                      (unsigned long long)seed, (unsigned long long)limits[k]);
        ck_assert_msg(memcmp(c, in_place, 4 * nc) != 0, "seed %llu: C was not overwritten",
                      (unsigned long long)seed);
        free(c);
        free(apart);
        free(in_place);
        tsl_vk_free(d, &gc);
        tsl_vk_free(d, &gdc);
    }
    tsl_test_device_close(d);
}
END_TEST

/* A real C just over one binding: dim = 5800 gives 134.56 MB > maxStorageBufferRange (128 MiB on
 * lavapipe; on a device with a larger limit, NVIDIA's 4 GiB, C fits one binding and only the values are
 * checked), with n = 4 to keep it cheap. The references stream over rows (no double copy of C), so the
 * checks use the same tolerances as run_barlow with the Cauchy-Schwarz bound sum|terms| <= 1 for C. */
START_TEST(real_matrix_past_binding_limit) {
    uint64_t seed = tsl_test_seed("barlow real_matrix_past_binding_limit");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    tsl_barlow_params p = {4, 5800, 0.0051f, 0.048f, 0};
    size_t n = p.n, dim = p.dim, nz = n * dim, nc = dim * dim;
    if (4 * nc <= tsl_vk_device_features(d)->max_storage_buffer_range)
        printf("barlow real_matrix_past_binding_limit: C fits one binding on this device\n");
    float *za = normalised_embeddings(&rng, n, dim), *zb = normalised_embeddings(&rng, n, dim);
    tsl_vk_buffer gza = mt_upload(d, za, nz, "za"), gzb = mt_upload(d, zb, nz, "zb");
    tsl_vk_buffer gc = mt_poisoned(d, nc, "C"), gdc = mt_poisoned(d, nc, "dC");
    tsl_vk_buffer gdza = mt_poisoned(d, nz, "dza"), gdzb = mt_poisoned(d, nz, "dzb");
    tsl_vk_buffer gloss = mt_poisoned(d, 1, "loss");
    tsl_vk_buffer gscratch = mt_poisoned(d, tsl_barlow_loss_scratch_bytes(d, &p) / 4, "loss scratch");
    tsl_vk_cmd *cmd = mt_begin(d);
    TSL_TEST_OK(tsl_barlow_cross_correlation(d, cmd, &p, gza.range, gzb.range, gc.range));
    TSL_TEST_OK(tsl_barlow_loss(d, cmd, &p, gc.range, gscratch.range, gloss.range));
    TSL_TEST_OK(tsl_barlow_loss_grad_c(d, cmd, &p, gc.range, gdc.range));
    TSL_TEST_OK(tsl_barlow_backward(d, cmd, &p, gza.range, gzb.range, gdc.range, gdza.range, gdzb.range));
    mt_submit(cmd);
    float *c = mt_download(d, &gc, nc), *dc = mt_download(d, &gdc, nc), *loss = mt_download(d, &gloss, 1);
    float *dza = mt_download(d, &gdza, nz), *dzb = mt_download(d, &gdzb, nz);

    double *row = malloc(dim * sizeof *row), want_loss = 0;
    for (size_t i = 0; i < dim; i++) {
        for (size_t j = 0; j < dim; j++) {
            double s = 0;
            for (size_t r = 0; r < n; r++)
                s += (double)za[r * dim + i] * zb[r * dim + j];
            row[j] = s / (double)n;
        }
        tsl_test_check_close("barlow dim=5800: C", seed, c + i * dim, row, dim, 1e-5, 2 * (n + 2) * U);
        for (size_t j = 0; j < dim; j++) {
            double v = c[i * dim + j];
            want_loss += i == j ? (1 - v) * (1 - v) : p.lambd * v * v;
            row[j] = p.scale * (i == j ? -2 * (1 - v) : 2 * p.lambd * v);
        }
        tsl_test_check_close("barlow dim=5800: dC", seed, dc + i * dim, row, dim, 1e-6, 1e-7 * p.scale);
    }
    want_loss *= p.scale;
    tsl_test_check_close("barlow dim=5800: loss", seed, loss, &want_loss, 1, 1e-5, 0);

    /* dza[r][i] = sum_j zb[r][j] dC[i][j] / n and dzb[r][j] = sum_i za[r][i] dC[i][j] / n, from the
     * device's dC, with the magnitudes sum|terms| for the tolerance. */
    double *want_dza = calloc(nz, 8), *want_dzb = calloc(nz, 8), *mag_a = calloc(nz, 8),
           *mag_b = calloc(nz, 8);
    for (size_t i = 0; i < dim; i++)
        for (size_t r = 0; r < n; r++)
            for (size_t j = 0; j < dim; j++) {
                double g = dc[i * dim + j];
                want_dza[r * dim + i] += zb[r * dim + j] * g / (double)n;
                mag_a[r * dim + i] += fabs(zb[r * dim + j] * g) / (double)n;
                want_dzb[r * dim + j] += za[r * dim + i] * g / (double)n;
                mag_b[r * dim + j] += fabs(za[r * dim + i] * g) / (double)n;
            }
    double tol_dz = 2 * (dim + 2) * U * fmax(max_abs(mag_a, nz), max_abs(mag_b, nz));
    tsl_test_check_close("barlow dim=5800: dza", seed, dza, want_dza, nz, 1e-5, tol_dz);
    tsl_test_check_close("barlow dim=5800: dzb", seed, dzb, want_dzb, nz, 1e-5, tol_dz);

    tsl_vk_buffer *bufs[] = {&gza, &gzb, &gc, &gdc, &gdza, &gdzb, &gloss, &gscratch};
    for (size_t i = 0; i < 8; i++)
        tsl_vk_free(d, bufs[i]);
    void *mem[] = {za, zb, c, dc, loss, dza, dzb, row, want_dza, want_dzb, mag_a, mag_b};
    for (size_t i = 0; i < sizeof mem / sizeof mem[0]; i++)
        free(mem[i]);
    tsl_test_device_close(d);
}
END_TEST

START_TEST(bad_arguments_are_rejected) {
    tsl_vk_device *d = tsl_test_device_open();
    tsl_vk_buffer buf = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "barlow operands");
    tsl_vk_range za = tsl_vk_subrange(&buf, 0, 1024), zb = tsl_vk_subrange(&buf, 1024, 1024);
    tsl_vk_range c = tsl_vk_subrange(&buf, 2048, 1024), out = tsl_vk_subrange(&buf, 3072, 1024);
    tsl_vk_cmd *cmd = mt_begin(d);
    tsl_barlow_params p = {4, 0, 0.005f, 1, 0};
    MT_EXPECT_INVALID(tsl_barlow_cross_correlation(d, cmd, &p, za, zb, c), "barlow_cross_correlation",
                      "dim=0");
    p.dim = 17; /* C needs 17 * 17 * 4 = 1156 bytes */
    MT_EXPECT_INVALID(tsl_barlow_cross_correlation(d, cmd, &p, za, zb, c), "barlow_cross_correlation",
                      "C (17 x 17, ld 17) needs 1156 bytes");
    MT_EXPECT_INVALID(tsl_barlow_loss(d, cmd, &p, c, out, out), "barlow_loss", "C needs 1156 bytes");
    MT_EXPECT_INVALID(tsl_barlow_loss_grad_c(d, cmd, &p, c, out), "barlow_loss_grad_c", "C needs 1156 bytes");
    p.dim = 16;
    MT_EXPECT_INVALID(tsl_barlow_loss_grad_c(d, cmd, &p, c, tsl_vk_subrange(&buf, 2048 + 512, 1024)),
                      "barlow_loss_grad_c", "dC partly overlaps C");
    MT_EXPECT_INVALID(tsl_barlow_backward(d, cmd, &p, za, zb, c, zb, out), "barlow_backward", "overlaps");
    p.max_binding_bytes = 2;
    MT_EXPECT_INVALID(tsl_barlow_loss(d, cmd, &p, c, out, out), "barlow_loss", "too small");
    ck_assert_uint_eq(tsl_vk_cmd_stats_get(cmd).dispatches, 0);
    mt_submit(cmd);
    tsl_vk_free(d, &buf);
    tsl_test_device_close(d);
}
END_TEST

int main(void) {
    Suite *s = suite_create("barlow");
    TCase *tc = tcase_create("barlow");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, reference_gradients_match_finite_differences);
    tcase_add_test(tc, device_matches_reference_at_odd_shapes);
    tcase_add_test(tc, split_under_forced_binding_limit);
    tcase_add_test(tc, grad_c_in_place_matches_out_of_place);
    tcase_add_test(tc, real_matrix_past_binding_limit);
    tcase_add_test(tc, bad_arguments_are_rejected);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
