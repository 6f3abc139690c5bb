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
layout(push_constant) uniform Push { uint n, h, w, ho, wo, kernel, stride, pad; } pc;

void main() {
    uint i = tsl_global_index();
    if (i >= pc.n)
        return;
    uint plane = i / (pc.ho * pc.wo), r = i - plane * pc.ho * pc.wo;
    uint oh = r / pc.wo, ow = r - oh * pc.wo;
    int h0 = int(oh * pc.stride) - int(pc.pad), w0 = int(ow * pc.stride) - int(pc.pad);
    uint base = plane * pc.h * pc.w;
    float best = uintBitsToFloat(0xff800000u); // -inf
    uint best_at = 0;
    bool found = false;
    for (int kh = 0; kh < int(pc.kernel); kh++) {
        int hh = h0 + kh;
        if (hh < 0 || hh >= int(pc.h))
            continue;
        for (int kw = 0; kw < int(pc.kernel); kw++) {
            int ww = w0 + kw;
            if (ww < 0 || ww >= int(pc.w))
                continue;
            uint at = uint(hh) * pc.w + uint(ww);
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
