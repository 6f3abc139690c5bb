#version 450
// y[n][co][oy][ox] = sum_{ci,ky,kx} w[co][ci][ky][kx] * x[n][ci][oy*s-p+ky][ox*s-p+kx] (zero padding).
// GEMM view per image: M = c_out, N = oh*ow, K = c_in*kh*kw. Tile: TILE_M output channels x TILE_N
// consecutive output pixels of one row (so the row's vertical bounds check is made once per ky);
// unpadded 1x1 convolutions tile the flattened plane instead (see conv_is_1x1).
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

// 1x1, no padding: y = w x per image over flattened output planes, TILE_N pixels from pix0; x read as
// vec4s at stride 1 when aligned, else as scalars at each pixel's input position (see conv_is_1x1,
// conv_vec4_ok). Pixels past the plane's end repeat its last pixel (not stored).
void pointwise(uint img, uint co0, uint pix0) {
    const uint TQ = (TILE_N + 3) / 4; // vec4s per row of the tile (>= 1 so the array stays valid)
    uint plane = pc.oh * pc.ow, xplane = pc.h * pc.w;
    bool vec4_loads = pc.stride == 1 && conv_vec4_ok(plane);
    vec4 acc4[TILE_M * TQ];
    for (uint t = 0; t < TILE_M * TQ; t++)
        acc4[t] = vec4(0.0);
    uint wrow[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        wrow[i] = pc.w_base + min(co0 + i, pc.c_out - 1) * pc.c_in;
    uint xoff[4 * TQ]; // input position of each pixel of the tile
    for (uint j = 0; j < 4 * TQ; j++) {
        uint p = min(pix0 + j, plane - 1);
        xoff[j] = (p / pc.ow) * pc.stride * pc.w + (p % pc.ow) * pc.stride;
    }
    uint xc = pc.x_base + img * pc.c_in * xplane;
    for (uint ci = 0; ci < pc.c_in; ci++, xc += xplane) {
        vec4 xv[TQ];
        for (uint q = 0; q < TQ; q++) {
            if (vec4_loads) {
                xv[q] = vec4(x4[(xc + min(pix0 + 4 * q, plane - 4)) / 4]);
            } else {
                for (uint e = 0; e < 4; e++)
                    xv[q][e] = float(x[xc + xoff[4 * q + e]]);
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
    uint plane = pc.oh * pc.ow;
    uint tiles_per_row = (pc.ow + TILE_N - 1) / TILE_N; // tiles of one output row
    bool whole_plane = conv_is_1x1(); // tiles of the flattened plane
    conv_cell c = conv_cell_of(whole_plane ? (plane + TILE_N - 1) / TILE_N : pc.oh * tiles_per_row,
                               (pc.c_out + TILE_M - 1) / TILE_M, pc.n);
    if (!c.valid)
        return;
    uint co0 = c.row_tile * TILE_M;
    if (whole_plane) {
        uint pix0 = c.tile * TILE_N;
        pointwise(c.img, co0, pix0);
        store(c.img, co0, pix0, plane);
        return;
    }
    uint oy = c.tile / tiles_per_row, ox0 = (c.tile % tiles_per_row) * TILE_N;
    general(c.img, co0, oy, ox0);
    store(c.img, co0, oy * pc.ow + ox0, oy * pc.ow + pc.ow);
}
