#version 450
// im2col for one image: col[(c, ky, kx)][p] = x[c][oy * stride - pad + ky][ox * stride - pad + kx] (0 in
// the padding), p = oy * ow + ox, rows of P = oh * ow pixels (P % 4 == 0, the host's condition). One
// invocation writes four consecutive pixels of one row as a vec4.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0, r32f) uniform readonly imageBuffer x_texels;
layout(std430, set = 0, binding = 1) writeonly buffer Col { vec4 col4[]; };
layout(push_constant) uniform Push {
    uint c_in, h, w, kh, kw, stride, pad, oh, ow;
    uint x_base; // element offset of the image in x's binding
    uint quads;  // P / 4
    uint count;  // rows * quads
} pc;

void main() {
    uint i = tsl_global_index();
    if (i >= pc.count)
        return;
    uint row = i / pc.quads, q = i - row * pc.quads;
    uint taps = pc.kh * pc.kw;
    uint c = row / taps, t = row - c * taps;
    uint ky = t / pc.kw, kx = t - ky * pc.kw;
    vec4 v;
    for (uint e = 0; e < 4; e++) {
        uint p = 4 * q + e;
        uint oy = p / pc.ow, ox = p - oy * pc.ow;
        int iy = int(oy * pc.stride + ky) - int(pc.pad), ix = int(ox * pc.stride + kx) - int(pc.pad);
        bool inside = iy >= 0 && iy < int(pc.h) && ix >= 0 && ix < int(pc.w);
        uint at = pc.x_base + (c * pc.h + uint(max(iy, 0))) * pc.w + uint(max(ix, 0));
        float xv = imageLoad(x_texels, int(inside ? at : pc.x_base)).x;
        v[e] = inside ? xv : 0.0;
    }
    col4[i] = v;
}
