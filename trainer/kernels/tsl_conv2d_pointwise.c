/* 1x1, stride-1, unpadded convolutions of the CPU variant as GEMMs per image (tsl_gemm_f32, whose CPU
 * variant keeps a 32 x 16 register tile and reads through texel buffers). Such a convolution is exactly
 * a matrix product over the flattened plane of P = h * w pixels: per image, y (c_out x P) = w (c_out x
 * c_in) x (c_in x P). The conv shaders' own 1x1 paths keep 8 x 16 tiles and ran these shapes at about
 * half the GEMM's rate (docs/PERFORMANCE.md). */
#include "tsl_conv2d_pointwise.h"

#include "tsl_chunk.h"
#include "tsl_gemm.h"

/* Image `image` of an fp32 batch of `floats_per_image` floats each. */
static tsl_vk_range image_slice(tsl_vk_range r, uint32_t image, uint64_t floats_per_image) {
    return tsl_batch_chunk(r, 4 * floats_per_image, image, 1);
}

/* The GEMM's columns are the plane's pixels in forward and dx; its CPU variant sizes the workgroup to
 * them (tsl_gemm.c), and from 14 x 14 planes on it beat the conv shaders when the plane is a whole
 * number of vec4s (14 x 14 went 25-33 -> 44-54 GFLOP/s); 7 x 7 planes (n = 49: scalar loads) and planes
 * of 64 pixels or fewer, where per-image products leave most lanes idle, stay on the conv shaders, whose
 * tiles span images. dw's columns are the input channels and its sum runs over the plane, so any plane
 * from 14 x 14 on (k = 49 per dispatch at 7 x 7 was slower). Measured on lavapipe (docs/PERFORMANCE.md). */
bool tsl_conv2d_pointwise_applies(const tsl_conv2d_shape *s, bool weights) {
    uint64_t plane = (uint64_t)s->h * s->w;
    bool pointwise = s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0;
    return pointwise && plane >= 196 && (weights || plane % 4 == 0);
}

static uint32_t plane(const tsl_conv2d_shape *s) {
    return s->h * s->w;
}

/* out_i = op(w) in_i for every image i: `in` and `out` hold n images of in_floats and out_floats each. */
static tsl_status weights_times_each_image(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_gemm_params *g,
                                           uint32_t n, tsl_vk_range w, tsl_vk_range in, uint64_t in_floats,
                                           tsl_vk_range out, uint64_t out_floats) {
    for (uint32_t i = 0; i < n; i++)
        TSL_TRY(tsl_gemm_f32(d, cmd, g, w, image_slice(in, i, in_floats), image_slice(out, i, out_floats)));
    return TSL_OK;
}

tsl_status tsl_conv2d_pointwise_forward(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                        tsl_vk_range x, tsl_vk_range w, tsl_vk_range y) {
    uint32_t p = plane(s);
    tsl_gemm_params g = tsl_gemm_params_make(s->c_out, p, s->c_in, false, false); /* y = w x */
    return weights_times_each_image(d, cmd, &g, s->n, w, x, (uint64_t)s->c_in * p, y, (uint64_t)s->c_out * p);
}

tsl_status tsl_conv2d_pointwise_backward_data(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                              tsl_vk_range dy, tsl_vk_range w, tsl_vk_range dx) {
    uint32_t p = plane(s);
    tsl_gemm_params g = tsl_gemm_params_make(s->c_in, p, s->c_out, true, false); /* dx = w^T dy */
    return weights_times_each_image(d, cmd, &g, s->n, w, dy, (uint64_t)s->c_out * p, dx,
                                    (uint64_t)s->c_in * p);
}

tsl_status tsl_conv2d_pointwise_backward_weights(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_conv2d_shape *s,
                                                 tsl_vk_range x, tsl_vk_range dy, tsl_vk_range dw) {
    uint32_t p = plane(s);
    tsl_gemm_params g = tsl_gemm_params_make(s->c_out, s->c_in, p, false, true); /* dw = sum dy x^T */
    for (uint32_t i = 0; i < s->n; i++) {
        g.beta = i ? 1.0f : 0.0f; /* the first image writes dw, later ones add to it */
        TSL_TRY(tsl_gemm_f32(d, cmd, &g, image_slice(dy, i, (uint64_t)s->c_out * p),
                             image_slice(x, i, (uint64_t)s->c_in * p), dw));
    }
    return TSL_OK;
}
