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
// The shape as specialization constants: a CPU driver divides by a runtime value one lane at a time,
// and by a constant with a multiply (ResNet has one max-pool per resolution, so one pipeline each).
layout(constant_id = 1) const uint H = 1;
layout(constant_id = 2) const uint W = 1;
layout(constant_id = 3) const uint HO = 1;
layout(constant_id = 4) const uint WO = 1;
layout(constant_id = 5) const uint KERNEL = 1;
layout(constant_id = 6) const uint STRIDE = 1;
layout(constant_id = 7) const uint PAD = 0;
layout(push_constant) uniform Push { uint n; } pc;

// Outputs o with o * stride - pad <= v <= o * stride - pad + kernel - 1, clipped to [0, count).
void window_range(uint v, uint count, out uint first, out uint last) {
    int hi = (int(v) + int(PAD)) / int(STRIDE);
    int lo_num = int(v) + int(PAD) - int(KERNEL) + 1;
    int lo = lo_num <= 0 ? 0 : (lo_num + int(STRIDE) - 1) / int(STRIDE);
    first = uint(lo);
    last = uint(min(hi, int(count) - 1));
}

void main() {
    uint i = tsl_global_index();
    if (i >= pc.n)
        return;
    uint plane = i / (H * W), at = i - plane * H * W;
    uint hh = at / W, ww = at - hh * W;
    uint oh0, oh1, ow0, ow1;
    window_range(hh, HO, oh0, oh1);
    window_range(ww, WO, ow0, ow1);
    uint base = plane * HO * WO;
    float sum = 0.0;
    for (uint oh = oh0; oh <= oh1; oh++)
        for (uint ow = ow0; ow <= ow1; ow++) {
            uint o = base + oh * WO + ow;
            if (idx[o] == at)
                sum += dy[o];
        }
    dx[i] = sum;
}
