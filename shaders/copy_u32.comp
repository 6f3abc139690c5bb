#version 450
// dst[i] = src[i] for i < n words: a byte-exact copy through the shader cores.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Src { uint src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { uint dst[]; };
layout(push_constant) uniform Push { uint n; } pc;

void main() {
    uint i = tsl_global_index();
    if (i < pc.n)
        dst[i] = src[i];
}
