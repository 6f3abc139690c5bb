#version 450
// y[n][co][oy][ox] = sum_{ci,ky,kx} w[co][ci][ky][kx] * x[n][ci][oy*s-p+ky][ox*s-p+kx] (zero padding).
// GEMM view per image: M = c_out, N = oh*ow, K = c_in*kh*kw. Tile: TILE_M output channels x TILE_N
// consecutive output pixels of one row (so the row's vertical bounds check is made once per ky);
// 1x1 stride-1 unpadded convolutions tile the flattened plane instead (see conv_is_pointwise).
#extension GL_GOOGLE_include_directive : require
#include "conv2d_common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer X { conv_in_t x[]; };
layout(std430, set = 0, binding = 0) readonly buffer X4 { conv_in4_t x4[]; }; // the same bytes, as vec4s
layout(std430, set = 0, binding = 1) readonly buffer W { conv_in_t wt[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };

float acc[TILE_M * TILE_N];

// Stores the tile at pixel `first` of each output plane; pixels from `end` on (the row's or plane's end,
// measured from the plane's start) are past the edge.
void store(uint img, uint co0, uint first, uint end) {
    uint plane = pc.oh * pc.ow;
    uint yb = pc.y_base + img * pc.c_out * plane + first;
    for (uint i = 0; i < TILE_M && co0 + i < pc.c_out; i++)
        for (uint j = 0; j < TILE_N && first + j < end; j++)
            y[yb + (co0 + i) * plane + j] = acc[i * TILE_N + j];
}

// 1x1, stride 1, no padding: y = w x per image over flattened planes, TILE_N pixels from pix0; x read
// as vec4s when aligned, else as 4 clamped scalars (see conv_is_pointwise, conv_vec4_ok).
void pointwise(uint img, uint co0, uint pix0) {
    const uint TQ = (TILE_N + 3) / 4; // vec4s per row of the tile (>= 1 so the array stays valid)
    uint plane = pc.h * pc.w;
    bool vec4_loads = conv_vec4_ok(plane);
    vec4 acc4[TILE_M * TQ];
    for (uint t = 0; t < TILE_M * TQ; t++)
        acc4[t] = vec4(0.0);
    uint wrow[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        wrow[i] = pc.w_base + min(co0 + i, pc.c_out - 1) * pc.c_in;
    uint xc = pc.x_base + img * pc.c_in * plane;
    for (uint ci = 0; ci < pc.c_in; ci++, xc += plane) {
        vec4 xv[TQ];
        for (uint q = 0; q < TQ; q++) {
            uint p = pix0 + 4 * q;
            if (vec4_loads) {
                xv[q] = vec4(x4[(xc + min(p, plane - 4)) / 4]);
            } else {
                for (uint e = 0; e < 4; e++)
                    xv[q][e] = float(x[xc + min(p + e, plane - 1)]);
            }
        }
        for (uint i = 0; i < TILE_M; i++) {
            float wv = float(wt[wrow[i] + ci]);
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
                    float v = float(x[inside ? row + uint(ix) : row]);
                    xv[j] = inside ? v : 0.0;
                }
                for (uint i = 0; i < TILE_M; i++) {
                    float wv = float(wt[wrow[i] + k]);
                    for (uint j = 0; j < TILE_N; j++)
                        acc[i * TILE_N + j] = fma(wv, xv[j], acc[i * TILE_N + j]);
                }
            }
        }
    }
}

void main() {
    uint tile = conv_tile_index();
    uint co0 = gl_WorkGroupID.y * TILE_M;
    uint img = gl_WorkGroupID.z;
    if (conv_is_pointwise()) { // tiles of the flattened plane
        uint pix0 = tile * TILE_N, plane = pc.oh * pc.ow;
        if (pix0 >= plane || co0 >= pc.c_out)
            return;
        pointwise(img, co0, pix0);
        store(img, co0, pix0, plane);
        return;
    }
    uint tiles_per_row = (pc.ow + TILE_N - 1) / TILE_N; // tiles of one output row
    uint oy = tile / tiles_per_row, ox0 = (tile % tiles_per_row) * TILE_N;
    if (oy >= pc.oh || co0 >= pc.c_out)
        return;
    general(img, co0, oy, ox0);
    store(img, co0, oy * pc.ow + ox0, oy * pc.ow + pc.ow);
}
