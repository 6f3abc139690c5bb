#version 450
// dst[i] = src[i] for i < n words: a byte-exact copy through the shader cores. One uvec4 per invocation;
// the n % 4 tail goes through scalar views of the same bindings.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Src4 { uvec4 src4[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst4 { uvec4 dst4[]; };
layout(std430, set = 0, binding = 0) readonly buffer Src1 { uint src1[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst1 { uint dst1[]; };
layout(push_constant) uniform Push { uint n; } pc;

void main() {
    uint i = tsl_global_index();
    uint full = pc.n / 4;
    if (i < full) {
        dst4[i] = src4[i];
    } else if (i == full) {
        for (uint j = 4 * full; j < pc.n; j++)
            dst1[j] = src1[j];
    }
}
