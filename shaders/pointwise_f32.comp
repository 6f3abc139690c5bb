#version 450
// The pointwise ops of a ResNet block over n fp32 values, chosen by specialization constant OP:
//   0 relu forward:   y = max(a, 0)
//   1 relu backward:  y = b > 0 ? a : 0     (a = dy, b = the forward output or input: same mask)
//   2 add:            y = a + b
//   3 add then relu:  y = max(a + b, 0)      (block output: relu(branch + shortcut))
//   4 accumulate:     y = y + a
// Unused inputs are bound to some read-only range by the host.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint OP = 0;

layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) buffer Y { float y[]; };
layout(push_constant) uniform Push { uint n; } pc;

void main() {
    uint i = tsl_global_index();
    if (i >= pc.n)
        return;
    if (OP == 0)
        y[i] = a[i] > 0.0 ? a[i] : 0.0;
    else if (OP == 1)
        y[i] = b[i] > 0.0 ? a[i] : 0.0;
    else if (OP == 2)
        y[i] = a[i] + b[i];
    else if (OP == 3)
        y[i] = max(a[i] + b[i], 0.0);
    else
        y[i] = y[i] + a[i];
}
