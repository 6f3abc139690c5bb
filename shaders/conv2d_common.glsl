// Shared declarations of the conv2d kernels (implicit GEMM, no im2col buffer).
//
// Each invocation owns a register tile of TILE_M x TILE_N outputs: TILE_M channels (rows of the GEMM)
// by TILE_N consecutive columns (output pixels, input pixels, or flattened (ci, ky, kx) weight indices).
// Every operand value loaded is reused TILE_M or TILE_N times from registers, which is what makes a CPU
// driver (lavapipe: each invocation is one SIMD lane, no useful shared memory) fast. A workgroup is a
// row of TSL_WORKGROUP_SIZE invocations that share one channel tile (gl_WorkGroupID.y), so the weight
// (or dy) values they load are the same address in every lane; gl_WorkGroupID.z is the image of the
// batch chunk.
//
// Tensors are bound from an aligned byte offset that may precede their first element (batch chunks start
// anywhere), so every tensor index adds its *_base element offset from the push constants.
#ifndef TSL_CONV2D_COMMON_GLSL
#define TSL_CONV2D_COMMON_GLSL

#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Storage type of the inputs (x, w, dy). The TSL_FP16 variants read them as IEEE half (storageBuffer16-
// BitAccess) and convert on load; accumulation and the outputs (y, dx, dw) stay fp32 in both.
#if TSL_FP16
#extension GL_EXT_shader_16bit_storage : require
#define conv_in_t float16_t
#define conv_in4_t f16vec4
#else
#define conv_in_t float
#define conv_in4_t vec4
#endif

// Inputs of the CPU variant (TSL_CONV_FLAT) are storage texel buffers (imageBuffer): lavapipe turns an
// SSBO load into a loop over the SIMD lanes with a branch per lane and component, and a texel load into
// one straight-line gather (docs/PERFORMANCE.md). One r32f (or r16f) view per input, so a vec4 is four
// texel loads, which a CPU driver gathers about as fast as one vec4 texel. CONV_INPUT declares binding
// `b` as `name`; CONV_LOAD(name, i) is element i, CONV_LOAD4(name, i) elements 4i .. 4i + 3, as fp32.
#if TSL_CONV_FLAT
#if TSL_FP16
#define CONV_INPUT(b, name) layout(set = 0, binding = b, r16f) uniform readonly imageBuffer name;
#else
#define CONV_INPUT(b, name) layout(set = 0, binding = b, r32f) uniform readonly imageBuffer name;
#endif
#define CONV_LOAD(name, i) imageLoad(name, int(i)).x
#define CONV_LOAD4(name, i)                                                                                \
    vec4(CONV_LOAD(name, 4u * (i)), CONV_LOAD(name, 4u * (i) + 1u), CONV_LOAD(name, 4u * (i) + 2u),          \
         CONV_LOAD(name, 4u * (i) + 3u))
#endif

layout(constant_id = 1) const uint TILE_M = 4;
layout(constant_id = 2) const uint TILE_N = 4;

layout(push_constant) uniform Push {
    uint n; // images in this chunk
    uint c_in, h, w, c_out, kh, kw, stride, pad, oh, ow;
    uint x_base, w_base, y_base; // element offsets of x (or dx), w (or dw), y (or dy) in their bindings
    uint accumulate;             // backward_weights: 1 adds to dw, 0 overwrites it
} pc;

// Which tile of the GEMM's columns (tile), which tile of TILE_M rows (row_tile) and which image of the
// chunk (img) this invocation computes; `valid` is false for the invocations past the end of the grid.
struct conv_cell {
    uint tile, row_tile, img;
    bool valid;
};

#if TSL_CONV_FLAT
// CPU-class variant (tsl_vk_features.cpu_kernels): one flat index over (image, row tile, column tile),
// column tiles fastest, spread over a 2-D grid of workgroups (tsl_vk_grid_1d). A CPU driver runs each
// invocation as one SIMD lane, so what matters is that every lane has a tile: the GPU layout below leaves
// most lanes of a workgroup idle when an image has fewer than TSL_WORKGROUP_SIZE column tiles (the small
// planes of ResNet's later stages). `images` is 1 where the shader loops over the chunk's images itself.
conv_cell conv_cell_of(uint column_tiles, uint row_tiles, uint images) {
    uint t = tsl_global_index();
    conv_cell c;
    c.tile = t % column_tiles;
    t /= column_tiles;
    c.row_tile = t % row_tiles;
    c.img = t / row_tiles;
    c.valid = c.img < images;
    return c;
}
#else
// GPU layout: row tiles along y, so the invocations of a workgroup share one row tile (the weights they
// load are the same addresses); along x TSL_WORKGROUP_SIZE invocations per workgroup over (image, column
// tile) pairs, column tiles fastest, when the grid is one deep (the host's choice for forward and dx:
// with images along z, an image of fewer column tiles than a workgroup left the rest of its lanes idle,
// 51 of 64 at ResNet's 7x7 planes); else column tiles along x and images (dw: splits) along z.
conv_cell conv_cell_of(uint column_tiles, uint row_tiles, uint images) {
    conv_cell c;
    uint t = gl_WorkGroupID.x * TSL_WORKGROUP_SIZE + gl_LocalInvocationID.x;
    bool one_deep = gl_NumWorkGroups.z == 1u;
    c.tile = one_deep ? t % column_tiles : t;
    c.img = one_deep ? t / column_tiles : gl_WorkGroupID.z;
    c.row_tile = gl_WorkGroupID.y;
    c.valid = c.tile < column_tiles && c.row_tile < row_tiles && c.img < images;
    return c;
}
#endif

// 1x1, stride 1, pad 0: pixel p of y reads pixel p of x, so an image is a plain GEMM over planes of
// h*w contiguous pixels. Forward and dx then tile the flattened plane instead of rows (the host agrees,
// by the same test on the shape), and read vec4s where conv_vec4_ok.
bool conv_is_pointwise() {
    return pc.kh == 1 && pc.kw == 1 && pc.stride == 1 && pc.pad == 0;
}

// 1x1 without padding at any stride: pixel p of y reads one pixel of x, (p / ow * stride, p % ow * stride),
// so forward and dx are plain GEMMs over the output plane (x gathered when the stride is above 1). The
// host makes the same test (is_1x1).
bool conv_is_1x1() {
    return pc.kh == 1 && pc.kw == 1 && pc.pad == 0;
}

// Runs of `run` elements (planes) that start vec4-aligned in both batched bindings, and TILE_N a
// multiple of 4: each vec4 then holds 4 pixels of one tile, wholly inside the run or wholly past it.
// Uniform over the dispatch, so the branch costs nothing per element.
bool conv_vec4_ok(uint run) {
    return TILE_N % 4 == 0 && run % 4 == 0 && pc.x_base % 4 == 0 && pc.y_base % 4 == 0;
}

#endif
