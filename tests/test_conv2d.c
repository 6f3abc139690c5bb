/* conv2d: the double-precision reference's backward checked by central finite differences, and the GPU
 * forward / backward-data / backward-weights checked against the reference at ResNet-like
 * configurations (odd channel counts, batch 1, spatial 1, 7, 13), through the batch-splitting path, and
 * on bad arguments. */
#include "tsl_conv2d.h"
#include "tsl_conv2d_pointwise.h"
#include "tsl_half.h"
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

/* Inputs are stored as fp32, or as IEEE half for the _f16 kernels. */
typedef enum { STORE_FP32, STORE_FP16 } storage;

static size_t storage_bytes(storage st) {
    return st == STORE_FP16 ? 2 : 4;
}

/* Random inputs uniform in [-1, 1], rounded to the storage type so the reference sees exactly the
 * values the GPU reads: the comparison then measures only the kernels' fp32 accumulation. */
static double *rand_inputs(tsl_test_rng *rng, size_t n, storage st) {
    double *v = rand_doubles(rng, n);
    for (size_t i = 0; i < n; i++)
        v[i] = st == STORE_FP16 ? (double)tsl_half_round((float)v[i]) : (double)(float)v[i];
    return v;
}

/* The values packed as the storage type (exact: they were rounded to it). */
static void *to_storage(const double *v, size_t n, storage st) {
    void *p = malloc(n * storage_bytes(st));
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++) {
        if (st == STORE_FP16)
            ((uint16_t *)p)[i] = tsl_half_from_float((float)v[i]);
        else
            ((float *)p)[i] = (float)v[i];
    }
    return p;
}

/* Tolerance for an fp32 sum of `k` products of values uniform in [-1, 1], against double. Each product
 * has standard deviation 1/3, so outputs are ~ sqrt(k)/3 in size; fp32 accumulation (fma, sequential)
 * adds a relative rounding of 2^-24 of the running sum per term, a random walk of ~ sqrt(k) steps:
 * ~ 6e-8 * sqrt(k) * sqrt(k)/3. We allow 1e-6 * sqrt(k) * (typical magnitude sqrt(k)/3), ~ 15x that
 * expectation, plus rel 1e-5 for the elements far above typical size. (Measured: every case still
 * passes with both tolerances cut 10x.) The same holds for the fp16-storage kernels, because the
 * reference is given the very half-rounded inputs they read and they accumulate in fp32. */
static double abs_tol_for(uint64_t k) {
    return 1e-6 * sqrt((double)k) * (sqrt((double)k) / 3 + 1);
}

typedef struct {
    tsl_vk_buffer x, w, y, dy, dx, dw;
    tsl_vk_range xr, wr, dyr; /* ranges passed to the kernels (may start inside x, w, dy) */
} gpu_tensors;

/* Allocates the six tensors (inputs x, w, dy in the storage type, outputs fp32); x, w and dy start
 * `lead` bytes into their buffers (a multiple of the element size), so the kernels see ranges that do
 * not start at an aligned offset (the weights then take the scalar loads instead of vec4s). */
static gpu_tensors gpu_alloc(tsl_vk_device *d, const tsl_conv2d_shape *s, VkDeviceSize lead, storage st) {
    gpu_tensors t;
    size_t in = storage_bytes(st);
    VkDeviceSize nx = tsl_conv2d_x_count(s), nw = tsl_conv2d_w_count(s), ny = tsl_conv2d_y_count(s);
    t.x = tsl_test_alloc(d, TSL_MEM_DEVICE, lead + in * nx, "x");
    t.w = tsl_test_alloc(d, TSL_MEM_DEVICE, lead + in * nw, "w");
    t.y = tsl_test_alloc(d, TSL_MEM_DEVICE, 4 * ny, "y");
    t.dy = tsl_test_alloc(d, TSL_MEM_DEVICE, lead + in * ny, "dy");
    t.dx = tsl_test_alloc(d, TSL_MEM_DEVICE, 4 * nx, "dx");
    t.dw = tsl_test_alloc(d, TSL_MEM_DEVICE, 4 * nw, "dw");
    t.xr = tsl_vk_subrange(&t.x, lead, in * nx);
    t.wr = tsl_vk_subrange(&t.w, lead, in * nw);
    t.dyr = tsl_vk_subrange(&t.dy, lead, in * ny);
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

static void upload_inputs(tsl_vk_device *d, const gpu_tensors *t, const tsl_conv2d_shape *s, const double *x,
                          const double *w, const double *g, storage st) {
    size_t nx = tsl_conv2d_x_count(s), nw = tsl_conv2d_w_count(s), ny = tsl_conv2d_y_count(s);
    void *xs = to_storage(x, nx, st), *ws = to_storage(w, nw, st), *gs = to_storage(g, ny, st);
    TSL_TEST_OK(tsl_vk_upload(d, t->xr, xs));
    TSL_TEST_OK(tsl_vk_upload(d, t->wr, ws));
    TSL_TEST_OK(tsl_vk_upload(d, t->dyr, gs));
    free(xs), free(ws), free(gs);
}

/* Poisons the outputs, records the three kernels in one recording (the fp32 ones given `workspace`) and
 * runs it; returns the recorder's dispatch count. */
static uint32_t run_kernels(tsl_vk_device *d, const tsl_conv2d_shape *s, const gpu_tensors *t, storage st,
                            tsl_vk_range workspace) {
    tsl_test_poison(d, &t->y);
    tsl_test_poison(d, &t->dx);
    tsl_test_poison(d, &t->dw);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    if (st == STORE_FP16) {
        TSL_TEST_OK(tsl_conv2d_forward_f16(d, cmd, s, t->xr, t->wr, t->y.range));
        TSL_TEST_OK(tsl_conv2d_backward_data_f16(d, cmd, s, t->dyr, t->wr, t->dx.range));
        TSL_TEST_OK(tsl_conv2d_backward_weights_f16(d, cmd, s, t->xr, t->dyr, t->dw.range));
    } else {
        TSL_TEST_OK(tsl_conv2d_forward(d, cmd, s, t->xr, t->wr, t->y.range, workspace));
        TSL_TEST_OK(tsl_conv2d_backward_data(d, cmd, s, t->dyr, t->wr, t->dx.range, workspace));
        TSL_TEST_OK(tsl_conv2d_backward_weights(d, cmd, s, t->xr, t->dyr, t->dw.range, workspace));
    }
    uint32_t dispatches = tsl_vk_cmd_stats_get(cmd).dispatches;
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    return dispatches;
}

static const char *variant_name(tsl_conv2d_variant v) {
    return v == TSL_CONV2D_VARIANT_CPU ? "cpu" : "gpu";
}

static void check_output(tsl_vk_device *d, tsl_conv2d_variant v, bool workspace, const char *op,
                         const tsl_conv2d_shape *s, uint64_t seed, const tsl_vk_buffer *got,
                         const double *want, size_t n, uint64_t k) {
    char label[200];
    snprintf(label, sizeof label, "%s (%s variant%s) n%u c%u %ux%u -> c%u k%ux%u s%u p%u", op,
             variant_name(v), workspace ? ", workspace" : "", s->n, s->c_in, s->h, s->w, s->c_out, s->kh,
             s->kw, s->stride, s->pad);
    float *g = download_floats(d, got->range);
    tsl_test_check_close(label, seed, g, want, n, 1e-5, abs_tol_for(k));
    free(g);
}

static const tsl_vk_range no_workspace;

/* Runs the three kernels of both variants (forced through the test hook, so one device checks both) on
 * random inputs and compares each output to the reference; each variant runs twice when the shape takes
 * a workspace (tsl_conv2d_workspace_bytes): without one (the conv shaders) and with one (GPU: dw split
 * over the pixels, partial sums added by a column sum; CPU: im2col and GEMMs). Returns the recorder's
 * dispatch count, which both variants share (one dispatch per op and batch chunk) except where the CPU
 * variant's convolutions are GEMMs (tsl_conv2d_pointwise.h, tsl_conv2d_im2col.h); then the GPU
 * variant's without a workspace. `*workspace_dispatches` (may be NULL) receives the CPU workspace run's
 * dispatch count, 0 when there was none. */
static uint32_t check_cases(tsl_vk_device *d, const tsl_conv2d_shape *s, uint64_t seed, VkDeviceSize lead,
                            storage st, uint32_t *workspace_dispatches) {
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t nx = tsl_conv2d_x_count(s), nw = tsl_conv2d_w_count(s), ny = tsl_conv2d_y_count(s);
    double *x = rand_inputs(&rng, nx, st), *w = rand_inputs(&rng, nw, st), *g = rand_inputs(&rng, ny, st);
    double *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw);
    ck_assert(y && dx && dw);
    tsl_ref_conv2d_forward(s, x, w, y);
    tsl_ref_conv2d_backward_data(s, g, w, dx);
    tsl_ref_conv2d_backward_weights(s, x, g, dw);

    gpu_tensors t = gpu_alloc(d, s, lead, st);
    upload_inputs(d, &t, s, x, w, g, st);
    VkDeviceSize need[2] = {0, 0}; /* GPU, CPU variant */
    for (int cpu = 0; cpu < 2 && st == STORE_FP32; cpu++) {
        tsl_conv2d_set_variant_for_testing(cpu ? TSL_CONV2D_VARIANT_CPU : TSL_CONV2D_VARIANT_GPU);
        need[cpu] = tsl_conv2d_workspace_bytes(d, s);
    }
    tsl_vk_buffer workspace = {0};
    if (need[0] || need[1])
        workspace = tsl_test_alloc(d, TSL_MEM_DEVICE, need[0] > need[1] ? need[0] : need[1], "workspace");
    uint32_t dispatches = 0, with_workspace = 0;
    for (int i = 0; i < 4; i++) {
        bool cpu = i >= 2, ws = i % 2;
        if (ws && !need[cpu])
            continue;
        tsl_conv2d_variant v = cpu ? TSL_CONV2D_VARIANT_CPU : TSL_CONV2D_VARIANT_GPU;
        tsl_conv2d_set_variant_for_testing(v);
        uint32_t n = run_kernels(d, s, &t, st, ws ? workspace.range : no_workspace);
        bool gemms =
            cpu && (tsl_conv2d_pointwise_applies(s, false) || tsl_conv2d_pointwise_applies(s, true) || ws);
        if (i == 0)
            dispatches = n;
        else if (!cpu && ws)
            ck_assert_uint_gt(n, dispatches); /* and a column sum per chunk */
        else
            ck_assert(gemms ? n >= dispatches : n == dispatches);
        if (cpu && ws)
            with_workspace = n;
        /* Accumulation lengths: forward c_in*kh*kw; dx at most c_out*kh*kw; dw n*oh*ow. */
        check_output(d, v, ws, "forward", s, seed, &t.y, y, ny, (uint64_t)s->c_in * s->kh * s->kw);
        check_output(d, v, ws, "backward_data", s, seed, &t.dx, dx, nx, (uint64_t)s->c_out * s->kh * s->kw);
        check_output(d, v, ws, "backward_weights", s, seed, &t.dw, dw, nw,
                     (uint64_t)s->n * tsl_conv2d_out_h(s) * tsl_conv2d_out_w(s));
    }
    tsl_conv2d_set_variant_for_testing(TSL_CONV2D_VARIANT_AUTO);
    if (workspace_dispatches)
        *workspace_dispatches = with_workspace;

    free(x), free(w), free(g), free(y), free(dx), free(dw);
    tsl_vk_free(d, &workspace);
    gpu_free(d, &t);
    return dispatches;
}

static uint32_t check_gpu_case(tsl_vk_device *d, const tsl_conv2d_shape *s, uint64_t seed, VkDeviceSize lead,
                               storage st) {
    return check_cases(d, s, seed, lead, st, NULL);
}

#define SHAPE(N, CI, H, W, CO, K, S, P)                                                                      \
    { .n = N, .c_in = CI, .h = H, .w = W, .c_out = CO, .kh = K, .kw = K, .stride = S, .pad = P }

static void run_gpu_cases(const char *name, const tsl_conv2d_shape *shapes, size_t count) {
    uint64_t seed = tsl_test_seed(name);
    tsl_vk_device *d = tsl_test_device_open();
    for (size_t i = 0; i < count; i++)
        check_gpu_case(d, &shapes[i], seed + i, 0, STORE_FP32);
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
        SHAPE(3, 20, 4, 4, 33, 1, 1, 0),  /* CPU 16x8 tiles: plane of 16, 33 = 16 + 16 + 1 channels */
        SHAPE(3, 8, 3, 5, 19, 1, 1, 0),   /* 15-pixel planes: the CPU forward's general path */
        SHAPE(2, 1024, 4, 4, 6, 1, 2, 0), /* long strided 1x1: K = 1024, 2x2 outputs */
        SHAPE(2, 6, 4, 4, 2048, 1, 1, 0), /* dx sums 2048 channels */
        SHAPE(2, 6, 28, 28, 10, 1, 1, 0), /* plane of 784: the CPU variant's forward, dx, dw are GEMMs */
        SHAPE(3, 5, 14, 15, 7, 1, 1, 0), /* plane of 210: CPU dw a GEMM (odd k: scalar loads), the rest not */
        SHAPE(2, 6, 14, 14, 9, 1, 1, 0), /* plane of 196: all three GEMMs, 16-invocation rows */
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
        SHAPE(3, 9, 3, 3, 17, 3, 1, 1),    /* CPU tiles spanning images; 17 channels: 8 + 8 + 1 */
        SHAPE(2, 12, 5, 3, 9, 3, 2, 1),    /* K = 108 (vec4 weight loads); odd planes, 3x2 outputs */
        SHAPE(2, 512, 3, 3, 9, 3, 1, 1),   /* K = 4608, ResNet's longest: no loop stops early */
        SHAPE(1, 9, 3, 3, 512, 3, 2, 1),   /* dx sums 512 * 9 taps; 512 channels: whole CPU tiles */
    };
    run_gpu_cases("gpu_3x3_matches_reference", shapes, sizeof shapes / sizeof shapes[0]);
}
END_TEST

/* The CPU variant's im2col path (tsl_conv2d_im2col.h). One image per chunk: 3x3 at stride 1 and 2, a
 * strided 1x1, a 5x5 with pad 2 (c_out 128, so dx and dw take it as well as the forward) and a c_out of
 * 8 on a 28 x 28 plane (only the forward). Packed chunks: 7 x 7 outputs (49 pixels, so a chunk's columns
 * are padded to a multiple of 4) and a 1x1 on 4 x 4 planes; then the binding cap of the test hook splits
 * five images into chunks of 2, 2 and 1. Odd cases have x and dy 4 bytes into their buffers, so
 * bindings start before the images. */
START_TEST(gpu_im2col_matches_reference) {
    uint64_t seed = tsl_test_seed("gpu_im2col_matches_reference");
    tsl_vk_device *d = tsl_test_device_open();
    const struct {
        tsl_conv2d_shape shape;
        uint32_t dispatches; /* per chunk and op: im2col or col2im, pack or unpack, one GEMM; else one */
    } cases[] = {
        {SHAPE(2, 4, 14, 14, 128, 3, 1, 1), 2 * 2 * 3},     /* P = 196 pixels, K = 36 rows */
        {SHAPE(2, 4, 28, 28, 128, 3, 2, 1), 2 * 2 * 3},     /* stride 2: 14 x 14 outputs */
        {SHAPE(2, 8, 28, 28, 128, 1, 2, 0), 2 * 2 * 2 + 1}, /* strided 1x1: dx on the conv shader */
        {SHAPE(1, 4, 16, 16, 128, 5, 1, 2), 2 * 3},         /* 5x5, pad 2 */
        {SHAPE(1, 4, 28, 28, 8, 3, 1, 1), 2 + 1 + 1},       /* c_out 8: only the forward */
        {SHAPE(3, 4, 7, 7, 16, 3, 1, 1), 3 * 3},            /* packed: 147 pixels, 148 columns */
        {SHAPE(2, 8, 4, 4, 12, 1, 1, 0), 3 * 3},            /* packed 1x1 stride 1 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t dispatches;
        check_cases(d, &cases[i].shape, seed + i, 4 * (i % 2), STORE_FP32, &dispatches);
        ck_assert_msg(dispatches == cases[i].dispatches,
                      "case %zu: %u dispatches with the workspace, want %u", i, dispatches,
                      cases[i].dispatches);
    }
    /* Col for 2 images of 49 pixels (100 columns, 14400 bytes) fits a 16000-byte binding, for 3 (148
     * columns) not: chunks of 2, 2 and 1, dw summed over them. */
    const tsl_conv2d_shape split = SHAPE(5, 4, 7, 7, 16, 3, 1, 1);
    tsl_conv2d_set_max_binding_bytes_for_testing(16000);
    uint32_t dispatches;
    check_cases(d, &split, seed + 100, 4, STORE_FP32, &dispatches);
    ck_assert_uint_eq(dispatches, 3 * 3 * 3);
    tsl_conv2d_set_max_binding_bytes_for_testing(0);

    tsl_conv2d_set_variant_for_testing(TSL_CONV2D_VARIANT_CPU);
    ck_assert_uint_eq(tsl_conv2d_workspace_bytes(d, &cases[0].shape), 4 * 36 * 196);
    const tsl_conv2d_shape odd_rows = SHAPE(1, 3, 14, 14, 128, 3, 1, 1),
                           large_1x1 = SHAPE(1, 8, 14, 14, 8, 1, 1, 0);
    ck_assert_uint_eq(tsl_conv2d_workspace_bytes(d, &odd_rows), 0);  /* K = 27 */
    ck_assert_uint_eq(tsl_conv2d_workspace_bytes(d, &large_1x1), 0); /* a direct GEMM per image */
    /* GPU: dw split over the pixels towards 1024 workgroups, as far as the output rows allow and while
     * the partial dws take no more memory than x. A 13 x 5 dw (2 workgroups) over 2 images of 7 rows:
     * 7 partials of 65 floats (1820 bytes, x 1960); cases[0]'s 128 x 36 dw would outgrow its x at 1. */
    tsl_conv2d_set_variant_for_testing(TSL_CONV2D_VARIANT_GPU);
    const tsl_conv2d_shape small_dw = SHAPE(2, 5, 7, 7, 13, 1, 1, 0);
    ck_assert_uint_eq(tsl_conv2d_workspace_bytes(d, &small_dw), 4 * 7 * 13 * 5);
    ck_assert_uint_eq(tsl_conv2d_workspace_bytes(d, &cases[0].shape), 0);
    tsl_conv2d_set_variant_for_testing(TSL_CONV2D_VARIANT_AUTO);
    tsl_test_device_close(d);
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
    uint32_t dispatches = check_gpu_case(d, &s, seed, 4, STORE_FP32);
    ck_assert_uint_eq(dispatches, 3 * 3);

    /* 1x1 stride 1 with 16-byte images: chunks start aligned, so the vec4 pointwise path runs per chunk.
     * (700 - 16) / 320 bytes of y = 2 images per chunk. */
    const tsl_conv2d_shape pointwise = SHAPE(5, 3, 4, 4, 5, 1, 1, 0);
    tsl_conv2d_set_max_binding_bytes_for_testing(700);
    ck_assert_uint_eq(check_gpu_case(d, &pointwise, seed + 1, 0, STORE_FP32), 3 * 3);
    /* The same with x and dy 4 bytes in: unaligned planes take the scalar pointwise loads. */
    ck_assert_uint_eq(check_gpu_case(d, &pointwise, seed + 2, 4, STORE_FP32), 3 * 3);

    /* With a cap below one image, the call fails cleanly instead of binding too much. */
    tsl_conv2d_set_max_binding_bytes_for_testing(500);
    gpu_tensors t = gpu_alloc(d, &s, 0, STORE_FP32);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    ck_assert_int_eq(tsl_conv2d_forward(d, cmd, &s, t.xr, t.w.range, t.y.range, no_workspace),
                     TSL_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(tsl_error_message(), "conv2d_forward: x (588 bytes per image) does not fit"),
                  "message: %s", tsl_error_message());
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_conv2d_set_max_binding_bytes_for_testing(0);
    gpu_free(d, &t);
    tsl_test_device_close(d);
}
END_TEST

/* fp16 storage (inputs read as half, fp32 accumulation and outputs) at ResNet's kernel kinds, through the
 * vec4 path (1x1 stride 1, 8-wide rows), odd shapes, and the batch-splitting path with half-element
 * offsets (x and dy start 2 bytes into their buffers). */
START_TEST(gpu_fp16_storage_matches_reference) {
    uint64_t seed = tsl_test_seed("gpu_fp16_storage_matches_reference");
    tsl_vk_device *d = tsl_test_device_open();
    ck_assert_msg(tsl_vk_device_features(d)->fp16_storage, "the test device lacks storageBuffer16BitAccess");
    const tsl_conv2d_shape shapes[] = {
        SHAPE(2, 5, 4, 8, 13, 1, 1, 0), SHAPE(1, 13, 13, 13, 5, 1, 2, 0), SHAPE(2, 3, 13, 7, 5, 3, 1, 1),
        SHAPE(1, 13, 7, 7, 3, 3, 2, 1), SHAPE(2, 3, 13, 13, 5, 7, 2, 3),  SHAPE(1, 5, 1, 1, 3, 3, 1, 1),
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        check_gpu_case(d, &shapes[i], seed + i, 0, STORE_FP16);
    /* Per image: x 294 bytes (half), y 320 (fp32), dy 160 (half), dx 588 (fp32). With 700 - 16 bytes
     * per binding: forward 2 images per chunk (3 dispatches), dx 1 (5), dw 2 (3). */
    tsl_conv2d_set_max_binding_bytes_for_testing(700);
    const tsl_conv2d_shape batch = SHAPE(5, 3, 7, 7, 5, 3, 2, 1);
    ck_assert_uint_eq(check_gpu_case(d, &batch, seed + 101, 2, STORE_FP16), 3 + 5 + 3);
    tsl_conv2d_set_max_binding_bytes_for_testing(0);
    tsl_test_device_close(d);
}
END_TEST

/* x, w and dy ranges starting one element into their buffers (4 bytes fp32, 2 fp16): every element offset
 * is then off the vec4 grid, so each kernel takes its scalar loads, in both variants. */
START_TEST(gpu_unaligned_ranges_match_reference) {
    uint64_t seed = tsl_test_seed("gpu_unaligned_ranges_match_reference");
    tsl_vk_device *d = tsl_test_device_open();
    const tsl_conv2d_shape shapes[] = {
        SHAPE(2, 12, 5, 3, 9, 3, 2, 1),  /* K = 108: vec4 weights when aligned */
        SHAPE(3, 20, 4, 4, 33, 1, 1, 0), /* 1x1 GEMM over 16-pixel planes */
        SHAPE(2, 8, 4, 4, 5, 1, 2, 0),   /* strided 1x1 */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_gpu_case(d, &shapes[i], seed + i, 4, STORE_FP32);
        check_gpu_case(d, &shapes[i], seed + 100 + i, 2, STORE_FP16);
    }
    tsl_test_device_close(d);
}
END_TEST

/* The CPU variant's own paths at their tile edges (both variants run, as everywhere): dw's tapwise tiles
 * (8 output x 16 input channels at one tap; 19 = 8 + 8 + 3 and 20 = 16 + 4 channels), dy planes that are
 * and are not a multiple of 4 pixels (vec4 or scalar dy loads), strides 1 and 2, 7x7 stride 2, strided
 * and odd-plane 1x1s; dx's general_flat (16 x 8 tiles of one stride phase of the flattened dx, spanning
 * images; phases of odd extent with repeats at the edge), with padding 2 (dy larger than dx). Each shape runs
 * aligned, with x, w, dy one element into their buffers (scalar loads), and with fp16 storage. */
START_TEST(gpu_cpu_paths_match_reference) {
    uint64_t seed = tsl_test_seed("gpu_cpu_paths_match_reference");
    tsl_vk_device *d = tsl_test_device_open();
    const tsl_conv2d_shape shapes[] = {
        SHAPE(2, 20, 9, 9, 19, 3, 1, 1), /* 81-pixel planes: scalar dy; dx tiles span the 2 images */
        SHAPE(1, 17, 8, 8, 9, 3, 2, 1),  /* stride 2, 16-pixel dy planes: vec4 dy */
        SHAPE(2, 8, 11, 11, 8, 7, 2, 3), /* 7x7 stride 2 with the fewest channels tapwise takes */
        SHAPE(1, 16, 6, 6, 5, 3, 1, 2),  /* padding 2: dy 8x8 over dx 6x6 */
        SHAPE(3, 9, 2, 2, 33, 3, 1, 1),  /* 4-pixel planes, 3 images in one dx tile */
        SHAPE(2, 24, 7, 7, 16, 1, 2, 0), /* strided 1x1: one tap */
        SHAPE(2, 12, 7, 7, 10, 1, 1, 0), /* 1x1 over 49-pixel planes: tapwise, not the vec4 GEMM */
        SHAPE(2, 9, 11, 12, 4, 5, 3, 2), /* stride 3: 9 dx phases, rows of 11 = 4 + 4 + 3 */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_gpu_case(d, &shapes[i], seed + i, 0, STORE_FP32);
        check_gpu_case(d, &shapes[i], seed + 100 + i, 4, STORE_FP32);
        check_gpu_case(d, &shapes[i], seed + 200 + i, 2, STORE_FP16);
    }
    /* Batch chunks: x and dy images of 2592 bytes (w 2304), (5300 - 16) / 2592 = 2 images per chunk, so 3
     * chunks per op: tapwise adds the later chunks to dw, dx's flattened tiles restart per chunk. */
    tsl_conv2d_set_max_binding_bytes_for_testing(5300);
    const tsl_conv2d_shape batch = SHAPE(5, 8, 9, 9, 8, 3, 1, 1);
    ck_assert_uint_eq(check_gpu_case(d, &batch, seed + 300, 4, STORE_FP32), 3 * 3);
    const tsl_conv2d_shape strided = SHAPE(5, 8, 9, 9, 8, 3, 2, 1); /* the same chunks; 4 dx phases */
    ck_assert_uint_eq(check_gpu_case(d, &strided, seed + 301, 4, STORE_FP32), 3 * 3);
    tsl_conv2d_set_max_binding_bytes_for_testing(0);
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
    gpu_tensors t = gpu_alloc(d, &s, 0, STORE_FP32);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));

    tsl_conv2d_shape zero = s;
    zero.c_in = 0;
    expect_invalid(tsl_conv2d_forward(d, cmd, &zero, t.xr, t.w.range, t.y.range, no_workspace),
                   "conv2d_forward: every dimension must be non-zero");
    tsl_conv2d_shape no_stride = s;
    no_stride.stride = 0;
    expect_invalid(tsl_conv2d_backward_data(d, cmd, &no_stride, t.dyr, t.w.range, t.dx.range, no_workspace),
                   "conv2d_backward_data: every dimension must be non-zero");
    tsl_conv2d_shape big_kernel = SHAPE(1, 1, 2, 2, 1, 7, 1, 2); /* 2 + 2*2 = 6 < 7: empty output */
    ck_assert_uint_eq(tsl_conv2d_out_h(&big_kernel), 0);
    expect_invalid(tsl_conv2d_backward_weights(d, cmd, &big_kernel, t.xr, t.dyr, t.dw.range, no_workspace),
                   "conv2d_backward_weights: 7x7 kernel is larger than the 2x2 input padded by 2");

    tsl_vk_range short_x = t.xr;
    short_x.size -= 4;
    expect_invalid(tsl_conv2d_forward(d, cmd, &s, short_x, t.w.range, t.y.range, no_workspace),
                   "conv2d_forward: x is");
    expect_invalid(tsl_conv2d_forward(d, cmd, &s, t.xr, t.dx.range, t.y.range, no_workspace),
                   "conv2d_forward: w is");
    expect_invalid(tsl_conv2d_backward_data(d, cmd, &s, t.y.range, t.w.range, t.w.range, no_workspace),
                   "conv2d_backward_data: dx is");
    expect_invalid(tsl_conv2d_backward_weights(d, cmd, &s, t.xr, t.x.range, t.dw.range, no_workspace),
                   "conv2d_backward_weights: dy is");
    expect_invalid(tsl_conv2d_backward_weights(d, cmd, &s, t.xr, t.dyr, t.y.range, no_workspace),
                   "conv2d_backward_weights: dw is");
    /* The fp16 variants count x, w, dy in halves: the fp32-sized x is twice too large. */
    expect_invalid(tsl_conv2d_forward_f16(d, cmd, &s, t.xr, t.w.range, t.y.range),
                   "conv2d_forward_f16: x is 1176 bytes but the shape needs 588 (294 halves)");
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

/* dw sums n * oh * ow terms per invocation; on lavapipe a long sum used to stop silently after 65535
 * loop iterations (tsl_vk_features.max_loop_iterations). With all-ones x and dy, the centre tap of a 3x3
 * kernel (padding 1) sums exactly n * oh * ow ones: exact in fp32 below 2^24. */
START_TEST(long_weight_gradient_sums_are_complete) {
    tsl_vk_device *d = tsl_test_device_open();
    tsl_conv2d_shape s = {8, 2, 112, 112, 2, 3, 3, 1, 1};
    uint64_t nx = tsl_conv2d_x_count(&s), ny = tsl_conv2d_y_count(&s), nw = tsl_conv2d_w_count(&s);
    float *ones = malloc(4 * (nx > ny ? nx : ny)), *dw = malloc(4 * nw);
    for (uint64_t i = 0; i < (nx > ny ? nx : ny); i++)
        ones[i] = 1.0f;
    tsl_vk_buffer bx = tsl_test_alloc(d, TSL_MEM_DEVICE, 4 * nx, "x"),
                  by = tsl_test_alloc(d, TSL_MEM_DEVICE, 4 * ny, "dy"),
                  bw = tsl_test_alloc(d, TSL_MEM_DEVICE, 4 * nw, "dw");
    tsl_test_upload(d, &bx, ones);
    tsl_test_upload(d, &by, ones);
    tsl_test_poison(d, &bw);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_conv2d_backward_weights(d, cmd, &s, bx.range, by.range, bw.range, no_workspace));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_test_download(d, &bw, dw);
    for (uint64_t k = 0; k < nw; k += 9) /* the centre tap of each (c_out, c_in) kernel */
        ck_assert_msg(dw[k + 4] == 8.0f * 112 * 112, "dw centre %llu = %.1f, want %d", (unsigned long long)k,
                      dw[k + 4], 8 * 112 * 112);
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(d, &bx);
    tsl_vk_free(d, &by);
    tsl_vk_free(d, &bw);
    free(ones);
    free(dw);
    tsl_test_device_close(d);
}
END_TEST

int main(void) {
    Suite *s = suite_create("conv2d");
    TCase *tc = tcase_create("conv2d");
    /* A case that first runs a 32 x 16 GEMM pipeline compiles it: ~20 CPU-s each, ~45 under ASan, up to
     * three (NN, TN, NT) in one case; later cases find them in the shader cache. */
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, output_size_follows_pytorch);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, gpu_1x1_matches_reference);
    tcase_add_test(tc, gpu_3x3_matches_reference);
    tcase_add_test(tc, gpu_im2col_matches_reference);
    tcase_add_test(tc, gpu_7x7_matches_reference);
    tcase_add_test(tc, gpu_batch_split_matches_reference);
    tcase_add_test(tc, gpu_fp16_storage_matches_reference);
    tcase_add_test(tc, gpu_unaligned_ranges_match_reference);
    tcase_add_test(tc, gpu_cpu_paths_match_reference);
    tcase_add_test(tc, bad_arguments_are_rejected);
    tcase_add_test(tc, long_weight_gradient_sums_are_complete);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
