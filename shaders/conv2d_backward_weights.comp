#version 450
// dw[co][ci][ky][kx] (+)= sum_{n,oy,ox} dy[n][co][oy][ox] * x[n][ci][oy*s-p+ky][ox*s-p+kx].
// GEMM view: M = c_out, N = c_in*kh*kw (flattened weight index k), K = n*oh*ow (the chunk's images).
// Tile: TILE_M output channels x TILE_N consecutive k. gl_WorkGroupID.z is unused (1): the sum over the
// chunk's images runs inside the invocation; chunks after the first add to dw (pc.accumulate).
#extension GL_GOOGLE_include_directive : require
#include "conv2d_common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer X { conv_in_t x[]; };
layout(std430, set = 0, binding = 0) readonly buffer X4 { conv_in4_t x4[]; }; // the same bytes, as vec4s
layout(std430, set = 0, binding = 1) readonly buffer DY { conv_in_t dy[]; };
layout(std430, set = 0, binding = 1) readonly buffer DY4 { conv_in4_t dy4[]; };
layout(std430, set = 0, binding = 2) buffer DW { float dw[]; };

void store(uint co0, uint k0, uint i, uint j, float value) {
    uint K = pc.c_in * pc.kh * pc.kw;
    if (co0 + i < pc.c_out && k0 + j < K) {
        uint o = pc.w_base + (co0 + i) * K + k0 + j;
        dw[o] = pc.accumulate != 0 ? dw[o] + value : value;
    }
}

// 1x1, stride 1, no padding: dw = dy x^T summed over images, the pixel sum run 4 pixels at a time on
// vec4s of dy and x (see conv_is_pointwise, conv_vec4_ok), reduced across the 4 lanes at the end.
void pointwise(uint k0, uint co0) {
    uint hw = pc.h * pc.w, hq = hw / 4;
    vec4 acc[TILE_M * TILE_N];
    for (uint t = 0; t < TILE_M * TILE_N; t++)
        acc[t] = vec4(0.0);
    for (uint img = 0; img < pc.n; img++) {
        uint xq[TILE_N], dyq[TILE_M];
        for (uint j = 0; j < TILE_N; j++)
            xq[j] = (pc.x_base + (img * pc.c_in + min(k0 + j, pc.c_in - 1)) * hw) / 4;
        for (uint i = 0; i < TILE_M; i++)
            dyq[i] = (pc.y_base + (img * pc.c_out + min(co0 + i, pc.c_out - 1)) * hw) / 4;
        for (uint q = 0; q < hq; q++) {
            vec4 xv[TILE_N];
            for (uint j = 0; j < TILE_N; j++)
                xv[j] = vec4(x4[xq[j] + q]);
            for (uint i = 0; i < TILE_M; i++) {
                vec4 g = vec4(dy4[dyq[i] + q]);
                for (uint j = 0; j < TILE_N; j++)
                    acc[i * TILE_N + j] = fma(g, xv[j], acc[i * TILE_N + j]);
            }
        }
    }
    for (uint i = 0; i < TILE_M; i++)
        for (uint j = 0; j < TILE_N; j++)
            store(co0, k0, i, j, dot(acc[i * TILE_N + j], vec4(1.0)));
}

void main() {
    uint khw = pc.kh * pc.kw, K = pc.c_in * khw;
    conv_cell c = conv_cell_of((K + TILE_N - 1) / TILE_N, (pc.c_out + TILE_M - 1) / TILE_M, 1);
    if (!c.valid)
        return;
    uint k0 = c.tile * TILE_N;
    uint co0 = c.row_tile * TILE_M;
    if (conv_is_pointwise() && conv_vec4_ok(pc.h * pc.w)) {
        pointwise(k0, co0);
        return;
    }
    uint hw = pc.h * pc.w, npix = pc.oh * pc.ow;

    uint xoff[TILE_N]; // channel offset of each column in an image of x
    int ky_p[TILE_N], kx_p[TILE_N]; // ky - pad, kx - pad
    for (uint j = 0; j < TILE_N; j++) {
        uint k = min(k0 + j, K - 1);
        uint r = k % khw;
        xoff[j] = (k / khw) * hw;
        ky_p[j] = int(r / pc.kw) - int(pc.pad);
        kx_p[j] = int(r % pc.kw) - int(pc.pad);
    }
    uint dyrow[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        dyrow[i] = min(co0 + i, pc.c_out - 1) * npix;

    float acc[TILE_M * TILE_N];
    for (uint t = 0; t < TILE_M * TILE_N; t++)
        acc[t] = 0.0;

    for (uint img = 0; img < pc.n; img++) {
        uint xb = pc.x_base + img * pc.c_in * hw;
        uint dyb = pc.y_base + img * pc.c_out * npix;
        for (uint oy = 0; oy < pc.oh; oy++) {
            int sy = int(oy * pc.stride);
            for (uint ox = 0; ox < pc.ow; ox++) {
                int sx = int(ox * pc.stride);
                float xv[TILE_N];
                for (uint j = 0; j < TILE_N; j++) {
                    int iy = sy + ky_p[j], ix = sx + kx_p[j];
                    bool inside = uint(iy) < pc.h && uint(ix) < pc.w;
                    float v = float(x[inside ? xb + xoff[j] + uint(iy) * pc.w + uint(ix) : xb]);
                    xv[j] = inside ? v : 0.0;
                }
                uint pix = oy * pc.ow + ox;
                for (uint i = 0; i < TILE_M; i++) {
                    float g = float(dy[dyb + dyrow[i] + pix]);
                    for (uint j = 0; j < TILE_N; j++)
                        acc[i * TILE_N + j] = fma(g, xv[j], acc[i * TILE_N + j]);
                }
            }
        }
    }

    for (uint i = 0; i < TILE_M; i++)
        for (uint j = 0; j < TILE_N; j++)
            store(co0, k0, i, j, acc[i * TILE_N + j]);
}
