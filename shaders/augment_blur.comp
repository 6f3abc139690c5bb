#version 450
// One axis of the separable Gaussian blur of NCHW fp32 images (one invocation per output pixel of one
// channel; workgroup row y = image). Kernel: torchvision's _get_gaussian_kernel1d with size
// 2*ceil(3*sigma) + 1 (see tsl_augment.h for why), reflect padding (mirror without repeating the edge,
// extended by repeated mirroring for images smaller than the kernel). sigma 0 copies.
// TSL_BLUR_VERTICAL: the vertical pass, which also solarizes and normalises ((x - mean) / std);
// TSL_FP16_OUT: it stores half floats.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "augment_common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Params { AugmentRecord rec[]; };
layout(std430, set = 0, binding = 1) readonly buffer Src { float src[]; };
#ifdef TSL_FP16_OUT
#extension GL_EXT_shader_16bit_storage : require
layout(std430, set = 0, binding = 2) writeonly buffer Dst { float16_t dst[]; };
#else
layout(std430, set = 0, binding = 2) writeonly buffer Dst { float dst[]; };
#endif
layout(push_constant) uniform Push {
    uint size;  // S
    uint first; // record of the chunk's first image
    float solarize_threshold;
    float mean[3];
    float inv_std[3];
} pc;

// Reflection is symmetric about 0 (index -i mirrors to i), so the remainder is taken of |i|: GLSL leaves
// % of a negative int undefined, and NVIDIA's driver did not give C's result (blurred image borders were
// wrong there, 2026-11-25, while lavapipe matched).
int reflect_index(int i, int n) {
    if (n == 1)
        return 0;
    uint period = 2u * uint(n - 1);
    int m = int(uint(abs(i)) % period);
    return m < n ? m : int(period) - m;
}

void main() {
    uint S = pc.size, plane = S * S;
    uint idx = gl_WorkGroupID.x * TSL_WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (idx >= 3u * plane)
        return;
    uint image = gl_WorkGroupID.y;
    AugmentRecord r = rec[pc.first + image];
    uint ch = idx / plane, p = idx % plane;
    int y = int(p / S), x = int(p % S);
    uint base = image * 3u * plane + ch * plane;

    float v;
    if (r.sigma > 0.0) {
        int radius = int(ceil(3.0 * r.sigma));
        float acc = 0.0, wsum = 0.0;
        for (int k = -radius; k <= radius; k++) {
            float t = float(k) / r.sigma;
            float w = exp(-0.5 * t * t);
#ifdef TSL_BLUR_VERTICAL
            float s = src[base + uint(reflect_index(y + k, int(S))) * S + uint(x)];
#else
            float s = src[base + uint(y) * S + uint(reflect_index(x + k, int(S)))];
#endif
            acc += w * s;
            wsum += w;
        }
        v = acc / wsum;
    } else {
        v = src[base + p];
    }
#ifdef TSL_BLUR_VERTICAL
    if ((r.flags & AUG_SOLARIZE) != 0u && v >= pc.solarize_threshold)
        v = 1.0 - v;
    v = (v - pc.mean[ch]) * pc.inv_std[ch];
#endif
#ifdef TSL_FP16_OUT
    dst[base + p] = float16_t(v);
#else
    dst[base + p] = v;
#endif
}
