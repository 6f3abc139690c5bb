/* Tensor-core GEMM (gemm_coopmat.comp, as SPV_NV_ and as the build's SPV_KHR_cooperative_matrix
 * translation) against the double reference and against the fp32 path on the same device.
 *
 * Needs a device that qualifies for tsl_vk_features.coopmat_nv_f16 or coopmat_khr_f16. On one that does
 * not (lavapipe, this project's CI), main() prints why and exits 77, which meson counts as SKIPPED: the
 * suite never passes without having run. The fallback to the fp32 variants there is checked by
 * tests/test_gemm.c (tensor_core_selection). Each qualifying extension is tested on a device opened with
 * only that extension enabled, with the validation layer on, except one case: a layer older than 1.3.255
 * (Debian 12 ships 1.3.239) does not know VK_KHR_cooperative_matrix and would report its structures and
 * SPIR-V, so the KHR run then goes without validation and says so on stdout (install a newer layer to
 * validate it).
 *
 * Tolerance (per element; S = sum_k |op(A)_ik| |op(B)_kj| from a double reference on the absolute values):
 *  - each fp32 input is rounded to half when staged: relative error <= u = 2^-10 (rounding mode
 *    implementation-defined: RTZ errs up to 2^-10, RTE 2^-11); fp16-stored inputs are exact. A product of
 *    two halves is exact in fp32, so a product errs by <= (2u + u^2) |a b|;
 *  - fp32 accumulation of k products in any order (tensor cores may truncate): <= k 2^-23 S;
 *  - alpha * acc and the beta fma: 1e-6 (|alpha| S + |beta c|) (a few fp32 roundings, with margin);
 *  - an fp16 C: 2^-11 per store of the element (one per dispatch that stores it).
 * So |got - want| <= |alpha| S (2u + u^2 + k 2^-23) + 1e-6 (|alpha| S + |beta c|) [+ stores 2^-11
 * (|alpha| S + |beta c|)]: about 2e-3 of S for fp32 inputs. Against the fp32 variant (gemm.comp) on the
 * same inputs the bound adds that path's own k 2^-23 |alpha| S; with fp16-stored inputs both compute on
 * the same values and differ by summation order only, so there the comparison is at fp32 precision.
 *
 * Built a second time with TSL_COOPMAT_EMULATED_RUN = 1 as the suite gemm_coopmat_emulated: the same
 * cases on TSL_GEMM_VARIANT_COOPMAT_EMULATED (gemm_coopmat.comp with its fragment operations emulated),
 * which runs on any device with shaderFloat16, lavapipe included. That checks everything of the kernel
 * but the cooperative-matrix instructions themselves: staging, ragged edges, transposes, storage types,
 * which subgroup owns which fragment, barriers, the epilogue and the host's binding split. */
#include "tsl_gemm.h"
#include "tsl_ref_matrix.h"
#include "tsl_test.h"
#include "tsl_test_tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const tsl_dtype F32 = TSL_DTYPE_F32, F16 = TSL_DTYPE_F16;

typedef struct {
    uint32_t m, n, k;
    bool ta, tb;
    uint32_t pad; /* added to every leading dimension */
    float alpha, beta;
    uint64_t max_binding_bytes;
    tsl_dtype a, b, c;
} coop_case;

/* The extension under test: set by main before each run of the suite (forked test cases inherit it). */
static tsl_vk_tensor_cores opened_with;

static bool validate_run;

static tsl_vk_device *open_coopmat_device(void) {
    tsl_vk_options options;
    tsl_vk_options_default(&options);
    options.validation = validate_run;
    options.tensor_cores = opened_with;
    tsl_vk_device *d = NULL;
    tsl_status st = tsl_vk_device_open(&options, &d);
    ck_assert_msg(st == TSL_OK, "opening the test device: %s", tsl_error_message());
    return d;
}

static tsl_gemm_variant variant_under_test(void) {
#if TSL_COOPMAT_EMULATED_RUN
    return TSL_GEMM_VARIANT_COOPMAT_EMULATED;
#else
    return opened_with == TSL_VK_TENSOR_CORES_KHR_ONLY ? TSL_GEMM_VARIANT_COOPMAT_KHR
                                                       : TSL_GEMM_VARIANT_COOPMAT_NV;
#endif
}

static double *to_double(const float *x, size_t n, bool absolute) {
    double *y = malloc((n ? n : 1) * sizeof *y);
    ck_assert_ptr_nonnull(y);
    for (size_t i = 0; i < n; i++)
        y[i] = absolute ? fabs((double)x[i]) : x[i];
    return y;
}

typedef struct {
    float *c; /* C after the run, ldc layout */
    uint32_t dispatches;
} run_result;

static run_result run(tsl_vk_device *d, const coop_case *g, const tsl_gemm_params *p, const float *a,
                      size_t na, const float *b, size_t nb, const float *c, size_t nc, tsl_gemm_variant v) {
    tsl_test_tensor ta = tsl_test_tensor_upload(d, a, na, g->a, "A");
    tsl_test_tensor tb = tsl_test_tensor_upload(d, b, nb, g->b, "B");
    tsl_test_tensor tc = g->beta == 0 ? tsl_test_tensor_poisoned(d, nc, g->c, "C")
                                      : tsl_test_tensor_upload(d, c, nc, g->c, "C");
    tsl_gemm_set_variant_for_testing(v);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_gemm_f32(d, cmd, p, ta.range, tb.range, tc.range));
    run_result r = {.dispatches = tsl_vk_cmd_stats_get(cmd).dispatches};
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_gemm_set_variant_for_testing(TSL_GEMM_VARIANT_AUTO);
    r.c = tsl_test_tensor_download(d, &tc);
    tsl_test_tensor_free(d, &ta);
    tsl_test_tensor_free(d, &tb);
    tsl_test_tensor_free(d, &tc);
    return r;
}

/* The bound at the top of this file for one element, S = sum|a||b| and cmag = |c| (0 when beta = 0). */
static double coop_tol(const coop_case *g, double s, double cmag, uint32_t stores) {
    const double u = 1.0 / 1024, u32 = 1.0 / 8388608;
    double in = (g->a == F16 ? 0 : u) + (g->b == F16 ? 0 : u);
    double scale = fabs(g->alpha) * s + fabs(g->beta) * cmag;
    double tol = fabs(g->alpha) * s * (in + u * u + g->k * u32) + 1e-6 * scale;
    if (g->c == F16)
        tol += stores * (1.0 / 2048) * scale;
    return tol;
}

static void run_case(tsl_vk_device *d, uint64_t seed, tsl_test_rng *rng, coop_case g) {
    tsl_gemm_params p = tsl_gemm_params_make(g.m, g.n, g.k, g.ta, g.tb);
    p.lda = (g.ta ? g.m : g.k) + g.pad;
    p.ldb = (g.tb ? g.k : g.n) + g.pad;
    p.ldc = g.n + g.pad;
    p.alpha = g.alpha, p.beta = g.beta;
    p.max_binding_bytes = g.max_binding_bytes;
    p.a_dtype = g.a, p.b_dtype = g.b, p.c_dtype = g.c;
    p.allow_tensor_cores = true;
    tsl_gemm_variant chosen = tsl_gemm_variant_for(tsl_vk_device_features(d), &p);
#if TSL_COOPMAT_EMULATED_RUN /* never chosen by itself: the device's choice is its fp32 class here */
    ck_assert(chosen == TSL_GEMM_VARIANT_CPU || chosen == TSL_GEMM_VARIANT_GPU);
#else
    ck_assert_int_eq(chosen, variant_under_test());
#endif

    size_t na = (size_t)(g.ta ? g.k : g.m) * p.lda, nb = (size_t)(g.tb ? g.n : g.k) * p.ldb;
    size_t nc = (size_t)g.m * p.ldc;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c = malloc(nc * sizeof *c);
    ck_assert(a && b && c);
    tsl_test_fill_uniform(rng, a, na, -1, 1);
    tsl_test_fill_uniform(rng, b, nb, -1, 1);
    tsl_test_fill_uniform(rng, c, nc, -1, 1);
    tsl_test_round_to(a, na, g.a);
    tsl_test_round_to(b, nb, g.b);
    tsl_test_round_to(c, nc, g.c);
    double *ad = to_double(a, na, false), *bd = to_double(b, nb, false), *want = to_double(c, nc, false);
    double *aa = to_double(a, na, true), *ba = to_double(b, nb, true), *s = calloc(nc, sizeof *s);
    ck_assert_ptr_nonnull(s);
    tsl_ref_gemm(g.m, g.n, g.k, g.ta, g.tb, g.alpha, ad, p.lda, bd, p.ldb, g.beta, want, p.ldc);
    tsl_ref_gemm(g.m, g.n, g.k, g.ta, g.tb, 1.0, aa, p.lda, ba, p.ldb, 0.0, s, p.ldc);

    run_result coop = run(d, &g, &p, a, na, b, nb, c, nc, variant_under_test());
    run_result fp32 = run(d, &g, &p, a, na, b, nb, c, nc, TSL_GEMM_VARIANT_GPU);
    char what[200];
    snprintf(what, sizeof what, "%s m=%u n=%u k=%u ta=%d tb=%d pad=%u alpha=%g beta=%g limit=%llu %s/%s/%s",
             tsl_gemm_variant_name(variant_under_test()), g.m, g.n, g.k, g.ta, g.tb, g.pad, g.alpha, g.beta,
             (unsigned long long)g.max_binding_bytes, tsl_dtype_name(g.a), tsl_dtype_name(g.b),
             tsl_dtype_name(g.c));
    const double u32 = 1.0 / 8388608;
    for (size_t i = 0; i < g.m; i++)
        for (size_t j = 0; j < p.ldc; j++) {
            size_t e = i * p.ldc + j;
            if (j >= g.n) { /* padding: untouched (NaN when C was poisoned) */
                bool kept = g.beta == 0 ? isnan(coop.c[e]) : coop.c[e] == c[e];
                ck_assert_msg(kept, "%s (seed %llu): padding (%zu, %zu) was written", what,
                              (unsigned long long)seed, i, j);
                continue;
            }
            double cmag = g.beta == 0 ? 0 : fabs((double)c[e]);
            double tol = coop_tol(&g, s[e], cmag, coop.dispatches);
            double vs_ref = fabs(coop.c[e] - want[e]);
            double vs_fp32 = fabs((double)coop.c[e] - fp32.c[e]);
            double fp32_tol =
                fabs(g.alpha) * s[e] * g.k * u32 + 1e-6 * (fabs(g.alpha) * s[e] + cmag) +
                (g.c == F16 ? fp32.dispatches * (1.0 / 2048) * (fabs(g.alpha) * s[e] + cmag) : 0);
            ck_assert_msg(vs_ref <= tol,
                          "%s (seed %llu): C(%zu, %zu) = %.9g, reference %.9g: error %.3g > %.3g", what,
                          (unsigned long long)seed, i, j, coop.c[e], want[e], vs_ref, tol);
            ck_assert_msg(vs_fp32 <= tol + fp32_tol,
                          "%s (seed %llu): C(%zu, %zu) = %.9g, fp32 path %.9g: difference %.3g > %.3g", what,
                          (unsigned long long)seed, i, j, coop.c[e], fp32.c[e], vs_fp32, tol + fp32_tol);
        }
    free(a), free(b), free(c), free(ad), free(bd), free(want), free(aa), free(ba), free(s);
    free(coop.c), free(fp32.c);
}

/* Ragged edges in every dimension (1, 7, 13, 33, 65, 100: not multiples of the 64 x 64 block, the 16 x 16
 * fragment or the 32-deep k step), all four transposes, padded leading dimensions, alpha and beta. */
START_TEST(ragged_shapes_all_transposes) {
    uint64_t seed = tsl_test_seed("gemm_coopmat ragged_shapes_all_transposes");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = open_coopmat_device();
    const uint32_t shapes[][3] = {{1, 1, 1},    {16, 16, 16},  {64, 64, 32},   {65, 63, 33},
                                  {7, 130, 13}, {100, 7, 200}, {128, 192, 256}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int tr = 0; tr < 4; tr++) {
            coop_case g = {shapes[s][0], shapes[s][1], shapes[s][2],
                           tr & 1,       tr >> 1,      (uint32_t)(s + tr) % 3,
                           1.0f,         0.0f,         0,
                           F32,          F32,          F32};
            if ((s + tr) % 2)
                g.alpha = -0.75f, g.beta = 0.5f;
            run_case(d, seed, &rng, g);
        }
    tsl_test_device_close(d);
}
END_TEST

/* Storage types: fp16 A and/or B (exact inputs: against the fp32 path only the summation order differs),
 * fp16 C. */
START_TEST(fp16_storage_types) {
    uint64_t seed = tsl_test_seed("gemm_coopmat fp16_storage_types");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = open_coopmat_device();
    for (int combo = 1; combo < 8; combo++)
        for (int tr = 0; tr < 4; tr += 3) {
            coop_case g = {65,
                           77,
                           99,
                           tr & 1,
                           tr >> 1,
                           1,
                           0.5f,
                           combo % 2 ? 0.0f : -1.0f,
                           0,
                           combo & 1 ? F16 : F32,
                           combo & 2 ? F16 : F32,
                           combo & 4 ? F16 : F32};
            run_case(d, seed, &rng, g);
        }
    tsl_test_device_close(d);
}
END_TEST

/* The host's split into bindings under a forced small limit: many row and column blocks and the sum over
 * k in chunks (later chunks add onto C with beta = 1), so blocks start at offsets inside bindings. */
START_TEST(split_bindings) {
    uint64_t seed = tsl_test_seed("gemm_coopmat split_bindings");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = open_coopmat_device();
    for (int tr = 0; tr < 4; tr++) {
        coop_case g = {150,     90,
                       300,     tr & 1,
                       tr >> 1, (uint32_t)tr,
                       1.0f,    tr % 2 ? 0.25f : 0.0f,
                       8192,    tr == 3 ? F16 : F32,
                       F32,     F32};
        run_case(d, seed, &rng, g);
    }
    tsl_test_device_close(d);
}
END_TEST

static Suite *coopmat_suite(void) {
    Suite *s = suite_create("gemm_coopmat");
    TCase *tc = tcase_create("gemm_coopmat");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, ragged_shapes_all_transposes);
    tcase_add_test(tc, fp16_storage_types);
    tcase_add_test(tc, split_bindings);
    suite_add_tcase(s, tc);
    return s;
}

/* The device tests would open: what it offers, probed without enabling anything. */
static tsl_status probe_default_device(tsl_vk_features *out) {
    tsl_vk_options options;
    tsl_vk_options_default(&options);
    tsl_vk_device *d = NULL;
    TSL_TRY(tsl_vk_device_open(&options, &d));
    *out = *tsl_vk_device_features(d);
    tsl_vk_device_close(d);
    return TSL_OK;
}

#if TSL_COOPMAT_EMULATED_RUN
int main(void) {
    tsl_vk_features f;
    if (probe_default_device(&f) != TSL_OK) {
        fprintf(stderr, "gemm_coopmat_emulated: cannot open a device: %s\n", tsl_error_message());
        return EXIT_FAILURE;
    }
    if (!f.fp16_arithmetic) {
        printf("SKIP gemm_coopmat_emulated: %s lacks shaderFloat16. Nothing was tested.\n", f.name);
        return 77;
    }
    opened_with = TSL_VK_TENSOR_CORES_OFF;
    validate_run = true;
    printf("gemm_coopmat_emulated: the tensor-core kernel with emulated fragment operations on %s\n", f.name);
    return tsl_test_main(coopmat_suite());
}
#else
int main(void) {
    tsl_vk_features f;
    if (probe_default_device(&f) != TSL_OK) {
        fprintf(stderr, "gemm_coopmat: cannot open a device: %s\n", tsl_error_message());
        return EXIT_FAILURE;
    }
    if (!f.coopmat_nv_f16 && !f.coopmat_khr_f16) {
        printf("SKIP gemm_coopmat: %s offers no tensor-core GEMM (VK_NV_cooperative_matrix %s, "
               "VK_KHR_cooperative_matrix %s; the fp16 x fp16 + fp32 16x16x16 subgroup configuration with "
               "vulkanMemoryModel and shaderFloat16: NV %s, KHR %s). Nothing was tested.\n",
               f.name, f.cooperative_matrix_nv ? "advertised" : "absent",
               f.cooperative_matrix_khr ? "advertised" : "absent", f.coopmat_nv_f16 ? "yes" : "no",
               f.coopmat_khr_f16 ? "yes" : "no");
        return 77; /* meson: skipped */
    }
    int failed = 0;
    const tsl_vk_tensor_cores runs[] = {TSL_VK_TENSOR_CORES_NV_ONLY, TSL_VK_TENSOR_CORES_KHR_ONLY};
    const bool offered[] = {f.coopmat_nv_f16, f.coopmat_khr_f16};
    for (int i = 0; i < 2; i++) {
        if (!offered[i]) {
            printf(
                "gemm_coopmat: %s does not qualify for VK_%s_cooperative_matrix: that variant not tested\n",
                f.name, i ? "KHR" : "NV");
            continue;
        }
        opened_with = runs[i];
        validate_run = i == 0 || tsl_test_validation_knows_khr_coopmat();
        printf("gemm_coopmat: testing the %s variant on %s%s\n", i ? "KHR" : "NV", f.name,
               validate_run ? " (validation on)"
                            : " WITHOUT validation: the installed layer predates VK_KHR_cooperative_matrix "
                              "(1.3.255)");
        SRunner *runner = srunner_create(coopmat_suite());
        srunner_run_all(runner, CK_NORMAL);
        failed += srunner_ntests_failed(runner);
        srunner_free(runner);
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
#endif
