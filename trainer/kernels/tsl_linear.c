#include "tsl_linear.h"
#include "tsl_reduce.h"

#include "tsl_gemm.h"

enum { WORKGROUP = 256 };

static const tsl_linear_dtypes all_fp32 = {TSL_DTYPE_F32, TSL_DTYPE_F32, TSL_DTYPE_F32};

static uint64_t elem_bytes(tsl_dtype t) {
    return tsl_dtype_size(t);
}

/* Lower-case names, as in the fp32-only messages this layer has always given. */
static const char *type_name(tsl_dtype t) {
    return t == TSL_DTYPE_F16 ? "fp16" : "fp32";
}

static tsl_status check_size(const char *what, const char *name, tsl_vk_range r, uint64_t rows, uint64_t cols,
                             tsl_dtype t) {
    if (r.size < elem_bytes(t) * rows * cols)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %s (%llu x %llu %s) needs %llu bytes, its range has %llu",
                         what, name, (unsigned long long)rows, (unsigned long long)cols, type_name(t),
                         (unsigned long long)(elem_bytes(t) * rows * cols), (unsigned long long)r.size);
    return TSL_OK;
}

static tsl_status check_dtypes(const tsl_vk_device *d, const char *what, tsl_linear_dtypes t) {
    const tsl_dtype all[] = {t.x, t.w, t.y};
    bool half = false;
    for (int i = 0; i < 3; i++) {
        if (all[i] != TSL_DTYPE_F32 && all[i] != TSL_DTYPE_F16)
            return tsl_error(TSL_ERR_INVALID_ARG, "%s: dtype of %s must be F32 or F16", what,
                             (const char *[]){"x", "W", "y"}[i]);
        half |= all[i] == TSL_DTYPE_F16;
    }
    if (half && !tsl_vk_device_features(d)->fp16_storage)
        return tsl_error(TSL_ERR_UNSUPPORTED,
                         "%s: fp16 tensors need storageBuffer16BitAccess, which the device "
                         "lacks",
                         what);
    return TSL_OK;
}

static tsl_status check_shape(const char *what, tsl_linear_shape s) {
    if (!s.n || !s.in || !s.out)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: shape n=%u in=%u out=%u has a zero dimension", what, s.n,
                         s.in, s.out);
    return TSL_OK;
}

/* Rows of a `cols`-wide matrix of `elem`-byte elements that one binding may cover, so chunks start at row
 * boundaries. */
static uint64_t rows_per_binding(tsl_vk_device *d, uint32_t cols, uint64_t elem) {
    return tsl_vk_max_binding_bytes(d, elem * cols) / (elem * cols);
}

/* y[r][c] = bias[c] for every row of y, chunked by the binding limit. */
static tsl_status broadcast_bias(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_linear_shape s, tsl_vk_range bias,
                                 tsl_vk_range y, tsl_dtype y_type) {
    tsl_vk_pipeline *p;
    uint32_t spec[] = {WORKGROUP};
    bool half = y_type == TSL_DTYPE_F16;
    TSL_TRY(tsl_vk_pipeline_get(d, half ? TSL_SHADER_BIAS_ROWS_F16 : TSL_SHADER_BIAS_ROWS_F32, spec, 1, &p));
    uint64_t e = elem_bytes(y_type), step = rows_per_binding(d, s.out, e);
    for (uint64_t r0 = 0; r0 < s.n; r0 += step) {
        uint64_t rows = s.n - r0 < step ? s.n - r0 : step;
        tsl_vk_arg args[] = {{{bias.vk, bias.offset, 4ull * s.out}, TSL_READ},
                             {{y.vk, y.offset + e * r0 * s.out, e * rows * s.out}, TSL_WRITE}};
        uint32_t push[2] = {(uint32_t)(rows * s.out), s.out};
        uint32_t gx, gy;
        tsl_vk_grid_1d(d, (push[0] + WORKGROUP - 1) / WORKGROUP, &gx, &gy);
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, args, 2, push, sizeof push, gx, gy, 1));
    }
    return TSL_OK;
}

/* sums[c] = sum over rows of dy[r][c], chunked by the binding limit (later chunks accumulate). */
static tsl_status column_sums(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_linear_shape s, tsl_vk_range dy,
                              tsl_dtype dy_type, tsl_vk_range sums) {
    uint64_t e = elem_bytes(dy_type), step = rows_per_binding(d, s.out, e);
    for (uint64_t r0 = 0; r0 < s.n; r0 += step) {
        uint64_t rows = s.n - r0 < step ? s.n - r0 : step;
        tsl_vk_range part = {dy.vk, dy.offset + e * r0 * s.out, e * rows * s.out};
        TSL_TRY(tsl_reduce_column_sums(d, cmd, part, dy_type == TSL_DTYPE_F16, (uint32_t)rows, s.out, sums,
                                       r0 != 0));
    }
    return TSL_OK;
}

/* GEMM parameters with the operands' storage types. */
static tsl_gemm_params gemm_make(uint32_t m, uint32_t n, uint32_t k, bool ta, bool tb, tsl_dtype a,
                                 tsl_dtype b, tsl_dtype c) {
    tsl_gemm_params g = tsl_gemm_params_make(m, n, k, ta, tb);
    g.a_dtype = a, g.b_dtype = b, g.c_dtype = c;
    return g;
}

tsl_status tsl_linear_forward(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_linear_shape s, tsl_vk_range x,
                              tsl_vk_range w, const tsl_vk_range *bias, tsl_vk_range y) {
    return tsl_linear_forward_typed(d, cmd, s, all_fp32, x, w, bias, y);
}

tsl_status tsl_linear_backward(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_linear_shape s, tsl_vk_range x,
                               tsl_vk_range w, tsl_vk_range dy, const tsl_vk_range *dx, tsl_vk_range dw,
                               const tsl_vk_range *dbias) {
    return tsl_linear_backward_typed(d, cmd, s, all_fp32, x, w, dy, dx, dw, dbias);
}

tsl_status tsl_linear_forward_typed(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_linear_shape s,
                                    tsl_linear_dtypes t, tsl_vk_range x, tsl_vk_range w,
                                    const tsl_vk_range *bias, tsl_vk_range y) {
    const char *what = "linear_forward";
    TSL_TRY(check_dtypes(d, what, t));
    TSL_TRY(check_shape(what, s));
    TSL_TRY(check_size(what, "x", x, s.n, s.in, t.x));
    TSL_TRY(check_size(what, "W", w, s.out, s.in, t.w));
    TSL_TRY(check_size(what, "y", y, s.n, s.out, t.y));
    if (bias)
        TSL_TRY(check_size(what, "bias", *bias, 1, s.out, TSL_DTYPE_F32));
    tsl_gemm_params g = gemm_make(s.n, s.out, s.in, false, true, t.x, t.w, t.y);
    if (bias) {
        TSL_TRY(broadcast_bias(d, cmd, s, *bias, y, t.y));
        g.beta = 1.0f;
    }
    TSL_TRY_CTX(tsl_gemm_f32(d, cmd, &g, x, w, y), "%s", what);
    return TSL_OK;
}

tsl_status tsl_linear_backward_typed(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_linear_shape s,
                                     tsl_linear_dtypes t, tsl_vk_range x, tsl_vk_range w, tsl_vk_range dy,
                                     const tsl_vk_range *dx, tsl_vk_range dw, const tsl_vk_range *dbias) {
    const char *what = "linear_backward";
    TSL_TRY(check_dtypes(d, what, t));
    TSL_TRY(check_shape(what, s));
    TSL_TRY(check_size(what, "x", x, s.n, s.in, t.x));
    TSL_TRY(check_size(what, "W", w, s.out, s.in, t.w));
    TSL_TRY(check_size(what, "dy", dy, s.n, s.out, t.y));
    TSL_TRY(check_size(what, "dW", dw, s.out, s.in, t.w));
    if (dx)
        TSL_TRY(check_size(what, "dx", *dx, s.n, s.in, t.x));
    if (dbias)
        TSL_TRY(check_size(what, "dbias", *dbias, 1, s.out, TSL_DTYPE_F32));
    if (dx) {
        tsl_gemm_params g = gemm_make(s.n, s.in, s.out, false, false, t.y, t.w, t.x);
        TSL_TRY_CTX(tsl_gemm_f32(d, cmd, &g, dy, w, *dx), "%s (dx)", what);
    }
    tsl_gemm_params g = gemm_make(s.out, s.in, s.n, true, false, t.y, t.x, t.w);
    TSL_TRY_CTX(tsl_gemm_f32(d, cmd, &g, dy, x, dw), "%s (dW)", what);
    if (dbias)
        TSL_TRY(column_sums(d, cmd, s, dy, t.y, *dbias));
    return TSL_OK;
}
