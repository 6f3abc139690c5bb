#version 450
// sums[c] (+)= sum over the rows of x[r][c] (row-major, `cols` wide): one invocation per column walks
// down its column, so consecutive invocations read consecutive addresses. accumulate != 0 adds onto
// sums (a later chunk of rows); otherwise sums is write-only.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Sums { float sums[]; };
layout(push_constant) uniform Push { uint rows; uint cols; uint accumulate; } pc;

void main() {
    uint c = tsl_global_index();
    if (c >= pc.cols)
        return;
    float s = 0.0;
    for (uint r = 0; r < pc.rows; r++)
        s += x[r * pc.cols + c];
    sums[c] = pc.accumulate != 0 ? sums[c] + s : s;
}
