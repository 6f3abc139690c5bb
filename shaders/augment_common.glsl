// The per-image record of tessl's augmentation kernels (tsl_augment_gpu_record in
// trainer/augment/tsl_augment.h; std430, 64 bytes).
#ifndef TSL_AUGMENT_COMMON_GLSL
#define TSL_AUGMENT_COMMON_GLSL

struct AugmentRecord {
    uint src_offset; // byte offset of the RGB8 HWC source image in the image buffer
    uint src_width, src_height;
    uint crop_top, crop_left, crop_height, crop_width;
    uint flags;   // bit 0 flip, bit 1 gray, bit 2 solarize, bit 3 jitter; bits 16..23: jitter order
    vec4 factors; // brightness, contrast, saturation, hue
    float sigma;  // Gaussian blur sigma; 0: no blur
    uint pad0, pad1, pad2;
};

const uint AUG_FLIP = 1u, AUG_GRAY = 2u, AUG_SOLARIZE = 4u, AUG_JITTER = 8u;

// torchvision's rgb_to_grayscale weights for tensors.
float aug_gray(vec3 c) {
    return 0.2989 * c.r + 0.587 * c.g + 0.114 * c.b;
}

#endif
