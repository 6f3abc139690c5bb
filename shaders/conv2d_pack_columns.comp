#version 450
// Moves a chunk of images between NCHW and the column layout of the im2col GEMMs: t[r][img * P + p] (rows
// `columns` long) and y[img][r][p] for r < rows (channels), p < P (pixels). UNPACK = true writes y from t (after the forward
// GEMM), false writes t from y (dy before dx's and dw's GEMMs). One invocation per element, in y's order.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const bool UNPACK = true;

layout(std430, set = 0, binding = 0) buffer T { float t[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform Push {
    uint rows, pixels, images, columns;
    uint y_base; // element offset of the chunk's first image in y's binding
} pc;

void main() {
    uint i = tsl_global_index();
    uint image = pc.rows * pc.pixels;
    if (i >= pc.images * image)
        return;
    uint img = i / image, r = i - img * image;
    uint row = r / pc.pixels, p = r - row * pc.pixels;
    uint at = row * pc.columns + img * pc.pixels + p;
    if (UNPACK)
        y[pc.y_base + i] = t[at];
    else
        t[at] = y[pc.y_base + i];
}
