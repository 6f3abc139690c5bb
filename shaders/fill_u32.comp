#version 450
// dst[i] = value for i < n: fills with any 32-bit pattern (0.0f, NaN poison, an integer). One uvec4 per
// invocation; the n % 4 tail goes through a scalar view of the same binding.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) writeonly buffer Dst4 { uvec4 dst4[]; };
layout(std430, set = 0, binding = 0) writeonly buffer Dst1 { uint dst1[]; };
layout(push_constant) uniform Push { uint n; uint value; } pc;

void main() {
    uint i = tsl_global_index();
    uint full = pc.n / 4;
    if (i < full) {
        dst4[i] = uvec4(pc.value);
    } else if (i == full) {
        for (uint j = 4 * full; j < pc.n; j++)
            dst1[j] = pc.value;
    }
}
