#version 450
// dst[i] = value for i < n: fills with any 32-bit pattern (0.0f, NaN poison, an integer).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) writeonly buffer Dst { uint dst[]; };
layout(push_constant) uniform Push { uint n; uint value; } pc;

void main() {
    uint i = tsl_global_index();
    if (i < pc.n)
        dst[i] = pc.value;
}
