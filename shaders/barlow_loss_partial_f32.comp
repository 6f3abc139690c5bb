#version 450
// First level of the Barlow Twins loss reduction over the cross-correlation C (dim x dim, row-major):
// workgroup g of this dispatch sums the terms of elements [g * per_group, (g+1) * per_group) of its chunk
// (clipped to n) and writes partial[partial_base + g]. The term of C_ij is scale * (1 - C_ii)^2 on the
// diagonal and scale * lambd * C_ij^2 off it. The chunk starts at element (row0, col0) of C. Each
// invocation sums a strided run, then the workgroup combines through a shared-memory tree (independent of
// the subgroup size); tsl_reduce_sum_f32 then sums the partials.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer C { float c[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Partial { float partial[]; };
layout(push_constant) uniform Push {
    uint n;
    uint per_group;
    uint dim;
    uint row0, col0;
    uint partial_base;
    float lambd, scale;
} pc;

shared float sums[TSL_WORKGROUP_SIZE];

float term(uint e) {
    uint j = pc.col0 + e;
    uint i = pc.row0 + j / pc.dim;
    j %= pc.dim;
    float v = c[e];
    return i == j ? (1.0 - v) * (1.0 - v) : pc.lambd * v * v;
}

void main() {
    uint g = tsl_group_index();
    uint begin = g * pc.per_group;
    uint end = min(begin + pc.per_group, pc.n);
    float acc = 0.0;
    for (uint e = begin + gl_LocalInvocationID.x; e < end; e += TSL_WORKGROUP_SIZE)
        acc += term(e);
    sums[gl_LocalInvocationID.x] = acc;
    barrier();
    for (uint stride = TSL_WORKGROUP_SIZE / 2; stride > 0; stride /= 2) {
        if (gl_LocalInvocationID.x < stride)
            sums[gl_LocalInvocationID.x] += sums[gl_LocalInvocationID.x + stride];
        barrier();
    }
    if (gl_LocalInvocationID.x == 0)
        partial[pc.partial_base + g] = pc.scale * sums[0];
}
