#version 450
// dx[n][ci][iy][ix] = sum over (co, ky, kx) with oy = (iy+p-ky)/s and ox = (ix+p-kx)/s whole and in
// range of w[co][ci][ky][kx] * dy[n][co][oy][ox]. A gather (each dx element written once, no atomics).
// GEMM view per image: M = c_in, N = h*w, K = c_out*kh*kw. Tile: TILE_M input channels x TILE_N
// consecutive input pixels.
#extension GL_GOOGLE_include_directive : require
#include "conv2d_common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 0) readonly buffer DY4 { vec4 dy4[]; }; // the same bytes, as vec4
layout(std430, set = 0, binding = 1) readonly buffer W { float wt[]; };
layout(std430, set = 0, binding = 2) writeonly buffer DX { float dx[]; };

// 1x1, stride 1, no padding: dx = w^T dy per image, dy rows read as vec4 (see conv_is_pointwise_vec4).
void pointwise(uint img, uint pix0, uint ci0) {
    uint hw = pc.h * pc.w;
    const uint TQ = (TILE_N + 3) / 4; // vec4s per row of the tile (>= 1 so the array stays valid)
    vec4 acc[TILE_M * TQ];
    for (uint t = 0; t < TILE_M * TQ; t++)
        acc[t] = vec4(0.0);
    uint wcol[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        wcol[i] = pc.w_base + min(ci0 + i, pc.c_in - 1);
    uint q0 = pix0 / 4, last = hw / 4 - 1;
    uint dyq = (pc.y_base + img * pc.c_out * hw) / 4;
    for (uint co = 0; co < pc.c_out; co++, dyq += hw / 4) {
        vec4 gv[TQ];
        for (uint q = 0; q < TQ; q++)
            gv[q] = dy4[dyq + min(q0 + q, last)];
        for (uint i = 0; i < TILE_M; i++) {
            float wv = wt[wcol[i] + co * pc.c_in];
            for (uint q = 0; q < TQ; q++)
                acc[i * TQ + q] = fma(vec4(wv), gv[q], acc[i * TQ + q]);
        }
    }
    uint xb = pc.x_base + img * pc.c_in * hw;
    for (uint i = 0; i < TILE_M && ci0 + i < pc.c_in; i++)
        for (uint j = 0; j < TILE_N && pix0 + j < hw; j++)
            dx[xb + (ci0 + i) * hw + pix0 + j] = acc[i * TQ + j / 4][j % 4];
}

void main() {
    uint hw = pc.h * pc.w;
    uint pix0 = conv_tile_column();
    uint ci0 = gl_WorkGroupID.y * TILE_M;
    if (pix0 >= hw || ci0 >= pc.c_in)
        return;
    uint img = gl_WorkGroupID.z;
    if (conv_is_pointwise_vec4(hw)) {
        pointwise(img, pix0, ci0);
        return;
    }
    uint npix = pc.oh * pc.ow, khw = pc.kh * pc.kw, K = pc.c_in * khw;
    int s = int(pc.stride);

    int py[TILE_N], px[TILE_N]; // padded input position of each pixel
    for (uint j = 0; j < TILE_N; j++) {
        uint p = min(pix0 + j, hw - 1);
        py[j] = int(p / pc.w + pc.pad);
        px[j] = int(p % pc.w + pc.pad);
    }
    uint wcol[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        wcol[i] = pc.w_base + min(ci0 + i, pc.c_in - 1) * khw;

    float acc[TILE_M * TILE_N];
    for (uint t = 0; t < TILE_M * TILE_N; t++)
        acc[t] = 0.0;

    uint dyc = pc.y_base + img * pc.c_out * npix;
    for (uint co = 0; co < pc.c_out; co++, dyc += npix) {
        uint wk = co * K;
        for (uint ky = 0; ky < pc.kh; ky++) {
            for (uint kx = 0; kx < pc.kw; kx++, wk++) {
                float gv[TILE_N];
                for (uint j = 0; j < TILE_N; j++) {
                    int ty = py[j] - int(ky), tx = px[j] - int(kx);
                    int oy = ty / s, ox = tx / s; // only used when ty, tx >= 0
                    bool hit = ty >= 0 && tx >= 0 && oy * s == ty && ox * s == tx && uint(oy) < pc.oh &&
                               uint(ox) < pc.ow;
                    float v = dy[hit ? dyc + uint(oy) * pc.ow + uint(ox) : dyc];
                    gv[j] = hit ? v : 0.0;
                }
                for (uint i = 0; i < TILE_M; i++) {
                    float wv = wt[wcol[i] + wk];
                    for (uint j = 0; j < TILE_N; j++)
                        acc[i * TILE_N + j] = fma(wv, gv[j], acc[i * TILE_N + j]);
                }
            }
        }
    }

    uint xb = pc.x_base + img * pc.c_in * hw;
    for (uint i = 0; i < TILE_M && ci0 + i < pc.c_in; i++)
        for (uint j = 0; j < TILE_N && pix0 + j < hw; j++)
            dx[xb + (ci0 + i) * hw + pix0 + j] = acc[i * TILE_N + j];
}
