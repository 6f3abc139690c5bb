#version 450
// dx[n][ci][iy][ix] = sum over (co, ky, kx) with oy = (iy+p-ky)/s and ox = (ix+p-kx)/s whole and in
// range of w[co][ci][ky][kx] * dy[n][co][oy][ox]. A gather (each dx element written once, no atomics).
// GEMM view per image: M = c_in, N = h*w, K = c_out*kh*kw.
//
// Tile: TILE_M input channels x TILE_N pixels of one input row that share a phase ix % s (ix = r,
// r + s, r + 2s, ...). All pixels of a tile then take the same kernel taps (ky = (iy+p) mod s, step
// s; likewise kx), so no iteration is spent on taps that miss the stride grid, and their dy values are
// consecutive in memory. The stride is a specialization constant so its divisions are shifts.
// 1x1 stride-1 unpadded convolutions tile the flattened plane instead (see conv_is_pointwise).
#extension GL_GOOGLE_include_directive : require
#include "conv2d_common.glsl"

layout(constant_id = 3) const uint STRIDE = 1;

layout(std430, set = 0, binding = 0) readonly buffer DY { conv_in_t dy[]; };
layout(std430, set = 0, binding = 0) readonly buffer DY4 { conv_in4_t dy4[]; }; // the same bytes, as vec4s
layout(std430, set = 0, binding = 1) readonly buffer W { conv_in_t wt[]; };
layout(std430, set = 0, binding = 2) writeonly buffer DX { float dx[]; };

float acc[TILE_M * TILE_N];

// 1x1, stride 1, no padding: dx = w^T dy per image over flattened planes, TILE_N pixels from pix0; dy
// read as vec4s when aligned, else as 4 clamped scalars (see conv_is_pointwise, conv_vec4_ok).
void pointwise(uint img, uint ci0, uint pix0) {
    const uint TQ = (TILE_N + 3) / 4; // vec4s per row of the tile (>= 1 so the array stays valid)
    uint plane = pc.h * pc.w;
    bool vec4_loads = conv_vec4_ok(plane);
    vec4 acc4[TILE_M * TQ];
    for (uint t = 0; t < TILE_M * TQ; t++)
        acc4[t] = vec4(0.0);
    uint wcol[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        wcol[i] = pc.w_base + min(ci0 + i, pc.c_in - 1);
    uint dyc = pc.y_base + img * pc.c_out * plane;
    for (uint co = 0; co < pc.c_out; co++, dyc += plane) {
        vec4 gv[TQ];
        for (uint q = 0; q < TQ; q++) {
            uint p = pix0 + 4 * q;
            if (vec4_loads) {
                gv[q] = vec4(dy4[(dyc + min(p, plane - 4)) / 4]);
            } else {
                for (uint e = 0; e < 4; e++)
                    gv[q][e] = float(dy[dyc + min(p + e, plane - 1)]);
            }
        }
        for (uint i = 0; i < TILE_M; i++) {
            float wv = float(wt[wcol[i] + co * pc.c_in]);
            for (uint q = 0; q < TQ; q++)
                acc4[i * TQ + q] = fma(vec4(wv), gv[q], acc4[i * TQ + q]);
        }
    }
    for (uint i = 0; i < TILE_M; i++)
        for (uint j = 0; j < TILE_N; j++)
            acc[i * TILE_N + j] = acc4[i * TQ + j / 4][j % 4];
}

// Stores the tile's pixels first, first + step, ... of each dx plane, those before `end` (measured from
// the plane's start).
void store(uint img, uint ci0, uint first, uint step, uint end) {
    uint plane = pc.h * pc.w;
    uint xb = pc.x_base + img * pc.c_in * plane;
    for (uint i = 0; i < TILE_M && ci0 + i < pc.c_in; i++) {
        for (uint j = 0; j < TILE_N; j++) {
            uint p = first + j * step;
            if (p < end)
                dx[xb + (ci0 + i) * plane + p] = acc[i * TILE_N + j];
        }
    }
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
                    float v = float(dy[hit ? row + uint(ox) : row]);
                    gv[j] = hit ? v : 0.0;
                }
                uint k = co * K + ky * pc.kw + kx;
                for (uint i = 0; i < TILE_M; i++) {
                    float wv = float(wt[wcol[i] + k]);
                    for (uint j = 0; j < TILE_N; j++)
                        acc[i * TILE_N + j] = fma(wv, gv[j], acc[i * TILE_N + j]);
                }
            }
        }
    }
}

void main() {
    uint tile = conv_tile_index();
    uint ci0 = gl_WorkGroupID.y * TILE_M;
    uint img = gl_WorkGroupID.z;
    if (conv_is_pointwise()) { // tiles of the flattened plane
        uint pix0 = tile * TILE_N, plane = pc.h * pc.w;
        if (pix0 >= plane || ci0 >= pc.c_in)
            return;
        pointwise(img, ci0, pix0);
        store(img, ci0, pix0, 1, plane);
        return;
    }
    // Tiles of one row: STRIDE phases, each of ceil(ceil(w / s) / TILE_N) tiles.
    uint per_phase = ((pc.w + STRIDE - 1) / STRIDE + TILE_N - 1) / TILE_N;
    uint tiles_per_row = STRIDE * per_phase;
    uint iy = tile / tiles_per_row, in_row = tile % tiles_per_row;
    uint r = in_row / per_phase, q0 = (in_row % per_phase) * TILE_N;
    if (iy >= pc.h || ci0 >= pc.c_in)
        return;
    general(img, ci0, iy, r, q0);
    store(img, ci0, iy * pc.w + r + q0 * STRIDE, STRIDE, iy * pc.w + pc.w);
}
