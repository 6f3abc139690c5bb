#version 450
// Colour jitter (in the sampled op order) and grayscale, in place on NCHW fp32 images in [0, 1]. One
// workgroup per image, because adjust_contrast blends with the mean of the grayscale image as it is
// when contrast comes up in the order: a first sweep applies the ops before contrast and reduces that
// mean in shared memory; the second sweep applies every op. Semantics: torchvision.transforms.functional
// on float tensors (adjust_brightness/contrast/saturation clamp to [0, 1]; adjust_hue via HSV).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "augment_common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Params { AugmentRecord rec[]; };
layout(std430, set = 0, binding = 1) buffer Img { float img[]; };
layout(push_constant) uniform Push {
    uint size;  // S
    uint first; // record of the chunk's first image
} pc;

shared float partial[TSL_WORKGROUP_SIZE];

vec3 rgb_to_hsv(vec3 c) {
    float maxc = max(c.r, max(c.g, c.b)), minc = min(c.r, min(c.g, c.b));
    bool eqc = maxc == minc;
    float cr = maxc - minc;
    float s = cr / (eqc ? 1.0 : maxc);
    float d = eqc ? 1.0 : cr;
    vec3 k = (vec3(maxc) - c) / d; // rc, gc, bc
    float h;
    if (maxc == c.r)
        h = k.b - k.g;
    else if (maxc == c.g)
        h = 2.0 + k.r - k.b;
    else
        h = 4.0 + k.g - k.r;
    h = h / 6.0 + 1.0;
    return vec3(h - floor(h), s, maxc);
}

vec3 hsv_to_rgb(vec3 hsv) {
    float h = hsv.x, s = hsv.y, v = hsv.z;
    float i = floor(h * 6.0), f = h * 6.0 - i;
    float p = clamp(v * (1.0 - s), 0.0, 1.0);
    float q = clamp(v * (1.0 - s * f), 0.0, 1.0);
    float t = clamp(v * (1.0 - s * (1.0 - f)), 0.0, 1.0);
    int sector = int(i) % 6;
    if (sector < 0)
        sector += 6;
    switch (sector) {
    case 0: return vec3(v, t, p);
    case 1: return vec3(q, v, p);
    case 2: return vec3(p, v, t);
    case 3: return vec3(p, q, v);
    case 4: return vec3(t, p, v);
    default: return vec3(v, p, q);
    }
}

vec3 adjust_hue(vec3 c, float shift) {
    vec3 hsv = rgb_to_hsv(c);
    float h = hsv.x + shift;
    hsv.x = h - floor(h); // Python's % 1.0
    return hsv_to_rgb(hsv);
}

vec3 blend(vec3 a, vec3 b, float ratio) {
    return clamp(ratio * a + (1.0 - ratio) * b, 0.0, 1.0);
}

uint op_at(uint flags, uint k) {
    return (flags >> (16u + 2u * k)) & 3u;
}

// Applies jitter ops k0 <= k < k1 of the order (contrast blends with gray_mean).
vec3 jitter_ops(vec3 c, AugmentRecord r, uint k0, uint k1, float gray_mean) {
    for (uint k = k0; k < k1; k++) {
        uint op = op_at(r.flags, k);
        if (op == 0u)
            c = clamp(r.factors.x * c, 0.0, 1.0);
        else if (op == 1u)
            c = blend(c, vec3(gray_mean), r.factors.y);
        else if (op == 2u)
            c = blend(c, vec3(aug_gray(c)), r.factors.z);
        else
            c = adjust_hue(c, r.factors.w);
    }
    return c;
}

void main() {
    uint image = gl_WorkGroupID.x;
    AugmentRecord r = rec[pc.first + image];
    uint plane = pc.size * pc.size, base = image * 3u * plane, lid = gl_LocalInvocationID.x;
    bool jitter = (r.flags & AUG_JITTER) != 0u;
    uint contrast_at = 4u;
    for (uint k = 0u; k < 4u; k++)
        if (op_at(r.flags, k) == 1u)
            contrast_at = k;

    float gray_mean = 0.0;
    if (jitter) { // uniform over the workgroup: the barriers below are reached by all or none
        float sum = 0.0;
        for (uint p = lid; p < plane; p += TSL_WORKGROUP_SIZE) {
            vec3 c = vec3(img[base + p], img[base + plane + p], img[base + 2u * plane + p]);
            sum += aug_gray(jitter_ops(c, r, 0u, contrast_at, 0.0));
        }
        partial[lid] = sum;
        barrier();
        for (uint s = TSL_WORKGROUP_SIZE / 2u; s > 0u; s >>= 1u) {
            if (lid < s)
                partial[lid] += partial[lid + s];
            barrier();
        }
        gray_mean = partial[0] / float(plane);
    }
    for (uint p = lid; p < plane; p += TSL_WORKGROUP_SIZE) {
        vec3 c = vec3(img[base + p], img[base + plane + p], img[base + 2u * plane + p]);
        if (jitter)
            c = jitter_ops(c, r, 0u, 4u, gray_mean);
        if ((r.flags & AUG_GRAY) != 0u)
            c = vec3(aug_gray(c));
        img[base + p] = c.r;
        img[base + plane + p] = c.g;
        img[base + 2u * plane + p] = c.b;
    }
}
