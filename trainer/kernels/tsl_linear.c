#include "tsl_linear.h"

#include "tsl_gemm.h"

enum { WORKGROUP = 256 };

static tsl_status check_size(const char *what, const char *name, tsl_vk_range r, uint64_t rows,
                             uint64_t cols) {
    if (r.size < 4 * rows * cols)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "%s: %s (%llu x %llu fp32) needs %llu bytes, its range has %llu", what, name,
                         (unsigned long long)rows, (unsigned long long)cols,
                         (unsigned long long)(4 * rows * cols), (unsigned long long)r.size);
    return TSL_OK;
}

static tsl_status check_shape(const char *what, tsl_linear_shape s) {
    if (!s.n || !s.in || !s.out)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: shape n=%u in=%u out=%u has a zero dimension", what, s.n,
                         s.in, s.out);
    return TSL_OK;
}

/* Rows of a `cols`-wide fp32 matrix that one binding may cover, so chunks start at row boundaries. */
static uint64_t rows_per_binding(tsl_vk_device *d, uint32_t cols) {
    return tsl_vk_max_binding_bytes(d, 4ull * cols) / (4ull * cols);
}

/* y[r][c] = bias[c] for every row of y, chunked by the binding limit. */
static tsl_status broadcast_bias(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_linear_shape s, tsl_vk_range bias,
                                 tsl_vk_range y) {
    tsl_vk_pipeline *p;
    uint32_t spec[] = {WORKGROUP};
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_BIAS_ROWS_F32, spec, 1, &p));
    uint64_t step = rows_per_binding(d, s.out);
    for (uint64_t r0 = 0; r0 < s.n; r0 += step) {
        uint64_t rows = s.n - r0 < step ? s.n - r0 : step;
        tsl_vk_arg args[] = {{{bias.vk, bias.offset, 4ull * s.out}, TSL_READ},
                             {{y.vk, y.offset + 4 * r0 * s.out, 4 * rows * s.out}, TSL_WRITE}};
        uint32_t push[2] = {(uint32_t)(rows * s.out), s.out};
        uint32_t gx, gy;
        tsl_vk_grid_1d(d, (push[0] + WORKGROUP - 1) / WORKGROUP, &gx, &gy);
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, args, 2, push, sizeof push, gx, gy, 1));
    }
    return TSL_OK;
}

/* sums[c] = sum over rows of dy[r][c], chunked by the binding limit (later chunks accumulate). */
static tsl_status column_sums(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_linear_shape s, tsl_vk_range dy,
                              tsl_vk_range sums) {
    tsl_vk_pipeline *p;
    uint32_t spec[] = {WORKGROUP};
    TSL_TRY(tsl_vk_pipeline_get(d, TSL_SHADER_COLUMN_SUM_F32, spec, 1, &p));
    uint64_t step = rows_per_binding(d, s.out);
    for (uint64_t r0 = 0; r0 < s.n; r0 += step) {
        uint64_t rows = s.n - r0 < step ? s.n - r0 : step;
        tsl_vk_arg args[] = {{{dy.vk, dy.offset + 4 * r0 * s.out, 4 * rows * s.out}, TSL_READ},
                             {{sums.vk, sums.offset, 4ull * s.out}, r0 ? TSL_READ_WRITE : TSL_WRITE}};
        uint32_t push[3] = {(uint32_t)rows, s.out, r0 != 0};
        TSL_TRY(tsl_vk_cmd_dispatch(cmd, p, args, 2, push, sizeof push, (s.out + WORKGROUP - 1) / WORKGROUP,
                                    1, 1));
    }
    return TSL_OK;
}

tsl_status tsl_linear_forward(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_linear_shape s, tsl_vk_range x,
                              tsl_vk_range w, const tsl_vk_range *bias, tsl_vk_range y) {
    const char *what = "linear_forward";
    TSL_TRY(check_shape(what, s));
    TSL_TRY(check_size(what, "x", x, s.n, s.in));
    TSL_TRY(check_size(what, "W", w, s.out, s.in));
    TSL_TRY(check_size(what, "y", y, s.n, s.out));
    if (bias)
        TSL_TRY(check_size(what, "bias", *bias, 1, s.out));
    tsl_gemm_params g = tsl_gemm_params_make(s.n, s.out, s.in, false, true);
    if (bias) {
        TSL_TRY(broadcast_bias(d, cmd, s, *bias, y));
        g.beta = 1.0f;
    }
    TSL_TRY_CTX(tsl_gemm_f32(d, cmd, &g, x, w, y), "%s", what);
    return TSL_OK;
}

tsl_status tsl_linear_backward(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_linear_shape s, tsl_vk_range x,
                               tsl_vk_range w, tsl_vk_range dy, const tsl_vk_range *dx, tsl_vk_range dw,
                               const tsl_vk_range *dbias) {
    const char *what = "linear_backward";
    TSL_TRY(check_shape(what, s));
    TSL_TRY(check_size(what, "x", x, s.n, s.in));
    TSL_TRY(check_size(what, "W", w, s.out, s.in));
    TSL_TRY(check_size(what, "dy", dy, s.n, s.out));
    TSL_TRY(check_size(what, "dW", dw, s.out, s.in));
    if (dx)
        TSL_TRY(check_size(what, "dx", *dx, s.n, s.in));
    if (dbias)
        TSL_TRY(check_size(what, "dbias", *dbias, 1, s.out));
    if (dx) {
        tsl_gemm_params g = tsl_gemm_params_make(s.n, s.in, s.out, false, false);
        TSL_TRY_CTX(tsl_gemm_f32(d, cmd, &g, dy, w, *dx), "%s (dx)", what);
    }
    tsl_gemm_params g = tsl_gemm_params_make(s.out, s.in, s.n, true, false);
    TSL_TRY_CTX(tsl_gemm_f32(d, cmd, &g, dy, x, dw), "%s (dW)", what);
    if (dbias)
        TSL_TRY(column_sums(d, cmd, s, dy, *dbias));
    return TSL_OK;
}
