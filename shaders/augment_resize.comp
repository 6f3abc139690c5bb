#version 450
// Crop + resize + horizontal flip of RGB8 HWC source images into NCHW fp32 in [0, 1], one invocation per
// output pixel of an S x S image; workgroup row y = output image (first + y).
//
// Resampling is torch's anti-aliased interpolation (torchvision resize with antialias=True, the
// PIL algorithm): along each axis with scale = crop / S, output pixel i centred at scale*(i + 0.5) takes
// every source pixel within support = radius * max(scale, 1) (radius 1 bilinear, 2 bicubic with
// a = -0.5), weights filter((j - centre + 0.5) / max(scale, 1)) normalised to sum 1. The result is
// clamped to [0, 1], as storing to uint8 would (the recipe's PIL pipeline), so later ops see [0, 1].
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "augment_common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Src { uint src[]; };
layout(std430, set = 0, binding = 1) readonly buffer Params { AugmentRecord rec[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Dst { float dst[]; };
layout(push_constant) uniform Push {
    uint size;        // S
    uint first;       // record of the chunk's first image
    uint window_base; // byte offset of the Src binding within the image buffer
    uint bicubic;     // 1 bicubic, 0 bilinear
} pc;

float filter_weight(float x) {
    x = abs(x);
    if (pc.bicubic != 0u) {
        const float a = -0.5;
        if (x < 1.0)
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
        if (x < 2.0)
            return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
        return 0.0;
    }
    return max(0.0, 1.0 - x);
}

// Taps [lo, hi) of output index i along an axis, with the centre and 1 / max(scale, 1).
void axis_taps(uint i, uint crop, out int lo, out int hi, out float centre, out float inv) {
    float scale = float(crop) / float(pc.size);
    float support = (pc.bicubic != 0u ? 2.0 : 1.0) * max(scale, 1.0);
    centre = scale * (float(i) + 0.5);
    inv = 1.0 / max(scale, 1.0);
    lo = max(int(centre - support + 0.5), 0);
    hi = min(int(centre + support + 0.5), int(crop));
}

float axis_weight_sum(int lo, int hi, float centre, float inv) {
    float s = 0.0;
    for (int j = lo; j < hi; j++)
        s += filter_weight((float(j) - centre + 0.5) * inv);
    return s;
}

float src_byte(uint b) {
    return float((src[b >> 2] >> ((b & 3u) * 8u)) & 255u);
}

void main() {
    uint S = pc.size;
    uint pixel = gl_WorkGroupID.x * TSL_WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (pixel >= S * S)
        return;
    uint image = gl_WorkGroupID.y;
    AugmentRecord r = rec[pc.first + image];
    uint oy = pixel / S, ox = pixel % S;
    uint sx = (r.flags & AUG_FLIP) != 0u ? S - 1u - ox : ox;

    int x0, x1, y0, y1;
    float cx, cy, ix, iy;
    axis_taps(sx, r.crop_width, x0, x1, cx, ix);
    axis_taps(oy, r.crop_height, y0, y1, cy, iy);
    float norm = 1.0 / (axis_weight_sum(x0, x1, cx, ix) * axis_weight_sum(y0, y1, cy, iy));

    uint base = r.src_offset - pc.window_base;
    vec3 acc = vec3(0.0);
    for (int y = y0; y < y1; y++) {
        float wy = filter_weight((float(y) - cy + 0.5) * iy);
        uint row = base + ((r.crop_top + uint(y)) * r.src_width + r.crop_left) * 3u;
        vec3 racc = vec3(0.0);
        for (int x = x0; x < x1; x++) {
            float wx = filter_weight((float(x) - cx + 0.5) * ix);
            uint b = row + uint(x) * 3u;
            racc += wx * vec3(src_byte(b), src_byte(b + 1u), src_byte(b + 2u));
        }
        acc += wy * racc;
    }
    vec3 v = clamp(acc * (norm / 255.0), 0.0, 1.0);
    uint plane = S * S, o = image * 3u * plane + pixel;
    dst[o] = v.r;
    dst[o + plane] = v.g;
    dst[o + 2u * plane] = v.b;
}
