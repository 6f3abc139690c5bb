#version 450
// One optimiser step over one piece of one parameter tensor, one element (or vec4) per invocation:
//   d = g + wd * p                      (DECAY: the tensor is not excluded)
//   d = d * q, q = eta |p| / |d| if both norms > 0 else 1     (LARS and not excluded)
//   mu = momentum * mu + d;  p = p - lr * mu
// The norms come from optim_norm_final (norms[2 * tensor] = |p|, norms[2 * tensor + 1] = |g + wd p|),
// so the trust ratio never leaves the device.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const bool DECAY = true;
layout(constant_id = 2) const bool LARS = true;

// TSL_VEC4 = 1 updates four elements per invocation (n counts vec4s; the host's condition: whole vec4s
// at 16-byte offsets), which a CPU driver loads in one step per lane where it loops over the lanes for
// every scalar load; the arithmetic per element is the same.
#if TSL_VEC4
#define value_t vec4
#else
#define value_t float
#endif
layout(std430, set = 0, binding = 0) buffer P { value_t p[]; };
// TSL_TEXEL = 1 (with TSL_VEC4; CPU drivers, tsl_texel.h) reads g, p and mu as vec4 texels; p and mu are
// bound twice, as texel views (bindings 4 and 5) for the reads and as buffers for the writes. Each
// invocation reads its own elements before it writes them, and no other invocation touches them.
#if TSL_TEXEL
layout(set = 0, binding = 1, rgba32f) uniform readonly imageBuffer g_texels;
layout(set = 0, binding = 4, rgba32f) uniform readonly imageBuffer p_texels;
layout(set = 0, binding = 5, rgba32f) uniform readonly imageBuffer mu_texels;
#define G(i) imageLoad(g_texels, int(i))
#define P(i) imageLoad(p_texels, int(i))
#define MU(i) imageLoad(mu_texels, int(i))
#else
layout(std430, set = 0, binding = 1) readonly buffer G { value_t g[]; };
#define G(i) g[i]
#define P(i) p[i]
#define MU(i) mu[i]
#endif
layout(std430, set = 0, binding = 2) buffer Mu { value_t mu[]; };
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
    value_t p_old = P(i);
    value_t d = DECAY ? fma(value_t(pc.wd), p_old, G(i)) : G(i);
    value_t m = fma(value_t(pc.momentum), MU(i), d * q);
    mu[i] = m;
    p[i] = fma(value_t(-pc.lr), m, p_old);
}
