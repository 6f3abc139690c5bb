#version 450
// Per-tensor norms, second level: workgroup t sums tensor t's `slots` partial pairs (a tree) and writes
// sqrt of each sum: with PAIRS, norms[2t] and norms[2t + 1]; otherwise norms[t] from the first sum only.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const bool PAIRS = true;

layout(std430, set = 0, binding = 0) readonly buffer Partials { float partials[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Norms { float norms[]; };
layout(push_constant) uniform Push { uint slots; } pc;

shared float s_a[TSL_WORKGROUP_SIZE];
shared float s_b[TSL_WORKGROUP_SIZE];

void main() {
    uint tensor = gl_WorkGroupID.x, t = gl_LocalInvocationID.x;
    float sum_a = 0.0, sum_b = 0.0;
    for (uint s = t; s < pc.slots; s += TSL_WORKGROUP_SIZE) {
        sum_a += partials[2 * (tensor * pc.slots + s)];
        sum_b += partials[2 * (tensor * pc.slots + s) + 1];
    }
    s_a[t] = sum_a;
    s_b[t] = sum_b;
    barrier();
    for (uint stride = TSL_WORKGROUP_SIZE / 2; stride > 0; stride /= 2) {
        if (t < stride) {
            s_a[t] += s_a[t + stride];
            s_b[t] += s_b[t + stride];
        }
        barrier();
    }
    if (t == 0) {
        if (PAIRS) {
            norms[2 * tensor] = sqrt(s_a[0]);
            norms[2 * tensor + 1] = sqrt(s_b[0]);
        } else {
            norms[tensor] = sqrt(s_a[0]);
        }
    }
}
