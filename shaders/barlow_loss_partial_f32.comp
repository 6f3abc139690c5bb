#version 450
// First level of the Barlow Twins loss reduction over the cross-correlation C (dim x dim, row-major):
// workgroup g of this dispatch sums the terms of elements [g * per_group, (g+1) * per_group) of its chunk
// (clipped to n) and writes partial[partial_base + g]. The term of C_ij is scale * (1 - C_ii)^2 on the
// diagonal and scale * lambd * C_ij^2 off it. The chunk starts at element (row0, col0) of C. Each
// invocation sums a strided run, then the workgroup combines through a shared-memory tree (independent of
// the subgroup size); tsl_reduce_sum_f32 then sums the partials.
//
// C_ij is on the diagonal when its flat index i * dim + j is a multiple of dim + 1. Each invocation takes
// that index modulo dim + 1 once and advances it by the stride: an integer division per element cost
// more than the rest of the pass on a CPU driver, which divides lane by lane.
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

void main() {
    uint g = tsl_group_index();
    uint begin = g * pc.per_group;
    uint end = min(begin + pc.per_group, pc.n);
    uint e = begin + gl_LocalInvocationID.x;
    uint period = pc.dim + 1;
    // flat index of C_e modulo dim + 1 (below 2^32: dim <= 65535, e < n + TSL_WORKGROUP_SIZE)
    uint r = (pc.row0 * pc.dim + pc.col0 + e) % period;
    uint step = TSL_WORKGROUP_SIZE % period;
    float acc = 0.0;
    for (; e < end; e += TSL_WORKGROUP_SIZE) {
        float v = c[e];
        acc += r == 0 ? (1.0 - v) * (1.0 - v) : pc.lambd * v * v;
        r += step;
        r = r >= period ? r - period : r;
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
