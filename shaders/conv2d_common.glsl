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

layout(constant_id = 1) const uint TILE_M = 4;
layout(constant_id = 2) const uint TILE_N = 4;

layout(push_constant) uniform Push {
    uint n; // images in this chunk
    uint c_in, h, w, c_out, kh, kw, stride, pad, oh, ow;
    uint x_base, w_base, y_base; // element offsets of x (or dx), w (or dw), y (or dy) in their bindings
    uint accumulate;             // backward_weights: 1 adds to dw, 0 overwrites it
} pc;

// Which tile of the GEMM's columns this invocation computes.
uint conv_tile_index() {
    return gl_WorkGroupID.x * TSL_WORKGROUP_SIZE + gl_LocalInvocationID.x;
}

// 1x1, stride 1, pad 0 (so pixel p of y reads pixel p of x), TILE_N a multiple of 4, and runs of `run`
// elements (image rows, or whole planes) that start vec4-aligned in the bindings: the kernels then read
// whole vec4s. The condition is uniform over the dispatch, so the branch costs nothing per element.
bool conv_is_pointwise_vec4(uint run) {
    return pc.kh == 1 && pc.kw == 1 && pc.stride == 1 && pc.pad == 0 && TILE_N % 4 == 0 && run % 4 == 0 &&
           pc.x_base % 4 == 0 && pc.y_base % 4 == 0;
}

#endif
