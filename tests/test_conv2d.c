/* conv2d: the double-precision reference's backward checked by central finite differences, and the GPU
 * forward / backward-data / backward-weights checked against the reference at ResNet-like
 * configurations (odd channel counts, batch 1, spatial 1, 7, 13), through the batch-splitting path, and
 * on bad arguments. */
#include "tsl_conv2d.h"
#include "tsl_ref_conv2d.h"
#include "tsl_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double *rand_doubles(tsl_test_rng *rng, size_t n) {
    double *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++)
        v[i] = tsl_test_rng_uniform(rng, -1, 1);
    return v;
}

/* L(x, w) = sum(conv(x, w) * g): dL/dx = backward_data(g, w), dL/dw = backward_weights(x, g). */
static double loss(const tsl_conv2d_shape *s, const double *x, const double *w, const double *g) {
    size_t ny = tsl_conv2d_y_count(s);
    double *y = malloc(ny * sizeof *y), sum = 0;
    ck_assert_ptr_nonnull(y);
    tsl_ref_conv2d_forward(s, x, w, y);
    for (size_t i = 0; i < ny; i++)
        sum += y[i] * g[i];
    free(y);
    return sum;
}

/* Compares `grad` to central differences of L over every element of `v` (which L reads through x or w).
 * L is bilinear, so the central difference has no truncation error: the only error is the rounding of L
 * (~1e-16 * sum |terms| ~ 1e-14 here) divided by 2*eps = 2e-3, far under the 1e-9 tolerance. */
static void check_finite_differences(const char *what, const tsl_conv2d_shape *s, double *x, double *w,
                                     const double *g, double *v, size_t n, const double *grad) {
    const double eps = 1e-3;
    for (size_t i = 0; i < n; i++) {
        double saved = v[i];
        v[i] = saved + eps;
        double up = loss(s, x, w, g);
        v[i] = saved - eps;
        double down = loss(s, x, w, g);
        v[i] = saved;
        double fd = (up - down) / (2 * eps);
        ck_assert_msg(fabs(fd - grad[i]) <= 1e-9 * (1 + fabs(fd)),
                      "%s[%zu]: finite difference %.12g, backward %.12g", what, i, fd, grad[i]);
    }
}

static void check_reference_backward(const tsl_conv2d_shape *s, uint64_t seed) {
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t nx = tsl_conv2d_x_count(s), nw = tsl_conv2d_w_count(s), ny = tsl_conv2d_y_count(s);
    double *x = rand_doubles(&rng, nx), *w = rand_doubles(&rng, nw), *g = rand_doubles(&rng, ny);
    double *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw);
    ck_assert(dx && dw);
    tsl_ref_conv2d_backward_data(s, g, w, dx);
    tsl_ref_conv2d_backward_weights(s, x, g, dw);
    check_finite_differences("ref dx", s, x, w, g, x, nx, dx);
    check_finite_differences("ref dw", s, x, w, g, w, nw, dw);
    free(x), free(w), free(g), free(dx), free(dw);
}

START_TEST(reference_backward_matches_finite_differences) {
    uint64_t seed = tsl_test_seed("reference_backward_matches_finite_differences");
    const tsl_conv2d_shape shapes[] = {
        {.n = 2, .c_in = 2, .h = 5, .w = 4, .c_out = 3, .kh = 3, .kw = 3, .stride = 2, .pad = 1},
        {.n = 1, .c_in = 3, .h = 3, .w = 3, .c_out = 2, .kh = 1, .kw = 1, .stride = 1, .pad = 0},
        {.n = 1, .c_in = 2, .h = 6, .w = 5, .c_out = 2, .kh = 1, .kw = 1, .stride = 2, .pad = 0},
        {.n = 1, .c_in = 1, .h = 7, .w = 7, .c_out = 2, .kh = 7, .kw = 7, .stride = 2, .pad = 3},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        check_reference_backward(&shapes[i], seed + i);
}
END_TEST

/* ---- GPU vs reference --------------------------------------------------------------------------------- */

static float *to_floats(const double *v, size_t n) {
    float *f = malloc(n * sizeof *f);
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)v[i];
    return f;
}

/* Random inputs, rounded to fp32 so the reference sees exactly what the GPU sees. */
static double *rand_fp32_values(tsl_test_rng *rng, size_t n) {
    double *v = rand_doubles(rng, n);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)v[i];
    return v;
}

/* Tolerance for an fp32 sum of `k` products of values uniform in [-1, 1], against double. Each product
 * has standard deviation 1/3, so outputs are ~ sqrt(k)/3 in size; fp32 accumulation (fma, sequential)
 * adds a relative rounding of 2^-24 of the running sum per term, a random walk of ~ sqrt(k) steps:
 * ~ 6e-8 * sqrt(k) * sqrt(k)/3. We allow 1e-6 * sqrt(k) * (typical magnitude sqrt(k)/3), ~ 15x that
 * expectation, plus rel 1e-5 for the elements far above typical size. */
static double abs_tol_for(uint64_t k) {
    return 1e-6 * sqrt((double)k) * (sqrt((double)k) / 3 + 1);
}

typedef struct {
    tsl_vk_buffer x, w, y, dy, dx, dw;
    tsl_vk_range xr, dyr; /* ranges passed to the kernels (may start inside x, dy) */
} gpu_tensors;

/* Allocates the six tensors; x and dy start `lead` bytes into their buffers (a multiple of 4), so the
 * kernels see ranges that do not start at an aligned offset. */
static gpu_tensors gpu_alloc(tsl_vk_device *d, const tsl_conv2d_shape *s, VkDeviceSize lead) {
    gpu_tensors t;
    VkDeviceSize xb = 4 * tsl_conv2d_x_count(s), wb = 4 * tsl_conv2d_w_count(s),
                 yb = 4 * tsl_conv2d_y_count(s);
    t.x = tsl_test_alloc(d, TSL_MEM_DEVICE, lead + xb, "x");
    t.w = tsl_test_alloc(d, TSL_MEM_DEVICE, wb, "w");
    t.y = tsl_test_alloc(d, TSL_MEM_DEVICE, yb, "y");
    t.dy = tsl_test_alloc(d, TSL_MEM_DEVICE, lead + yb, "dy");
    t.dx = tsl_test_alloc(d, TSL_MEM_DEVICE, xb, "dx");
    t.dw = tsl_test_alloc(d, TSL_MEM_DEVICE, wb, "dw");
    t.xr = tsl_vk_subrange(&t.x, lead, xb);
    t.dyr = tsl_vk_subrange(&t.dy, lead, yb);
    return t;
}

static void gpu_free(tsl_vk_device *d, gpu_tensors *t) {
    tsl_vk_buffer *all[] = {&t->x, &t->w, &t->y, &t->dy, &t->dx, &t->dw};
    for (size_t i = 0; i < 6; i++)
        tsl_vk_free(d, all[i]);
}

static float *download_floats(tsl_vk_device *d, tsl_vk_range r) {
    float *f = malloc(r.size);
    ck_assert_ptr_nonnull(f);
    TSL_TEST_OK(tsl_vk_download(d, r, f));
    return f;
}

/* Runs the three kernels in one recording and compares each to the reference. Returns the recorder's
 * dispatch count. */
static uint32_t check_gpu_case(tsl_vk_device *d, const tsl_conv2d_shape *s, uint64_t seed,
                               VkDeviceSize lead) {
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t nx = tsl_conv2d_x_count(s), nw = tsl_conv2d_w_count(s), ny = tsl_conv2d_y_count(s);
    double *x = rand_fp32_values(&rng, nx), *w = rand_fp32_values(&rng, nw), *g = rand_fp32_values(&rng, ny);
    double *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw);
    ck_assert(y && dx && dw);
    tsl_ref_conv2d_forward(s, x, w, y);
    tsl_ref_conv2d_backward_data(s, g, w, dx);
    tsl_ref_conv2d_backward_weights(s, x, g, dw);

    gpu_tensors t = gpu_alloc(d, s, lead);
    float *xf = to_floats(x, nx), *wf = to_floats(w, nw), *gf = to_floats(g, ny);
    TSL_TEST_OK(tsl_vk_upload(d, t.xr, xf));
    tsl_test_upload(d, &t.w, wf);
    TSL_TEST_OK(tsl_vk_upload(d, t.dyr, gf));
    tsl_test_poison(d, &t.y);
    tsl_test_poison(d, &t.dx);
    tsl_test_poison(d, &t.dw);

    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_conv2d_forward(d, cmd, s, t.xr, t.w.range, t.y.range));
    TSL_TEST_OK(tsl_conv2d_backward_data(d, cmd, s, t.dyr, t.w.range, t.dx.range));
    TSL_TEST_OK(tsl_conv2d_backward_weights(d, cmd, s, t.xr, t.dyr, t.dw.range));
    uint32_t dispatches = tsl_vk_cmd_stats_get(cmd).dispatches;
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);

    float *gy = download_floats(d, t.y.range), *gdx = download_floats(d, t.dx.range),
          *gdw = download_floats(d, t.dw.range);
    char what[160];
    uint32_t oh = tsl_conv2d_out_h(s), ow = tsl_conv2d_out_w(s);
    snprintf(what, sizeof what, "n%u c%u %ux%u -> c%u k%ux%u s%u p%u", s->n, s->c_in, s->h, s->w, s->c_out,
             s->kh, s->kw, s->stride, s->pad);
    char label[200];
    /* Accumulation lengths: forward c_in*kh*kw; dx at most c_out*kh*kw; dw n*oh*ow. */
    snprintf(label, sizeof label, "forward %s", what);
    tsl_test_check_close(label, seed, gy, y, ny, 1e-5, abs_tol_for((uint64_t)s->c_in * s->kh * s->kw));
    snprintf(label, sizeof label, "backward_data %s", what);
    tsl_test_check_close(label, seed, gdx, dx, nx, 1e-5, abs_tol_for((uint64_t)s->c_out * s->kh * s->kw));
    snprintf(label, sizeof label, "backward_weights %s", what);
    tsl_test_check_close(label, seed, gdw, dw, nw, 1e-5, abs_tol_for((uint64_t)s->n * oh * ow));

    free(gy), free(gdx), free(gdw), free(xf), free(wf), free(gf);
    free(x), free(w), free(g), free(y), free(dx), free(dw);
    gpu_free(d, &t);
    return dispatches;
}

#define SHAPE(N, CI, H, W, CO, K, S, P)                                                                      \
    { .n = N, .c_in = CI, .h = H, .w = W, .c_out = CO, .kh = K, .kw = K, .stride = S, .pad = P }

static void run_gpu_cases(const char *name, const tsl_conv2d_shape *shapes, size_t count) {
    uint64_t seed = tsl_test_seed(name);
    tsl_vk_device *d = tsl_test_device_open();
    for (size_t i = 0; i < count; i++)
        check_gpu_case(d, &shapes[i], seed + i, 0);
    tsl_test_device_close(d);
}

START_TEST(gpu_1x1_matches_reference) {
    const tsl_conv2d_shape shapes[] = {
        SHAPE(2, 5, 7, 7, 13, 1, 1, 0),   /* bottleneck 1x1 */
        SHAPE(1, 13, 13, 13, 5, 1, 2, 0), /* downsample shortcut */
        SHAPE(1, 3, 1, 1, 5, 1, 1, 0),    /* 1x1 spatial */
        SHAPE(3, 7, 13, 7, 3, 1, 2, 0),   /* odd, non-square */
        SHAPE(2, 5, 4, 6, 13, 1, 1, 0),   /* planes of 24: the vec4 pointwise path */
        SHAPE(1, 13, 2, 2, 70, 1, 1, 0),  /* pointwise, 4-pixel planes, many output channels */
    };
    run_gpu_cases("gpu_1x1_matches_reference", shapes, sizeof shapes / sizeof shapes[0]);
}
END_TEST

START_TEST(gpu_3x3_matches_reference) {
    const tsl_conv2d_shape shapes[] = {
        SHAPE(2, 3, 13, 7, 5, 3, 1, 1),    /* bottleneck 3x3 */
        SHAPE(1, 13, 13, 13, 3, 3, 2, 1),  /* strided 3x3 */
        SHAPE(1, 5, 1, 1, 3, 3, 1, 1),     /* 1x1 spatial: only the kernel centre lands inside */
        SHAPE(1, 5, 7, 7, 13, 3, 2, 1),    /* 7x7 -> 4x4 */
        SHAPE(2, 32, 20, 20, 20, 3, 1, 1), /* several workgroups along pixels and weight columns */
        SHAPE(1, 2, 6, 6, 3, 3, 1, 2),     /* padding wider than needed */
        SHAPE(2, 3, 11, 12, 4, 5, 3, 2),   /* not ResNet's: 5x5 stride 3 (three dx phases) */
        SHAPE(1, 5, 5, 8, 3, 3, 1, 1),     /* rows of 8: forward's vec4 window path */
        SHAPE(2, 3, 4, 12, 5, 3, 1, 2),    /* vec4 windows with pad 2 */
        SHAPE(1, 3, 9, 4, 7, 5, 1, 2),     /* vec4 windows, 5 taps, 4-wide rows */
    };
    run_gpu_cases("gpu_3x3_matches_reference", shapes, sizeof shapes / sizeof shapes[0]);
}
END_TEST

START_TEST(gpu_7x7_matches_reference) {
    const tsl_conv2d_shape shapes[] = {
        SHAPE(2, 3, 13, 13, 5, 7, 2, 3), /* the stem */
        SHAPE(1, 3, 7, 7, 13, 7, 2, 3),
        SHAPE(1, 5, 1, 1, 3, 7, 2, 3),
    };
    run_gpu_cases("gpu_7x7_matches_reference", shapes, sizeof shapes / sizeof shapes[0]);
}
END_TEST

/* The batch-splitting path, forced by capping a binding at a few images (the test hook), with x and dy
 * starting 4 bytes into their buffers: each chunk's binding starts at an aligned offset before its
 * first element, and dw sums the chunks (first writes, later add). */
START_TEST(gpu_batch_split_matches_reference) {
    uint64_t seed = tsl_test_seed("gpu_batch_split_matches_reference");
    tsl_vk_device *d = tsl_test_device_open();
    const tsl_conv2d_shape s = SHAPE(5, 3, 7, 7, 5, 3, 2, 1); /* x image 588 bytes, y image 320 */
    /* (1300 - 16 bytes of alignment slack) / 588 = 2 images per chunk: chunks of 2, 2, 1. */
    tsl_conv2d_set_max_binding_bytes_for_testing(1300);
    uint32_t dispatches = check_gpu_case(d, &s, seed, 4);
    ck_assert_uint_eq(dispatches, 3 * 3);

    /* 1x1 stride 1 with 16-byte images: chunks start aligned, so the vec4 pointwise path runs per chunk.
     * (700 - 16) / 320 bytes of y = 2 images per chunk. */
    const tsl_conv2d_shape pointwise = SHAPE(5, 3, 4, 4, 5, 1, 1, 0);
    tsl_conv2d_set_max_binding_bytes_for_testing(700);
    ck_assert_uint_eq(check_gpu_case(d, &pointwise, seed + 1, 0), 3 * 3);

    /* With a cap below one image, the call fails cleanly instead of binding too much. */
    tsl_conv2d_set_max_binding_bytes_for_testing(500);
    gpu_tensors t = gpu_alloc(d, &s, 0);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    ck_assert_int_eq(tsl_conv2d_forward(d, cmd, &s, t.xr, t.w.range, t.y.range), TSL_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(tsl_error_message(), "conv2d_forward: x (588 bytes per image) does not fit"),
                  "message: %s", tsl_error_message());
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_conv2d_set_max_binding_bytes_for_testing(0);
    gpu_free(d, &t);
    tsl_test_device_close(d);
}
END_TEST

/* ---- bad arguments ------------------------------------------------------------------------------------ */

static void expect_invalid(tsl_status st, const char *fragment) {
    ck_assert_int_eq(st, TSL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(tsl_error_message(), fragment), "message '%s' lacks '%s'", tsl_error_message(),
                  fragment);
}

START_TEST(bad_arguments_are_rejected) {
    tsl_vk_device *d = tsl_test_device_open();
    const tsl_conv2d_shape s = SHAPE(2, 3, 7, 7, 5, 3, 2, 1);
    gpu_tensors t = gpu_alloc(d, &s, 0);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));

    tsl_conv2d_shape zero = s;
    zero.c_in = 0;
    expect_invalid(tsl_conv2d_forward(d, cmd, &zero, t.xr, t.w.range, t.y.range),
                   "conv2d_forward: every dimension must be non-zero");
    tsl_conv2d_shape no_stride = s;
    no_stride.stride = 0;
    expect_invalid(tsl_conv2d_backward_data(d, cmd, &no_stride, t.dyr, t.w.range, t.dx.range),
                   "conv2d_backward_data: every dimension must be non-zero");
    tsl_conv2d_shape big_kernel = SHAPE(1, 1, 2, 2, 1, 7, 1, 2); /* 2 + 2*2 = 6 < 7: empty output */
    ck_assert_uint_eq(tsl_conv2d_out_h(&big_kernel), 0);
    expect_invalid(tsl_conv2d_backward_weights(d, cmd, &big_kernel, t.xr, t.dyr, t.dw.range),
                   "conv2d_backward_weights: 7x7 kernel is larger than the 2x2 input padded by 2");

    tsl_vk_range short_x = t.xr;
    short_x.size -= 4;
    expect_invalid(tsl_conv2d_forward(d, cmd, &s, short_x, t.w.range, t.y.range), "conv2d_forward: x is");
    expect_invalid(tsl_conv2d_forward(d, cmd, &s, t.xr, t.dx.range, t.y.range), "conv2d_forward: w is");
    expect_invalid(tsl_conv2d_backward_data(d, cmd, &s, t.y.range, t.w.range, t.w.range),
                   "conv2d_backward_data: dx is");
    expect_invalid(tsl_conv2d_backward_weights(d, cmd, &s, t.xr, t.x.range, t.dw.range),
                   "conv2d_backward_weights: dy is");
    expect_invalid(tsl_conv2d_backward_weights(d, cmd, &s, t.xr, t.dyr, t.y.range),
                   "conv2d_backward_weights: dw is");
    ck_assert_uint_eq(tsl_vk_cmd_stats_get(cmd).dispatches, 0); /* nothing was recorded */

    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    gpu_free(d, &t);
    tsl_test_device_close(d);
}
END_TEST

START_TEST(output_size_follows_pytorch) {
    const tsl_conv2d_shape stem = SHAPE(1, 3, 224, 224, 64, 7, 2, 3);
    ck_assert_uint_eq(tsl_conv2d_out_h(&stem), 112);
    const tsl_conv2d_shape down = SHAPE(1, 256, 56, 56, 512, 1, 2, 0);
    ck_assert_uint_eq(tsl_conv2d_out_w(&down), 28);
    const tsl_conv2d_shape odd = SHAPE(1, 1, 13, 7, 1, 3, 2, 1);
    ck_assert_uint_eq(tsl_conv2d_out_h(&odd), 7);
    ck_assert_uint_eq(tsl_conv2d_out_w(&odd), 4);
}
END_TEST

int main(void) {
    Suite *s = suite_create("conv2d");
    TCase *tc = tcase_create("conv2d");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, output_size_follows_pytorch);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, gpu_1x1_matches_reference);
    tcase_add_test(tc, gpu_3x3_matches_reference);
    tcase_add_test(tc, gpu_7x7_matches_reference);
    tcase_add_test(tc, gpu_batch_split_matches_reference);
    tcase_add_test(tc, bad_arguments_are_rejected);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
