#version 450
// One AdamW step (torch.optim.AdamW, amsgrad off) over one piece of one parameter tensor, one element per
// invocation, in torch's order of operations:
//   p = p * decay                         (decay = 1 - lr * wd, decoupled weight decay; 1 when excluded)
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
//   p = p - step_size * m / (sqrt(v) / bc2_sqrt + eps)
// with step_size = lr / (1 - beta1^t) and bc2_sqrt = sqrt(1 - beta2^t) computed by the host in double.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) buffer P { float p[]; };
layout(std430, set = 0, binding = 1) readonly buffer G { float g[]; };
layout(std430, set = 0, binding = 2) buffer M { float m[]; };
layout(std430, set = 0, binding = 3) buffer V { float v[]; };
layout(push_constant) uniform Push {
    uint n;
    float decay, beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps;
} pc;

void main() {
    uint i = tsl_global_index();
    if (i >= pc.n)
        return;
    float gi = g[i];
    float pi = p[i] * pc.decay;
    float mi = pc.beta1 * m[i] + pc.one_minus_beta1 * gi;
    float vi = pc.beta2 * v[i] + pc.one_minus_beta2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    float denom = sqrt(vi) / pc.bc2_sqrt + pc.eps;
    p[i] = pi - pc.step_size * (mi / denom);
}
