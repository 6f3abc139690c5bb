/* GEMM on the device against the double reference: odd shapes, all four transposes, alpha/beta, padded
 * leading dimensions, the block-splitting path (forced small binding limit, and one real output over
 * 128 MiB), and argument errors.
 *
 * Tolerance: inputs are uniform in [-1, 1]. Each C element is an fp32 sum of k fma terms with |a b| <= 1.
 * Sequential fp32 accumulation errs by at most about k * u * sum|a b| (u = 6e-8) and sum|a b| is about
 * k/4, hence abs = 2e-7 * k * k/4 * |alpha| (3x margin over the worst-case estimate, a few hundred times
 * the typical random-walk error) plus 1e-6 * (|alpha| + |beta|) for rounding alpha * acc and the beta
 * term; rel = 1e-5. */
#include "matrix_test_util.h"
#include "tsl_gemm.h"
#include "tsl_ref_matrix.h"
#include "tsl_test.h"
#include "tsl_test_tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double gemm_abs_tol(size_t k, double alpha, double beta) {
    return 2e-7 * (double)k * (double)k / 4 * fabs(alpha) + 1e-6 * (fabs(alpha) + fabs(beta));
}

typedef struct {
    uint32_t m, n, k;
    bool ta, tb;
    uint32_t pad; /* added to every leading dimension */
    float alpha, beta;
    uint64_t max_binding_bytes;
} gemm_case;

/* Storage types of A, B, C for one case. */
typedef struct {
    tsl_dtype a, b, c;
} gemm_types;

static const gemm_types all_fp32 = {TSL_DTYPE_F32, TSL_DTYPE_F32, TSL_DTYPE_F32};

/* fp16 tolerance. Inputs (and C when beta != 0) are rounded to half before the reference sees them, so
 * fp16 A or B leave only the fp32 accumulation error above (the kernel computes on exactly those
 * values). An fp16 C adds roundings to half, each at most u = 2^-11 of the value stored: the final
 * store (relative to the result, so rel += u) and, when the sum over k is split, one store per earlier
 * chunk of a partial sum bounded like the accumulation above by |alpha| * sum|a b| + |beta c|, with
 * sum|a b| about k/4 (the fp32 bound's own estimate): abs += (stores - 1) * u * (|alpha| k/4 + |beta|).
 * `stores` is bounded by the dispatch count (each dispatch stores an element of C at most once). */
static const double half_u = 1.0 / 2048;

static void check_c(const char *what, uint64_t seed, const float *got, const double *want, size_t n,
                    gemm_case g, gemm_types t, uint32_t stores) {
    double rel = 1e-5, abs = gemm_abs_tol(g.k, g.alpha, g.beta);
    if (t.c == TSL_DTYPE_F16) {
        rel += half_u;
        abs += (stores - 1) * half_u * (fabs(g.alpha) * g.k / 4 + fabs(g.beta));
    }
    tsl_test_check_close(what, seed, got, want, n, rel, abs);
}

static const char *variant_name(tsl_gemm_variant v) {
    return tsl_gemm_variant_name(v);
}

/* Runs one case with one kernel variant and compares every element of C (padding included: the kernel
 * must leave the padding columns as they were). Returns the number of dispatches recorded. */
static uint32_t run_variant(tsl_vk_device *d, uint64_t seed, tsl_test_rng *rng, gemm_case g, gemm_types t,
                            tsl_gemm_variant variant) {
    tsl_gemm_set_variant_for_testing(variant);
    tsl_gemm_params p = tsl_gemm_params_make(g.m, g.n, g.k, g.ta, g.tb);
    p.lda = (g.ta ? g.m : g.k) + g.pad;
    p.ldb = (g.tb ? g.k : g.n) + g.pad;
    p.ldc = g.n + g.pad;
    p.alpha = g.alpha;
    p.beta = g.beta;
    p.max_binding_bytes = g.max_binding_bytes;
    p.a_dtype = t.a, p.b_dtype = t.b, p.c_dtype = t.c;
    size_t na = (size_t)(g.ta ? g.k : g.m) * p.lda, nb = (size_t)(g.tb ? g.n : g.k) * p.ldb;
    size_t nc = (size_t)g.m * p.ldc;
    float *a = mt_random_floats(rng, na, -1, 1), *b = mt_random_floats(rng, nb, -1, 1);
    float *c = mt_random_floats(rng, nc, -1, 1);
    tsl_test_round_to(a, na, t.a);
    tsl_test_round_to(b, nb, t.b);
    tsl_test_round_to(c, nc, t.c);
    double *want = mt_to_double(c, nc), *ad = mt_to_double(a, na), *bd = mt_to_double(b, nb);
    tsl_ref_gemm(g.m, g.n, g.k, g.ta, g.tb, g.alpha, ad, p.lda, bd, p.ldb, g.beta, want, p.ldc);

    tsl_test_tensor ta = tsl_test_tensor_upload(d, a, na, t.a, "A");
    tsl_test_tensor tb = tsl_test_tensor_upload(d, b, nb, t.b, "B");
    tsl_test_tensor tc;
    if (g.beta == 0) { /* C must not be read: NaN everywhere, padding columns included */
        tc = tsl_test_tensor_poisoned(d, nc, t.c, "C");
        for (size_t i = 0; i < g.m; i++)
            for (size_t j = g.n; j < p.ldc; j++)
                want[i * p.ldc + j] = NAN;
    } else {
        tc = tsl_test_tensor_upload(d, c, nc, t.c, "C");
    }
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_gemm_f32(d, cmd, &p, ta.range, tb.range, tc.range));
    uint32_t dispatches = tsl_vk_cmd_stats_get(cmd).dispatches;
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_gemm_set_variant_for_testing(TSL_GEMM_VARIANT_AUTO);
    free(c);
    c = tsl_test_tensor_download(d, &tc);

    char what[200];
    snprintf(what, sizeof what,
             "gemm (%s variant) m=%u n=%u k=%u ta=%d tb=%d pad=%u alpha=%g beta=%g limit=%llu %s/%s/%s",
             variant_name(variant), g.m, g.n, g.k, g.ta, g.tb, g.pad, g.alpha, g.beta,
             (unsigned long long)g.max_binding_bytes, tsl_dtype_name(t.a), tsl_dtype_name(t.b),
             tsl_dtype_name(t.c));
    if (g.beta == 0) { /* compare the m x n block; the padding stays NaN */
        for (size_t i = 0; i < g.m; i++)
            check_c(what, seed, c + i * p.ldc, want + i * p.ldc, g.n, g, t, dispatches);
        for (size_t i = 0; i < g.m; i++)
            for (size_t j = g.n; j < p.ldc; j++)
                ck_assert_msg(isnan(c[i * p.ldc + j]), "%s: padding (%zu, %zu) was written", what, i, j);
    } else {
        check_c(what, seed, c, want, nc, g, t, dispatches);
    }
    tsl_test_tensor_free(d, &ta);
    tsl_test_tensor_free(d, &tb);
    tsl_test_tensor_free(d, &tc);
    free(a), free(b), free(c), free(want), free(ad), free(bd);
    return dispatches;
}

/* Runs one case with both kernel variants (forced through the test hook, so one device checks both; the
 * CPU variant's 16- and 32-row tiles leave every shape here with partial tiles), each on fresh data.
 * Both split alike, so the dispatch counts must agree; returns that count. */
static uint32_t run_typed(tsl_vk_device *d, uint64_t seed, tsl_test_rng *rng, gemm_case g, gemm_types t) {
    uint32_t gpu = run_variant(d, seed, rng, g, t, TSL_GEMM_VARIANT_GPU);
    uint32_t cpu = run_variant(d, seed, rng, g, t, TSL_GEMM_VARIANT_CPU);
    ck_assert_uint_eq(gpu, cpu);
    return cpu;
}

static uint32_t run_case(tsl_vk_device *d, uint64_t seed, tsl_test_rng *rng, gemm_case g) {
    return run_typed(d, seed, rng, g, all_fp32);
}

static const uint32_t shapes[][3] = {
    {1, 1, 1},   {1, 13, 17}, {2, 33, 3},   {13, 17, 65}, {65, 33, 13},
    {17, 1, 33}, {3, 65, 2},  {33, 65, 17}, {2, 2, 1},
};

START_TEST(odd_shapes_all_transposes) {
    uint64_t seed = tsl_test_seed("gemm odd_shapes_all_transposes");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++) {
            gemm_case g = {shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t >> 1, 0, 1.0f, 0.0f, 0};
            ck_assert_uint_eq(run_case(d, seed, &rng, g), 1);
        }
    tsl_test_device_close(d);
}
END_TEST

/* Shapes the vec4 variant takes (k % 4 == 0, leading dimensions multiples of 4, m % 4 == 0 when A is
 * transposed, n % 4 == 0 when B is not), plus m = 13 where only A's rows are clamped. n = 196, 260 and
 * 600 give the CPU variant rows of 16, 32 and 64 invocations (the narrower shapes, one subgroup). */
START_TEST(vec4_shapes_all_transposes) {
    uint64_t seed = tsl_test_seed("gemm vec4_shapes_all_transposes");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    const uint32_t v4[][3] = {{4, 4, 4},   {16, 20, 8}, {36, 12, 64},  {68, 44, 20},
                              {8, 100, 4}, {8, 196, 8}, {20, 260, 12}, {4, 600, 4}};
    for (size_t s = 0; s < sizeof v4 / sizeof v4[0]; s++)
        for (int t = 0; t < 4; t++) {
            gemm_case g = {v4[s][0], v4[s][1], v4[s][2], t & 1, t >> 1, 4 * (uint32_t)(s % 2), 1.0f, 0.0f, 0};
            if (s % 2)
                g.alpha = 0.5f, g.beta = -1.0f;
            run_case(d, seed, &rng, g);
        }
    run_case(d, seed, &rng, (gemm_case){13, 16, 8, false, false, 0, 1.0f, 0.0f, 0});
    run_case(d, seed, &rng, (gemm_case){13, 16, 8, false, true, 0, 1.0f, 0.0f, 0});
    tsl_test_device_close(d);
}
END_TEST

START_TEST(alpha_beta_and_padded_leading_dims) {
    uint64_t seed = tsl_test_seed("gemm alpha_beta_and_padded_leading_dims");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    const float ab[][2] = {{0.5f, 0.0f}, {-1.25f, 1.0f}, {0.75f, -0.5f}, {0.0f, 2.0f}};
    for (size_t s = 0; s < 4; s++)
        for (int t = 0; t < 4; t++) {
            const uint32_t *sh = shapes[2 * s + 1];
            gemm_case g = {sh[0],    sh[1],    sh[2], t & 1, t >> 1, (uint32_t)(t + s) % 3 * 2 + 1,
                           ab[s][0], ab[s][1], 0};
            run_case(d, seed, &rng, g);
        }
    tsl_test_device_close(d);
}
END_TEST

/* The split path with a 1 KiB binding limit: every operand is cut into many blocks, including chunks of
 * the sum over k that accumulate (beta = 1 after the first chunk). */
START_TEST(split_blocks_under_forced_binding_limit) {
    uint64_t seed = tsl_test_seed("gemm split_blocks_under_forced_binding_limit");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    for (int t = 0; t < 4; t++) {
        gemm_case g = {33, 65, 40, t & 1, t >> 1, (uint32_t)t, 1.0f, 0.0f, 1024};
        ck_assert_uint_gt(run_case(d, seed, &rng, g), 8);
        g.alpha = -0.5f;
        g.beta = 0.25f;
        g.m = 17, g.n = 13, g.k = 300; /* k * 4 bytes > 1 KiB: k itself must be chunked */
        ck_assert_uint_gt(run_case(d, seed, &rng, g), 2);
        gemm_case v = {32, 64, 40, t & 1, t >> 1, 4, 0.5f, 0.0f, 1024}; /* the vec4 variant's split */
        ck_assert_uint_gt(run_case(d, seed, &rng, v), 8);
        v.beta = 1.5f;
        ck_assert_uint_gt(run_case(d, seed, &rng, v), 8);
    }
    tsl_test_device_close(d);
}
END_TEST

/* A real 8192 x 8192 output (256 MiB, twice maxStorageBufferRange on lavapipe) with k = 16. Where one
 * binding holds it (NVIDIA: 4 GiB) it is one dispatch and only the values are checked. */
START_TEST(output_larger_than_one_binding) {
    uint64_t seed = tsl_test_seed("gemm output_larger_than_one_binding");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    const uint32_t m = 8192, n = 8192, k = 16;
    tsl_gemm_params p = tsl_gemm_params_make(m, n, k, true, false); /* C = A^T B, as in Barlow Twins */
    float *a = mt_random_floats(&rng, (size_t)k * m, -1, 1),
          *b = mt_random_floats(&rng, (size_t)k * n, -1, 1);
    float *c = malloc((size_t)m * n * 4);
    ck_assert_ptr_nonnull(c);
    tsl_vk_buffer ba = tsl_test_alloc(d, TSL_MEM_DEVICE, (size_t)k * m * 4, "A");
    tsl_vk_buffer bb = tsl_test_alloc(d, TSL_MEM_DEVICE, (size_t)k * n * 4, "B");
    tsl_vk_buffer bc = tsl_test_alloc(d, TSL_MEM_DEVICE, (size_t)m * n * 4, "C");
    tsl_test_upload(d, &ba, a);
    tsl_test_upload(d, &bb, b);
    tsl_test_poison(d, &bc);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_gemm_f32(d, cmd, &p, ba.range, bb.range, bc.range));
    if ((uint64_t)m * n * 4 > tsl_vk_device_features(d)->max_storage_buffer_range)
        ck_assert_uint_ge(tsl_vk_cmd_stats_get(cmd).dispatches, 2);
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_test_download(d, &bc, c);
    /* Row by row against the reference (a full double copy would be 512 MiB). */
    double *ad = mt_to_double(a, (size_t)k * m), *bd = mt_to_double(b, (size_t)k * n),
           *want = malloc(n * sizeof *want);
    ck_assert_ptr_nonnull(want);
    for (uint32_t i = 0; i < m; i++) {
        tsl_ref_gemm(1, n, k, true, false, 1, ad + i, m, bd, n, 0, want, n);
        tsl_test_check_close("gemm 8192 x 8192 x 16", seed, c + (size_t)i * n, want, n, 1e-5,
                             gemm_abs_tol(k, 1, 0));
    }
    tsl_vk_free(d, &ba);
    tsl_vk_free(d, &bb);
    tsl_vk_free(d, &bc);
    free(a), free(b), free(c), free(ad), free(bd), free(want);
    tsl_test_device_close(d);
}
END_TEST

/* A, B and C packed back to back in one buffer at offsets that are multiples of 4 bytes but not of the
 * binding alignment: each binding starts aligned down, with the element offset in push constants (and
 * the forced limit makes every block do so). */
START_TEST(operands_packed_at_unaligned_offsets) {
    uint64_t seed = tsl_test_seed("gemm operands_packed_at_unaligned_offsets");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    const uint32_t m = 13, n = 17, k = 9;
    size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n, at = 1, bt = at + na, ct = bt + nb;
    float *all = mt_random_floats(&rng, ct + nc, -1, 1);
    double *ad = mt_to_double(all + at, na), *bd = mt_to_double(all + bt, nb), *want = malloc(nc * 8);
    tsl_ref_gemm(m, n, k, false, false, 1, ad, k, bd, n, 0, want, n);
    tsl_vk_buffer buf = tsl_test_alloc(d, TSL_MEM_DEVICE, 4 * (ct + nc), "packed operands");
    for (uint64_t limit = 0; limit <= 512; limit += 512) {
        tsl_test_upload(d, &buf, all);
        tsl_vk_range a = tsl_vk_subrange(&buf, 4 * at, 4 * na), b = tsl_vk_subrange(&buf, 4 * bt, 4 * nb);
        tsl_vk_range c = tsl_vk_subrange(&buf, 4 * ct, 4 * nc);
        tsl_vk_cmd *cmd = mt_begin(d);
        TSL_TEST_OK(tsl_vk_cmd_fill(cmd, c, 0x7fc00000u)); /* NaN poison: beta = 0 must not read C */
        tsl_gemm_params p = tsl_gemm_params_make(m, n, k, false, false);
        p.max_binding_bytes = limit;
        TSL_TEST_OK(tsl_gemm_f32(d, cmd, &p, a, b, c));
        mt_submit(cmd);
        float *got = malloc(4 * (ct + nc));
        tsl_test_download(d, &buf, got);
        tsl_test_check_close("gemm packed operands", seed, got + ct, want, nc, 1e-5, gemm_abs_tol(k, 1, 0));
        ck_assert_msg(memcmp(got, all, 4 * ct) == 0, "gemm wrote outside C");
        free(got);
    }
    tsl_vk_free(d, &buf);
    free(all), free(ad), free(bd), free(want);
    tsl_test_device_close(d);
}
END_TEST

/* Sums over k longer than lavapipe's 65535 loop iterations per shader loop (tsl_vk_features.
 * max_loop_iterations): the host chunks k, so nothing is silently cut short. All-ones operands make every
 * element of C exactly k (an integer below 2^24, exact in fp32), so a partial sum cannot hide inside a
 * tolerance. Scalar loads (k odd, B transposed) and vec4 loads (k % 4 == 0), both variants. A driver
 * without a loop limit (max_loop_iterations 0: NVIDIA) takes each sum in one dispatch. */
START_TEST(long_sums_are_complete) {
    tsl_vk_device *d = tsl_test_device_open();
    bool loops_limited = tsl_vk_device_features(d)->max_loop_iterations != 0;
    const uint32_t cases[][3] = {{2, 5, 140001}, {4, 4, 280000}};
    const tsl_gemm_variant variants[] = {TSL_GEMM_VARIANT_GPU, TSL_GEMM_VARIANT_CPU};
    for (size_t c = 0; c < 2; c++)
        for (size_t v = 0; v < 2; v++) {
            uint32_t m = cases[c][0], n = cases[c][1], k = cases[c][2];
            float *ones = malloc((size_t)k * (m > n ? m : n) * sizeof *ones);
            ck_assert_ptr_nonnull(ones);
            for (size_t i = 0; i < (size_t)k * (m > n ? m : n); i++)
                ones[i] = 1.0f;
            tsl_vk_buffer a = mt_upload(d, ones, (size_t)m * k, "A"),
                          b = mt_upload(d, ones, (size_t)k * n, "B");
            tsl_vk_buffer out = mt_poisoned(d, (size_t)m * n, "C");
            tsl_gemm_params p = tsl_gemm_params_make(m, n, k, false, c == 0);
            tsl_gemm_set_variant_for_testing(variants[v]);
            tsl_vk_cmd *cmd = mt_begin(d);
            TSL_TEST_OK(tsl_gemm_f32(d, cmd, &p, a.range, b.range, out.range));
            if (loops_limited)
                ck_assert_uint_gt(tsl_vk_cmd_stats_get(cmd).dispatches, 1);
            mt_submit(cmd);
            tsl_gemm_set_variant_for_testing(TSL_GEMM_VARIANT_AUTO);
            float *got = mt_download(d, &out, (size_t)m * n);
            for (size_t i = 0; i < (size_t)m * n; i++)
                ck_assert_msg(got[i] == (float)k, "gemm (%s variant) m=%u n=%u k=%u: C[%zu] = %.9g, want %u",
                              variant_name(variants[v]), m, n, k, i, got[i], k);
            tsl_vk_free(d, &a);
            tsl_vk_free(d, &b);
            tsl_vk_free(d, &out);
            free(ones), free(got);
        }
    tsl_test_device_close(d);
}
END_TEST

/* ---- fp16 storage -------------------------------------------------------------------------------- */

static const tsl_dtype F32 = TSL_DTYPE_F32, F16 = TSL_DTYPE_F16;

/* Every combination of fp32/fp16 A, B, C at odd shapes and two of the four transposes (alternating with
 * the combination, so each transpose meets fp16 A, B and C; pipelines are slow to build on lavapipe), beta 0
 * (C poisoned with half NaNs when fp16) and beta != 0 (C read as half). Tolerances: check_c. */
START_TEST(fp16_storage_odd_shapes) {
    uint64_t seed = tsl_test_seed("gemm fp16_storage_odd_shapes");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    ck_assert_msg(tsl_vk_device_features(d)->fp16_storage, "the test device lacks storageBuffer16BitAccess");
    const uint32_t odd[][3] = {{1, 1, 1}, {13, 17, 65}, {33, 65, 17}, {17, 1, 33}};
    for (int combo = 1; combo < 8; combo++) {
        gemm_types t = {combo & 1 ? F16 : F32, combo & 2 ? F16 : F32, combo & 4 ? F16 : F32};
        for (size_t s = 0; s < sizeof odd / sizeof odd[0]; s++)
            for (int tr = combo % 2; tr < 4; tr += 2) { /* alternate transposes: pipelines build slowly */
                gemm_case g = {odd[s][0],        odd[s][1], odd[s][2], tr & 1, tr >> 1,
                               (uint32_t)tr % 2, 1.0f,      0.0f,      0};
                if ((s + tr) % 2)
                    g.alpha = -0.75f, g.beta = 0.5f;
                ck_assert_uint_eq(run_typed(d, seed, &rng, g, t), 1);
            }
    }
    tsl_test_device_close(d);
}
END_TEST

/* The vec4 variant with half operands (f16vec4 loads need 8-byte alignment, which 4-element padding
 * keeps), fp16 and fp32 C, each type with two transposes (together all four). */
START_TEST(fp16_storage_vec4_shapes) {
    uint64_t seed = tsl_test_seed("gemm fp16_storage_vec4_shapes");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    const uint32_t v4[][3] = {{4, 4, 4}, {36, 12, 64}, {68, 44, 20}};
    const gemm_types types[] = {{F16, F16, F32}, {F16, F16, F16}, {F32, F16, F16}};
    for (size_t ty = 0; ty < 3; ty++)
        for (size_t s = 0; s < 3; s++)
            for (int tr = (int)ty % 2; tr < 4; tr += 2) {
                gemm_case g = {v4[s][0], v4[s][1], v4[s][2], tr & 1, tr >> 1, 4 * (uint32_t)(s % 2),
                               1.0f,     0.0f,     0};
                if (s % 2)
                    g.alpha = 0.5f, g.beta = -1.0f;
                run_typed(d, seed, &rng, g, types[ty]);
            }
    tsl_test_device_close(d);
}
END_TEST

/* The split measures each operand at its own element size. With a 2 KiB limit and lavapipe's 16-byte
 * binding alignment (slack: 16 - element bytes), C = A B with A 24 x 24, B and C 24 x 40 (960
 * elements): in fp32 B and C take 3840 bytes and are split; in fp16 they take 1920 + 14 and fit, so one
 * dispatch. Then both precisions through real splits under a 512-byte limit: many blocks of every
 * operand, and the sum over k cut into chunks (k * 2 bytes > 512) with fp16 inputs, every transpose. */
START_TEST(fp16_storage_split_counts_element_bytes) {
    uint64_t seed = tsl_test_seed("gemm fp16_storage_split_counts_element_bytes");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *d = tsl_test_device_open();
    ck_assert_uint_eq(tsl_vk_device_features(d)->min_storage_buffer_offset_alignment, 16);
    const gemm_types half = {F16, F16, F16}, half_in = {F16, F16, F32};
    gemm_case fits_as_half = {24, 40, 24, false, false, 0, 1.0f, 0.0f, 2048};
    ck_assert_uint_gt(run_case(d, seed, &rng, fits_as_half), 1);
    ck_assert_uint_eq(run_typed(d, seed, &rng, fits_as_half, half), 1);
    for (int tr = 0; tr < 4; tr++) {
        gemm_case g = {33, 65, 40, tr & 1, tr >> 1, (uint32_t)tr, 1.0f, 0.0f, 512};
        const gemm_types types[] = {half_in, {F16, F32, F16}, {F32, F16, F16}, half};
        ck_assert_uint_gt(run_typed(d, seed, &rng, g, types[tr]), 8);
        ck_assert_uint_gt(run_case(d, seed, &rng, g), 8);
        g.alpha = -0.5f, g.beta = 0.25f;
        g.m = 17, g.n = 13, g.k = 300;
        ck_assert_uint_gt(run_typed(d, seed, &rng, g, half_in), 2);
        gemm_case v = {32, 64, 40, tr & 1, tr >> 1, 4, 0.5f, 1.5f, 512}; /* the vec4 variant's split */
        ck_assert_uint_gt(run_typed(d, seed, &rng, v, half), 8);
    }
    /* An fp16 C through chunks of k: A^T stored 300 x 4 halves is cut into 8 chunks of <= 38 rows
     * (38 * 8 + 14 <= 512), C is one block, so every element is stored 8 times (check_c's bound). */
    gemm_case chunked = {4, 4, 300, true, false, 0, -0.5f, 0.25f, 512};
    ck_assert_uint_eq(run_typed(d, seed, &rng, chunked, half), 8);
    tsl_test_device_close(d);
}
END_TEST

static void expect_invalid(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_gemm_params *p, tsl_vk_range a,
                           tsl_vk_range b, tsl_vk_range c, const char *fragment) {
    tsl_status st = tsl_gemm_f32(d, cmd, p, a, b, c);
    ck_assert_int_eq(st, TSL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(tsl_error_message(), fragment) && strstr(tsl_error_message(), "gemm"),
                  "message '%s' lacks 'gemm' or '%s'", tsl_error_message(), fragment);
}

START_TEST(bad_arguments_are_rejected) {
    tsl_vk_device *d = tsl_test_device_open();
    tsl_vk_buffer buf = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "gemm operands");
    tsl_vk_range a = tsl_vk_subrange(&buf, 0, 1024), b = tsl_vk_subrange(&buf, 1024, 1024);
    tsl_vk_range c = tsl_vk_subrange(&buf, 2048, 1024);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    tsl_gemm_params p = tsl_gemm_params_make(16, 16, 0, false, false);
    expect_invalid(d, cmd, &p, a, b, c, "must all be >= 1");
    p = tsl_gemm_params_make(16, 16, 17, false, false); /* A needs 16 * 17 * 4 > 1024 bytes */
    expect_invalid(d, cmd, &p, a, b, c, "A (16 x 17, ld 17) needs 1088 bytes (F32)");
    p = tsl_gemm_params_make(8, 8, 8, false, true);
    p.ldb = 4;
    expect_invalid(d, cmd, &p, a, b, c, "leading dimension of B is 4");
    p.ldb = 0;
    expect_invalid(d, cmd, &p, a, b, tsl_vk_subrange(&buf, 1500, 1024), "C overlaps");
    expect_invalid(d, cmd, &p, a, b, tsl_vk_subrange(&buf, 2050, 1024), "not a multiple of 4");
    p.max_binding_bytes = 2; /* smaller than one element */
    expect_invalid(d, cmd, &p, a, b, c, "cannot hold even one element");
    p = tsl_gemm_params_make(16, 16, 32, false, false); /* fp16 A needs 1024 bytes, fp32 would need 2048 */
    p.a_dtype = TSL_DTYPE_F16;
    TSL_TEST_OK(tsl_gemm_f32(d, cmd, &p, tsl_vk_subrange(&buf, 0, 1024), tsl_vk_subrange(&buf, 1024, 2048),
                             tsl_vk_subrange(&buf, 3072, 1024)));
    expect_invalid(d, cmd, &p, tsl_vk_subrange(&buf, 1, 1024), b, c,
                   "A (F16) starts at byte 1, not a multiple of 2");
    p.c_dtype = TSL_DTYPE_BF16;
    expect_invalid(d, cmd, &p, a, b, c, "C has dtype BF16; only F32 and F16");
    ck_assert_uint_eq(tsl_vk_cmd_stats_get(cmd).dispatches, 1); /* only the valid fp16 call */
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(d, &buf);
    tsl_test_device_close(d);
}
END_TEST

/* ---- tensor-core selection ------------------------------------------------------------------------ */

/* tsl_gemm_variant_for, the one place that picks: on this device (lavapipe: no cooperative-matrix
 * extension) asking for tensor cores, even with the device opened to enable them, falls back to the
 * device's fp32 class; a forced cooperative-matrix variant is refused with a message, nothing recorded.
 * On synthetic features: KHR preferred when enabled, NV otherwise, never without the caller's opt-in or
 * beyond the shader's limits (maxSubgroupSize 64, 27136 bytes of shared memory, 256 invocations). The
 * kernels themselves are compared with the fp32 path by tests/test_gemm_coopmat.c on a device that has
 * one of the extensions (SKIP here); its emulated build (suite gemm_coopmat_emulated) runs here. */
START_TEST(tensor_core_selection) {
    tsl_vk_options options;
    tsl_vk_options_default(&options);
    options.validation = true;
    /* An old validation layer reports VK_KHR_cooperative_matrix's structures as unknown. */
    options.tensor_cores = tsl_test_validation_knows_khr_coopmat() ? TSL_VK_TENSOR_CORES_PREFER_KHR
                                                                   : TSL_VK_TENSOR_CORES_NV_ONLY;
    tsl_vk_device *d = NULL;
    TSL_TEST_OK(tsl_vk_device_open(&options, &d));
    const tsl_vk_features *real = tsl_vk_device_features(d);
    tsl_gemm_params p = tsl_gemm_params_make(64, 64, 64, false, false);
    p.allow_tensor_cores = true;
    tsl_gemm_variant fp32 = real->cpu_kernels ? TSL_GEMM_VARIANT_CPU : TSL_GEMM_VARIANT_GPU;
    if (!real->coopmat_khr_f16 && !real->coopmat_nv_f16) {
        ck_assert_int_eq(real->coopmat_enabled, TSL_VK_COOPMAT_NONE);
        ck_assert_int_eq(tsl_gemm_variant_for(real, &p), fp32);
        tsl_vk_buffer buf = tsl_test_alloc(d, TSL_MEM_DEVICE, 3 * 4 * 64 * 64, "operands");
        tsl_vk_cmd *cmd;
        TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
        TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
        tsl_gemm_set_variant_for_testing(TSL_GEMM_VARIANT_COOPMAT_KHR);
        tsl_status st =
            tsl_gemm_f32(d, cmd, &p, tsl_vk_subrange(&buf, 0, 16384), tsl_vk_subrange(&buf, 16384, 16384),
                         tsl_vk_subrange(&buf, 32768, 16384));
        tsl_gemm_set_variant_for_testing(TSL_GEMM_VARIANT_AUTO);
        ck_assert_int_eq(st, TSL_ERR_UNSUPPORTED);
        ck_assert_msg(strstr(tsl_error_message(), "VK_KHR_cooperative_matrix enabled") != NULL, "message: %s",
                      tsl_error_message());
        ck_assert_uint_eq(tsl_vk_cmd_stats_get(cmd).dispatches, 0);
        tsl_vk_cmd_destroy(cmd);
        tsl_vk_free(d, &buf);
    }
    tsl_vk_features f = *real;
    f.coopmat_enabled = TSL_VK_COOPMAT_KHR;
    f.max_subgroup_size = 32, f.max_shared_memory = 49152;
    f.max_workgroup_invocations = 1024, f.max_workgroup_size[0] = 1024;
    ck_assert_int_eq(tsl_gemm_variant_for(&f, &p), TSL_GEMM_VARIANT_COOPMAT_KHR);
    f.coopmat_enabled = TSL_VK_COOPMAT_NV;
    ck_assert_int_eq(tsl_gemm_variant_for(&f, &p), TSL_GEMM_VARIANT_COOPMAT_NV);
    p.allow_tensor_cores = false; /* the default: fp32 stays the reference path */
    ck_assert_int_eq(tsl_gemm_variant_for(&f, &p), fp32);
    p.allow_tensor_cores = true;
    f.max_subgroup_size = 128; /* fewer than 4 subgroups per workgroup: more fragments than accumulators */
    ck_assert_int_eq(tsl_gemm_variant_for(&f, &p), fp32);
    f.max_subgroup_size = 64, f.max_shared_memory = 16384;
    ck_assert_int_eq(tsl_gemm_variant_for(&f, &p), fp32);
    f.max_shared_memory = 27136, f.max_workgroup_invocations = 128;
    ck_assert_int_eq(tsl_gemm_variant_for(&f, &p), fp32);
    f.max_workgroup_invocations = 256, f.cpu_kernels = !real->cpu_kernels;
    ck_assert_int_eq(tsl_gemm_variant_for(&f, &p), TSL_GEMM_VARIANT_COOPMAT_NV);
    f.coopmat_enabled = TSL_VK_COOPMAT_NONE;
    ck_assert_int_eq(tsl_gemm_variant_for(&f, &p),
                     f.cpu_kernels ? TSL_GEMM_VARIANT_CPU : TSL_GEMM_VARIANT_GPU);
    tsl_gemm_set_variant_for_testing(TSL_GEMM_VARIANT_GPU); /* a forced variant wins */
    ck_assert_int_eq(tsl_gemm_variant_for(&f, &p), TSL_GEMM_VARIANT_GPU);
    tsl_gemm_set_variant_for_testing(TSL_GEMM_VARIANT_AUTO);
    tsl_test_device_close(d);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 1500); /* pipeline compiles on lavapipe, slower on AMD: meson.build */
    tcase_add_test(tc, odd_shapes_all_transposes);
    tcase_add_test(tc, vec4_shapes_all_transposes);
    tcase_add_test(tc, alpha_beta_and_padded_leading_dims);
    tcase_add_test(tc, split_blocks_under_forced_binding_limit);
    tcase_add_test(tc, operands_packed_at_unaligned_offsets);
    tcase_add_test(tc, output_larger_than_one_binding);
    tcase_add_test(tc, long_sums_are_complete);
    tcase_add_test(tc, fp16_storage_odd_shapes);
    tcase_add_test(tc, fp16_storage_vec4_shapes);
    tcase_add_test(tc, fp16_storage_split_counts_element_bytes);
    tcase_add_test(tc, bad_arguments_are_rejected);
    tcase_add_test(tc, tensor_core_selection);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
