#version 450
// Batch-norm training backward in one dispatch when each channel's m = N*H*W values fit one lane
// (batchnorm_channels.glsl): each lane sums dy and dy * xhat (xhat = (x - mean) * invstd) over its
// channel (batchnorm_lane_grads.glsl), writes them to sum_dy (dbeta) and sum_dy_xhat (dgamma), then,
// re-reading its values from cache,
//   dx = gamma * invstd * (dy - sum_dy / m - xhat * sum_dy_xhat / m)
// in the same form as batchnorm_backward_dx. Without AFFINE, gamma is 1 and its binding unused.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batchnorm_channels.glsl"

DECLARE_X(0);
DECLARE_DY(1);
layout(std430, set = 0, binding = 2) readonly buffer Mean { float save_mean[]; };
layout(std430, set = 0, binding = 3) readonly buffer InvStd { float save_invstd[]; };
layout(std430, set = 0, binding = 4) readonly buffer Gamma { float gamma[]; };
layout(std430, set = 0, binding = 5) writeonly buffer DX { STORED dx[]; };
layout(std430, set = 0, binding = 6) writeonly buffer SumDy { float sum_dy[]; };
layout(std430, set = 0, binding = 7) writeonly buffer SumDyXhat { float sum_dy_xhat[]; };
layout(push_constant) uniform Push {
    uint lanes, images, image_units, run; // see batchnorm_channels.glsl
    float inv_m;                          // 1 / m
} pc;

#include "batchnorm_lane_grads.glsl"

void main() {
    uint lane = tsl_global_index();
    if (lane >= pc.lanes)
        return;
    LaneSpan span = LaneSpan(lane * pc.run, pc.image_units, 0, pc.images, 0, pc.run);
    VALUE mean = LOAD_CHANNELS(save_mean, lane), invstd = LOAD_CHANNELS(save_invstd, lane), s_dy, s_dyx;
    gradient_sums(span, mean, s_dy, s_dyx);
    s_dyx *= invstd;
    STORE_CHANNELS(sum_dy, lane, s_dy);
    STORE_CHANNELS(sum_dy_xhat, lane, s_dyx);

    VALUE g = AFFINE ? LOAD_CHANNELS(gamma, lane) * invstd : invstd;
    VALUE mean_dy = s_dy * pc.inv_m, mean_dyx = s_dyx * pc.inv_m;
    for (uint n = 0; n < pc.images; n++) {
        uint at = n * pc.image_units + span.base;
        for (uint k = 0; k < pc.run; k++) {
            VALUE xhat = (LOAD_X(at + k) - mean) * invstd;
            dx[at + k] = STORED(g * (LOAD_DY(at + k) - mean_dy - xhat * mean_dyx));
        }
    }
}
