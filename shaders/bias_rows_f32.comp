#version 450
// y[r][c] = bias[c] for the rows of y (row-major, `cols` wide, `n` elements in this chunk): starts a
// linear layer's output before the GEMM accumulates onto it. TSL_Y_F16 = 1 stores y as IEEE half.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#if TSL_Y_F16
#extension GL_EXT_shader_16bit_storage : require
#define y_t float16_t
#else
#define y_t float
#endif

layout(std430, set = 0, binding = 0) readonly buffer Bias { float bias[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { y_t y[]; };
layout(push_constant) uniform Push { uint n; uint cols; } pc;

void main() {
    uint i = tsl_global_index();
    if (i < pc.n)
        y[i] = y_t(bias[i % pc.cols]);
}
