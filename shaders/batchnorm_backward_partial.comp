#version 450
// Batch-norm backward, first level: workgroup (g, c) sums dy and dy * xhat (xhat = (x - mean) * invstd)
// over a slice of channel c in one batch chunk (same slicing as batchnorm_stats_partial), writing the
// pair to partials[2 * (c * slots + first_slot + g)]. Strided sequential runs, then a tree.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 2) readonly buffer Mean { float mean[]; };
layout(std430, set = 0, binding = 3) readonly buffer InvStd { float invstd[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Partials { float partials[]; };
layout(push_constant) uniform Push { uint channels, hw, images, per_group, slots, first_slot; } pc;

shared float s_dy[TSL_WORKGROUP_SIZE];
shared float s_dyx[TSL_WORKGROUP_SIZE];

void main() {
    uint g = gl_WorkGroupID.x, c = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
    uint begin = g * pc.per_group;
    uint end = min(begin + pc.per_group, pc.images * pc.hw);
    float mu = mean[c], sum_dy = 0.0, sum_dyx = 0.0;
    for (uint j = begin + t; j < end; j += TSL_WORKGROUP_SIZE) {
        uint n = j / pc.hw;
        uint at = (n * pc.channels + c) * pc.hw + (j - n * pc.hw);
        sum_dy += dy[at];
        sum_dyx += dy[at] * (x[at] - mu);
    }
    s_dy[t] = sum_dy;
    s_dyx[t] = sum_dyx;
    barrier();
    for (uint stride = TSL_WORKGROUP_SIZE / 2; stride > 0; stride /= 2) {
        if (t < stride) {
            s_dy[t] += s_dy[t + stride];
            s_dyx[t] += s_dyx[t + stride];
        }
        barrier();
    }
    if (t == 0) {
        uint at = 2 * (c * pc.slots + pc.first_slot + g);
        partials[at] = s_dy[0];
        partials[at + 1] = s_dyx[0] * invstd[c];
    }
}
