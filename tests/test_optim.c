/* Per-tensor L2 norms, LARS and SGD steps (trainer/kernels/tsl_optim.h) against the double reference
 * (tests/ref/ref_optim.c). Tensors live in one flat buffer at 256-byte-aligned offsets, as the trainer
 * lays them out.
 *
 * Tolerances:
 * - norms: fp32 sums of n non-negative squares (no cancellation), sequential runs of <= n / 16384 terms
 *   then trees: relative error <~ 6e-8 * (n / 16384 + 22) < 2e-6 for n <= 70001; sqrt halves it:
 *   rel 2e-6.
 * - LARS/SGD after 3 steps: p changes by lr * mu per step; its own rounding is rel 6e-8 per step and
 *   the trust ratio carries the norms' rel ~2e-6 into mu (terms of one sign across steps: no
 *   cancellation) -> mu rel 1e-5. But d = g + wd p itself can cancel (|g| <= 0.1, wd |p| <= 0.01):
 *   its absolute error is ~6e-8 * 0.11 per step, and mu after 3 steps weighs the d's by up to
 *   1 + 0.9 + 0.81 = 2.71: mu abs 5e-8 (times q <= 1 under LARS). p: rel 1e-6 + abs 1e-7 (its own
 *   rounding, 3 x 6e-8, plus lr * mu's error). SGD has no norms: mu rel 1e-6 + abs 5e-8.
 * - AdamW after 3 steps with a new gradient each step (|g| <= 0.1, so m's terms can cancel): m is a sum of
 *   a few roundings of at most 6e-9 (terms <= 0.1) per step: abs 5e-8 + rel 1e-6. v sums non-negative
 *   terms: rel 1e-6. The update lr / bc1 * m / denom is at most ~2 lr; m / denom carries m's absolute
 *   error over denom ~ the rms of the g's (bias-corrected), which is >= max|g| / sqrt(3): a few 1e-7
 *   relative to the update's scale lr per step -> p abs 2e-6 lr + rel 1e-6 (its own rounding).
 * - Against PyTorch (fp32 on the CPU, its own operation order): twice the errors above, each side
 *   rounding independently. */
#include "ref_optim.h"
#include "tsl_chunk.h"
#include "tsl_optim.h"
#include "tsl_safetensors.h"
#include "tsl_texel.h"
#include "tsl_test.h"
#include "tsl_test_tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TSL_FIXTURE_DIR
#error "TSL_FIXTURE_DIR must name tests/fixtures"
#endif

/* Odd sizes: 1, 3, 13, a 13x3x3x3 conv weight, and one longer than 64 groups of 256 x 4 values; then
 * whole vec4s (the update's vec4 build) as long. */
static const size_t sizes[] = {1, 3, 13, 351, 70001, 70000};
enum { N_TENSORS = sizeof sizes / sizeof sizes[0], ALIGN_FLOATS = 64 };

/* Offsets (floats) of each tensor in a flat buffer, 256-byte aligned; returns the total. */
static size_t layout(size_t *offsets) {
    size_t at = 0;
    for (int t = 0; t < N_TENSORS; t++) {
        offsets[t] = at;
        at += (sizes[t] + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    }
    return at;
}

static tsl_vk_range tensor_range(const tsl_vk_buffer *b, const size_t *offsets, int t) {
    return tsl_vk_subrange(b, 4 * offsets[t], 4 * sizes[t]);
}

static void check_l2_norms(const char *name) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed(name);
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t offsets[N_TENSORS], total = layout(offsets);
    float *x = tsl_test_random_floats(&rng, total, -1, 1);
    for (size_t i = offsets[1]; i < offsets[1] + sizes[1]; i++)
        x[i] = 0.0f; /* an all-zero tensor: norm exactly 0 */
    tsl_vk_buffer bx = tsl_test_upload_floats(dev, x, total, "x");
    tsl_vk_range ranges[N_TENSORS];
    for (int t = 0; t < N_TENSORS; t++)
        ranges[t] = tensor_range(&bx, offsets, t);
    tsl_vk_buffer bs =
        tsl_test_poisoned(dev, tsl_l2_norms_scratch_bytes(dev, ranges, N_TENSORS) / 4, "scratch");
    tsl_vk_buffer bn = tsl_test_poisoned(dev, N_TENSORS, "norms");
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_l2_norms(dev, cmd, ranges, N_TENSORS, bs.range, bn.range));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    double want[N_TENSORS];
    for (int t = 0; t < N_TENSORS; t++) {
        double *xd = tsl_test_to_double(x + offsets[t], sizes[t]);
        want[t] = ref_l2_norm(sizes[t], xd);
        free(xd);
    }
    float *got = tsl_test_download_floats(dev, &bn, N_TENSORS);
    tsl_test_check_close("l2 norms", seed, got, want, N_TENSORS, 2e-6, 0);
    tsl_vk_free(dev, &bx), tsl_vk_free(dev, &bs), tsl_vk_free(dev, &bn);
    free(x), free(got);
    tsl_test_device_close(dev);
}

START_TEST(l2_norms_match_reference) {
    check_l2_norms("optim_l2_norms");
}
END_TEST

/* Three steps of LARS (or SGD) recorded in one command buffer; compares p, mu and (LARS) the norms. */
static void check_steps(bool lars, const char *name) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed(name);
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t offsets[N_TENSORS], total = layout(offsets);
    float *p = tsl_test_random_floats(&rng, total, -1, 1),
          *g = tsl_test_random_floats(&rng, total, -0.1f, 0.1f);
    float *mu = calloc(total, 4);
    /* Tensor 0 (one value) is all zero with zero gradient: |p| = |d| = 0, so q = 1 and nothing moves.
     * Tensor 2 (13 values) is a bias: excluded from decay and adaptation. */
    p[offsets[0]] = 0.0f, g[offsets[0]] = 0.0f;
    bool exclude[N_TENSORS] = {false, false, true, false, false};
    tsl_vk_buffer bp = tsl_test_upload_floats(dev, p, total, "p"),
                  bg = tsl_test_upload_floats(dev, g, total, "g"),
                  bm = tsl_test_upload_floats(dev, mu, total, "mu");
    tsl_optim_tensor tensors[N_TENSORS];
    for (int t = 0; t < N_TENSORS; t++)
        tensors[t] = (tsl_optim_tensor){.param = tensor_range(&bp, offsets, t),
                                        .grad = tensor_range(&bg, offsets, t),
                                        .momentum = tensor_range(&bm, offsets, t),
                                        .exclude = exclude[t]};
    /* Barlow Twins: lr 0.2 for weights, momentum 0.9, weight decay 1.5e-6, eta 0.001; a larger decay
     * here so that its term is visible against fp32 rounding. */
    tsl_optim_hparams h = {0.2f, 0.9f, 1e-2f, 1e-3f};
    tsl_vk_buffer bs =
        tsl_test_poisoned(dev, tsl_optim_lars_scratch_bytes(dev, tensors, N_TENSORS) / 4, "scratch");
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    for (int step = 0; step < 3; step++)
        TSL_TEST_OK(lars ? tsl_optim_lars_step(dev, cmd, tensors, N_TENSORS, &h, bs.range)
                         : tsl_optim_sgd_step(dev, cmd, tensors, N_TENSORS, &h));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);

    double *pd = tsl_test_to_double(p, total), *gd = tsl_test_to_double(g, total), *md = calloc(total, 8);
    double norms[2 * N_TENSORS];
    for (int step = 0; step < 3; step++)
        for (int t = 0; t < N_TENSORS; t++) {
            size_t o = offsets[t];
            if (lars)
                ref_lars_step(sizes[t], pd + o, gd + o, md + o, exclude[t], 0.2f, 0.9f, 1e-2f, 1e-3f,
                              &norms[2 * t], &norms[2 * t + 1]);
            else
                ref_sgd_step(sizes[t], pd + o, gd + o, md + o, exclude[t], 0.2f, 0.9f, 1e-2f);
        }
    float *p_got = tsl_test_download_floats(dev, &bp, total),
          *m_got = tsl_test_download_floats(dev, &bm, total);
    for (int t = 0; t < N_TENSORS; t++) {
        size_t o = offsets[t];
        char what[64];
        snprintf(what, sizeof what, "%s p, tensor %d (%zu values)", lars ? "lars" : "sgd", t, sizes[t]);
        tsl_test_check_close(what, seed, p_got + o, pd + o, sizes[t], 1e-6, 1e-7);
        snprintf(what, sizeof what, "%s mu, tensor %d (%zu values)", lars ? "lars" : "sgd", t, sizes[t]);
        tsl_test_check_close(what, seed, m_got + o, md + o, sizes[t], lars ? 1e-5 : 1e-6, 5e-8);
    }
    if (lars) {
        float got[2 * N_TENSORS];
        TSL_TEST_OK(tsl_vk_download(dev, tsl_vk_subrange(&bs, 0, sizeof got), got));
        tsl_test_check_close("lars norms of the last step", seed, got, norms, 2 * N_TENSORS, 2e-6, 0);
    }
    tsl_vk_free(dev, &bp), tsl_vk_free(dev, &bg), tsl_vk_free(dev, &bm), tsl_vk_free(dev, &bs);
    free(p), free(g), free(mu), free(pd), free(gd), free(md), free(p_got), free(m_got);
    tsl_test_device_close(dev);
}

START_TEST(lars_steps_match_reference) {
    check_steps(true, "optim_lars");
}
END_TEST

START_TEST(sgd_steps_match_reference) {
    check_steps(false, "optim_sgd");
}
END_TEST

/* On a CPU driver the vec4 builds read the norms' inputs and the update's gradient through texel
 * buffers (tsl_texel.h), so the tests above check those there; this one runs the storage-buffer builds
 * too, at the same tolerances. */
START_TEST(storage_buffer_builds_match_reference) {
    tsl_texel_reads_set_enabled(false);
    check_l2_norms("optim_l2_norms_storage_buffer");
    check_steps(true, "optim_lars_storage_buffer");
    check_steps(false, "optim_sgd_storage_buffer");
    tsl_texel_reads_set_enabled(true);
}
END_TEST

/* A tensor larger than one binding is split into pieces, each with its own first-level slots: with
 * the chunk limit lowered to 64 KiB the 70001- and 70000-value tensors take 5 pieces each. Same
 * tolerances. */
START_TEST(split_tensors_match_reference) {
    tsl_chunk_set_test_limit(65536);
    check_l2_norms("optim_l2_norms_split");
    check_steps(true, "optim_lars_split");
    check_steps(false, "optim_sgd_split");
    tsl_chunk_set_test_limit(0);
}
END_TEST

/* AdamW: lr 0.05 for weights, 0.02 for excluded tensors, weight decay 0.1 (large, to be visible). */
#define ADAMW_LR_W 0.05f
#define ADAMW_LR_B 0.02f
#define ADAMW_WD   0.1f

/* Three AdamW steps, each with its own gradient, in one command buffer, against the double reference. */
static void check_adamw(const char *name) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed(name);
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t offsets[N_TENSORS], total = layout(offsets);
    float *p = tsl_test_random_floats(&rng, total, -1, 1),
          *g = tsl_test_random_floats(&rng, 3 * total, -0.1f, 0.1f);
    float *zero = calloc(total, 4);
    p[offsets[0]] = 0.0f; /* tensor 0: zero parameter and gradients, so m = v = 0 and nothing moves */
    for (int s = 0; s < 3; s++)
        g[s * total + offsets[0]] = 0.0f;
    bool exclude[N_TENSORS] = {false, false, true, false, true};
    tsl_vk_buffer bp = tsl_test_upload_floats(dev, p, total, "p"),
                  bg = tsl_test_upload_floats(dev, g, 3 * total, "g"),
                  bm = tsl_test_upload_floats(dev, zero, total, "m"),
                  bv = tsl_test_upload_floats(dev, zero, total, "v");
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    for (int s = 0; s < 3; s++) {
        tsl_optim_tensor tensors[N_TENSORS];
        for (int t = 0; t < N_TENSORS; t++)
            tensors[t] =
                (tsl_optim_tensor){tensor_range(&bp, offsets, t),
                                   tsl_vk_subrange(&bg, 4 * (s * total + offsets[t]), 4 * sizes[t]),
                                   tensor_range(&bm, offsets, t), exclude[t], tensor_range(&bv, offsets, t)};
        tsl_optim_adamw_hparams h = {ADAMW_LR_W, 0.9, 0.999, 1e-8, ADAMW_WD, (uint64_t)s + 1};
        TSL_TEST_OK(tsl_optim_adamw_step(dev, cmd, tensors, N_TENSORS, &h));
    }
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);

    double *pd = tsl_test_to_double(p, total), *gd = tsl_test_to_double(g, 3 * total);
    double *md = calloc(total, 8), *vd = calloc(total, 8);
    for (int s = 0; s < 3; s++)
        for (int t = 0; t < N_TENSORS; t++) {
            size_t o = offsets[t];
            ref_adamw_step(sizes[t], pd + o, gd + s * total + o, md + o, vd + o, exclude[t], ADAMW_LR_W, 0.9,
                           0.999, 1e-8, ADAMW_WD, (unsigned long)s + 1);
        }
    float *p_got = tsl_test_download_floats(dev, &bp, total),
          *m_got = tsl_test_download_floats(dev, &bm, total),
          *v_got = tsl_test_download_floats(dev, &bv, total);
    for (int t = 0; t < N_TENSORS; t++) {
        size_t o = offsets[t];
        char what[64];
        snprintf(what, sizeof what, "adamw p, tensor %d (%zu values)", t, sizes[t]);
        tsl_test_check_close(what, seed, p_got + o, pd + o, sizes[t], 1e-6, 2e-6 * ADAMW_LR_W);
        snprintf(what, sizeof what, "adamw m, tensor %d (%zu values)", t, sizes[t]);
        tsl_test_check_close(what, seed, m_got + o, md + o, sizes[t], 1e-6, 5e-8);
        snprintf(what, sizeof what, "adamw v, tensor %d (%zu values)", t, sizes[t]);
        tsl_test_check_close(what, seed, v_got + o, vd + o, sizes[t], 1e-6, 0);
    }
    tsl_vk_free(dev, &bp), tsl_vk_free(dev, &bg), tsl_vk_free(dev, &bm), tsl_vk_free(dev, &bv);
    free(p), free(g), free(zero), free(pd), free(gd), free(md), free(vd), free(p_got), free(m_got),
        free(v_got);
    tsl_test_device_close(dev);
}

START_TEST(adamw_steps_match_reference) {
    check_adamw("optim_adamw");
}
END_TEST

START_TEST(split_adamw_matches_reference) {
    tsl_chunk_set_test_limit(65536);
    check_adamw("optim_adamw_split");
    tsl_chunk_set_test_limit(0);
}
END_TEST

/* ---- against torch.optim (tests/fixtures/optim_steps.safetensors, tools/make_optim_fixture.py) ---- */

enum { FX_TENSORS = 4, FX_STEPS = 3 };
enum { FX_LR_W, FX_LR_B, FX_WD, FX_BETA1, FX_BETA2, FX_EPS, FX_MOMENTUM };

static const tsl_st_tensor *fixture_tensor(const tsl_safetensors *st, const char *fmt, int a, int b) {
    char name[64];
    snprintf(name, sizeof name, fmt, a, b);
    const tsl_st_tensor *t = tsl_safetensors_find(st, name);
    ck_assert_msg(t != NULL && t->dtype == TSL_DTYPE_F32, "fixture lacks F32 tensor %s", name);
    return t;
}

static float *fixture_floats(const tsl_st_tensor *t) {
    float *x = malloc(t->count * sizeof *x);
    ck_assert_ptr_nonnull(x);
    memcpy(x, t->data, t->count * sizeof *x); /* safetensors data is not aligned */
    return x;
}

/* Runs three steps of `adamw` (else SGD) on the fixture's tensors on the device, one tensor group at a
 * time (weights, then 1-D tensors, each with its own lr and decay), and compares with torch's results. */
static void check_fixture(bool adamw) {
    tsl_vk_device *dev = tsl_test_device_open();
    tsl_safetensors st;
    TSL_TEST_OK(tsl_safetensors_read(TSL_FIXTURE_DIR "/optim_steps.safetensors", 1u << 20, &st));
    double hp[7];
    const tsl_st_tensor *hpt = tsl_safetensors_find(&st, "hparams");
    ck_assert_msg(hpt && hpt->dtype == TSL_DTYPE_F64 && hpt->count == 7, "fixture hparams: 7 F64 expected");
    memcpy(hp, hpt->data, sizeof hp);
    tsl_vk_buffer bp[FX_TENSORS], bg[FX_STEPS][FX_TENSORS], bm[FX_TENSORS], bv[FX_TENSORS];
    uint64_t count[FX_TENSORS];
    bool exclude[FX_TENSORS];
    for (int k = 0; k < FX_TENSORS; k++) {
        const tsl_st_tensor *p = fixture_tensor(&st, "p.%d", k, 0);
        count[k] = p->count;
        exclude[k] = p->ndim == 1;
        float *x = fixture_floats(p), *zero = calloc(count[k], 4);
        bp[k] = tsl_test_upload_floats(dev, x, count[k], "p");
        bm[k] = tsl_test_upload_floats(dev, zero, count[k], "m");
        bv[k] = tsl_test_upload_floats(dev, zero, count[k], "v");
        free(x), free(zero);
        for (int s = 0; s < FX_STEPS; s++) {
            float *gx = fixture_floats(fixture_tensor(&st, "g.%d.%d", s, k));
            bg[s][k] = tsl_test_upload_floats(dev, gx, count[k], "g");
            free(gx);
        }
    }
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    for (int s = 0; s < FX_STEPS; s++)
        for (int group = 0; group < 2; group++) {
            tsl_optim_tensor t[FX_TENSORS];
            uint32_t n = 0;
            for (int k = 0; k < FX_TENSORS; k++)
                if (exclude[k] == (group == 1))
                    t[n++] =
                        (tsl_optim_tensor){bp[k].range, bg[s][k].range, bm[k].range, exclude[k], bv[k].range};
            double lr = group ? hp[FX_LR_B] : hp[FX_LR_W];
            if (adamw) {
                tsl_optim_adamw_hparams h = {lr,         hp[FX_BETA1], hp[FX_BETA2],
                                             hp[FX_EPS], hp[FX_WD],    (uint64_t)s + 1};
                TSL_TEST_OK(tsl_optim_adamw_step(dev, cmd, t, n, &h));
            } else {
                tsl_optim_hparams h = {(float)lr, (float)hp[FX_MOMENTUM], (float)hp[FX_WD], 0.0f};
                TSL_TEST_OK(tsl_optim_sgd_step(dev, cmd, t, n, &h));
            }
        }
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    const char *prefix = adamw ? "adamw" : "sgd";
    for (int k = 0; k < FX_TENSORS; k++) {
        struct {
            const char *what;
            tsl_vk_buffer *buffer;
            double rel, abs;
        } checks[] = {{"p", &bp[k], 2e-6, adamw ? 4e-6 * hp[FX_LR_W] : 2e-7},
                      {adamw ? "m" : "mu", &bm[k], 2e-6, 1e-7},
                      {"v", &bv[k], 2e-6, 0}};
        for (int c = 0; c < (adamw ? 3 : 2); c++) {
            char name[64];
            snprintf(name, sizeof name, "%s.%s.%d", prefix, checks[c].what, k);
            const tsl_st_tensor *want = tsl_safetensors_find(&st, name);
            ck_assert_msg(want && want->count == count[k], "fixture lacks %s", name);
            float *wf = fixture_floats(want);
            double *wd = tsl_test_to_double(wf, count[k]);
            float *got = tsl_test_download_floats(dev, checks[c].buffer, count[k]);
            tsl_test_check_close(name, 0, got, wd, count[k], checks[c].rel, checks[c].abs);
            free(wf), free(wd), free(got);
        }
    }
    for (int k = 0; k < FX_TENSORS; k++) {
        tsl_vk_free(dev, &bp[k]), tsl_vk_free(dev, &bm[k]), tsl_vk_free(dev, &bv[k]);
        for (int s = 0; s < FX_STEPS; s++)
            tsl_vk_free(dev, &bg[s][k]);
    }
    tsl_safetensors_free(&st);
    tsl_test_device_close(dev);
}

START_TEST(adamw_matches_torch_fixture) {
    check_fixture(true);
}
END_TEST

START_TEST(sgd_matches_torch_fixture) {
    check_fixture(false);
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
    tsl_vk_buffer a = tsl_test_alloc(dev, TSL_MEM_DEVICE, 1024, "a"),
                  b = tsl_test_alloc(dev, TSL_MEM_DEVICE, 1024, "b");
    tsl_optim_tensor t = {.param = tsl_vk_subrange(&a, 0, 64),
                          .grad = tsl_vk_subrange(&a, 256, 60),
                          .momentum = tsl_vk_subrange(&a, 512, 64)};
    tsl_optim_hparams h = {0.1f, 0.9f, 0.0f, 1e-3f};
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    expect_invalid(tsl_optim_sgd_step(dev, cmd, &t, 1, &h), "optim_sgd_step", "tensor 0");
    t.grad.size = 64;
    expect_invalid(tsl_optim_lars_step(dev, cmd, &t, 1, &h, tsl_vk_subrange(&b, 0, 16)), "optim_lars_step",
                   "scratch");
    expect_invalid(tsl_optim_lars_step(dev, cmd, &t, 0, &h, b.range), "optim_lars_step", "0 tensors");
    tsl_optim_adamw_hparams ah = {0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 1};
    expect_invalid(tsl_optim_adamw_step(dev, cmd, &t, 1, &ah), "optim_adamw_step", "tensor 0");
    t.second = tsl_vk_subrange(&b, 256, 64);
    ah.step = 0;
    expect_invalid(tsl_optim_adamw_step(dev, cmd, &t, 1, &ah), "optim_adamw_step", "step 0");
    tsl_vk_range r = tsl_vk_subrange(&a, 0, 64);
    expect_invalid(tsl_l2_norms(dev, cmd, &r, 1, b.range, tsl_vk_subrange(&a, 256, 8)), "l2_norms", "norms");
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(dev, &a), tsl_vk_free(dev, &b);
    tsl_test_device_close(dev);
}
END_TEST

int main(void) {
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, l2_norms_match_reference);
    tcase_add_test(tc, lars_steps_match_reference);
    tcase_add_test(tc, sgd_steps_match_reference);
    tcase_add_test(tc, storage_buffer_builds_match_reference);
    tcase_add_test(tc, split_tensors_match_reference);
    tcase_add_test(tc, adamw_steps_match_reference);
    tcase_add_test(tc, split_adamw_matches_reference);
    tcase_add_test(tc, adamw_matches_torch_fixture);
    tcase_add_test(tc, sgd_matches_torch_fixture);
    tcase_add_test(tc, bad_arguments_are_rejected);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
