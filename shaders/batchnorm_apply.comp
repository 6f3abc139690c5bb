#version 450
// y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c] over one batch chunk, one element per invocation.
// Training passes the batch mean and inverse std; evaluation (USE_RUNNING_VAR) passes the running mean
// and running variance, and the inverse std is formed here. Without AFFINE gamma and beta are unused
// (the host binds some other read-only range there).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const bool AFFINE = true;
layout(constant_id = 2) const bool USE_RUNNING_VAR = false;

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, set = 0, binding = 2) readonly buffer Mean { float mean[]; };
layout(std430, set = 0, binding = 3) readonly buffer Scale { float invstd_or_var[]; };
layout(std430, set = 0, binding = 4) readonly buffer Gamma { float gamma[]; };
layout(std430, set = 0, binding = 5) readonly buffer Beta { float beta[]; };
layout(push_constant) uniform Push { uint n, channels, hw; float eps; } pc;

void main() {
    uint i = tsl_global_index();
    if (i >= pc.n)
        return;
    uint c = (i / pc.hw) % pc.channels;
    float invstd = USE_RUNNING_VAR ? 1.0 / sqrt(invstd_or_var[c] + pc.eps) : invstd_or_var[c];
    float xhat = (x[i] - mean[c]) * invstd;
    y[i] = AFFINE ? fma(xhat, gamma[c], beta[c]) : xhat;
}
