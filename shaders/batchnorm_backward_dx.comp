#version 450
// Batch-norm backward through the batch statistics (training mode), one element per invocation:
//   dx = gamma[c] * invstd[c] * (dy - sum_dy[c] / m - xhat * sum_dy_xhat[c] / m),   m = N * H * W.
// Without AFFINE, gamma is 1 and its binding is unused.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const bool AFFINE = true;

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 2) readonly buffer Mean { float mean[]; };
layout(std430, set = 0, binding = 3) readonly buffer InvStd { float invstd[]; };
layout(std430, set = 0, binding = 4) readonly buffer Gamma { float gamma[]; };
layout(std430, set = 0, binding = 5) readonly buffer SumDy { float sum_dy[]; };
layout(std430, set = 0, binding = 6) readonly buffer SumDyXhat { float sum_dy_xhat[]; };
layout(std430, set = 0, binding = 7) writeonly buffer DX { float dx[]; };
layout(push_constant) uniform Push { uint n, channels, hw; float inv_m; } pc;

void main() {
    uint i = tsl_global_index();
    if (i >= pc.n)
        return;
    uint c = (i / pc.hw) % pc.channels;
    float s = invstd[c];
    float xhat = (x[i] - mean[c]) * s;
    float g = AFFINE ? gamma[c] * s : s;
    dx[i] = g * (dy[i] - sum_dy[c] * pc.inv_m - xhat * (sum_dy_xhat[c] * pc.inv_m));
}
