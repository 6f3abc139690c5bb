#version 450
// Batch-norm statistics, second level: workgroup c merges channel c's `slots` (count, mean, M2) partials
// (Chan's formula, a strided sequential merge per invocation then a tree), then writes the batch mean
// and 1 / sqrt(biased variance + eps) for normalisation and backward, and updates the running
// statistics as PyTorch does: running = (1 - momentum) * running + momentum * batch statistic, with
// the UNBIASED variance M2 / (count - 1) (the host rejects count < 2).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Partials { float partials[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Mean { float save_mean[]; };
layout(std430, set = 0, binding = 2) writeonly buffer InvStd { float save_invstd[]; };
layout(std430, set = 0, binding = 3) buffer RunningMean { float running_mean[]; };
layout(std430, set = 0, binding = 4) buffer RunningVar { float running_var[]; };
layout(push_constant) uniform Push { uint slots; float momentum, eps; } pc;

shared float s_count[TSL_WORKGROUP_SIZE];
shared float s_mean[TSL_WORKGROUP_SIZE];
shared float s_m2[TSL_WORKGROUP_SIZE];

void merge(inout float na, inout float ma, inout float m2a, float nb, float mb, float m2b) {
    if (nb == 0.0)
        return;
    float nab = na + nb, d = mb - ma;
    ma += d * (nb / nab);
    m2a += m2b + d * d * (na * nb / nab);
    na = nab;
}

void main() {
    uint c = gl_WorkGroupID.x, t = gl_LocalInvocationID.x;
    float count = 0.0, mean = 0.0, m2 = 0.0;
    for (uint s = t; s < pc.slots; s += TSL_WORKGROUP_SIZE) {
        uint at = 3 * (c * pc.slots + s);
        merge(count, mean, m2, partials[at], partials[at + 1], partials[at + 2]);
    }
    s_count[t] = count;
    s_mean[t] = mean;
    s_m2[t] = m2;
    barrier();
    for (uint stride = TSL_WORKGROUP_SIZE / 2; stride > 0; stride /= 2) {
        if (t < stride) {
            float na = s_count[t], ma = s_mean[t], m2a = s_m2[t];
            merge(na, ma, m2a, s_count[t + stride], s_mean[t + stride], s_m2[t + stride]);
            s_count[t] = na;
            s_mean[t] = ma;
            s_m2[t] = m2a;
        }
        barrier();
    }
    if (t == 0) {
        float n = s_count[0], mu = s_mean[0], m2sum = s_m2[0];
        save_mean[c] = mu;
        save_invstd[c] = 1.0 / sqrt(m2sum / n + pc.eps);
        running_mean[c] = (1.0 - pc.momentum) * running_mean[c] + pc.momentum * mu;
        running_var[c] = (1.0 - pc.momentum) * running_var[c] + pc.momentum * (m2sum / (n - 1.0));
    }
}
