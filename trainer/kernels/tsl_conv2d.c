#include "tsl_conv2d.h"

#include "tsl_conv2d_im2col.h"
#include "tsl_conv2d_pointwise.h"
#include "tsl_reduce.h"

#include <stdio.h>

/* Workgroups are 64 invocations (8 lavapipe subgroups of 8 lanes). Each invocation computes a register
 * tile of TILE_M x TILE_N outputs (specialization constants 1 and 2), chosen per op and shape from
 * measurements on lavapipe (process CPU time, 2 cores): see conv_tile. */
enum { WORKGROUP = 64 };

typedef struct {
    uint32_t m, n; /* GEMM rows (channels) x columns (pixels or weight indices) per invocation */
} conv_tile;

/* Unpadded 1x1 at any stride: forward and dx tile the flattened output (dy) plane instead of rows (the
 * shaders make the same test, conv_is_1x1) and read vec4s where the planes are aligned at stride 1. */
static bool is_1x1(const tsl_conv2d_shape *s) {
    return s->kh == 1 && s->kw == 1 && s->pad == 0;
}

/* The CPU forward's general_flat path: every convolution but 1x1s with planes of 16 pixels or more
 * (CPU_MIN_POINTWISE_PLANE in the shader). */
static bool cpu_general_flat(const tsl_conv2d_shape *s, bool cpu) {
    return cpu && (!is_1x1(s) || (uint64_t)tsl_conv2d_out_h(s) * tsl_conv2d_out_w(s) < 16);
}

static conv_tile gpu_tile_override[3]; /* forward, dx, dw: tsl_conv2d_set_gpu_tiles */

tsl_status tsl_conv2d_set_gpu_tiles(const uint32_t tiles[3][2]) {
    for (int i = 0; i < 3; i++) {
        uint32_t m = tiles[i][0], n = tiles[i][1];
        if ((m || n) && (m < 1 || m > 16 || n < 1 || n > 16 || m * n > 128))
            return tsl_error(TSL_ERR_INVALID_ARG,
                             "conv2d tiles: %ux%u is not a tile of 1..16 x 1..16 with at most 128 outputs", m,
                             n);
    }
    for (int i = 0; i < 3; i++)
        gpu_tile_override[i] = (conv_tile){tiles[i][0], tiles[i][1]};
    return TSL_OK;
}

/* The override of op `i` (0 forward, 1 dx, 2 dw) on the GPU variant, if one is set. */
static bool gpu_tile_overridden(int i, bool cpu, conv_tile *t) {
    if (cpu || !gpu_tile_override[i].m)
        return false;
    *t = gpu_tile_override[i];
    return true;
}

/* Tiles per op and device class. The CPU variant's come from lavapipe (below, per path); the GPU
 * variant's from an H200 (below; before that it used lavapipe's first measurements: 8x8 for 1x1s, else
 * 8x4, 4x4 for 7x7 dx). */
static conv_tile forward_tile(const tsl_conv2d_shape *s, bool cpu) {
    /* CPU variant (lavapipe, process CPU time): general_flat 8x16 ran 5.0 to 5.6 GFLOP/s per CPU-second
     * at ResNet-50's shapes, 16x8 and 8x12 within 10% of it; tiles of more than 128 accumulators fell
     * to ~2 (the registers spill). The 1x1 GEMM liked 16x8 (6.7 to 7.6) over 8x8 (5.3 to 5.9). */
    conv_tile t;
    if (cpu)
        return cpu_general_flat(s, cpu) ? (conv_tile){8, 16} : (conv_tile){16, 8};
    if (gpu_tile_overridden(0, cpu, &t))
        return t;
    /* GPU variant, measured on an H200 (2026-11-25, tessl bench ops --filter conv2d --conv-tiles, batch
     * 64 at 224 px): 16x4 was the best or within 10% of the best of 8x8, 16x8, 8x4, 16x4 and 4x8 at
     * every ResNet-50 shape, the forward convolutions of a quarter-step taking 53.5 ms against 81.0
     * with the earlier choice (8x8 for 1x1s, else 8x4). */
    return (conv_tile){16, 4};
}

/* The CPU dx's general_flat path: not an unpadded 1x1, at least 8 input channels (the stem's 3 would
 * leave 13 of 16 tile rows idle; it takes the row-phase path). The shader makes the same test. */
static bool cpu_dx_flat(const tsl_conv2d_shape *s, bool cpu) {
    return cpu && !is_1x1(s) && s->c_in >= 8;
}

static conv_tile backward_data_tile(const tsl_conv2d_shape *s, bool cpu) {
    conv_tile t;
    if (gpu_tile_overridden(1, cpu, &t))
        return t;
    /* GPU variant, measured as the forward's (H200): 1x1s ran best at 8x4 (8x8 took up to 1.8x its
     * time), 3x3s at 16x4 (8x4 up to 1.7x), the stem's 7x7 at 4x4; dx of a quarter-step 82.6 -> ~60 ms. */
    if (!cpu)
        return is_1x1(s) ? (conv_tile){8, 4} : s->kh * s->kw <= 9 ? (conv_tile){16, 4} : (conv_tile){4, 4};
    if (is_1x1(s))
        return (conv_tile){8, 8};
    /* CPU general_flat, measured at 112 px, stride 1 (process CPU time): 16x8 ran 3x3 dx at 5.1 to 5.7
     * GFLOP/s per CPU-second, 8x16 4.4 to 5.0, 8x8 4.0 to 4.4 (the row-phase path: 2.5 to 2.8). */
    if (cpu_dx_flat(s, cpu))
        return (conv_tile){16, 8};
    /* CPU variant: rows of at most 2 pixels per stride phase (ResNet's last stage) leave half of a
     * 4-pixel tile empty; 16x2 was 1.5x faster there than 8x4. */
    if (cpu && (s->w + s->stride - 1) / s->stride <= 2)
        return (conv_tile){16, 2};
    return s->kh * s->kw <= 9 ? (conv_tile){8, 4} : (conv_tile){4, 4};
}

/* dw's tapwise path (TAPWISE in the shader): every shape but 1x1 stride-1 GEMMs over planes of a multiple
 * of 4 pixels (the vec4 pointwise path). On the CPU variant not for inputs of fewer than 8 channels
 * either (the stem's 3, where 13 of the tile's 16 columns would idle; the general path takes those). On
 * GPUs the general path's lanes gather x at different channels for the same pixel, while tapwise's
 * neighbouring lanes read neighbouring pixels of one channel: on an H100 (2026-11-25, batch 64 at 224
 * px) it ran every windowed or strided dw of ResNet-50 faster, 3x3s at 8.6 to 13.8 TFLOP/s against 3.2
 * to 6.9, the stem 1.94 against 3.71 ms; dw of a quarter-step 93.7 -> 60.8 ms. */
static bool use_tapwise(const tsl_conv2d_shape *s, bool cpu) {
    uint64_t plane = (uint64_t)tsl_conv2d_out_h(s) * tsl_conv2d_out_w(s);
    bool aligned_pointwise = is_1x1(s) && s->stride == 1 && plane % 4 == 0;
    return !aligned_pointwise && (!cpu || s->c_in >= 8);
}

static conv_tile backward_weights_tile(const tsl_conv2d_shape *s, bool cpu) {
    /* tapwise: TILE_M output x TILE_N input channels at one tap (see the shader). Measured at 112 px
     * (process CPU time): 8x16 ran 3x3 dw at 5.1 to 7.0 GFLOP/s per CPU-second, 16x8 4.8 to 6.5, 8x8 4.4
     * to 5.8 (the general path's 8x4: 2.3 to 3.7); else 8x4. GPU variant: 8x4 on both paths. Before
     * tapwise (H200, as the forward's): 8x4 93 ms per quarter-step, 4x8 144, 16x4 199, 8x8 453; with
     * tapwise (H100): 8x4 60.8, 16x4 114.5, 8x8 375.9, 8x16 624.2. */
    conv_tile t;
    if (gpu_tile_overridden(2, cpu, &t))
        return t;
    return cpu && use_tapwise(s, cpu) ? (conv_tile){8, 16} : (conv_tile){8, 4};
}

static VkDeviceSize max_binding_override;
static tsl_conv2d_variant variant_override;

void tsl_conv2d_set_variant_for_testing(tsl_conv2d_variant variant) {
    variant_override = variant;
}

/* The one place that picks the kernel variant. */
static bool cpu_variant(const tsl_vk_device *d) {
    if (variant_override != TSL_CONV2D_VARIANT_AUTO)
        return variant_override == TSL_CONV2D_VARIANT_CPU;
    return tsl_vk_device_features(d)->cpu_kernels;
}

void tsl_conv2d_set_max_binding_bytes_for_testing(VkDeviceSize bytes) {
    max_binding_override = bytes;
}

static VkDeviceSize max_binding_bytes(const tsl_vk_device *d) {
    return max_binding_override ? max_binding_override : tsl_vk_device_features(d)->max_storage_buffer_range;
}

static uint32_t tiles(uint32_t columns, conv_tile tile);

/* GPU dw, split-K: dw's GEMM is c_out x c_in*kh*kw, small in ResNet's early layers (the stem's is 8
 * workgroups), over a reduction of n*oh*ow pixels, long there. One workgroup per tile left a GPU nearly
 * idle: dw took 75% of a ResNet-50 step on an H100 (2026-11-25, the stem's alone 207 ms at 64 images,
 * 73 GFLOP/s). So the pixels are split S ways (gl_WorkGroupID.z), each split writing its partial dw to
 * its own slice of the workspace, and a column sum adds the S slices into dw. S brings the grid to about
 * DW_SPLIT_GROUPS workgroups (several per multiprocessor of a large GPU); it depends only on the shape
 * and the device, so the workspace's size never changes the result. */
enum { DW_SPLIT_GROUPS = 1024 };

static uint32_t dw_splits(const tsl_vk_device *d, const tsl_conv2d_shape *s) {
    if (cpu_variant(d) || !tsl_conv2d_out_h(s) || !tsl_conv2d_out_w(s))
        return 1;
    conv_tile t = backward_weights_tile(s, false);
    uint64_t k = (uint64_t)s->c_in * s->kh * s->kw, slice = 4 * k * s->c_out;
    uint64_t groups =
        (uint64_t)((tiles((uint32_t)k, t) + WORKGROUP - 1) / WORKGROUP) * ((s->c_out + t.m - 1) / t.m);
    uint64_t splits = (DW_SPLIT_GROUPS + groups - 1) / groups;
    uint64_t rows = (uint64_t)s->n * tsl_conv2d_out_h(s); /* the shader's smallest unit of work */
    if (splits > rows)
        splits = rows;
    if (splits > max_binding_bytes(d) / slice) /* the slices are one binding */
        splits = max_binding_bytes(d) / slice;
    /* Nor more memory than x itself: then a model's scratch (which holds them) is never larger than its
     * largest activation (ResNet-50 at 64 images: 9.4 MiB of partials at most, against 12.8 MiB or more
     * of x). */
    if (splits > 4 * tsl_conv2d_x_count(s) / slice)
        splits = 4 * tsl_conv2d_x_count(s) / slice;
    if (splits > tsl_vk_device_features(d)->max_workgroup_count[2])
        splits = tsl_vk_device_features(d)->max_workgroup_count[2];
    return splits < 2 ? 1 : (uint32_t)splits;
}

static VkDeviceSize dw_split_bytes(const tsl_vk_device *d, const tsl_conv2d_shape *s) {
    uint32_t splits = dw_splits(d, s);
    return splits > 1 ? 4ull * splits * tsl_conv2d_w_count(s) : 0;
}

VkDeviceSize tsl_conv2d_workspace_bytes(const tsl_vk_device *d, const tsl_conv2d_shape *s) {
    if (!cpu_variant(d))
        return dw_split_bytes(d, s);
    if (tsl_conv2d_pointwise_applies(s, false) || !tsl_conv2d_out_h(s) || !tsl_conv2d_out_w(s))
        return 0;
    return tsl_conv2d_im2col_workspace_bytes(d, s, max_binding_bytes(d));
}

/* Whether the fp32 op runs as im2col and GEMMs in `workspace` (tsl_conv2d_im2col.h). */
static bool use_im2col(const tsl_vk_device *d, const tsl_conv2d_shape *s, uint32_t in_bytes,
                       tsl_vk_range workspace, tsl_conv2d_im2col_op op) {
    VkDeviceSize need = in_bytes == 4 && cpu_variant(d) ? tsl_conv2d_workspace_bytes(d, s) : 0;
    return need && workspace.size >= need && tsl_conv2d_im2col_helps(d, s, op, max_binding_bytes(d));
}

static uint32_t out_extent(uint32_t in, uint32_t k, uint32_t stride, uint32_t pad) {
    uint64_t padded = (uint64_t)in + 2ull * pad;
    if (stride == 0 || k == 0 || padded < k)
        return 0;
    return (uint32_t)((padded - k) / stride + 1);
}

uint32_t tsl_conv2d_out_h(const tsl_conv2d_shape *s) {
    return out_extent(s->h, s->kh, s->stride, s->pad);
}

uint32_t tsl_conv2d_out_w(const tsl_conv2d_shape *s) {
    return out_extent(s->w, s->kw, s->stride, s->pad);
}

uint64_t tsl_conv2d_x_count(const tsl_conv2d_shape *s) {
    return (uint64_t)s->n * s->c_in * s->h * s->w;
}

uint64_t tsl_conv2d_w_count(const tsl_conv2d_shape *s) {
    return (uint64_t)s->c_out * s->c_in * s->kh * s->kw;
}

uint64_t tsl_conv2d_y_count(const tsl_conv2d_shape *s) {
    return (uint64_t)s->n * s->c_out * tsl_conv2d_out_h(s) * tsl_conv2d_out_w(s);
}

static tsl_status check_shape(const char *op, const tsl_conv2d_shape *s) {
    if (!s->n || !s->c_in || !s->h || !s->w || !s->c_out || !s->kh || !s->kw || !s->stride)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "%s: every dimension must be non-zero (n %u, c_in %u, h %u, w %u, c_out %u, kernel "
                         "%ux%u, stride %u)",
                         op, s->n, s->c_in, s->h, s->w, s->c_out, s->kh, s->kw, s->stride);
    if (!tsl_conv2d_out_h(s) || !tsl_conv2d_out_w(s))
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %ux%u kernel is larger than the %ux%u input padded by %u",
                         op, s->kh, s->kw, s->h, s->w, s->pad);
    return TSL_OK;
}

static tsl_status check_range(const char *op, const char *name, tsl_vk_range r, uint64_t count,
                              uint32_t elem_bytes) {
    if (r.size != elem_bytes * count)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %s is %llu bytes but the shape needs %llu (%llu %s)", op,
                         name, (unsigned long long)r.size, (unsigned long long)(elem_bytes * count),
                         (unsigned long long)count, elem_bytes == 2 ? "halves" : "floats");
    if (r.offset % elem_bytes)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %s starts at byte %llu, not a multiple of %u", op, name,
                         (unsigned long long)r.offset, elem_bytes);
    return TSL_OK;
}

/* One operand of a conv dispatch: its range, the bytes one image of it takes (0: not split by batch,
 * the weights) and how the shader touches it. */
typedef struct {
    const char *name;
    tsl_vk_range range;
    VkDeviceSize image_bytes;
    tsl_vk_access access;
    uint32_t elem_bytes; /* 4 (fp32) or 2 (fp16 inputs of the _f16 variants) */
} conv_operand;

typedef struct {
    uint32_t n, c_in, h, w, c_out, kh, kw, stride, pad, oh, ow;
    uint32_t x_base, w_base, y_base;
    uint32_t accumulate;
} conv_push;

typedef struct {
    const char *op;
    tsl_shader_id shader;
    conv_operand operands[3]; /* bound at bindings 0, 1, 2; the push bases follow their roles */
    uint32_t base_slot[3];    /* which of x_base (0), w_base (1), y_base (2) each operand's base fills */
    uint32_t column_tiles;    /* tiles of tile.n GEMM columns, WORKGROUP of them per group along gx (0:
                                 per chunk, its images' outputs flattened: CPU general_flat) */
    uint64_t flat_plane;      /* with column_tiles 0: output pixels per image and phase (forward oh*ow;
                                 dx ceil(h/s) * ceil(w/s), over flat_phases = s*s phases) */
    uint32_t flat_phases;
    uint32_t rows;           /* GEMM rows (tile.m of them per group along gy) */
    bool images_in_grid;     /* gz = images of the chunk (forward, dx); else 1 and the shader loops */
    bool accumulate_chunks;  /* operand 2 sums over chunks (dw) */
    uint32_t splits;         /* GPU dw split-K: gz; operand 2 is the workspace of `splits` partial dws */
    tsl_vk_range sum_into;   /* with splits: where the column sum of the partials goes (dw) */
    uint64_t loop_per_image; /* iterations an invocation spends per image of its chunk (dw), or 0 */
    conv_tile tile;
    bool specialize_stride; /* the shader reads STRIDE (constant_id 3) */
    bool tapwise;           /* CPU dw: TAPWISE (constant_id 3) set, tiles of channels at one tap */
    bool flat;              /* CPU variant: one flat index over (image, row tile, column tile) */
} conv_op;

/* The CPU variant (flat) reads its inputs through texel buffers, whose views have an alignment of their
 * own. */
static VkDeviceSize binding_alignment(const tsl_vk_features *f, const conv_op *op) {
    VkDeviceSize align = f->min_storage_buffer_offset_alignment;
    if (op->flat && align < f->min_texel_buffer_offset_alignment)
        align = f->min_texel_buffer_offset_alignment;
    return align;
}

/* Images per dispatch so every split operand's chunk, plus the alignment slack before it, fits a
 * binding; 0 if even one image (or the weights) does not fit. */
static uint32_t images_per_chunk(const tsl_vk_device *d, const conv_op *op, uint32_t n,
                                 const conv_operand **too_big) {
    const tsl_vk_features *f = tsl_vk_device_features(d);
    VkDeviceSize limit = max_binding_bytes(d);
    VkDeviceSize slack = binding_alignment(f, op);
    if (op->flat && limit / 2 > f->max_texel_buffer_elements) /* texel views of at least 2-byte texels */
        limit = 2 * (VkDeviceSize)f->max_texel_buffer_elements;
    uint64_t images = n;
    for (int i = 0; i < 3; i++) {
        const conv_operand *o = &op->operands[i];
        VkDeviceSize whole = o->image_bytes ? o->image_bytes : o->range.size;
        if (whole + slack > limit) {
            *too_big = o;
            return 0;
        }
        if (o->image_bytes && (limit - slack) / o->image_bytes < images)
            images = (limit - slack) / o->image_bytes;
    }
    /* Keep each invocation's loop under the driver's limit (tsl_vk_features.max_loop_iterations), with a
     * quarter of it left for the loops around the image loop. */
    uint64_t budget = (uint64_t)f->max_loop_iterations * 3 / 4;
    if (budget && op->loop_per_image) {
        if (op->loop_per_image > budget) {
            *too_big = NULL;
            return 0;
        }
        if (budget / op->loop_per_image < images)
            images = budget / op->loop_per_image;
    }
    uint32_t max_z = f->max_workgroup_count[2]; /* images are gz in forward, dx */
    return (uint32_t)(images < max_z ? images : max_z);
}

/* Records images [first, first + count) as one dispatch: each batched operand binds its slice. */
static tsl_status record_chunk(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_vk_pipeline *p, const conv_op *op,
                               uint32_t first, uint32_t count, conv_push *push, uint32_t gx, uint32_t gy) {
    VkDeviceSize align = binding_alignment(tsl_vk_device_features(d), op);
    tsl_vk_arg args[3];
    uint32_t bases[3];
    for (int i = 0; i < 3; i++) {
        const conv_operand *o = &op->operands[i];
        VkDeviceSize start = o->image_bytes * first;
        VkDeviceSize size = o->image_bytes ? o->image_bytes * count : o->range.size;
        args[i] = (tsl_vk_arg){
            tsl_vk_range_aligned_down(o->range, start, size, align, o->elem_bytes, &bases[op->base_slot[i]]),
            o->access};
    }
    push->n = count;
    push->x_base = bases[0];
    push->w_base = bases[1];
    push->y_base = bases[2];
    /* dw sums over the batch: the first chunk writes, later ones add to what the earlier wrote. */
    push->accumulate = op->accumulate_chunks && first > 0;
    if (push->accumulate)
        args[2].access = TSL_READ_WRITE;
    uint32_t gz = op->images_in_grid ? count : op->splits > 1 ? op->splits : 1;
    /* GPU forward and dx: the chunk's (image, column tile) pairs along x, one deep (conv_cell_of), unless
     * that row of workgroups would be longer than the device allows. */
    uint64_t flat_gx = ((uint64_t)count * op->column_tiles + WORKGROUP - 1) / WORKGROUP;
    if (!op->flat && op->images_in_grid && flat_gx <= tsl_vk_device_features(d)->max_workgroup_count[0])
        gx = (uint32_t)flat_gx, gz = 1;
    if (op->flat) { /* every (image, row tile, column tile), WORKGROUP per group, over a 2-D grid */
        uint64_t columns = op->column_tiles;
        if (!columns) { /* tiles of the chunk's flattened outputs, images included */
            columns = op->flat_phases * (((uint64_t)count * op->flat_plane + op->tile.n - 1) / op->tile.n);
            gz = 1;
        }
        uint64_t cells = columns * ((op->rows + op->tile.m - 1) / op->tile.m) * gz;
        tsl_vk_grid_1d(d, (cells + WORKGROUP - 1) / WORKGROUP, &gx, &gy);
        gz = 1;
    }
    return tsl_vk_cmd_dispatch(cmd, p, args, 3, push, sizeof *push, gx, gy, gz);
}

static tsl_status record_conv(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                              const conv_op *op) {
    const conv_operand *too_big = NULL;
    uint32_t per_chunk = images_per_chunk(d, op, s->n, &too_big);
    if (!per_chunk && !too_big)
        return tsl_error(
            TSL_ERR_UNSUPPORTED,
            "%s: one image's %llu output pixels exceed what one shader invocation may loop over on "
            "this driver (%u iterations; see tsl_vk_features.max_loop_iterations)",
            op->op, (unsigned long long)op->loop_per_image, tsl_vk_device_features(d)->max_loop_iterations);
    if (!per_chunk)
        return tsl_error(
            TSL_ERR_UNSUPPORTED, "%s: %s (%llu bytes%s) does not fit the device's largest binding", op->op,
            too_big->name,
            (unsigned long long)(too_big->image_bytes ? too_big->image_bytes : too_big->range.size),
            too_big->image_bytes ? " per image" : "");
    tsl_vk_pipeline *p;
    /* dx bakes the stride in (constant_id 3), the CPU dw its path; forward shares one pipeline. */
    uint32_t spec[] = {WORKGROUP, op->tile.m, op->tile.n, op->specialize_stride ? s->stride : op->tapwise};
    TSL_TRY(tsl_vk_pipeline_get(d, op->shader, spec, op->specialize_stride || op->tapwise ? 4 : 3, &p));
    conv_push push = {.c_in = s->c_in,
                      .h = s->h,
                      .w = s->w,
                      .c_out = s->c_out,
                      .kh = s->kh,
                      .kw = s->kw,
                      .stride = s->stride,
                      .pad = s->pad,
                      .oh = tsl_conv2d_out_h(s),
                      .ow = tsl_conv2d_out_w(s)};
    uint32_t gx = (op->column_tiles + WORKGROUP - 1) / WORKGROUP;
    uint32_t gy = (op->rows + op->tile.m - 1) / op->tile.m;
    const uint32_t *max_groups = tsl_vk_device_features(d)->max_workgroup_count;
    if (!op->flat && (gx > max_groups[0] || gy > max_groups[1]))
        return tsl_error(TSL_ERR_UNSUPPORTED, "%s: %u x %u workgroups exceed the device's grid limit %u x %u",
                         op->op, gx, gy, max_groups[0], max_groups[1]);
    for (uint32_t first = 0; first < s->n; first += per_chunk) {
        uint32_t count = s->n - first < per_chunk ? s->n - first : per_chunk;
        TSL_TRY(record_chunk(d, cmd, p, op, first, count, &push, gx, gy));
        if (op->splits > 1) /* the chunk's partial dws, summed into dw (added after the first chunk) */
            TSL_TRY(tsl_reduce_column_sums(d, cmd, op->operands[2].range, false, op->splits,
                                           (uint32_t)tsl_conv2d_w_count(s), op->sum_into, first > 0));
    }
    return TSL_OK;
}

static uint32_t tiles(uint32_t columns, conv_tile tile) {
    return (columns + tile.n - 1) / tile.n;
}

static VkDeviceSize x_image_bytes(const tsl_conv2d_shape *s, uint32_t elem_bytes) {
    return (VkDeviceSize)elem_bytes * s->c_in * s->h * s->w;
}

static VkDeviceSize y_image_bytes(const tsl_conv2d_shape *s, uint32_t elem_bytes) {
    return (VkDeviceSize)elem_bytes * s->c_out * tsl_conv2d_out_h(s) * tsl_conv2d_out_w(s);
}

/* What differs between the fp32 entry points and their _f16 twins; shaders [0] GPU, [1] CPU variant. */
typedef struct {
    const char *suffix;
    uint32_t in_bytes; /* bytes per element of the inputs (x, w, dy) */
    tsl_shader_id forward[2], backward_data[2], backward_weights[2];
} conv_precision;

static const conv_precision fp32 = {
    "",
    4,
    {TSL_SHADER_CONV2D_FORWARD, TSL_SHADER_CONV2D_FORWARD_CPU},
    {TSL_SHADER_CONV2D_BACKWARD_DATA, TSL_SHADER_CONV2D_BACKWARD_DATA_CPU},
    {TSL_SHADER_CONV2D_BACKWARD_WEIGHTS, TSL_SHADER_CONV2D_BACKWARD_WEIGHTS_CPU}};
static const conv_precision fp16 = {
    "_f16",
    2,
    {TSL_SHADER_CONV2D_FORWARD_F16, TSL_SHADER_CONV2D_FORWARD_F16_CPU},
    {TSL_SHADER_CONV2D_BACKWARD_DATA_F16, TSL_SHADER_CONV2D_BACKWARD_DATA_F16_CPU},
    {TSL_SHADER_CONV2D_BACKWARD_WEIGHTS_F16, TSL_SHADER_CONV2D_BACKWARD_WEIGHTS_F16_CPU}};

static tsl_status check_precision(const tsl_vk_device *d, const char *op, const conv_precision *pr) {
    if (pr->in_bytes == 2 && !tsl_vk_device_features(d)->fp16_storage)
        return tsl_error(TSL_ERR_UNSUPPORTED, "%s: the device lacks storageBuffer16BitAccess", op);
    return TSL_OK;
}

static tsl_status forward(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s, tsl_vk_range x,
                          tsl_vk_range w, tsl_vk_range y, tsl_vk_range workspace, const conv_precision *pr) {
    char name[32];
    snprintf(name, sizeof name, "conv2d_forward%s", pr->suffix);
    uint32_t in = pr->in_bytes;
    TSL_TRY(check_precision(d, name, pr));
    TSL_TRY(check_shape(name, s));
    TSL_TRY(check_range(name, "x", x, tsl_conv2d_x_count(s), in));
    TSL_TRY(check_range(name, "w", w, tsl_conv2d_w_count(s), in));
    TSL_TRY(check_range(name, "y", y, tsl_conv2d_y_count(s), 4));
    bool cpu = cpu_variant(d);
    if (cpu && pr->in_bytes == 4 && tsl_conv2d_pointwise_applies(s, false))
        return tsl_conv2d_pointwise_forward(d, cmd, s, x, w, y);
    if (use_im2col(d, s, in, workspace, TSL_CONV2D_IM2COL_FORWARD))
        return tsl_conv2d_im2col_forward(d, cmd, s, x, w, y, workspace, max_binding_bytes(d));
    conv_tile tile = forward_tile(s, cpu);
    conv_op op = {.op = name,
                  .shader = pr->forward[cpu],
                  .flat = cpu,
                  .tile = tile,
                  .operands = {{"x", x, x_image_bytes(s, in), TSL_READ, in},
                               {"w", w, 0, TSL_READ, in},
                               {"y", y, y_image_bytes(s, 4), TSL_WRITE, 4}},
                  .base_slot = {0, 1, 2},
                  .column_tiles = is_1x1(s)
                                      ? tiles(tsl_conv2d_out_h(s) * tsl_conv2d_out_w(s), tile) /* per plane */
                                      : tsl_conv2d_out_h(s) * tiles(tsl_conv2d_out_w(s), tile), /* per row */
                  .rows = s->c_out,
                  .images_in_grid = true};
    if (cpu_general_flat(s, cpu)) {
        op.column_tiles = 0; /* per chunk: its images' outputs flattened (general_flat) */
        op.flat_plane = (uint64_t)tsl_conv2d_out_h(s) * tsl_conv2d_out_w(s);
        op.flat_phases = 1;
    }
    return record_conv(d, cmd, s, &op);
}

static tsl_status backward_data(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s, tsl_vk_range dy,
                                tsl_vk_range w, tsl_vk_range dx, tsl_vk_range workspace,
                                const conv_precision *pr) {
    char name[32];
    snprintf(name, sizeof name, "conv2d_backward_data%s", pr->suffix);
    uint32_t in = pr->in_bytes;
    TSL_TRY(check_precision(d, name, pr));
    TSL_TRY(check_shape(name, s));
    TSL_TRY(check_range(name, "dy", dy, tsl_conv2d_y_count(s), in));
    TSL_TRY(check_range(name, "w", w, tsl_conv2d_w_count(s), in));
    TSL_TRY(check_range(name, "dx", dx, tsl_conv2d_x_count(s), 4));
    bool cpu = cpu_variant(d);
    if (cpu && pr->in_bytes == 4 && tsl_conv2d_pointwise_applies(s, false))
        return tsl_conv2d_pointwise_backward_data(d, cmd, s, dy, w, dx);
    if (use_im2col(d, s, in, workspace, TSL_CONV2D_IM2COL_DATA))
        return tsl_conv2d_im2col_backward_data(d, cmd, s, dy, w, dx, workspace, max_binding_bytes(d));
    conv_tile tile = backward_data_tile(s, cpu);
    conv_op op = {.op = name,
                  .shader = pr->backward_data[cpu],
                  .flat = cpu,
                  .tile = tile,
                  .operands = {{"dy", dy, y_image_bytes(s, in), TSL_READ, in},
                               {"w", w, 0, TSL_READ, in},
                               {"dx", dx, x_image_bytes(s, 4), TSL_WRITE, 4}},
                  .base_slot = {2, 1, 0},
                  /* per input row and stride phase (see the shader) */
                  .column_tiles = is_1x1(s)
                                      ? tiles(tsl_conv2d_out_h(s) * tsl_conv2d_out_w(s), tile)
                                      : s->h * s->stride * tiles((s->w + s->stride - 1) / s->stride, tile),
                  .rows = s->c_in,
                  .images_in_grid = true,
                  .specialize_stride = true};
    if (cpu_dx_flat(s, cpu)) {
        op.column_tiles = 0; /* per chunk: its images' dx pixels flattened per phase (general_flat) */
        op.flat_plane = (uint64_t)((s->h + s->stride - 1) / s->stride) * ((s->w + s->stride - 1) / s->stride);
        op.flat_phases = s->stride * s->stride;
    }
    return record_conv(d, cmd, s, &op);
}

static tsl_status backward_weights(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                   tsl_vk_range x, tsl_vk_range dy, tsl_vk_range dw, tsl_vk_range workspace,
                                   const conv_precision *pr) {
    char name[32];
    snprintf(name, sizeof name, "conv2d_backward_weights%s", pr->suffix);
    uint32_t in = pr->in_bytes;
    TSL_TRY(check_precision(d, name, pr));
    TSL_TRY(check_shape(name, s));
    TSL_TRY(check_range(name, "x", x, tsl_conv2d_x_count(s), in));
    TSL_TRY(check_range(name, "dy", dy, tsl_conv2d_y_count(s), in));
    TSL_TRY(check_range(name, "dw", dw, tsl_conv2d_w_count(s), 4));
    bool cpu = cpu_variant(d);
    if (cpu && pr->in_bytes == 4 && tsl_conv2d_pointwise_applies(s, true))
        return tsl_conv2d_pointwise_backward_weights(d, cmd, s, x, dy, dw);
    if (use_im2col(d, s, in, workspace, TSL_CONV2D_IM2COL_WEIGHTS))
        return tsl_conv2d_im2col_backward_weights(d, cmd, s, x, dy, dw, workspace, max_binding_bytes(d));
    conv_tile tile = backward_weights_tile(s, cpu);
    uint32_t splits = in == 4 ? dw_splits(d, s) : 1;
    VkDeviceSize split_bytes = 4ull * splits * tsl_conv2d_w_count(s);
    bool split = splits > 1 && workspace.size >= split_bytes;
    conv_op op = {.op = name,
                  .shader = pr->backward_weights[cpu],
                  .flat = cpu,
                  .tile = tile,
                  .operands = {{"x", x, x_image_bytes(s, in), TSL_READ, in},
                               {"dy", dy, y_image_bytes(s, in), TSL_READ, in},
                               split ? (conv_operand){"dw partials",
                                                      {workspace.vk, workspace.offset, split_bytes},
                                                      0,
                                                      TSL_WRITE,
                                                      4}
                                     : (conv_operand){"dw", dw, 0, TSL_WRITE, 4}},
                  .splits = split ? splits : 1,
                  .sum_into = dw,
                  .base_slot = {0, 2, 1},
                  .column_tiles = use_tapwise(s, cpu) ? s->kh * s->kw * tiles(s->c_in, tile) /* per tap */
                                                      : tiles(s->c_in * s->kh * s->kw, tile),
                  .rows = s->c_out,
                  .accumulate_chunks = !split,
                  .tapwise = use_tapwise(s, cpu),
                  /* The general path loops over every output pixel of every image in the chunk. */
                  .loop_per_image = (uint64_t)tsl_conv2d_out_h(s) * tsl_conv2d_out_w(s)};
    return record_conv(d, cmd, s, &op);
}

tsl_status tsl_conv2d_forward(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s, tsl_vk_range x,
                              tsl_vk_range w, tsl_vk_range y, tsl_vk_range workspace) {
    return forward(d, cmd, s, x, w, y, workspace, &fp32);
}

tsl_status tsl_conv2d_backward_data(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                    tsl_vk_range dy, tsl_vk_range w, tsl_vk_range dx,
                                    tsl_vk_range workspace) {
    return backward_data(d, cmd, s, dy, w, dx, workspace, &fp32);
}

tsl_status tsl_conv2d_backward_weights(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                       tsl_vk_range x, tsl_vk_range dy, tsl_vk_range dw,
                                       tsl_vk_range workspace) {
    return backward_weights(d, cmd, s, x, dy, dw, workspace, &fp32);
}

static const tsl_vk_range no_workspace;

tsl_status tsl_conv2d_forward_f16(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                  tsl_vk_range x, tsl_vk_range w, tsl_vk_range y) {
    return forward(d, cmd, s, x, w, y, no_workspace, &fp16);
}

tsl_status tsl_conv2d_backward_data_f16(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                        tsl_vk_range dy, tsl_vk_range w, tsl_vk_range dx) {
    return backward_data(d, cmd, s, dy, w, dx, no_workspace, &fp16);
}

tsl_status tsl_conv2d_backward_weights_f16(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                           tsl_vk_range x, tsl_vk_range dy, tsl_vk_range dw) {
    return backward_weights(d, cmd, s, x, dy, dw, no_workspace, &fp16);
}
