#version 450
// Max pooling (square window k, stride s, padding p; padding never wins), one output per invocation
// over a batch chunk of planes. Writes the max and the argmax as an index into the input plane
// (h * W + w), which backward uses to route gradients. Ties keep the first maximum in row-major window
// order and a NaN wins (PyTorch's rule: take val if val > max or val is NaN).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Idx { uint idx[]; };
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

void main() {
    uint i = tsl_global_index();
    if (i >= pc.n)
        return;
    uint plane = i / (HO * WO), r = i - plane * HO * WO;
    uint oh = r / WO, ow = r - oh * WO;
    int h0 = int(oh * STRIDE) - int(PAD), w0 = int(ow * STRIDE) - int(PAD);
    uint base = plane * H * W;
    float best = uintBitsToFloat(0xff800000u); // -inf
    uint best_at = 0;
    bool found = false;
    for (int kh = 0; kh < int(KERNEL); kh++) {
        int hh = h0 + kh;
        if (hh < 0 || hh >= int(H))
            continue;
        for (int kw = 0; kw < int(KERNEL); kw++) {
            int ww = w0 + kw;
            if (ww < 0 || ww >= int(W))
                continue;
            uint at = uint(hh) * W + uint(ww);
            float v = x[base + at];
            if (!found || v > best || isnan(v)) {
                best = v;
                best_at = at;
                found = true;
            }
        }
    }
    y[i] = best;
    idx[i] = best_at;
}
