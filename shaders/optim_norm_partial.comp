#version 450
// Per-tensor norms, first level, over one piece (at most one binding) of one tensor: workgroup g sums
// a[i]^2 and (b[i] + wd * a[i])^2 over [g * per_group, (g + 1) * per_group) clipped to n, writing the
// pair to partials[2 * g] (the host binds the piece's own slots). The host launches only as many workgroups
// as the piece needs and zeroes the slots no workgroup writes beforehand; a workgroup whose range is
// empty writes zeros.
// With a = parameter, b = gradient: |p|^2 and |g + wd p|^2 (LARS's update norm). Sums of squares are of
// non-negative terms, so fp32 accumulation has no cancellation: strided runs, then a tree.
// TSL_VEC4 = 1: a and b are read as vec4s and n and per_group count vec4s (the host's condition: the
// piece is whole vec4s at 16-byte offsets); a CPU driver then loads four values per lane step.
// TSL_TEXEL = 1 (with TSL_VEC4) reads a and b through storage texel buffers.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#if TSL_VEC4
#define value_t vec4
#else
#define value_t float
#endif
#if TSL_TEXEL // vec4 texels, for CPU drivers (tsl_texel.h)
layout(set = 0, binding = 0, rgba32f) uniform readonly imageBuffer a_texels;
layout(set = 0, binding = 1, rgba32f) uniform readonly imageBuffer b_texels;
#define A(i) imageLoad(a_texels, int(i))
#define B(i) imageLoad(b_texels, int(i))
#else
layout(std430, set = 0, binding = 0) readonly buffer A { value_t a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { value_t b[]; };
#define A(i) a[i]
#define B(i) b[i]
#endif
layout(std430, set = 0, binding = 2) writeonly buffer Partials { float partials[]; };
layout(push_constant) uniform Push { uint n, per_group; float wd; } pc;

shared float s_a[TSL_WORKGROUP_SIZE];
shared float s_b[TSL_WORKGROUP_SIZE];

void main() {
    uint g = gl_WorkGroupID.x, t = gl_LocalInvocationID.x;
    uint begin = g * pc.per_group;
    uint end = min(begin + pc.per_group, pc.n);
    value_t sum_a = value_t(0.0), sum_b = value_t(0.0);
    for (uint i = begin + t; i < end; i += TSL_WORKGROUP_SIZE) {
        value_t va = A(i), vb = fma(value_t(pc.wd), va, B(i));
        sum_a = fma(va, va, sum_a);
        sum_b = fma(vb, vb, sum_b);
    }
#if TSL_VEC4
    s_a[t] = (sum_a.x + sum_a.y) + (sum_a.z + sum_a.w);
    s_b[t] = (sum_b.x + sum_b.y) + (sum_b.z + sum_b.w);
#else
    s_a[t] = sum_a;
    s_b[t] = sum_b;
#endif
    barrier();
    for (uint stride = TSL_WORKGROUP_SIZE / 2; stride > 0; stride /= 2) {
        if (t < stride) {
            s_a[t] += s_a[t + stride];
            s_b[t] += s_b[t + stride];
        }
        barrier();
    }
    if (t == 0) {
        partials[2 * g] = s_a[0];
        partials[2 * g + 1] = s_b[0];
    }
}
