#version 450
// Batch-norm training forward in one dispatch for few values per channel (batchnorm_channels.glsl):
// each lane computes its channel's batch statistics over its m = N*H*W values with the corrected
// two-pass algorithm (mean of the values; then the sums of d = x - mean and d^2, which correct the mean
// by sum d / m and give M2 = sum d^2 - (sum d)^2 / m; Chan, Golub & LeVeque), writes the saved mean and
// inverse std, updates the running statistics (unbiased variance M2 / (m - 1); the host rejects m < 2)
// and writes y = (x - mean) * invstd * gamma + beta. The lane's values are re-read from cache by the
// later passes. Without AFFINE, gamma and beta are unused (the host binds x there).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batchnorm_channels.glsl"

layout(std430, set = 0, binding = 0) readonly buffer X { VALUE x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { VALUE y[]; };
layout(std430, set = 0, binding = 2) readonly buffer Gamma { float gamma[]; };
layout(std430, set = 0, binding = 3) readonly buffer Beta { float beta[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Mean { float save_mean[]; };
layout(std430, set = 0, binding = 5) writeonly buffer InvStd { float save_invstd[]; };
layout(std430, set = 0, binding = 6) buffer RunningMean { float running_mean[]; };
layout(std430, set = 0, binding = 7) buffer RunningVar { float running_var[]; };

VALUE sum_of_values(uint lane) {
    VALUE total = VALUE(0.0), block = VALUE(0.0);
    uint in_block = 0;
    for (uint n = 0; n < pc.images; n++) {
        uint at = n * pc.image_units + lane * pc.run;
        for (uint k = 0; k < pc.run; k++) {
            block += x[at + k];
            if (++in_block == BLOCK) {
                total += block;
                block = VALUE(0.0);
                in_block = 0;
            }
        }
    }
    return channel_total(total + block);
}

// Sums of d = x - mean and of d^2 over the lane's values.
void centred_sums(uint lane, VALUE mean, out VALUE sum_d, out VALUE sum_d2) {
    VALUE total_d = VALUE(0.0), total_d2 = VALUE(0.0), block_d = VALUE(0.0), block_d2 = VALUE(0.0);
    uint in_block = 0;
    for (uint n = 0; n < pc.images; n++) {
        uint at = n * pc.image_units + lane * pc.run;
        for (uint k = 0; k < pc.run; k++) {
            VALUE d = x[at + k] - mean;
            block_d += d;
            block_d2 += d * d;
            if (++in_block == BLOCK) {
                total_d += block_d;
                total_d2 += block_d2;
                block_d = block_d2 = VALUE(0.0);
                in_block = 0;
            }
        }
    }
    sum_d = channel_total(total_d + block_d);
    sum_d2 = channel_total(total_d2 + block_d2);
}

void main() {
    uint lane = tsl_global_index();
    if (lane >= pc.lanes)
        return;
    VALUE mean = sum_of_values(lane) * pc.inv_m, sum_d, sum_d2;
    centred_sums(lane, mean, sum_d, sum_d2);
    mean += sum_d * pc.inv_m;
    VALUE m2 = max(sum_d2 - sum_d * sum_d * pc.inv_m, VALUE(0.0));
    VALUE invstd = 1.0 / sqrt(m2 / pc.count + pc.eps);
    STORE_CHANNELS(save_mean, lane, mean);
    STORE_CHANNELS(save_invstd, lane, invstd);
    VALUE old_mean = LOAD_CHANNELS(running_mean, lane), old_var = LOAD_CHANNELS(running_var, lane);
    STORE_CHANNELS(running_mean, lane, (1.0 - pc.momentum) * old_mean + pc.momentum * mean);
    STORE_CHANNELS(running_var, lane, (1.0 - pc.momentum) * old_var + pc.momentum * (m2 / (pc.count - 1.0)));

    VALUE g = AFFINE ? LOAD_CHANNELS(gamma, lane) : VALUE(1.0);
    VALUE b = AFFINE ? LOAD_CHANNELS(beta, lane) : VALUE(0.0);
    for (uint n = 0; n < pc.images; n++) {
        uint at = n * pc.image_units + lane * pc.run;
        for (uint k = 0; k < pc.run; k++)
            y[at + k] = AFFINE ? fma((x[at + k] - mean) * invstd, g, b) : (x[at + k] - mean) * invstd;
    }
}
