#version 450
// dx[n][ci][iy][ix] = sum over (co, ky, kx) with oy = (iy+p-ky)/s and ox = (ix+p-kx)/s whole and in
// range of w[co][ci][ky][kx] * dy[n][co][oy][ox]. A gather (each dx element written once, no atomics).
// GEMM view per image: M = c_in, N = h*w, K = c_out*kh*kw.
//
// Tile: TILE_M input channels x TILE_N pixels of one input row that share a phase ix % s (ix = r,
// r + s, r + 2s, ...). All pixels of a tile then take the same kernel taps (ky = (iy+p) mod s, step
// s; likewise kx), so no iteration is spent on taps that miss the stride grid, and their dy values are
// consecutive in memory. The stride is a specialization constant so its divisions are shifts.
#extension GL_GOOGLE_include_directive : require
#include "conv2d_common.glsl"

layout(constant_id = 3) const uint STRIDE = 1;

layout(std430, set = 0, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 0) readonly buffer DY4 { vec4 dy4[]; }; // the same bytes, as vec4
layout(std430, set = 0, binding = 1) readonly buffer W { float wt[]; };
layout(std430, set = 0, binding = 2) writeonly buffer DX { float dx[]; };

float acc[TILE_M * TILE_N];

// 1x1, stride 1, no padding: dx = w^T dy per image, dy rows read as vec4 (see conv_is_pointwise_vec4).
void pointwise(uint img, uint ci0, uint iy, uint ix0) {
    const uint TQ = (TILE_N + 3) / 4; // vec4s per row of the tile (>= 1 so the array stays valid)
    uint plane = pc.h * pc.w;
    vec4 acc4[TILE_M * TQ];
    for (uint t = 0; t < TILE_M * TQ; t++)
        acc4[t] = vec4(0.0);
    uint wcol[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        wcol[i] = pc.w_base + min(ci0 + i, pc.c_in - 1);
    uint q0 = ix0 / 4, last = pc.w / 4 - 1;
    uint dyq = (pc.y_base + img * pc.c_out * plane + iy * pc.w) / 4;
    for (uint co = 0; co < pc.c_out; co++, dyq += plane / 4) {
        vec4 gv[TQ];
        for (uint q = 0; q < TQ; q++)
            gv[q] = dy4[dyq + min(q0 + q, last)];
        for (uint i = 0; i < TILE_M; i++) {
            float wv = wt[wcol[i] + co * pc.c_in];
            for (uint q = 0; q < TQ; q++)
                acc4[i * TQ + q] = fma(vec4(wv), gv[q], acc4[i * TQ + q]);
        }
    }
    for (uint i = 0; i < TILE_M; i++)
        for (uint j = 0; j < TILE_N; j++)
            acc[i * TILE_N + j] = acc4[i * TQ + j / 4][j % 4];
}

// Pixels ix = r + (q0 + j) * STRIDE of row iy.
void general(uint img, uint ci0, uint iy, uint r, uint q0) {
    uint npix = pc.oh * pc.ow, khw = pc.kh * pc.kw, K = pc.c_in * khw;
    uint wcol[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        wcol[i] = pc.w_base + min(ci0 + i, pc.c_in - 1) * khw;
    for (uint t = 0; t < TILE_M * TILE_N; t++)
        acc[t] = 0.0;
    uint ky0 = (iy + pc.pad) % STRIDE, kx0 = (r + pc.pad) % STRIDE;

    uint dyc = pc.y_base + img * pc.c_out * npix;
    for (uint co = 0; co < pc.c_out; co++, dyc += npix) {
        for (uint ky = ky0; ky < pc.kh; ky += STRIDE) {
            int ty = int(iy + pc.pad) - int(ky);
            if (ty < 0)
                break; // later taps are further up
            uint oy = uint(ty) / STRIDE;
            if (oy >= pc.oh)
                continue;
            uint row = dyc + oy * pc.ow;
            for (uint kx = kx0; kx < pc.kw; kx += STRIDE) {
                // ox of pixel j = (r + p - kx) / s + q0 + j; the division is exact (kx has r's phase).
                int ox0 = (int(r + pc.pad) - int(kx)) / int(STRIDE) + int(q0);
                float gv[TILE_N];
                for (uint j = 0; j < TILE_N; j++) {
                    int ox = ox0 + int(j);
                    bool hit = uint(ox) < pc.ow;
                    float v = dy[hit ? row + uint(ox) : row];
                    gv[j] = hit ? v : 0.0;
                }
                uint k = co * K + ky * pc.kw + kx;
                for (uint i = 0; i < TILE_M; i++) {
                    float wv = wt[wcol[i] + k];
                    for (uint j = 0; j < TILE_N; j++)
                        acc[i * TILE_N + j] = fma(wv, gv[j], acc[i * TILE_N + j]);
                }
            }
        }
    }
}

void main() {
    // Tiles of one row: STRIDE phases, each of ceil(ceil(w / s) / TILE_N) tiles.
    uint per_phase = ((pc.w + STRIDE - 1) / STRIDE + TILE_N - 1) / TILE_N;
    uint tiles_per_row = STRIDE * per_phase;
    uint tile = conv_tile_index();
    uint iy = tile / tiles_per_row, in_row = tile % tiles_per_row;
    uint r = in_row / per_phase, q0 = (in_row % per_phase) * TILE_N;
    uint ci0 = gl_WorkGroupID.y * TILE_M;
    if (iy >= pc.h || ci0 >= pc.c_in)
        return;
    uint img = gl_WorkGroupID.z;
    if (STRIDE == 1 && conv_is_pointwise_vec4(pc.w))
        pointwise(img, ci0, iy, q0);
    else
        general(img, ci0, iy, r, q0);

    uint xb = pc.x_base + img * pc.c_in * pc.h * pc.w + iy * pc.w;
    for (uint i = 0; i < TILE_M && ci0 + i < pc.c_in; i++) {
        for (uint j = 0; j < TILE_N; j++) {
            uint ix = r + (q0 + j) * STRIDE;
            if (ix < pc.w)
                dx[xb + (ci0 + i) * pc.h * pc.w + ix] = acc[i * TILE_N + j];
        }
    }
}
