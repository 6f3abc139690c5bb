#version 450
// One optimiser step over one piece of one parameter tensor, one element per invocation:
//   d = g + wd * p                      (DECAY: the tensor is not excluded)
//   d = d * q, q = eta |p| / |d| if both norms > 0 else 1     (LARS and not excluded)
//   mu = momentum * mu + d;  p = p - lr * mu
// The norms come from optim_norm_final (norms[2 * tensor] = |p|, norms[2 * tensor + 1] = |g + wd p|),
// so the trust ratio never leaves the device.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const bool DECAY = true;
layout(constant_id = 2) const bool LARS = true;

layout(std430, set = 0, binding = 0) buffer P { float p[]; };
layout(std430, set = 0, binding = 1) readonly buffer G { float g[]; };
layout(std430, set = 0, binding = 2) buffer Mu { float mu[]; };
layout(std430, set = 0, binding = 3) readonly buffer Norms { float norms[]; };
layout(push_constant) uniform Push { uint n, tensor; float lr, momentum, wd, eta; } pc;

void main() {
    uint i = tsl_global_index();
    if (i >= pc.n)
        return;
    float q = 1.0;
    if (LARS) {
        float pn = norms[2 * pc.tensor], dn = norms[2 * pc.tensor + 1];
        if (pn > 0.0 && dn > 0.0)
            q = pc.eta * pn / dn;
    }
    float d = DECAY ? fma(pc.wd, p[i], g[i]) : g[i];
    float m = fma(pc.momentum, mu[i], d * q);
    mu[i] = m;
    p[i] = fma(-pc.lr, m, p[i]);
}
