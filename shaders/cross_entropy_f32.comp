#version 450
// Softmax cross-entropy, one invocation per row of logits (rows x classes, row-major; a classifier has a
// few hundred to a few thousand classes, so a row is a short sequential walk).
// Numerically stable: with m the row max and s = sum_j exp(x_j - m) (in [1, classes]),
//   loss_r = log(s) - (x_label - m)     (x_label - m is exact in fp32; no exp overflows)
//   p_j = exp(x_j - m) / s.
// TSL_CE_GRAD == 0: row_loss[row0 + r] = loss_r * inv_n (a label out of range gives NaN).
// TSL_CE_GRAD == 1: dlogits[r][j] = (p_j - [j == label]) * inv_n (a bad label gives a NaN row).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Logits { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Labels { uint label[]; };
#if TSL_CE_GRAD
layout(std430, set = 0, binding = 2) writeonly buffer Out { float dx[]; };
#else
layout(std430, set = 0, binding = 2) writeonly buffer Out { float row_loss[]; };
#endif
layout(push_constant) uniform Push { uint rows; uint classes; uint row0; float inv_n; } pc;

void main() {
    uint r = tsl_global_index();
    if (r >= pc.rows)
        return;
    uint base = r * pc.classes;
    uint lab = label[pc.row0 + r];
    float m = x[base];
    for (uint j = 1; j < pc.classes; j++)
        m = max(m, x[base + j]);
    float s = 0.0;
    for (uint j = 0; j < pc.classes; j++)
        s += exp(x[base + j] - m);
    float nan = uintBitsToFloat(0x7fc00000u);
#if TSL_CE_GRAD
    float inv_s = 1.0 / s;
    for (uint j = 0; j < pc.classes; j++) {
        float p = exp(x[base + j] - m) * inv_s;
        float g = (p - (j == lab ? 1.0 : 0.0)) * pc.inv_n;
        dx[base + j] = lab < pc.classes ? g : nan;
    }
#else
    row_loss[pc.row0 + r] = lab < pc.classes ? (log(s) - (x[base + lab] - m)) * pc.inv_n : nan;
#endif
}
