#version 450
// y[r][c] = bias[c] for the rows of y (row-major, `cols` wide, `n` elements in this chunk): starts a
// linear layer's output before the GEMM accumulates onto it.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Bias { float bias[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint n; uint cols; } pc;

void main() {
    uint i = tsl_global_index();
    if (i < pc.n)
        y[i] = bias[i % pc.cols];
}
