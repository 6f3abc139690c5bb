#version 450
// y[i] = a * x[i] + y[i] for i < n (fp32).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform Push { uint n; float a; } pc;

void main() {
    uint i = tsl_global_index();
    if (i < pc.n)
        y[i] = fma(pc.a, x[i], y[i]);
}
