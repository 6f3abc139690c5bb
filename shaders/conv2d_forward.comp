#version 450
// y[n][co][oy][ox] = sum_{ci,ky,kx} w[co][ci][ky][kx] * x[n][ci][oy*s-p+ky][ox*s-p+kx] (zero padding).
// GEMM view per image: M = c_out, N = oh*ow, K = c_in*kh*kw. Tile: TILE_M output channels x TILE_N
// consecutive output pixels (row-major over oy, ox; a tile may wrap to the next row).
#extension GL_GOOGLE_include_directive : require
#include "conv2d_common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 0) readonly buffer X4 { vec4 x4[]; }; // the same bytes, as vec4
layout(std430, set = 0, binding = 1) readonly buffer W { float wt[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };

// 1x1, stride 1, no padding: y = w x per image, x rows read as vec4 (see conv_is_pointwise_vec4; each
// vec4 holds 4 of this invocation's pixels, wholly inside or wholly past the plane).
void pointwise(uint img, uint pix0, uint co0) {
    uint npix = pc.oh * pc.ow;
    const uint TQ = (TILE_N + 3) / 4; // vec4s per row of the tile (>= 1 so the array stays valid)
    vec4 acc[TILE_M * TQ];
    for (uint t = 0; t < TILE_M * TQ; t++)
        acc[t] = vec4(0.0);
    uint wrow[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        wrow[i] = pc.w_base + min(co0 + i, pc.c_out - 1) * pc.c_in;
    uint q0 = pix0 / 4, last = npix / 4 - 1;
    uint xq = (pc.x_base + img * pc.c_in * npix) / 4;
    for (uint ci = 0; ci < pc.c_in; ci++, xq += npix / 4) {
        vec4 xv[TQ];
        for (uint q = 0; q < TQ; q++)
            xv[q] = x4[xq + min(q0 + q, last)];
        for (uint i = 0; i < TILE_M; i++) {
            float wv = wt[wrow[i] + ci];
            for (uint q = 0; q < TQ; q++)
                acc[i * TQ + q] = fma(vec4(wv), xv[q], acc[i * TQ + q]);
        }
    }
    uint yb = pc.y_base + img * pc.c_out * npix;
    for (uint i = 0; i < TILE_M && co0 + i < pc.c_out; i++)
        for (uint j = 0; j < TILE_N && pix0 + j < npix; j++)
            y[yb + (co0 + i) * npix + pix0 + j] = acc[i * TQ + j / 4][j % 4];
}

void main() {
    uint npix = pc.oh * pc.ow;
    uint pix0 = conv_tile_column();
    uint co0 = gl_WorkGroupID.y * TILE_M;
    if (pix0 >= npix || co0 >= pc.c_out)
        return;
    uint img = gl_WorkGroupID.z;
    if (conv_is_pointwise_vec4(npix)) {
        pointwise(img, pix0, co0);
        return;
    }
    uint hw = pc.h * pc.w, khw = pc.kh * pc.kw, K = pc.c_in * khw;

    int iy0[TILE_N], ix0[TILE_N]; // top-left input position of each pixel's window
    for (uint j = 0; j < TILE_N; j++) {
        uint p = min(pix0 + j, npix - 1); // tail columns repeat the last pixel and are not stored
        iy0[j] = int((p / pc.ow) * pc.stride) - int(pc.pad);
        ix0[j] = int((p % pc.ow) * pc.stride) - int(pc.pad);
    }
    uint wrow[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        wrow[i] = pc.w_base + min(co0 + i, pc.c_out - 1) * K;

    float acc[TILE_M * TILE_N];
    for (uint t = 0; t < TILE_M * TILE_N; t++)
        acc[t] = 0.0;

    uint xc = pc.x_base + img * pc.c_in * hw;
    uint k = 0;
    for (uint ci = 0; ci < pc.c_in; ci++, xc += hw) {
        for (uint ky = 0; ky < pc.kh; ky++) {
            for (uint kx = 0; kx < pc.kw; kx++, k++) {
                float xv[TILE_N];
                for (uint j = 0; j < TILE_N; j++) {
                    int iy = iy0[j] + int(ky), ix = ix0[j] + int(kx);
                    bool inside = uint(iy) < pc.h && uint(ix) < pc.w; // negative wraps to huge
                    float v = x[inside ? xc + uint(iy) * pc.w + uint(ix) : xc];
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

    uint yb = pc.y_base + img * pc.c_out * npix;
    for (uint i = 0; i < TILE_M && co0 + i < pc.c_out; i++)
        for (uint j = 0; j < TILE_N && pix0 + j < npix; j++)
            y[yb + (co0 + i) * npix + pix0 + j] = acc[i * TILE_N + j];
}
