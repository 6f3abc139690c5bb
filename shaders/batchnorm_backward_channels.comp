#version 450
// Batch-norm training backward in one dispatch for few values per channel (batchnorm_channels.glsl):
// each lane sums dy and dy * xhat (xhat = (x - mean) * invstd) over its channel's values (blocked sums),
// writes them to sum_dy (dbeta) and sum_dy_xhat (dgamma), then, re-reading its values from cache,
//   dx = gamma * invstd * (dy - sum_dy / m - xhat * sum_dy_xhat / m)
// in the same form as batchnorm_backward_dx. Without AFFINE, gamma is 1 and its binding unused.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batchnorm_channels.glsl"

layout(std430, set = 0, binding = 0) readonly buffer X { VALUE x[]; };
layout(std430, set = 0, binding = 1) readonly buffer DY { VALUE dy[]; };
layout(std430, set = 0, binding = 2) readonly buffer Mean { float save_mean[]; };
layout(std430, set = 0, binding = 3) readonly buffer InvStd { float save_invstd[]; };
layout(std430, set = 0, binding = 4) readonly buffer Gamma { float gamma[]; };
layout(std430, set = 0, binding = 5) writeonly buffer DX { VALUE dx[]; };
layout(std430, set = 0, binding = 6) writeonly buffer SumDy { float sum_dy[]; };
layout(std430, set = 0, binding = 7) writeonly buffer SumDyXhat { float sum_dy_xhat[]; };

// Sums of dy and of dy * (x - mean) over the lane's values.
void gradient_sums(uint lane, VALUE mean, out VALUE s_dy, out VALUE s_dyx) {
    VALUE total_dy = VALUE(0.0), total_dyx = VALUE(0.0), block_dy = VALUE(0.0), block_dyx = VALUE(0.0);
    uint in_block = 0;
    for (uint n = 0; n < pc.images; n++) {
        uint at = n * pc.image_units + lane * pc.run;
        for (uint k = 0; k < pc.run; k++) {
            VALUE g = dy[at + k];
            block_dy += g;
            block_dyx += g * (x[at + k] - mean);
            if (++in_block == BLOCK) {
                total_dy += block_dy;
                total_dyx += block_dyx;
                block_dy = block_dyx = VALUE(0.0);
                in_block = 0;
            }
        }
    }
    s_dy = channel_total(total_dy + block_dy);
    s_dyx = channel_total(total_dyx + block_dyx);
}

void main() {
    uint lane = tsl_global_index();
    if (lane >= pc.lanes)
        return;
    VALUE mean = LOAD_CHANNELS(save_mean, lane), invstd = LOAD_CHANNELS(save_invstd, lane), s_dy, s_dyx;
    gradient_sums(lane, mean, s_dy, s_dyx);
    s_dyx *= invstd;
    STORE_CHANNELS(sum_dy, lane, s_dy);
    STORE_CHANNELS(sum_dy_xhat, lane, s_dyx);

    VALUE g = AFFINE ? LOAD_CHANNELS(gamma, lane) * invstd : invstd;
    VALUE mean_dy = s_dy * pc.inv_m, mean_dyx = s_dyx * pc.inv_m;
    for (uint n = 0; n < pc.images; n++) {
        uint at = n * pc.image_units + lane * pc.run;
        for (uint k = 0; k < pc.run; k++) {
            VALUE xhat = (x[at + k] - mean) * invstd;
            dx[at + k] = g * (dy[at + k] - mean_dy - xhat * mean_dyx);
        }
    }
}
