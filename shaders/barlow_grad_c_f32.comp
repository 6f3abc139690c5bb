#version 450
// dL/dC of the Barlow Twins loss, elementwise over a chunk of C (dim x dim, row-major) that starts at
// element (row0, col0): scale * -2 (1 - C_ii) on the diagonal, scale * 2 lambd C_ij off it.
//
// Workgroup g writes elements [g * per_group, (g + 1) * per_group) of the chunk (clipped to n), each
// invocation every TSL_WORKGROUP_SIZE-th (neighbouring invocations, neighbouring elements); the diagonal
// is found without a division per element (barlow_diagonal.glsl).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "barlow_diagonal.glsl"

layout(std430, set = 0, binding = 0) readonly buffer C { float c[]; };
layout(std430, set = 0, binding = 1) writeonly buffer DC { float dc[]; };
layout(push_constant) uniform Push {
    uint n;
    uint dim;
    uint row0, col0;
    float lambd, scale;
    uint per_group;
} pc;

void main() {
    uint begin = tsl_group_index() * pc.per_group;
    uint end = min(begin + pc.per_group, pc.n);
    uint e = begin + gl_LocalInvocationID.x;
    uint r = barlow_diagonal_phase(pc.dim, pc.row0, pc.col0, e), step = barlow_diagonal_step(pc.dim);
    for (; e < end; e += TSL_WORKGROUP_SIZE) {
        float v = c[e];
        dc[e] = r == 0 ? pc.scale * -2.0 * (1.0 - v) : pc.scale * 2.0 * pc.lambd * v;
        r = barlow_diagonal_next(pc.dim, step, r);
    }
}
