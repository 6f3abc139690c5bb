#version 450
// Partial sums: workgroup g writes out[g] = sum of in[g*per_group .. (g+1)*per_group) (clipped to n).
// Each invocation sums a strided run sequentially, then the workgroup combines through shared memory
// (a tree, so the result does not depend on the subgroup size). Applied twice for a full reduction.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer In { float src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Out { float partial[]; };
layout(push_constant) uniform Push { uint n; uint per_group; } pc;

shared float sums[TSL_WORKGROUP_SIZE];

void main() {
    uint g = tsl_group_index();
    uint begin = g * pc.per_group;
    uint end = min(begin + pc.per_group, pc.n);
    float acc = 0.0;
    for (uint i = begin + gl_LocalInvocationID.x; i < end; i += TSL_WORKGROUP_SIZE)
        acc += src[i];
    sums[gl_LocalInvocationID.x] = acc;
    barrier();
    // Workgroup sizes are powers of two (checked on the host).
    for (uint stride = TSL_WORKGROUP_SIZE / 2; stride > 0; stride /= 2) {
        if (gl_LocalInvocationID.x < stride)
            sums[gl_LocalInvocationID.x] += sums[gl_LocalInvocationID.x + stride];
        barrier();
    }
    if (gl_LocalInvocationID.x == 0)
        partial[g] = sums[0];
}
