#version 450
// Batch-norm statistics, second level: invocation c merges channel c's `slots` (count, mean, M2)
// partials sequentially with Chan's formula (about m / 4096 slots, at most 32768, within lavapipe's
// loop limit; one invocation per channel beats a workgroup tree with barriers there), then writes the
// batch mean and 1 / sqrt(biased variance + eps) for normalisation and backward, and updates the
// running statistics as PyTorch does: running = (1 - momentum) * running + momentum * batch statistic,
// with the UNBIASED variance M2 / (count - 1) (the host rejects count < 2).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Partials { float partials[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Mean { float save_mean[]; };
layout(std430, set = 0, binding = 2) writeonly buffer InvStd { float save_invstd[]; };
layout(std430, set = 0, binding = 3) buffer RunningMean { float running_mean[]; };
layout(std430, set = 0, binding = 4) buffer RunningVar { float running_var[]; };
layout(push_constant) uniform Push { uint channels, slots; float momentum, eps; } pc;

void merge(inout float na, inout float ma, inout float m2a, float nb, float mb, float m2b) {
    if (nb == 0.0)
        return;
    float nab = na + nb, d = mb - ma;
    ma += d * (nb / nab);
    m2a += m2b + d * d * (na * nb / nab);
    na = nab;
}

void main() {
    uint c = tsl_global_index();
    if (c >= pc.channels)
        return;
    float n = 0.0, mu = 0.0, m2 = 0.0;
    for (uint s = 0; s < pc.slots; s++) {
        uint at = 3 * (c * pc.slots + s);
        merge(n, mu, m2, partials[at], partials[at + 1], partials[at + 2]);
    }
    save_mean[c] = mu;
    save_invstd[c] = 1.0 / sqrt(m2 / n + pc.eps);
    running_mean[c] = (1.0 - pc.momentum) * running_mean[c] + pc.momentum * mu;
    running_var[c] = (1.0 - pc.momentum) * running_var[c] + pc.momentum * (m2 / (n - 1.0));
}
