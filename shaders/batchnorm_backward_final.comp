#version 450
// Batch-norm backward, second level: workgroup c sums channel c's `slots` partial pairs into
// sum_dy[c] (= dbeta) and sum_dy_xhat[c] (= dgamma).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Partials { float partials[]; };
layout(std430, set = 0, binding = 1) writeonly buffer SumDy { float sum_dy[]; };
layout(std430, set = 0, binding = 2) writeonly buffer SumDyXhat { float sum_dy_xhat[]; };
layout(push_constant) uniform Push { uint slots; } pc;

shared float s_dy[TSL_WORKGROUP_SIZE];
shared float s_dyx[TSL_WORKGROUP_SIZE];

void main() {
    uint c = gl_WorkGroupID.x, t = gl_LocalInvocationID.x;
    float acc_dy = 0.0, acc_dyx = 0.0;
    for (uint s = t; s < pc.slots; s += TSL_WORKGROUP_SIZE) {
        acc_dy += partials[2 * (c * pc.slots + s)];
        acc_dyx += partials[2 * (c * pc.slots + s) + 1];
    }
    s_dy[t] = acc_dy;
    s_dyx[t] = acc_dyx;
    barrier();
    for (uint stride = TSL_WORKGROUP_SIZE / 2; stride > 0; stride /= 2) {
        if (t < stride) {
            s_dy[t] += s_dy[t + stride];
            s_dyx[t] += s_dyx[t + stride];
        }
        barrier();
    }
    if (t == 0) {
        sum_dy[c] = s_dy[0];
        sum_dy_xhat[c] = s_dyx[0];
    }
}
