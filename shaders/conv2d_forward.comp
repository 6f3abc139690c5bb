#version 450
// y[n][co][oy][ox] = sum_{ci,ky,kx} w[co][ci][ky][kx] * x[n][ci][oy*s-p+ky][ox*s-p+kx] (zero padding).
// GEMM view per image: M = c_out, N = oh*ow, K = c_in*kh*kw. Tile: TILE_M output channels x TILE_N
// consecutive output pixels of one row (so the row's vertical bounds check is made once per ky).
#extension GL_GOOGLE_include_directive : require
#include "conv2d_common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 0) readonly buffer X4 { vec4 x4[]; }; // the same bytes, as vec4
layout(std430, set = 0, binding = 1) readonly buffer W { float wt[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };

float acc[TILE_M * TILE_N];

void store(uint img, uint co0, uint oy, uint ox0) {
    uint yb = pc.y_base + img * pc.c_out * pc.oh * pc.ow + oy * pc.ow + ox0;
    for (uint i = 0; i < TILE_M && co0 + i < pc.c_out; i++)
        for (uint j = 0; j < TILE_N && ox0 + j < pc.ow; j++)
            y[yb + (co0 + i) * pc.oh * pc.ow + j] = acc[i * TILE_N + j];
}

// 1x1, stride 1, no padding: y = w x per image, x rows read as vec4 (see conv_is_pointwise_vec4; each
// vec4 holds 4 of this invocation's pixels, wholly inside or wholly past the row).
void pointwise(uint img, uint co0, uint oy, uint ox0) {
    const uint TQ = (TILE_N + 3) / 4; // vec4s per row of the tile (>= 1 so the array stays valid)
    uint plane = pc.h * pc.w;
    vec4 acc4[TILE_M * TQ];
    for (uint t = 0; t < TILE_M * TQ; t++)
        acc4[t] = vec4(0.0);
    uint wrow[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        wrow[i] = pc.w_base + min(co0 + i, pc.c_out - 1) * pc.c_in;
    uint q0 = ox0 / 4, last = pc.w / 4 - 1;
    uint xq = (pc.x_base + img * pc.c_in * plane + oy * pc.w) / 4;
    for (uint ci = 0; ci < pc.c_in; ci++, xq += plane / 4) {
        vec4 xv[TQ];
        for (uint q = 0; q < TQ; q++)
            xv[q] = x4[xq + min(q0 + q, last)];
        for (uint i = 0; i < TILE_M; i++) {
            float wv = wt[wrow[i] + ci];
            for (uint q = 0; q < TQ; q++)
                acc4[i * TQ + q] = fma(vec4(wv), xv[q], acc4[i * TQ + q]);
        }
    }
    for (uint i = 0; i < TILE_M; i++)
        for (uint j = 0; j < TILE_N; j++)
            acc[i * TILE_N + j] = acc4[i * TQ + j / 4][j % 4];
}

void general(uint img, uint co0, uint oy, uint ox0) {
    uint hw = pc.h * pc.w, khw = pc.kh * pc.kw, K = pc.c_in * khw;
    int iy0 = int(oy * pc.stride) - int(pc.pad);
    int ix0[TILE_N]; // left input column of each pixel's window
    for (uint j = 0; j < TILE_N; j++)
        ix0[j] = int(min(ox0 + j, pc.ow - 1) * pc.stride) - int(pc.pad); // tail repeats the last pixel
    uint wrow[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        wrow[i] = pc.w_base + min(co0 + i, pc.c_out - 1) * K;
    for (uint t = 0; t < TILE_M * TILE_N; t++)
        acc[t] = 0.0;

    uint xc = pc.x_base + img * pc.c_in * hw;
    for (uint ci = 0; ci < pc.c_in; ci++, xc += hw) {
        for (uint ky = 0; ky < pc.kh; ky++) {
            int iy = iy0 + int(ky);
            if (uint(iy) >= pc.h) // padding row (negative wraps to huge)
                continue;
            uint row = xc + uint(iy) * pc.w;
            uint k = (ci * pc.kh + ky) * pc.kw;
            for (uint kx = 0; kx < pc.kw; kx++, k++) {
                float xv[TILE_N];
                for (uint j = 0; j < TILE_N; j++) {
                    int ix = ix0[j] + int(kx);
                    bool inside = uint(ix) < pc.w;
                    float v = x[inside ? row + uint(ix) : row];
                    xv[j] = inside ? v : 0.0;
                }
                for (uint i = 0; i < TILE_M; i++) {
                    float wv = wt[wrow[i] + k];
                    for (uint j = 0; j < TILE_N; j++)
                        acc[i * TILE_N + j] = fma(wv, xv[j], acc[i * TILE_N + j]);
                }
            }
        }
    }
}

void main() {
    uint tiles_per_row = (pc.ow + TILE_N - 1) / TILE_N;
    uint tile = conv_tile_index();
    uint oy = tile / tiles_per_row, ox0 = (tile % tiles_per_row) * TILE_N;
    uint co0 = gl_WorkGroupID.y * TILE_M;
    if (oy >= pc.oh || co0 >= pc.c_out)
        return;
    uint img = gl_WorkGroupID.z;
    if (conv_is_pointwise_vec4(pc.w))
        pointwise(img, co0, oy, ox0);
    else
        general(img, co0, oy, ox0);
    store(img, co0, oy, ox0);
}
