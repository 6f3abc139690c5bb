#version 450
// Max-pool backward as a gather, one INPUT element per invocation: dx = sum of dy over the outputs
// whose window contains this element and whose stored argmax is this element. Windows overlap when
// stride < kernel, so several outputs may route to one input; gathering (rather than scattering from
// the outputs) needs no atomics and sums in a fixed order, so the result is deterministic.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 1) readonly buffer Idx { uint idx[]; };
layout(std430, set = 0, binding = 2) writeonly buffer DX { float dx[]; };
layout(push_constant) uniform Push { uint n, h, w, ho, wo, kernel, stride, pad; } pc;

// Outputs o with o * stride - pad <= v <= o * stride - pad + kernel - 1, clipped to [0, count).
void window_range(uint v, uint count, out uint first, out uint last) {
    int hi = (int(v) + int(pc.pad)) / int(pc.stride);
    int lo_num = int(v) + int(pc.pad) - int(pc.kernel) + 1;
    int lo = lo_num <= 0 ? 0 : (lo_num + int(pc.stride) - 1) / int(pc.stride);
    first = uint(lo);
    last = uint(min(hi, int(count) - 1));
}

void main() {
    uint i = tsl_global_index();
    if (i >= pc.n)
        return;
    uint plane = i / (pc.h * pc.w), at = i - plane * pc.h * pc.w;
    uint hh = at / pc.w, ww = at - hh * pc.w;
    uint oh0, oh1, ow0, ow1;
    window_range(hh, pc.ho, oh0, oh1);
    window_range(ww, pc.wo, ow0, ow1);
    uint base = plane * pc.ho * pc.wo;
    float sum = 0.0;
    for (uint oh = oh0; oh <= oh1; oh++)
        for (uint ow = ow0; ow <= ow1; ow++) {
            uint o = base + oh * pc.wo + ow;
            if (idx[o] == at)
                sum += dy[o];
        }
    dx[i] = sum;
}
