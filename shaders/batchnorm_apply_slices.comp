#version 450
// y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c] for long channels (and evaluation): lane (grid x)
// and slice (grid y, see batchnorm_slices.glsl) normalise a slice of the lane's channels, in units of
// VALUE, so no index is divided per element. Training passes the batch mean and inverse std;
// evaluation (USE_RUNNING_VAR) the running mean and variance, the inverse std formed here with
// eps = pc.param. Without AFFINE gamma and beta are unused (the host binds another range there).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batchnorm_channels.glsl"
#include "batchnorm_slices.glsl"

layout(constant_id = 3) const bool USE_RUNNING_VAR = false;

DECLARE_X(0);
layout(std430, set = 0, binding = 1) writeonly buffer Y { STORED y[]; };
layout(std430, set = 0, binding = 2) readonly buffer Mean { float mean[]; };
layout(std430, set = 0, binding = 3) readonly buffer Scale { float invstd_or_var[]; };
layout(std430, set = 0, binding = 4) readonly buffer Gamma { float gamma[]; };
layout(std430, set = 0, binding = 5) readonly buffer Beta { float beta[]; };

void main() {
    uint lane = gl_WorkGroupID.x * TSL_WORKGROUP_SIZE + gl_LocalInvocationID.x, s = gl_WorkGroupID.y;
    if (lane >= pc.lanes)
        return;
    LaneSpan span = slice_span(lane, s);
    VALUE scale = LOAD_CHANNELS(invstd_or_var, lane);
    VALUE invstd = USE_RUNNING_VAR ? 1.0 / sqrt(scale + pc.param) : scale;
    VALUE mu = LOAD_CHANNELS(mean, lane);
    VALUE g = AFFINE ? LOAD_CHANNELS(gamma, lane) : VALUE(1.0);
    VALUE b = AFFINE ? LOAD_CHANNELS(beta, lane) : VALUE(0.0);
    for (uint n = span.n0; n < span.n1; n++) {
        uint at = n * span.image_units + span.base;
        for (uint k = span.k0; k < span.k1; k++) {
            VALUE xhat = (LOAD_X(at + k) - mu) * invstd;
            y[at + k] = STORED(AFFINE ? fma(xhat, g, b) : xhat);
        }
    }
}
