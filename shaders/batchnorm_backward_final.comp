#version 450
// Batch-norm backward, second level: invocation c sums channel c's `slots` partial pairs sequentially
// (about m / 4096, at most 32768) into sum_dy[c] (= dbeta) and sum_dy_xhat[c] (= dgamma).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Partials { float partials[]; };
layout(std430, set = 0, binding = 1) writeonly buffer SumDy { float sum_dy[]; };
layout(std430, set = 0, binding = 2) writeonly buffer SumDyXhat { float sum_dy_xhat[]; };
layout(push_constant) uniform Push { uint channels, slots; } pc;

void main() {
    uint c = tsl_global_index();
    if (c >= pc.channels)
        return;
    float acc_dy = 0.0, acc_dyx = 0.0;
    for (uint s = 0; s < pc.slots; s++) {
        acc_dy += partials[2 * (c * pc.slots + s)];
        acc_dyx += partials[2 * (c * pc.slots + s) + 1];
    }
    sum_dy[c] = acc_dy;
    sum_dy_xhat[c] = acc_dyx;
}
