#version 450
// First level of the Barlow Twins loss reduction over the cross-correlation C (dim x dim, row-major):
// workgroup g of this dispatch sums the terms of elements [g * per_group, (g+1) * per_group) of its chunk
// (clipped to n) and writes partial[partial_base + g]. The term of C_ij is scale * (1 - C_ii)^2 on the
// diagonal and scale * lambd * C_ij^2 off it. The chunk starts at element (row0, col0) of C. Each
// invocation sums a strided run, then the workgroup combines through a shared-memory tree (independent of
// the subgroup size); tsl_reduce_sum_f32 then sums the partials. The diagonal is found without a division
// per element (barlow_diagonal.glsl).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "barlow_diagonal.glsl"

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

void main() {
    uint g = tsl_group_index();
    uint begin = g * pc.per_group;
    uint end = min(begin + pc.per_group, pc.n);
    uint e = begin + gl_LocalInvocationID.x;
    uint r = barlow_diagonal_phase(pc.dim, pc.row0, pc.col0, e), step = barlow_diagonal_step(pc.dim);
    float acc = 0.0;
    for (; e < end; e += TSL_WORKGROUP_SIZE) {
        float v = c[e];
        acc += r == 0 ? (1.0 - v) * (1.0 - v) : pc.lambd * v * v;
        r = barlow_diagonal_next(pc.dim, step, r);
    }
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
