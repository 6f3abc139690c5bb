/* ReLU, residual add, add+relu and in-place accumulate (trainer/kernels/tsl_pointwise.h) against the
 * double reference (tests/ref/ref_pointwise.c).
 *
 * Tolerances: relu and its backward select or copy an fp32 value: exact (0). add is one fp32 rounding
 * of the sum of two floats: rel 6e-8 (half an ulp) -> rel 1e-7 and abs 1e-37 for exact zeros.
 * Finite differences of the reference relu (double, h = 1e-6, inputs kept >= 1e-3 away from the kink):
 * the function is linear within h, so the difference is exact up to rounding ~1e-16 / h: abs 1e-9. */
#include "ref_pointwise.h"
#include "tsl_chunk.h"
#include "tsl_pointwise.h"
#include "tsl_texel.h"
#include "tsl_test.h"
#include "tsl_test_tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Odd lengths: 1, 7, 13, a 3x13x13 plane set, and one beyond a 256-wide workgroup's multiple; and whole
 * vec4s (the vec4 builds): 4, 1000 and one beyond 256 vec4s. */
static const size_t lengths[] = {1, 7, 13, 3 * 13 * 13, 4, 1000, 4 * 257};
enum { N_LENGTHS = sizeof lengths / sizeof lengths[0] };

typedef enum { RELU, RELU_BACKWARD, ADD, ADD_RELU, ACCUMULATE } op_kind;

static tsl_status record(tsl_vk_device *dev, tsl_vk_cmd *cmd, op_kind op, tsl_vk_range a, tsl_vk_range b,
                         tsl_vk_range y) {
    return op == RELU            ? tsl_relu_forward(dev, cmd, a, y)
           : op == RELU_BACKWARD ? tsl_relu_backward(dev, cmd, b, a, y)
           : op == ADD           ? tsl_add(dev, cmd, a, b, y)
           : op == ADD_RELU      ? tsl_add_relu(dev, cmd, a, b, y)
                                 : tsl_add_inplace(dev, cmd, a, y);
}

static tsl_status record_f16(tsl_vk_device *dev, tsl_vk_cmd *cmd, op_kind op, tsl_vk_range a, tsl_vk_range b,
                             tsl_vk_range y) {
    return op == RELU            ? tsl_relu_forward_f16(dev, cmd, a, y)
           : op == RELU_BACKWARD ? tsl_relu_backward_f16(dev, cmd, b, a, y)
           : op == ADD           ? tsl_add_f16(dev, cmd, a, b, y)
           : op == ADD_RELU      ? tsl_add_relu_f16(dev, cmd, a, b, y)
                                 : tsl_add_inplace_f16(dev, cmd, a, y);
}

static tsl_status run_typed(tsl_vk_device *dev, op_kind op, tsl_dtype t, tsl_vk_range a, tsl_vk_range b,
                            tsl_vk_range y) {
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    tsl_status st = t == TSL_DTYPE_F16 ? record_f16(dev, cmd, op, a, b, y) : record(dev, cmd, op, a, b, y);
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    return st;
}

static void reference(op_kind op, size_t n, const double *a, const double *b, const double *y0, double *y) {
    switch (op) {
    case RELU:
        ref_relu_forward(n, a, y);
        break;
    case RELU_BACKWARD:
        ref_relu_backward(n, b, a, y);
        break;
    case ADD:
        ref_add(n, a, b, y);
        break;
    case ADD_RELU:
        ref_add_relu(n, a, b, y);
        break;
    case ACCUMULATE:
        ref_add(n, y0, a, y);
        break;
    }
}

/* Inputs are rounded to the storage type first, so the reference sees the values the kernel reads.
 * fp16 tolerances: relu and its backward select a stored value: exact. The adds round an fp32 sum (rel
 * 6e-8) to half: rel u = 2^-11 more, and abs 2^-25 (half the smallest subnormal half) near zero. */
static void check_typed(tsl_vk_device *dev, uint64_t seed, op_kind op, size_t n, tsl_dtype t) {
    static const char *const names[] = {"relu_forward", "relu_backward", "add", "add_relu", "add_inplace"};
    tsl_test_rng rng = tsl_test_rng_new(seed);
    float *a = tsl_test_random_floats(&rng, n, -2, 2), *b = tsl_test_random_floats(&rng, n, -2, 2);
    float *y0 = tsl_test_random_floats(&rng, n, -2, 2);
    tsl_test_round_to(a, n, t), tsl_test_round_to(b, n, t), tsl_test_round_to(y0, n, t);
    tsl_test_tensor ta = tsl_test_tensor_upload(dev, a, n, t, "a"),
                    tb = tsl_test_tensor_upload(dev, b, n, t, "b");
    /* The in-place op reads y, so it starts from data; every other output starts as NaN. */
    tsl_test_tensor ty = op == ACCUMULATE ? tsl_test_tensor_upload(dev, y0, n, t, "y")
                                          : tsl_test_tensor_poisoned(dev, n, t, "y");
    TSL_TEST_OK(run_typed(dev, op, t, ta.range, tb.range, ty.range));
    double *ad = tsl_test_to_double(a, n), *bd = tsl_test_to_double(b, n), *y0d = tsl_test_to_double(y0, n);
    double *want = malloc(8 * n);
    reference(op, n, ad, bd, y0d, want);
    float *got = tsl_test_tensor_download(dev, &ty);
    char what[64];
    snprintf(what, sizeof what, "%s n=%zu %s", names[op], n, tsl_dtype_name(t));
    bool exact = op == RELU || op == RELU_BACKWARD, half = t == TSL_DTYPE_F16;
    double rel = exact ? 0 : half ? 1e-7 + 1.0 / 2048 : 1e-7, abs = exact ? 0 : half ? 0x1p-25 : 1e-37;
    tsl_test_check_close(what, seed, got, want, n, rel, abs);
    tsl_test_tensor_free(dev, &ta), tsl_test_tensor_free(dev, &tb), tsl_test_tensor_free(dev, &ty);
    free(a), free(b), free(y0), free(ad), free(bd), free(y0d), free(want), free(got);
}

static void check_op(tsl_vk_device *dev, uint64_t seed, op_kind op, size_t n) {
    check_typed(dev, seed, op, n, TSL_DTYPE_F32);
}

START_TEST(ops_match_reference) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("pointwise_ops");
    for (op_kind op = RELU; op <= ACCUMULATE; op++)
        for (int i = 0; i < N_LENGTHS; i++)
            check_op(dev, seed + 16 * op + i, op, lengths[i]);
    tsl_test_device_close(dev);
}
END_TEST

/* On a CPU driver the vec4 fp32 builds read a and b through texel buffers (tsl_texel.h), so the test
 * above checks those there; this one runs the storage-buffer builds too, at the same tolerances. The
 * rule itself: an aligned range fits on a CPU driver and nowhere else; an offset of one float does not. */
START_TEST(storage_buffer_builds_match_reference) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("pointwise_storage_buffer");
    tsl_vk_range aligned = {VK_NULL_HANDLE, 0, 4000}, off_by_one = {VK_NULL_HANDLE, 4, 4000};
    ck_assert(tsl_texel_reads_fit(dev, &aligned, 1, 16) == tsl_vk_device_features(dev)->cpu_kernels);
    ck_assert(!tsl_texel_reads_fit(dev, &off_by_one, 1, 16));
    tsl_texel_reads_set_enabled(false);
    ck_assert(!tsl_texel_reads_fit(dev, &aligned, 1, 16));
    for (op_kind op = RELU; op <= ACCUMULATE; op++)
        for (int i = 0; i < N_LENGTHS; i++)
            check_op(dev, seed + 16 * op + i, op, lengths[i]);
    tsl_texel_reads_set_enabled(true);
    tsl_test_device_close(dev);
}
END_TEST

/* Arrays longer than one binding go in chunks: with the chunk limit lowered to 4 KiB, 3001 values take
 * three dispatches (1024, 1024, 953), and so do 3000 in the vec4 build. Same tolerances. */
START_TEST(split_into_chunks_matches_reference) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("pointwise_split");
    tsl_chunk_set_test_limit(4096);
    ck_assert_uint_lt(tsl_chunk_max_bytes(dev, 4), 4 * 3001);
    for (op_kind op = RELU; op <= ACCUMULATE; op++)
        check_op(dev, seed + op, op, 3001);
    for (op_kind op = RELU; op <= ACCUMULATE; op++) /* vec4 chunks: 1024, 1024 and 952 values */
        check_op(dev, seed + 8 + op, op, 3000);
    tsl_chunk_set_test_limit(0);
    tsl_test_device_close(dev);
}
END_TEST

/* fp16 storage at the odd lengths (odd counts of halves: the last element shares a word with nothing),
 * and through chunks: with the limit lowered to 4 KiB, 5001 halves (10002 bytes) take three dispatches. */
START_TEST(fp16_storage_matches_reference) {
    tsl_vk_device *dev = tsl_test_device_open();
    ck_assert_msg(tsl_vk_device_features(dev)->fp16_storage,
                  "the test device lacks storageBuffer16BitAccess");
    uint64_t seed = tsl_test_seed("pointwise_fp16");
    for (op_kind op = RELU; op <= ACCUMULATE; op++)
        for (int i = 0; i < N_LENGTHS; i++)
            check_typed(dev, seed + 16 * op + i, op, lengths[i], TSL_DTYPE_F16);
    tsl_chunk_set_test_limit(4096);
    ck_assert_uint_lt(tsl_chunk_max_bytes(dev, 2), 2 * 5001);
    for (op_kind op = RELU; op <= ACCUMULATE; op++)
        check_typed(dev, seed + 100 + op, op, 5001, TSL_DTYPE_F16);
    tsl_chunk_set_test_limit(0);
    tsl_test_device_close(dev);
}
END_TEST

/* The GPU relu backward, driven by the GPU forward's output, against the reference backward. */
START_TEST(relu_backward_from_forward_output) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("pointwise_relu_chain");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t n = 3 * 7 * 13;
    float *x = tsl_test_random_floats(&rng, n, -1, 1), *dy = tsl_test_random_floats(&rng, n, -1, 1);
    tsl_vk_buffer bx = tsl_test_upload_floats(dev, x, n, "x"), bdy = tsl_test_upload_floats(dev, dy, n, "dy");
    tsl_vk_buffer by = tsl_test_poisoned(dev, n, "y"), bdx = tsl_test_poisoned(dev, n, "dx");
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_relu_forward(dev, cmd, bx.range, by.range));
    TSL_TEST_OK(tsl_relu_backward(dev, cmd, by.range, bdy.range, bdx.range));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    double *xd = tsl_test_to_double(x, n), *dyd = tsl_test_to_double(dy, n), *want = malloc(8 * n);
    ref_relu_backward(n, xd, dyd, want); /* input mask == output mask */
    float *got = tsl_test_download_floats(dev, &bdx, n);
    tsl_test_check_close("relu backward after forward", seed, got, want, n, 0, 0);
    tsl_vk_free(dev, &bx), tsl_vk_free(dev, &bdy), tsl_vk_free(dev, &by), tsl_vk_free(dev, &bdx);
    free(x), free(dy), free(xd), free(dyd), free(want), free(got);
    tsl_test_device_close(dev);
}
END_TEST

/* d/dx of L = sum w * relu(x) and of L = sum w * relu(a + b) by central differences (double). */
START_TEST(reference_backward_matches_finite_differences) {
    uint64_t seed = tsl_test_seed("pointwise_reference_fd");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    enum { N = 13 };
    double x[N], other[N], w[N], y[N], analytic[N], sum[N];
    float numeric[N], numeric_add[N];
    for (int i = 0; i < N; i++) {
        double mag = tsl_test_rng_uniform(&rng, 1e-3, 2);
        x[i] = tsl_test_rng_uniform(&rng, 0, 1) < 0.5 ? -mag : mag;
        other[i] = 0.0;
        w[i] = tsl_test_rng_uniform(&rng, -1, 1);
    }
    const double h = 1e-6;
    for (int i = 0; i < N; i++) {
        double keep = x[i], up = 0, down = 0, up_add = 0, down_add = 0;
        x[i] = keep + h;
        ref_relu_forward(N, x, y);
        for (int k = 0; k < N; k++)
            up += w[k] * y[k];
        ref_add_relu(N, x, other, y);
        for (int k = 0; k < N; k++)
            up_add += w[k] * y[k];
        x[i] = keep - h;
        ref_relu_forward(N, x, y);
        for (int k = 0; k < N; k++)
            down += w[k] * y[k];
        ref_add_relu(N, x, other, y);
        for (int k = 0; k < N; k++)
            down_add += w[k] * y[k];
        x[i] = keep;
        numeric[i] = (float)((up - down) / (2 * h));
        numeric_add[i] = (float)((up_add - down_add) / (2 * h));
    }
    ref_relu_forward(N, x, y);
    ref_relu_backward(N, y, w, analytic);
    /* fp32 storage of the numeric value: rel 6e-8. */
    tsl_test_check_close("relu backward vs finite differences", seed, numeric, analytic, N, 1e-7, 1e-9);
    ref_add(N, x, other, sum);
    ref_relu_backward(N, sum, w, analytic);
    tsl_test_check_close("add_relu backward vs finite differences", seed, numeric_add, analytic, N, 1e-7,
                         1e-9);
}
END_TEST

static void expect_invalid(tsl_status st, const char *op) {
    ck_assert_int_eq(st, TSL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(tsl_error_message(), op), "message '%s' does not name %s", tsl_error_message(), op);
}

START_TEST(bad_arguments_are_rejected) {
    tsl_vk_device *dev = tsl_test_device_open();
    tsl_vk_buffer a = tsl_test_alloc(dev, TSL_MEM_DEVICE, 64, "a"),
                  y = tsl_test_alloc(dev, TSL_MEM_DEVICE, 64, "y");
    tsl_vk_range short_y = tsl_vk_subrange(&y, 0, 60), odd = tsl_vk_subrange(&y, 0, 6);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    expect_invalid(tsl_relu_forward(dev, cmd, a.range, short_y), "relu_forward");
    expect_invalid(tsl_relu_backward(dev, cmd, a.range, a.range, short_y), "relu_backward");
    expect_invalid(tsl_add(dev, cmd, a.range, short_y, y.range), "add");
    expect_invalid(tsl_add_relu(dev, cmd, short_y, a.range, y.range), "add_relu");
    expect_invalid(tsl_add_inplace(dev, cmd, odd, odd), "add_inplace");
    tsl_vk_range three_halves = tsl_vk_subrange(&y, 0, 6), at_odd_byte = tsl_vk_subrange(&y, 1, 6);
    expect_invalid(tsl_add_f16(dev, cmd, a.range, a.range, three_halves), "add_f16");
    expect_invalid(tsl_relu_forward_f16(dev, cmd, at_odd_byte, three_halves), "relu_forward_f16");
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(dev, &a), tsl_vk_free(dev, &y);
    tsl_test_device_close(dev);
}
END_TEST

int main(void) {
    Suite *s = suite_create("pointwise");
    TCase *tc = tcase_create("pointwise");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ops_match_reference);
    tcase_add_test(tc, storage_buffer_builds_match_reference);
    tcase_add_test(tc, split_into_chunks_matches_reference);
    tcase_add_test(tc, fp16_storage_matches_reference);
    tcase_add_test(tc, relu_backward_from_forward_output);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, bad_arguments_are_rejected);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
