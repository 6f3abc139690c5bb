#version 450
// Global average pooling over a batch chunk. Forward (BACKWARD false): one plane per invocation,
// y[plane] = sum of its hw values (sequential fp32) / hw. Backward: one input element per invocation,
// dx[i] = dy[i / hw] / hw.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const bool BACKWARD = false;

layout(std430, set = 0, binding = 0) readonly buffer Src { float src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { float dst[]; };
layout(push_constant) uniform Push { uint n, hw; float inv_hw; } pc;

void main() {
    uint i = tsl_global_index();
    if (i >= pc.n)
        return;
    if (BACKWARD) {
        dst[i] = src[i / pc.hw] * pc.inv_hw;
    } else {
        float sum = 0.0;
        for (uint k = 0; k < pc.hw; k++)
            sum += src[i * pc.hw + k];
        dst[i] = sum * pc.inv_hw;
    }
}
