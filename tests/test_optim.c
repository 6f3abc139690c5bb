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
 *   rounding, 3 x 6e-8, plus lr * mu's error). SGD has no norms: mu rel 1e-6 + abs 5e-8. */
#include "ref_optim.h"
#include "tsl_chunk.h"
#include "tsl_optim.h"
#include "tsl_test.h"
#include "tsl_test_tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Odd sizes: 1, 3, 13, a 13x3x3x3 conv weight, and one longer than 64 groups of 256 x 4 values. */
static const size_t sizes[] = {1, 3, 13, 351, 70001};
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
        tensors[t] = (tsl_optim_tensor){tensor_range(&bp, offsets, t), tensor_range(&bg, offsets, t),
                                        tensor_range(&bm, offsets, t), exclude[t]};
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

/* A tensor larger than one binding is split into pieces, each with its own first-level slots: with
 * the chunk limit lowered to 64 KiB the 70001-value tensor takes 5 pieces. Same tolerances. */
START_TEST(split_tensors_match_reference) {
    tsl_chunk_set_test_limit(65536);
    check_l2_norms("optim_l2_norms_split");
    check_steps(true, "optim_lars_split");
    check_steps(false, "optim_sgd_split");
    tsl_chunk_set_test_limit(0);
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
    tsl_optim_tensor t = {tsl_vk_subrange(&a, 0, 64), tsl_vk_subrange(&a, 256, 60),
                          tsl_vk_subrange(&a, 512, 64), false};
    tsl_optim_hparams h = {0.1f, 0.9f, 0.0f, 1e-3f};
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    expect_invalid(tsl_optim_sgd_step(dev, cmd, &t, 1, &h), "optim_sgd_step", "tensor 0");
    t.grad.size = 64;
    expect_invalid(tsl_optim_lars_step(dev, cmd, &t, 1, &h, tsl_vk_subrange(&b, 0, 16)), "optim_lars_step",
                   "scratch");
    expect_invalid(tsl_optim_lars_step(dev, cmd, &t, 0, &h, b.range), "optim_lars_step", "0 tensors");
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
    tcase_add_test(tc, split_tensors_match_reference);
    tcase_add_test(tc, bad_arguments_are_rejected);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
