#version 450
// Batch-norm backward through the batch statistics for long channels: lane (grid x) and slice (grid y,
// see batchnorm_slices.glsl) write, over a slice of the lane's channels,
//   dx = gamma * invstd * (dy - sum_dy / m - xhat * sum_dy_xhat / m),   1 / m = pc.param,
// in units of VALUE (the same form as batchnorm_backward_channels). Without AFFINE, gamma is 1 and its
// binding unused.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batchnorm_channels.glsl"
#include "batchnorm_slices.glsl"

DECLARE_X(0);
DECLARE_DY(1);
layout(std430, set = 0, binding = 2) readonly buffer Mean { float save_mean[]; };
layout(std430, set = 0, binding = 3) readonly buffer InvStd { float save_invstd[]; };
layout(std430, set = 0, binding = 4) readonly buffer Gamma { float gamma[]; };
layout(std430, set = 0, binding = 5) readonly buffer SumDy { float sum_dy[]; };
layout(std430, set = 0, binding = 6) readonly buffer SumDyXhat { float sum_dy_xhat[]; };
layout(std430, set = 0, binding = 7) writeonly buffer DX { STORED dx[]; };

void main() {
    uint lane = gl_WorkGroupID.x * TSL_WORKGROUP_SIZE + gl_LocalInvocationID.x, s = gl_WorkGroupID.y;
    if (lane >= pc.lanes)
        return;
    LaneSpan span = slice_span(lane, s);
    VALUE mean = LOAD_CHANNELS(save_mean, lane), invstd = LOAD_CHANNELS(save_invstd, lane);
    VALUE g = AFFINE ? LOAD_CHANNELS(gamma, lane) * invstd : invstd;
    VALUE mean_dy = LOAD_CHANNELS(sum_dy, lane) * pc.param, mean_dyx = LOAD_CHANNELS(sum_dy_xhat, lane) * pc.param;
    for (uint n = span.n0; n < span.n1; n++) {
        uint at = n * span.image_units + span.base;
        for (uint k = span.k0; k < span.k1; k++) {
            VALUE xhat = (LOAD_X(at + k) - mean) * invstd;
            dx[at + k] = STORED(g * (LOAD_DY(at + k) - mean_dy - xhat * mean_dyx));
        }
    }
}
