#version 450
// The pointwise ops of a ResNet block over n values, chosen by specialization constant OP:
//   0 relu forward:   y = a > 0 ? a : 0
//   1 relu backward:  y = b > 0 ? a : 0     (a = dy, b = the forward output or input: same mask)
//   2 add:            y = a + b
//   3 add then relu:  y = a + b > 0 ? a + b : 0   (block output: relu(branch + shortcut))
//   4 accumulate:     y = y + a
// Unused inputs are bound to some read-only range by the host. TSL_FP16 = 1 stores a, b, y as IEEE half:
// values are converted to fp32, computed on, and rounded to half once at the store. TSL_VEC4 = 1 takes
// four values per invocation (n counts vec4s; the host's condition: whole vec4s), which a CPU driver
// loads in one step per lane where it loops over the lanes for every scalar load. TSL_TEXEL = 1 (with
// TSL_VEC4, fp32) reads a and b through storage texel buffers instead, for CPU drivers (tsl_texel.h).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint OP = 0;

#if TSL_FP16
#extension GL_EXT_shader_16bit_storage : require
#endif
#if TSL_VEC4
#define compute_t vec4
#if TSL_FP16
#define value_t f16vec4
#else
#define value_t vec4
#endif
#else
#define compute_t float
#if TSL_FP16
#define value_t float16_t
#else
#define value_t float
#endif
#endif

#if TSL_TEXEL // a texel is a vec4 of a or b
layout(set = 0, binding = 0, rgba32f) uniform readonly imageBuffer a_texels;
layout(set = 0, binding = 1, rgba32f) uniform readonly imageBuffer b_texels;
#define A(i) imageLoad(a_texels, int(i))
#define B(i) imageLoad(b_texels, int(i))
#else
layout(std430, set = 0, binding = 0) readonly buffer A { value_t a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { value_t b[]; };
#define A(i) compute_t(a[i])
#define B(i) compute_t(b[i])
#endif
layout(std430, set = 0, binding = 2) buffer Y { value_t y[]; };
layout(push_constant) uniform Push { uint n; } pc;

// v where m > 0, else 0: a selection, so relu and its backward copy values exactly (NaN gives 0).
float keep_where_positive(float v, float m) {
    return m > 0.0 ? v : 0.0;
}
vec4 keep_where_positive(vec4 v, vec4 m) {
    return mix(vec4(0.0), v, greaterThan(m, vec4(0.0)));
}

void main() {
    uint i = tsl_global_index();
    if (i >= pc.n)
        return;
    compute_t x = A(i), v;
    if (OP == 0)
        v = keep_where_positive(x, x);
    else if (OP == 1)
        v = keep_where_positive(x, B(i));
    else if (OP == 2)
        v = x + B(i);
    else if (OP == 3)
        v = keep_where_positive(x + B(i), x + B(i));
    else
        v = compute_t(y[i]) + x;
    y[i] = value_t(v);
}
