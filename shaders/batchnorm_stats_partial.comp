#version 450
// Batch-norm statistics, first level: workgroup (g, c) summarises a slice of channel c over the images
// of one batch chunk as (count, mean, M2) (M2 = sum of squared deviations from the slice mean).
// Each invocation runs Welford's update over a strided run, then the workgroup merges the runs with
// Chan's pairwise formula in a tree, so no sum of squares of uncentred values is ever formed (the
// naive E[x^2] - E[x]^2 loses everything when |mean| >> std).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Partials { float partials[]; };
// Elements of channel c in the chunk: images * hw, element j at x[((j / hw) * channels + c) * hw + j % hw].
// Slice g covers [g * per_group, (g + 1) * per_group); it lands at partials[3 * (c * slots + first_slot + g)].
layout(push_constant) uniform Push { uint channels, hw, images, per_group, slots, first_slot; } pc;

shared float s_count[TSL_WORKGROUP_SIZE];
shared float s_mean[TSL_WORKGROUP_SIZE];
shared float s_m2[TSL_WORKGROUP_SIZE];

void main() {
    uint g = gl_WorkGroupID.x, c = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
    uint begin = g * pc.per_group;
    uint end = min(begin + pc.per_group, pc.images * pc.hw);
    float count = 0.0, mean = 0.0, m2 = 0.0;
    for (uint j = begin + t; j < end; j += TSL_WORKGROUP_SIZE) {
        uint n = j / pc.hw;
        float v = x[(n * pc.channels + c) * pc.hw + (j - n * pc.hw)];
        count += 1.0;
        float d = v - mean;
        mean += d / count;
        m2 += d * (v - mean);
    }
    s_count[t] = count;
    s_mean[t] = mean;
    s_m2[t] = m2;
    barrier();
    for (uint stride = TSL_WORKGROUP_SIZE / 2; stride > 0; stride /= 2) {
        if (t < stride) {
            float na = s_count[t], nb = s_count[t + stride], nab = na + nb;
            if (nb > 0.0) {
                float d = s_mean[t + stride] - s_mean[t];
                s_mean[t] += d * (nb / nab);
                s_m2[t] += s_m2[t + stride] + d * d * (na * nb / nab);
                s_count[t] = nab;
            }
        }
        barrier();
    }
    if (t == 0) {
        uint at = 3 * (c * pc.slots + pc.first_slot + g);
        partials[at] = s_count[0];
        partials[at + 1] = s_mean[0];
        partials[at + 2] = s_m2[0];
    }
}
