#include "tsl_conv2d_im2col.h"

#include "tsl_chunk.h"
#include "tsl_gemm.h"

/* IM2COL_QUADS: vec4s of col per im2col invocation, each invocation dividing once (conv2d_im2col.comp). */
enum { IM2COL_WORKGROUP = 64, IM2COL_QUADS = 4 };

/* The packed layout's workspace cap: room for ResNet-50's last stage at 224 px with 8 images per chunk
 * (col 4608 x 392 and t 512 x 392: 8 MiB, about what the first stage's per-image columns take, 7 MiB);
 * larger batches go in several chunks rather than growing the model's scratch with the batch. */
static const uint64_t PACKED_CAP_BYTES = 16ull << 20;

/* Output planes of at least this many pixels, a whole number of vec4s, take one GEMM per image; smaller
 * ones (whose per-image GEMMs would leave most SIMD lanes idle) pack the columns of several images. */
enum { MIN_PIXELS_PER_IMAGE = 196 };

static uint64_t pixels(const tsl_conv2d_shape *s) {
    return (uint64_t)tsl_conv2d_out_h(s) * tsl_conv2d_out_w(s);
}

static uint64_t col_rows(const tsl_conv2d_shape *s) {
    return (uint64_t)s->c_in * s->kh * s->kw;
}

static uint64_t round_up4(uint64_t v) {
    return (v + 3) / 4 * 4;
}

static uint64_t align_up(uint64_t v, uint64_t a) {
    return (v + a - 1) / a * a;
}

/* How a shape runs: `images` per chunk; `packed` when several images share the GEMM's columns (then y
 * and dy move through t, c_out x columns, placed at t_offset in the workspace). */
typedef struct {
    uint32_t images;
    bool packed;
    uint64_t t_offset, bytes; /* bytes: the whole workspace; 0 when the path does not apply */
} im2col_plan;

static uint64_t binding_alignment(const tsl_vk_features *f) {
    uint64_t a = f->min_texel_buffer_offset_alignment > f->min_storage_buffer_offset_alignment
                     ? f->min_texel_buffer_offset_alignment
                     : f->min_storage_buffer_offset_alignment;
    return a < 16 ? 16 : a;
}

/* The columns of a chunk of `images`: a multiple of 4 (the GEMM's vec4 loads), zero-padded past the last
 * image's pixels. */
static uint64_t chunk_columns(const tsl_conv2d_shape *s, uint32_t images) {
    return round_up4((uint64_t)images * pixels(s));
}

static im2col_plan plan_for(const tsl_vk_device *d, const tsl_conv2d_shape *s, VkDeviceSize max_binding) {
    const tsl_vk_features *f = tsl_vk_device_features(d);
    im2col_plan none = {0, false, 0, 0};
    uint64_t p = pixels(s), k = col_rows(s), align = binding_alignment(f);
    uint64_t texels = f->max_texel_buffer_elements, image = (uint64_t)s->c_in * s->h * s->w;
    if (k % 4 || p == 0 || 4 * image + align > max_binding || image + align / 4 > texels)
        return none;
    if (p % 4 == 0 && p >= MIN_PIXELS_PER_IMAGE) {
        if (4 * k * p > max_binding || k * p > texels)
            return none;
        return (im2col_plan){1, false, 0, 4 * k * p};
    }
    uint32_t images = s->n;
    for (; images > 0; images--) {
        uint64_t cols = chunk_columns(s, images), col_bytes = 4 * k * cols, t_bytes = 4ull * s->c_out * cols;
        uint64_t chunk_image_bytes = 4 * image * images + align;
        bool fits = align_up(col_bytes, align) + t_bytes <= PACKED_CAP_BYTES && col_bytes <= max_binding &&
                    t_bytes + align <= max_binding && k * cols <= texels &&
                    chunk_image_bytes <= max_binding && chunk_image_bytes / 4 <= texels;
        if (fits)
            return (im2col_plan){images, true, align_up(col_bytes, align),
                                 align_up(col_bytes, align) + t_bytes};
    }
    return none;
}

VkDeviceSize tsl_conv2d_im2col_workspace_bytes(const tsl_vk_device *d, const tsl_conv2d_shape *s,
                                               VkDeviceSize max_binding) {
    return plan_for(d, s, max_binding).bytes;
}

/* Measured on lavapipe against the conv shaders at ResNet-50's shapes, 224 px and 64 px
 * (docs/PERFORMANCE.md). Packed chunks (small planes) won about 2x everywhere except dx of 1x1s with
 * planes of 8 x 8 and more, where col2im only copies or scatters. One GEMM per image lost where c_out =
 * 64 (ResNet's first stage: two rows of 32-row tiles, and dx's GEMM sums only 64 products per output)
 * unless the plane is large (the forward at 56 x 56 still won), and a strided 1x1's dx lost too. */
bool tsl_conv2d_im2col_helps(const tsl_vk_device *d, const tsl_conv2d_shape *s, tsl_conv2d_im2col_op op,
                             VkDeviceSize max_binding) {
    bool packed = plan_for(d, s, max_binding).packed, window = s->kh * s->kw > 1;
    uint64_t p = pixels(s);
    switch (op) {
    case TSL_CONV2D_IM2COL_FORWARD:
        return packed || s->c_out >= 128 || p >= 784;
    case TSL_CONV2D_IM2COL_DATA:
        return packed ? window || p < 64 : window && s->c_out >= 128;
    default:
        return packed || s->c_out >= 128;
    }
}

/* Images [first, first + count) of a batch of `floats` floats each, bound from the aligned offset at or
 * below them (storage or texel alignment: `texel`); *base is their first element within the binding. */
static tsl_vk_range images_binding(const tsl_vk_device *d, tsl_vk_range r, uint32_t first, uint32_t count,
                                   uint64_t floats, bool texel, uint32_t *base) {
    const tsl_vk_features *f = tsl_vk_device_features(d);
    uint64_t align = texel ? f->min_texel_buffer_offset_alignment : f->min_storage_buffer_offset_alignment;
    return tsl_vk_range_aligned_down(r, 4 * first * floats, 4 * count * floats, align < 4 ? 4 : align, 4,
                                     base);
}

static tsl_status dispatch_1d(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_shader_id shader, const uint32_t *spec,
                              uint32_t n_spec, const tsl_vk_arg *args, const void *push, uint32_t push_bytes,
                              uint64_t invocations) {
    tsl_vk_pipeline *p;
    TSL_TRY(tsl_vk_pipeline_get(d, shader, spec, n_spec, &p));
    uint32_t gx, gy;
    tsl_vk_grid_1d(d, (invocations + IM2COL_WORKGROUP - 1) / IM2COL_WORKGROUP, &gx, &gy);
    return tsl_vk_cmd_dispatch(cmd, p, args, 2, push, push_bytes, gx, gy, 1);
}

/* The convolution's geometry, as the first push constants of conv2d_im2col.comp and conv2d_col2im.comp;
 * the kernel size and stride are their specialization constants (geometry_spec). */
typedef struct {
    uint32_t c_in, h, w, pad, oh, ow;
} conv_geometry;

static conv_geometry geometry(const tsl_conv2d_shape *s) {
    return (conv_geometry){s->c_in, s->h, s->w, s->pad, tsl_conv2d_out_h(s), tsl_conv2d_out_w(s)};
}

enum { GEOMETRY_SPECS = 4 };

static void geometry_spec(const tsl_conv2d_shape *s, uint32_t spec[GEOMETRY_SPECS]) {
    spec[0] = IM2COL_WORKGROUP, spec[1] = s->kh, spec[2] = s->kw, spec[3] = s->stride;
}

/* The chunk being worked on: images [first, first + count), `columns` per row of col, dcol and t. */
typedef struct {
    uint32_t first, count;
    uint64_t columns;
} chunk;

/* col = im2col of the chunk's images (conv2d_im2col.comp); columns past the last pixel are zeros. */
static tsl_status im2col(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s, tsl_vk_range x,
                         chunk c, tsl_vk_range col) {
    uint32_t base;
    tsl_vk_range xr = images_binding(d, x, c.first, c.count, (uint64_t)s->c_in * s->h * s->w, true, &base);
    uint64_t invocations = col_rows(s) * ((c.columns / 4 + IM2COL_QUADS - 1) / IM2COL_QUADS);
    struct {
        conv_geometry g;
        uint32_t x_base, images, columns, count;
    } push = {geometry(s), base, c.count, (uint32_t)c.columns, (uint32_t)invocations};
    uint32_t spec[GEOMETRY_SPECS + 1];
    geometry_spec(s, spec);
    spec[GEOMETRY_SPECS] = IM2COL_QUADS;
    tsl_vk_arg args[] = {{xr, TSL_READ}, {col, TSL_WRITE}};
    return dispatch_1d(d, cmd, TSL_SHADER_CONV2D_IM2COL, spec, GEOMETRY_SPECS + 1, args, &push, sizeof push,
                       invocations);
}

/* dx of the chunk's images = col2im(dcol) (conv2d_col2im.comp). */
static tsl_status col2im(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s, tsl_vk_range dcol,
                         tsl_vk_range dx, chunk c) {
    uint64_t image = (uint64_t)s->c_in * s->h * s->w;
    uint32_t base;
    tsl_vk_range dxr = images_binding(d, dx, c.first, c.count, image, false, &base);
    struct {
        conv_geometry g;
        uint32_t dx_base, columns, count;
    } push = {geometry(s), base, (uint32_t)c.columns, (uint32_t)(c.count * image)};
    uint32_t spec[GEOMETRY_SPECS];
    geometry_spec(s, spec);
    tsl_vk_arg args[] = {{dcol, TSL_READ}, {dxr, TSL_WRITE}};
    return dispatch_1d(d, cmd, TSL_SHADER_CONV2D_COL2IM, spec, GEOMETRY_SPECS, args, &push, sizeof push,
                       c.count * image);
}

/* Between y (NCHW, c_out channels) and t (c_out x columns) for the chunk's images: `unpack` writes y.
 * Packing first zeroes t, so its padding columns add nothing to dw's sums. */
static tsl_status move_columns(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s, tsl_vk_range y,
                               tsl_vk_range t, chunk c, bool unpack) {
    uint64_t p = pixels(s), image = s->c_out * p;
    if (!unpack && c.columns > c.count * p)
        TSL_TRY(tsl_vk_cmd_fill(cmd, t, 0));
    uint32_t base;
    tsl_vk_range yr = images_binding(d, y, c.first, c.count, image, false, &base);
    uint32_t push[] = {s->c_out, (uint32_t)p, c.count, (uint32_t)c.columns, base};
    uint32_t spec[] = {IM2COL_WORKGROUP, unpack};
    tsl_vk_arg args[] = {{t, unpack ? TSL_READ : TSL_WRITE}, {yr, unpack ? TSL_WRITE : TSL_READ}};
    return dispatch_1d(d, cmd, TSL_SHADER_CONV2D_PACK_COLUMNS, spec, 2, args, push, sizeof push,
                       c.count * image);
}

typedef struct {
    im2col_plan plan;
    tsl_vk_range workspace;
} im2col_run;

static im2col_run run_for(const tsl_vk_device *d, const tsl_conv2d_shape *s, tsl_vk_range workspace,
                          VkDeviceSize max_binding) {
    return (im2col_run){plan_for(d, s, max_binding), workspace};
}

static chunk chunk_at(const tsl_conv2d_shape *s, const im2col_plan *pl, uint32_t first) {
    uint32_t count = s->n - first < pl->images ? s->n - first : pl->images;
    return (chunk){first, count, chunk_columns(s, count)};
}

static tsl_vk_range col_of(const tsl_conv2d_shape *s, const im2col_run *r, chunk c) {
    return (tsl_vk_range){r->workspace.vk, r->workspace.offset, 4 * col_rows(s) * c.columns};
}

static tsl_vk_range t_of(const tsl_conv2d_shape *s, const im2col_run *r, chunk c) {
    return (tsl_vk_range){r->workspace.vk, r->workspace.offset + r->plan.t_offset,
                          4ull * s->c_out * c.columns};
}

/* The chunk's y or dy as c_out x columns: t when the chunk packs, else the one image itself. */
static tsl_vk_range nchw_columns(const tsl_conv2d_shape *s, const im2col_run *r, chunk c, tsl_vk_range y) {
    return r->plan.packed ? t_of(s, r, c) : tsl_batch_chunk(y, 4ull * s->c_out * pixels(s), c.first, 1);
}

/* *in = the chunk's dy as c_out x columns, packed into t first when the chunk packs. */
static tsl_status dy_columns(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                             const im2col_run *r, chunk c, tsl_vk_range dy, tsl_vk_range *in) {
    *in = nchw_columns(s, r, c, dy);
    return r->plan.packed ? move_columns(d, cmd, s, dy, *in, c, false) : TSL_OK;
}

tsl_status tsl_conv2d_im2col_forward(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                     tsl_vk_range x, tsl_vk_range w, tsl_vk_range y, tsl_vk_range workspace,
                                     VkDeviceSize max_binding) {
    im2col_run r = run_for(d, s, workspace, max_binding);
    for (uint32_t first = 0; first < s->n; first += r.plan.images) {
        chunk c = chunk_at(s, &r.plan, first);
        tsl_vk_range col = col_of(s, &r, c), out = nchw_columns(s, &r, c, y);
        tsl_gemm_params g =
            tsl_gemm_params_make(s->c_out, (uint32_t)c.columns, (uint32_t)col_rows(s), false, false);
        TSL_TRY(im2col(d, cmd, s, x, c, col));
        TSL_TRY(tsl_gemm_f32(d, cmd, &g, w, col, out)); /* w col */
        if (r.plan.packed)
            TSL_TRY(move_columns(d, cmd, s, y, out, c, true));
    }
    return TSL_OK;
}

tsl_status tsl_conv2d_im2col_backward_data(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                           tsl_vk_range dy, tsl_vk_range w, tsl_vk_range dx,
                                           tsl_vk_range workspace, VkDeviceSize max_binding) {
    im2col_run r = run_for(d, s, workspace, max_binding);
    for (uint32_t first = 0; first < s->n; first += r.plan.images) {
        chunk c = chunk_at(s, &r.plan, first);
        tsl_vk_range dcol = col_of(s, &r, c), in;
        TSL_TRY(dy_columns(d, cmd, s, &r, c, dy, &in));
        tsl_gemm_params g =
            tsl_gemm_params_make((uint32_t)col_rows(s), (uint32_t)c.columns, s->c_out, true, false);
        TSL_TRY(tsl_gemm_f32(d, cmd, &g, w, in, dcol)); /* w^T dy */
        TSL_TRY(col2im(d, cmd, s, dcol, dx, c));
    }
    return TSL_OK;
}

tsl_status tsl_conv2d_im2col_backward_weights(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                              tsl_vk_range x, tsl_vk_range dy, tsl_vk_range dw,
                                              tsl_vk_range workspace, VkDeviceSize max_binding) {
    im2col_run r = run_for(d, s, workspace, max_binding);
    for (uint32_t first = 0; first < s->n; first += r.plan.images) {
        chunk c = chunk_at(s, &r.plan, first);
        tsl_vk_range col = col_of(s, &r, c), in;
        TSL_TRY(im2col(d, cmd, s, x, c, col));
        TSL_TRY(dy_columns(d, cmd, s, &r, c, dy, &in));
        tsl_gemm_params g =
            tsl_gemm_params_make(s->c_out, (uint32_t)col_rows(s), (uint32_t)c.columns, false, true);
        g.beta = first ? 1.0f : 0.0f;                   /* the first chunk writes dw, later ones add to it */
        TSL_TRY(tsl_gemm_f32(d, cmd, &g, in, col, dw)); /* dy col^T */
    }
    return TSL_OK;
}
