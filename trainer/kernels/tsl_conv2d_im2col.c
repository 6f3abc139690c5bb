#include "tsl_conv2d_im2col.h"

#include "tsl_gemm.h"

enum { IM2COL_WORKGROUP = 64 };

static uint64_t pixels(const tsl_conv2d_shape *s) {
    return (uint64_t)tsl_conv2d_out_h(s) * tsl_conv2d_out_w(s);
}

static uint64_t col_rows(const tsl_conv2d_shape *s) {
    return (uint64_t)s->c_in * s->kh * s->kw;
}

/* Below 14 x 14 output planes the per-image GEMMs leave most SIMD lanes idle and the conv shaders, whose
 * tiles span images, were faster (lavapipe, docs/PERFORMANCE.md). */
enum { MIN_PIXELS = 196 };

VkDeviceSize tsl_conv2d_im2col_workspace_bytes(const tsl_vk_device *d, const tsl_conv2d_shape *s,
                                               VkDeviceSize max_binding) {
    const tsl_vk_features *f = tsl_vk_device_features(d);
    uint64_t p = pixels(s), k = col_rows(s), image = (uint64_t)s->c_in * s->h * s->w;
    uint64_t align = f->min_texel_buffer_offset_alignment > f->min_storage_buffer_offset_alignment
                         ? f->min_texel_buffer_offset_alignment
                         : f->min_storage_buffer_offset_alignment;
    /* Bindings start up to align - 4 bytes before an image (see image_binding). */
    bool fits = 4 * k * p <= max_binding && 4 * image + align <= max_binding &&
                k * p <= f->max_texel_buffer_elements && image + align / 4 <= f->max_texel_buffer_elements;
    if (p % 4 || k % 4 || p < MIN_PIXELS || !fits)
        return 0;
    return 4 * k * p;
}

/* With c_out = 64 (ResNet's first stage) dx's GEMM sums only 64 products per output and dw's has two
 * rows of 32-row tiles, and both ran slower than the conv shaders; a strided 1x1's dx scatters into a
 * quarter of dx through col2im and was slower too. */
bool tsl_conv2d_im2col_helps(const tsl_conv2d_shape *s, tsl_conv2d_im2col_op op) {
    switch (op) {
    case TSL_CONV2D_IM2COL_FORWARD:
        return true;
    case TSL_CONV2D_IM2COL_DATA:
        return s->kh * s->kw > 1 && s->c_out >= 128;
    default:
        return s->c_out >= 128;
    }
}

/* Image `image` of a batch of `floats` floats each, bound from the nearest offset below it that is a
 * multiple of `align`; *base is the image's first element within that binding. */
static tsl_vk_range image_binding(tsl_vk_range r, uint32_t image, uint64_t floats, uint64_t align,
                                  uint32_t *base) {
    uint64_t start = r.offset + 4 * image * floats, bound = start - start % align;
    *base = (uint32_t)((start - bound) / 4);
    return (tsl_vk_range){r.vk, bound, start - bound + 4 * floats};
}

static tsl_vk_range image_slice(tsl_vk_range r, uint32_t image, uint64_t floats) {
    return (tsl_vk_range){r.vk, r.offset + 4 * image * floats, 4 * floats};
}

static tsl_status dispatch_1d(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_shader_id shader, const tsl_vk_arg *args,
                              const uint32_t *push, uint32_t push_bytes, uint64_t invocations) {
    uint32_t spec[] = {IM2COL_WORKGROUP};
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d, shader, spec, 1, &p));
    uint32_t gx, gy;
    tsl_vk_grid_1d(d, (invocations + IM2COL_WORKGROUP - 1) / IM2COL_WORKGROUP, &gx, &gy);
    return tsl_vk_cmd_dispatch(cmd, p, args, 2, push, push_bytes, gx, gy, 1);
}

/* col = im2col(x_image) (conv2d_im2col.comp). */
static tsl_status im2col(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s, tsl_vk_range x,
                         uint32_t image, tsl_vk_range col) {
    const tsl_vk_features *f = tsl_vk_device_features(d);
    uint64_t align = f->min_texel_buffer_offset_alignment < 4 ? 4 : f->min_texel_buffer_offset_alignment;
    uint32_t base;
    tsl_vk_range xr = image_binding(x, image, (uint64_t)s->c_in * s->h * s->w, align, &base);
    uint32_t quads = (uint32_t)(pixels(s) / 4), rows = (uint32_t)col_rows(s);
    uint32_t push[] = {s->c_in,
                       s->h,
                       s->w,
                       s->kh,
                       s->kw,
                       s->stride,
                       s->pad,
                       tsl_conv2d_out_h(s),
                       tsl_conv2d_out_w(s),
                       base,
                       quads,
                       rows * quads};
    tsl_vk_arg args[] = {{xr, TSL_READ}, {col, TSL_WRITE}};
    return dispatch_1d(d, cmd, TSL_SHADER_CONV2D_IM2COL, args, push, sizeof push, (uint64_t)rows * quads);
}

/* dx_image = col2im(dcol) (conv2d_col2im.comp). */
static tsl_status col2im(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s, tsl_vk_range dcol,
                         tsl_vk_range dx, uint32_t image) {
    const tsl_vk_features *f = tsl_vk_device_features(d);
    uint64_t align = f->min_storage_buffer_offset_alignment < 4 ? 4 : f->min_storage_buffer_offset_alignment;
    uint64_t count = (uint64_t)s->c_in * s->h * s->w;
    uint32_t base;
    tsl_vk_range dxr = image_binding(dx, image, count, align, &base);
    uint32_t push[] = {s->c_in,
                       s->h,
                       s->w,
                       s->kh,
                       s->kw,
                       s->stride,
                       s->pad,
                       tsl_conv2d_out_h(s),
                       tsl_conv2d_out_w(s),
                       base,
                       (uint32_t)count};
    tsl_vk_arg args[] = {{dcol, TSL_READ}, {dxr, TSL_WRITE}};
    return dispatch_1d(d, cmd, TSL_SHADER_CONV2D_COL2IM, args, push, sizeof push, count);
}

static tsl_vk_range col_range(const tsl_conv2d_shape *s, tsl_vk_range workspace) {
    return (tsl_vk_range){workspace.vk, workspace.offset, 4 * col_rows(s) * pixels(s)};
}

tsl_status tsl_conv2d_im2col_forward(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                     tsl_vk_range x, tsl_vk_range w, tsl_vk_range y, tsl_vk_range workspace) {
    tsl_vk_range col = col_range(s, workspace);
    uint32_t p = (uint32_t)pixels(s);
    tsl_gemm_params g = tsl_gemm_params_make(s->c_out, p, (uint32_t)col_rows(s), false, false);
    for (uint32_t i = 0; i < s->n; i++) {
        TSL_TRY(im2col(d, cmd, s, x, i, col));
        TSL_TRY(tsl_gemm_f32(d, cmd, &g, w, col, image_slice(y, i, (uint64_t)s->c_out * p)));
    }
    return TSL_OK;
}

tsl_status tsl_conv2d_im2col_backward_data(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                           tsl_vk_range dy, tsl_vk_range w, tsl_vk_range dx,
                                           tsl_vk_range workspace) {
    tsl_vk_range dcol = col_range(s, workspace);
    uint32_t p = (uint32_t)pixels(s);
    tsl_gemm_params g = tsl_gemm_params_make((uint32_t)col_rows(s), p, s->c_out, true, false); /* w^T dy */
    for (uint32_t i = 0; i < s->n; i++) {
        TSL_TRY(tsl_gemm_f32(d, cmd, &g, w, image_slice(dy, i, (uint64_t)s->c_out * p), dcol));
        TSL_TRY(col2im(d, cmd, s, dcol, dx, i));
    }
    return TSL_OK;
}

tsl_status tsl_conv2d_im2col_backward_weights(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                              tsl_vk_range x, tsl_vk_range dy, tsl_vk_range dw,
                                              tsl_vk_range workspace) {
    tsl_vk_range col = col_range(s, workspace);
    uint32_t p = (uint32_t)pixels(s);
    tsl_gemm_params g = tsl_gemm_params_make(s->c_out, (uint32_t)col_rows(s), p, false, true); /* dy col^T */
    for (uint32_t i = 0; i < s->n; i++) {
        g.beta = i ? 1.0f : 0.0f; /* the first image writes dw, later ones add to it */
        TSL_TRY(im2col(d, cmd, s, x, i, col));
        TSL_TRY(tsl_gemm_f32(d, cmd, &g, image_slice(dy, i, (uint64_t)s->c_out * p), col, dw));
    }
    return TSL_OK;
}
