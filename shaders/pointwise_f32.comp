#version 450
// The pointwise ops of a ResNet block over n values, chosen by specialization constant OP:
//   0 relu forward:   y = max(a, 0)
//   1 relu backward:  y = b > 0 ? a : 0     (a = dy, b = the forward output or input: same mask)
//   2 add:            y = a + b
//   3 add then relu:  y = max(a + b, 0)      (block output: relu(branch + shortcut))
//   4 accumulate:     y = y + a
// Unused inputs are bound to some read-only range by the host. TSL_FP16 = 1 stores a, b, y as IEEE half:
// values are converted to fp32, computed on, and rounded to half once at the store.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint OP = 0;

#if TSL_FP16
#extension GL_EXT_shader_16bit_storage : require
#define value_t float16_t
#else
#define value_t float
#endif

layout(std430, set = 0, binding = 0) readonly buffer A { value_t a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { value_t b[]; };
layout(std430, set = 0, binding = 2) buffer Y { value_t y[]; };
layout(push_constant) uniform Push { uint n; } pc;

void main() {
    uint i = tsl_global_index();
    if (i >= pc.n)
        return;
    float x = float(a[i]), v;
    if (OP == 0)
        v = x > 0.0 ? x : 0.0;
    else if (OP == 1)
        v = float(b[i]) > 0.0 ? x : 0.0;
    else if (OP == 2)
        v = x + float(b[i]);
    else if (OP == 3)
        v = max(x + float(b[i]), 0.0);
    else
        v = float(y[i]) + x;
    y[i] = value_t(v);
}
