#version 450
// y[n][co][oy][ox] = sum_{ci,ky,kx} w[co][ci][ky][kx] * x[n][ci][oy*s-p+ky][ox*s-p+kx] (zero padding).
// GEMM view per image: M = c_out, N = oh*ow, K = c_in*kh*kw. Tile: TILE_M output channels x TILE_N
// consecutive output pixels of one row (so the row's vertical bounds check is made once per ky);
// unpadded 1x1 convolutions tile the flattened plane instead (see conv_is_1x1).
#extension GL_GOOGLE_include_directive : require
#include "conv2d_common.glsl"

#if TSL_CONV_FLAT
CONV_INPUT(0, x_texels)
#define LOAD_X(i) CONV_LOAD(x_texels, i)
#define LOAD_X4(i) CONV_LOAD4(x_texels, i)
CONV_INPUT(1, wt_texels)
#define LOAD_W(i) CONV_LOAD(wt_texels, i)
#define LOAD_W4(i) CONV_LOAD4(wt_texels, i)
#else
layout(std430, set = 0, binding = 0) readonly buffer X { conv_in_t x[]; };
layout(std430, set = 0, binding = 0) readonly buffer X4 { conv_in4_t x4[]; }; // the same bytes, as vec4s
#define LOAD_X(i) float(x[i])
#define LOAD_X4(i) vec4(x4[i])
layout(std430, set = 0, binding = 1) readonly buffer W { conv_in_t wt[]; };
layout(std430, set = 0, binding = 1) readonly buffer W4 { conv_in4_t wt4[]; }; // the same bytes, as vec4s
#define LOAD_W(i) float(wt[i])
#define LOAD_W4(i) vec4(wt4[i])
#endif
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
                xv[q] = LOAD_X4((xc + min(pix0 + 4 * q, plane - 4)) / 4);
            } else {
                for (uint e = 0; e < 4; e++)
                    xv[q][e] = LOAD_X(xc + xoff[4 * q + e]);
            }
        }
        for (uint i = 0; i < TILE_M; i++) {
            float wv = LOAD_W(wrow[i] + ci);
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
                    float v = LOAD_X(inside ? row + uint(ix) : row);
                    xv[j] = inside ? v : 0.0;
                }
                for (uint i = 0; i < TILE_M; i++) {
                    float wv = LOAD_W(wrow[i] + k);
                    for (uint j = 0; j < TILE_N; j++)
                        acc[i * TILE_N + j] = fma(wv, xv[j], acc[i * TILE_N + j]);
                }
            }
        }
    }
}

#if TSL_CONV_FLAT
// Unpadded 1x1 convolutions with output planes smaller than this take general_flat too: pointwise tiles
// stay inside one image, so they would leave most of a tile empty. The host makes the same test.
const uint CPU_MIN_POINTWISE_PLANE = 16;

// CPU variant, any kernel: TILE_N consecutive pixels of the chunk's flattened outputs (n * oh * ow, so
// a tile may span images and small planes leave no lane idle), from pix0. The reduction runs over
// k = (ci, ky, kx) four taps at a time, each channel's four weights one vec4 load where K and w_base
// allow (a CPU driver loads per lane, so a vec4 costs little more than a scalar); every pixel gathers
// its own tap with a bounds check.
void general_flat(uint co0, uint pix0) {
    uint plane = pc.oh * pc.ow, hw = pc.h * pc.w, K = pc.c_in * pc.kh * pc.kw, last = pc.n * plane - 1;
    uint xb[TILE_N]; // image start in x of each pixel
    int iy0[TILE_N], ix0[TILE_N]; // top-left input position of each pixel's window
    for (uint j = 0; j < TILE_N; j++) {
        uint g = min(pix0 + j, last), p = g % plane; // the tail repeats the last pixel
        xb[j] = pc.x_base + (g / plane) * pc.c_in * hw;
        iy0[j] = int((p / pc.ow) * pc.stride) - int(pc.pad);
        ix0[j] = int((p % pc.ow) * pc.stride) - int(pc.pad);
    }
    uint wrow[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        wrow[i] = pc.w_base + min(co0 + i, pc.c_out - 1) * K;
    bool w_vec4 = K % 4 == 0 && pc.w_base % 4 == 0;
    const uint TQ = (TILE_N + 3) / 4; // vec4s per row of the tile
    vec4 acc4[TILE_M * TQ];           // a local array: the SoA registers of a CPU driver, unlike `acc`
    for (uint t = 0; t < TILE_M * TQ; t++)
        acc4[t] = vec4(0.0);
    uint ci_off = 0, ky = 0, kx = 0; // tap k + e as (ci * hw, ky, kx)
    for (uint k = 0; k < K; k += 4) {
        vec4 wv[TILE_M];
        for (uint i = 0; i < TILE_M; i++) {
            if (w_vec4) {
                wv[i] = LOAD_W4((wrow[i] + k) / 4);
            } else {
                for (uint e = 0; e < 4; e++) // past K: weight 0, load kept in range
                    wv[i][e] = k + e < K ? LOAD_W(wrow[i] + min(k + e, K - 1)) : 0.0;
            }
        }
        for (uint e = 0; e < 4; e++) {
            bool tap = k + e < K;
            vec4 xv[TQ];
            for (uint j = 0; j < 4 * TQ; j++) {
                uint jj = min(j, TILE_N - 1);
                int iy = iy0[jj] + int(ky), ix = ix0[jj] + int(kx);
                bool inside = tap && uint(iy) < pc.h && uint(ix) < pc.w;
                float v = LOAD_X(inside ? xb[jj] + ci_off + uint(iy) * pc.w + uint(ix) : xb[jj]);
                xv[j / 4][j % 4] = inside ? v : 0.0;
            }
            for (uint i = 0; i < TILE_M; i++)
                for (uint q = 0; q < TQ; q++)
                    acc4[i * TQ + q] = fma(vec4(wv[i][e]), xv[q], acc4[i * TQ + q]);
            if (++kx == pc.kw) {
                kx = 0;
                if (++ky == pc.kh) {
                    ky = 0;
                    ci_off += hw;
                }
            }
        }
    }
    for (uint i = 0; i < TILE_M; i++)
        for (uint j = 0; j < TILE_N; j++)
            acc[i * TILE_N + j] = acc4[i * TQ + j / 4][j % 4];
}

// Stores a general_flat tile: pixel pix0 + j of the chunk's flattened outputs, those before the end.
void store_flat(uint co0, uint pix0) {
    uint plane = pc.oh * pc.ow;
    for (uint j = 0; j < TILE_N && pix0 + j < pc.n * plane; j++) {
        uint g = pix0 + j, yb = pc.y_base + (g / plane) * pc.c_out * plane + g % plane;
        for (uint i = 0; i < TILE_M && co0 + i < pc.c_out; i++)
            y[yb + (co0 + i) * plane] = acc[i * TILE_N + j];
    }
}
#endif

void main() {
    uint plane = pc.oh * pc.ow;
#if TSL_CONV_FLAT
    if (!conv_is_1x1() || plane < CPU_MIN_POINTWISE_PLANE) { // tiles of the chunk's flattened outputs
        conv_cell f = conv_cell_of((pc.n * plane + TILE_N - 1) / TILE_N, (pc.c_out + TILE_M - 1) / TILE_M, 1);
        if (!f.valid)
            return;
        general_flat(f.row_tile * TILE_M, f.tile * TILE_N);
        store_flat(f.row_tile * TILE_M, f.tile * TILE_N);
        return;
    }
#endif
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
