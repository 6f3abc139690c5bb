#version 450
// Batch-norm training forward in one dispatch when each channel's m = N*H*W values fit one lane
// (batchnorm_channels.glsl): each lane computes its channel's batch statistics over all m values
// (batchnorm_lane_stats.glsl), writes the saved mean and inverse std, updates the running statistics
// (unbiased variance M2 / (m - 1); the host rejects m < 2) and writes
// y = (x - mean) * invstd * gamma + beta. The later passes re-read the lane's values from cache.
// Without AFFINE, gamma and beta are unused (the host binds x there).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batchnorm_channels.glsl"

DECLARE_X(0);
layout(std430, set = 0, binding = 1) writeonly buffer Y { STORED y[]; };
layout(std430, set = 0, binding = 2) readonly buffer Gamma { float gamma[]; };
layout(std430, set = 0, binding = 3) readonly buffer Beta { float beta[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Mean { float save_mean[]; };
layout(std430, set = 0, binding = 5) writeonly buffer InvStd { float save_invstd[]; };
layout(std430, set = 0, binding = 6) buffer RunningMean { float running_mean[]; };
layout(std430, set = 0, binding = 7) buffer RunningVar { float running_var[]; };
layout(push_constant) uniform Push {
    uint lanes, images, image_units, run; // see batchnorm_channels.glsl
    float count, momentum, eps;           // count = m
} pc;

#include "batchnorm_lane_stats.glsl"

void main() {
    uint lane = tsl_global_index();
    if (lane >= pc.lanes)
        return;
    LaneSpan span = LaneSpan(lane * pc.run, pc.image_units, 0, pc.images, 0, pc.run);
    VALUE mean, m2;
    lane_statistics(span, pc.count, mean, m2);
    VALUE invstd = 1.0 / sqrt(m2 / pc.count + pc.eps);
    STORE_CHANNELS(save_mean, lane, mean);
    STORE_CHANNELS(save_invstd, lane, invstd);
    VALUE old_mean = LOAD_CHANNELS(running_mean, lane), old_var = LOAD_CHANNELS(running_var, lane);
    STORE_CHANNELS(running_mean, lane, (1.0 - pc.momentum) * old_mean + pc.momentum * mean);
    STORE_CHANNELS(running_var, lane, (1.0 - pc.momentum) * old_var + pc.momentum * (m2 / (pc.count - 1.0)));

    VALUE g = AFFINE ? LOAD_CHANNELS(gamma, lane) : VALUE(1.0);
    VALUE b = AFFINE ? LOAD_CHANNELS(beta, lane) : VALUE(0.0);
    for (uint n = 0; n < pc.images; n++) {
        uint at = n * pc.image_units + span.base;
        for (uint k = 0; k < pc.run; k++) {
            VALUE xhat = (LOAD_X(at + k) - mean) * invstd;
            y[at + k] = STORED(AFFINE ? fma(xhat, g, b) : xhat);
        }
    }
}
