#version 450
// y[i] = a * x[i] + y[i] for i < n (fp32). Each invocation handles one vec4 (lavapipe vectorises vec4
// loads and stores well; a float per invocation runs ~4x slower there); the n % 4 tail goes through
// scalar views of the same bindings.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, set = 0, binding = 1) buffer Y4 { vec4 y4[]; };
layout(std430, set = 0, binding = 0) readonly buffer X1 { float x1[]; };
layout(std430, set = 0, binding = 1) buffer Y1 { float y1[]; };
layout(push_constant) uniform Push { uint n; float a; } pc;

void main() {
    uint i = tsl_global_index();
    uint full = pc.n / 4;
    if (i < full) {
        y4[i] = fma(vec4(pc.a), x4[i], y4[i]);
    } else if (i == full) {
        for (uint j = 4 * full; j < pc.n; j++)
            y1[j] = fma(pc.a, x1[j], y1[j]);
    }
}
