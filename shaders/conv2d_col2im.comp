#version 450
// col2im over a chunk of images, the adjoint of conv2d_im2col.comp: dx[img][c][iy][ix] is the sum of
// dcol[(c, ky, kx)][img * P + oy * ow + ox] over the taps whose window puts output pixel (oy, ox) on
// (iy, ix), i.e. oy * STRIDE - pad + ky = iy (and the same along x), taken in ky, kx order. One invocation
// per element of dx; dcol's rows are `columns` long (images * P, P = oh * ow, rounded up to a multiple
// of 4). The kernel size and stride are specialization constants: a CPU driver divides by a runtime
// value lane by lane.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint KH = 3;
layout(constant_id = 2) const uint KW = 3;
layout(constant_id = 3) const uint STRIDE = 1;

// dcol is a storage texel buffer: lavapipe gathers texel loads in straight-line code where it loops over
// the SIMD lanes for an SSBO load (docs/PERFORMANCE.md).
layout(set = 0, binding = 0, r32f) uniform readonly imageBuffer dcol;
layout(std430, set = 0, binding = 1) writeonly buffer DX { float dx[]; };
layout(push_constant) uniform Push {
    uint c_in, h, w, pad, oh, ow;
    uint dx_base; // element offset of the chunk's first image in dx's binding
    uint columns; // images * oh * ow rounded up to a multiple of 4 (dcol's row length)
    uint count;   // images * c_in * h * w
} pc;

void main() {
    uint i = tsl_global_index();
    if (i >= pc.count)
        return;
    uint plane = pc.h * pc.w, image = pc.c_in * plane;
    uint img = i / image, r = i - img * image;
    uint c = r / plane;
    r -= c * plane;
    uint iy = r / pc.w, ix = r - iy * pc.w;
    uint first = img * pc.oh * pc.ow; // the image's first column
    float sum = 0.0;
    for (uint ky = 0; ky < KH; ky++) {
        int ny = int(iy + pc.pad) - int(ky); // oy * STRIDE
        if (ny < 0 || uint(ny) % STRIDE != 0 || uint(ny) / STRIDE >= pc.oh)
            continue;
        uint oy = uint(ny) / STRIDE;
        for (uint kx = 0; kx < KW; kx++) {
            int nx = int(ix + pc.pad) - int(kx);
            if (nx < 0 || uint(nx) % STRIDE != 0 || uint(nx) / STRIDE >= pc.ow)
                continue;
            uint ox = uint(nx) / STRIDE;
            uint row = (c * KH + ky) * KW + kx;
            sum += imageLoad(dcol, int(row * pc.columns + first + oy * pc.ow + ox)).x;
        }
    }
    dx[pc.dx_base + i] = sum;
}
