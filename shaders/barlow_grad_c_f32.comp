#version 450
// dL/dC of the Barlow Twins loss, elementwise over a chunk of C (dim x dim, row-major) that starts at
// element (row0, col0): scale * -2 (1 - C_ii) on the diagonal, scale * 2 lambd C_ij off it.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer C { float c[]; };
layout(std430, set = 0, binding = 1) writeonly buffer DC { float dc[]; };
layout(push_constant) uniform Push {
    uint n;
    uint dim;
    uint row0, col0;
    float lambd, scale;
} pc;

void main() {
    uint e = tsl_global_index();
    if (e >= pc.n)
        return;
    uint j = pc.col0 + e;
    uint i = pc.row0 + j / pc.dim;
    j %= pc.dim;
    float v = c[e];
    dc[e] = i == j ? pc.scale * -2.0 * (1.0 - v) : pc.scale * 2.0 * pc.lambd * v;
}
