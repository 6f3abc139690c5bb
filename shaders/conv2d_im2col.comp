#version 450
// im2col over a chunk of images: col[(c, ky, kx)][j] = x[img][c][oy * STRIDE - pad + ky][ox * STRIDE - pad
// + kx] (0 in the padding) for column j = img * P + oy * ow + ox, P = oh * ow. Rows are `columns` long,
// images * P rounded up to a multiple of 4 with zero columns; one invocation writes QUADS runs of four
// consecutive columns of one row, each as a vec4 (they may span images), the last runs of a row clipped.
//
// The kernel size and stride are specialization constants and the columns step from the first one's
// (img, oy, ox) by additions: a CPU driver divides by a runtime value lane by lane, and those divisions
// cost more than the loads, so each invocation divides once for QUADS vec4s.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint KH = 3;
layout(constant_id = 2) const uint KW = 3;
layout(constant_id = 3) const uint STRIDE = 1;
layout(constant_id = 4) const uint QUADS = 4; // vec4s per invocation

// x is a storage texel buffer: lavapipe gathers texel loads in straight-line code where it loops over the
// SIMD lanes for an SSBO load (docs/PERFORMANCE.md).
layout(set = 0, binding = 0, r32f) uniform readonly imageBuffer x_texels;
layout(std430, set = 0, binding = 1) writeonly buffer Col { vec4 col4[]; };
layout(push_constant) uniform Push {
    uint c_in, h, w, pad, oh, ow;
    uint x_base;  // element offset of the chunk's first image in x's binding
    uint images;  // in the chunk
    uint columns; // images * oh * ow rounded up to a multiple of 4
    uint count;   // invocations: rows * ceil(columns / 4 / QUADS)
} pc;

void main() {
    uint i = tsl_global_index();
    if (i >= pc.count)
        return;
    uint quads = pc.columns / 4, runs = (quads + QUADS - 1) / QUADS;
    uint row = i / runs, q0 = (i - row * runs) * QUADS;
    uint c = row / (KH * KW), t = row - c * (KH * KW);
    uint ky = t / KW, kx = t - ky * KW;
    uint pixels = pc.oh * pc.ow, image = pc.c_in * pc.h * pc.w;
    uint j = 4 * q0, img = j / pixels, p = j - img * pixels;
    uint oy = p / pc.ow, ox = p - oy * pc.ow;
    for (uint q = 0; q < QUADS; q++) {
        vec4 v;
        for (uint e = 0; e < 4; e++) {
            int iy = int(oy * STRIDE + ky) - int(pc.pad), ix = int(ox * STRIDE + kx) - int(pc.pad);
            bool inside = img < pc.images && iy >= 0 && iy < int(pc.h) && ix >= 0 && ix < int(pc.w);
            uint at = pc.x_base + img * image + (c * pc.h + uint(max(iy, 0))) * pc.w + uint(max(ix, 0));
            float xv = imageLoad(x_texels, int(inside ? at : pc.x_base)).x;
            v[e] = inside ? xv : 0.0;
            if (++ox == pc.ow) { // the next column: along the row, then the next row, then the next image
                ox = 0;
                if (++oy == pc.oh) {
                    oy = 0;
                    img++;
                }
            }
        }
        if (q0 + q < quads)
            col4[row * quads + q0 + q] = v;
    }
}
