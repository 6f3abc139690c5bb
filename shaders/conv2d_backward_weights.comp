#version 450
// dw[co][ci][ky][kx] (+)= sum_{n,oy,ox} dy[n][co][oy][ox] * x[n][ci][oy*s-p+ky][ox*s-p+kx].
// GEMM view: M = c_out, N = c_in*kh*kw (flattened weight index k), K = n*oh*ow (the chunk's images).
// Tile: TILE_M output channels x TILE_N consecutive k. The sum over the chunk's images runs inside the
// invocation; chunks after the first add to dw (pc.accumulate). GPU split-K: with gl_NumWorkGroups.z = S
// > 1, workgroup z sums only its share of the chunk's pixels (split_share) and writes its partial tile to
// slice z of dw (c_out x K floats apart); the host binds a workspace of S slices there and adds them up
// after (dw_splits in tsl_conv2d.c). The CPU variant's grid has z = 1: one share, the whole sum.
#extension GL_GOOGLE_include_directive : require
#include "conv2d_common.glsl"

#if TSL_CONV_FLAT
CONV_INPUT(0, x_texels)
#define LOAD_X(i) CONV_LOAD(x_texels, i)
#define LOAD_X4(i) CONV_LOAD4(x_texels, i)
CONV_INPUT(1, dy_texels)
#define LOAD_DY(i) CONV_LOAD(dy_texels, i)
#define LOAD_DY4(i) CONV_LOAD4(dy_texels, i)
#else
layout(std430, set = 0, binding = 0) readonly buffer X { conv_in_t x[]; };
layout(std430, set = 0, binding = 0) readonly buffer X4 { conv_in4_t x4[]; }; // the same bytes, as vec4s
#define LOAD_X(i) float(x[i])
#define LOAD_X4(i) vec4(x4[i])
layout(std430, set = 0, binding = 1) readonly buffer DY { conv_in_t dy[]; };
layout(std430, set = 0, binding = 1) readonly buffer DY4 { conv_in4_t dy4[]; }; // the same bytes, as vec4s
#define LOAD_DY(i) float(dy[i])
#define LOAD_DY4(i) vec4(dy4[i])
#endif
layout(std430, set = 0, binding = 2) buffer DW { float dw[]; };

// Units [u0, u1) of `total` (rows or vec4s of pixels over the chunk's images) that this workgroup's
// split sums: balanced shares, in unit order, so a split's result does not depend on the others.
void split_share(uint total, out uint u0, out uint u1) {
    uint splits = gl_NumWorkGroups.z, z = gl_WorkGroupID.z;
    uint base = total / splits, rem = total % splits;
    u0 = z * base + min(z, rem);
    u1 = u0 + base + (z < rem ? 1u : 0u);
}

void store(uint co0, uint k0, uint i, uint j, float value) {
    uint K = pc.c_in * pc.kh * pc.kw;
    if (co0 + i < pc.c_out && k0 + j < K) {
        uint o = pc.w_base + gl_WorkGroupID.z * pc.c_out * K + (co0 + i) * K + k0 + j;
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
    uint u0, u1;
    split_share(pc.n * hq, u0, u1);
    for (uint u = u0; u < u1;) {
        uint img = u / hq, q0 = u % hq, q1 = min(hq, q0 + (u1 - u));
        u += q1 - q0;
        uint xq[TILE_N], dyq[TILE_M];
        for (uint j = 0; j < TILE_N; j++)
            xq[j] = (pc.x_base + (img * pc.c_in + min(k0 + j, pc.c_in - 1)) * hw) / 4;
        for (uint i = 0; i < TILE_M; i++)
            dyq[i] = (pc.y_base + (img * pc.c_out + min(co0 + i, pc.c_out - 1)) * hw) / 4;
        for (uint q = q0; q < q1; q++) {
            vec4 xv[TILE_N];
            for (uint j = 0; j < TILE_N; j++)
                xv[j] = LOAD_X4(xq[j] + q);
            for (uint i = 0; i < TILE_M; i++) {
                vec4 g = LOAD_DY4(dyq[i] + q);
                for (uint j = 0; j < TILE_N; j++)
                    acc[i * TILE_N + j] = fma(g, xv[j], acc[i * TILE_N + j]);
            }
        }
    }
    for (uint i = 0; i < TILE_M; i++)
        for (uint j = 0; j < TILE_N; j++)
            store(co0, k0, i, j, dot(acc[i * TILE_N + j], vec4(1.0)));
}

// 1 where the host chose tapwise (see use_tapwise in tsl_conv2d.c); the grid's columns then follow
// tapwise's numbering.
layout(constant_id = 3) const uint TAPWISE = 0;

vec4 tile_out[TILE_M * ((TILE_N + 3) / 4)]; // tapwise's finished tile (module scope: memory, stored once)

// Pixel p + e of a tapwise step, e a literal, so g[i][e] is a constant component whatever the compiler
// decides to unroll: local arrays indexed dynamically live in per-lane memory on lavapipe.
#define TAPWISE_PIXEL(e)                                                                                   \
    {                                                                                                      \
        int iy = int(oy * pc.stride) + ky_p, ix = int(ox * pc.stride) + kx_p;                              \
        bool inside = p + e < plane && uint(iy) < pc.h && uint(ix) < pc.w;                                 \
        uint at = inside ? xb + uint(iy) * pc.w + uint(ix) : xb;                                           \
        vec4 xv[TQ];                                                                                       \
        for (uint j = 0; j < 4 * TQ; j++) {                                                                \
            float v = LOAD_X(at + xoff[min(j, TILE_N - 1)]);                                             \
            xv[j / 4][j % 4] = inside ? v : 0.0;                                                           \
        }                                                                                                  \
        for (uint i = 0; i < TILE_M; i++)                                                                  \
            for (uint q = 0; q < TQ; q++)                                                                  \
                acc[i * TQ + q] = fma(vec4(g[i][e]), xv[q], acc[i * TQ + q]);                              \
        bool wrap = ox + 1 == pc.ow; /* selects, not a branch */                                           \
        ox = wrap ? 0 : ox + 1;                                                                            \
        oy += wrap ? 1 : 0;                                                                                \
    }

// Tile column `col`: TILE_M output channels x TILE_N input channels at one kernel tap (columns numbered
// tap fastest, so neighbouring lanes read the same channels of x, at neighbouring pixels). Per pixel the
// window bounds check is made once for the whole tile, and the x values of the TILE_N channels sit one
// plane apart. The sum over pixels runs 4 at a time over the flattened dy plane, dy read as vec4s where the
// plane and dy's base allow (a CPU driver loads per lane in a loop, so one vec4 costs far less than four
// scalars). Accumulators are vec4s of 4 input channels, each summed in pixel order: the same bits run to
// run. On GPUs the pixels are split over gl_WorkGroupID.z as in the general path (split_share).
void tapwise(uint col, uint co0) {
    uint khw = pc.kh * pc.kw, hw = pc.h * pc.w, plane = pc.oh * pc.ow;
    uint tap = col % khw, ci0 = (col / khw) * TILE_N;
    int ky_p = int(tap / pc.kw) - int(pc.pad), kx_p = int(tap % pc.kw) - int(pc.pad);
    uint xoff[TILE_N]; // channel offset of each column in an image of x (the tail repeats the last)
    for (uint j = 0; j < TILE_N; j++)
        xoff[j] = min(ci0 + j, pc.c_in - 1) * hw;
    uint dyoff[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        dyoff[i] = min(co0 + i, pc.c_out - 1) * plane;
    bool dy_vec4 = plane % 4 == 0 && pc.y_base % 4 == 0;
    const uint TQ = (TILE_N + 3) / 4; // vec4s of channels per row of the tile
    vec4 acc[TILE_M * TQ]; // vec4 ops count as one in the compiler's unrolling budget
    for (uint t = 0; t < TILE_M * TQ; t++)
        acc[t] = vec4(0.0);
    uint quads = (plane + 3) / 4, u0, u1;
    split_share(pc.n * quads, u0, u1); // units: 4-pixel steps of the chunk's images
    for (uint u = u0; u < u1;) {
        uint img = u / quads, q0 = u % quads, q1 = min(quads, q0 + (u1 - u));
        u += q1 - q0;
        uint xb = pc.x_base + img * pc.c_in * hw;
        uint dyb = pc.y_base + img * pc.c_out * plane;
        uint oy = 4 * q0 / pc.ow, ox = 4 * q0 % pc.ow; // output position of pixel p + e
        for (uint p = 4 * q0; p < 4 * q1; p += 4) {
            vec4 g[TILE_M];
            for (uint i = 0; i < TILE_M; i++) {
                if (dy_vec4) {
                    g[i] = LOAD_DY4((dyb + dyoff[i] + p) / 4);
                } else {
                    for (uint e = 0; e < 4; e++) // past the plane: 0, load kept in range
                        g[i][e] = p + e < plane ? LOAD_DY(dyb + dyoff[i] + min(p + e, plane - 1)) : 0.0;
                }
            }
            TAPWISE_PIXEL(0)
            TAPWISE_PIXEL(1)
            TAPWISE_PIXEL(2)
            TAPWISE_PIXEL(3)
        }
    }
    // Copied out in a loop small enough for the compiler to unroll: a loop it leaves rolled indexes acc
    // dynamically, and a dynamically indexed local array lives in per-lane memory (the stores below, with
    // their edge tests, doubled the whole kernel's time when they read acc directly at 8x8).
    for (uint t = 0; t < TILE_M * TQ; t++)
        tile_out[t] = acc[t];
    for (uint i = 0; i < TILE_M && co0 + i < pc.c_out; i++) {
        for (uint j = 0; j < TILE_N && ci0 + j < pc.c_in; j++) {
            uint slice = gl_WorkGroupID.z * pc.c_out * pc.c_in * khw; // the split's partial dw
            uint o = pc.w_base + slice + ((co0 + i) * pc.c_in + ci0 + j) * khw + tap;
            float v = tile_out[i * TQ + j / 4][j % 4];
            dw[o] = pc.accumulate != 0 ? dw[o] + v : v;
        }
    }
}

void main() {
    uint khw = pc.kh * pc.kw, K = pc.c_in * khw;
#if TSL_CONV_FLAT
    const uint splits = 1;
#else
    uint splits = gl_NumWorkGroups.z; // conv_cell_of's image is the split here
#endif
    if (TAPWISE != 0) {
        conv_cell t =
            conv_cell_of(khw * ((pc.c_in + TILE_N - 1) / TILE_N), (pc.c_out + TILE_M - 1) / TILE_M, splits);
        if (t.valid)
            tapwise(t.tile, t.row_tile * TILE_M);
        return;
    }
    conv_cell c = conv_cell_of((K + TILE_N - 1) / TILE_N, (pc.c_out + TILE_M - 1) / TILE_M, splits);
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

    uint u0, u1;
    split_share(pc.n * pc.oh, u0, u1); // units: output rows of the chunk's images
    for (uint u = u0; u < u1;) {
        uint img = u / pc.oh, oy0 = u % pc.oh, oy1 = min(pc.oh, oy0 + (u1 - u));
        u += oy1 - oy0;
        uint xb = pc.x_base + img * pc.c_in * hw;
        uint dyb = pc.y_base + img * pc.c_out * npix;
        for (uint oy = oy0; oy < oy1; oy++) {
            int sy = int(oy * pc.stride);
            for (uint ox = 0; ox < pc.ow; ox++) {
                int sx = int(ox * pc.stride);
                float xv[TILE_N];
                for (uint j = 0; j < TILE_N; j++) {
                    int iy = sy + ky_p[j], ix = sx + kx_p[j];
                    bool inside = uint(iy) < pc.h && uint(ix) < pc.w;
                    float v = LOAD_X(inside ? xb + xoff[j] + uint(iy) * pc.w + uint(ix) : xb);
                    xv[j] = inside ? v : 0.0;
                }
                uint pix = oy * pc.ow + ox;
                for (uint i = 0; i < TILE_M; i++) {
                    float g = LOAD_DY(dyb + dyrow[i] + pix);
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
