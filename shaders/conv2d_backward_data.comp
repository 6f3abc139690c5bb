#version 450
// dx[n][ci][iy][ix] = sum over (co, ky, kx) with oy = (iy+p-ky)/s and ox = (ix+p-kx)/s whole and in
// range of w[co][ci][ky][kx] * dy[n][co][oy][ox]. A gather (each dx element written once, no atomics).
// GEMM view per image: M = c_in, N = h*w, K = c_out*kh*kw.
//
// Tile: TILE_M input channels x TILE_N pixels of one input row that share a phase ix % s (ix = r,
// r + s, r + 2s, ...). All pixels of a tile then take the same kernel taps (ky = (iy+p) mod s, step
// s; likewise kx), so no iteration is spent on taps that miss the stride grid, and their dy values are
// consecutive in memory. The stride is a specialization constant so its divisions are shifts.
// Unpadded 1x1 convolutions tile the flattened dy plane instead (see conv_is_1x1).
#extension GL_GOOGLE_include_directive : require
#include "conv2d_common.glsl"

layout(constant_id = 3) const uint STRIDE = 1;

#if TSL_CONV_FLAT
CONV_INPUT(0, dy_texels)
#define LOAD_DY(i) CONV_LOAD(dy_texels, i)
#define LOAD_DY4(i) CONV_LOAD4(dy_texels, i)
CONV_INPUT(1, wt_texels)
#define LOAD_W(i) CONV_LOAD(wt_texels, i)
#else
layout(std430, set = 0, binding = 0) readonly buffer DY { conv_in_t dy[]; };
layout(std430, set = 0, binding = 0) readonly buffer DY4 { conv_in4_t dy4[]; }; // the same bytes, as vec4s
#define LOAD_DY(i) float(dy[i])
#define LOAD_DY4(i) vec4(dy4[i])
layout(std430, set = 0, binding = 1) readonly buffer W { conv_in_t wt[]; };
#define LOAD_W(i) float(wt[i])
#endif
layout(std430, set = 0, binding = 2) writeonly buffer DX { float dx[]; };

float acc[TILE_M * TILE_N];

// 1x1, no padding: w^T dy per image over flattened dy planes, TILE_N dy pixels from pix0; dy read as
// vec4s when aligned, else as clamped scalars (see conv_is_1x1, conv_vec4_ok). At stride 1 this is dx;
// above, store_blocks puts it on the stride grid of dx.
void pointwise(uint img, uint ci0, uint pix0) {
    const uint TQ = (TILE_N + 3) / 4; // vec4s per row of the tile (>= 1 so the array stays valid)
    uint plane = pc.oh * pc.ow;
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
                gv[q] = LOAD_DY4((dyc + min(p, plane - 4)) / 4);
            } else {
                for (uint e = 0; e < 4; e++)
                    gv[q][e] = LOAD_DY(dyc + min(p + e, plane - 1));
            }
        }
        for (uint i = 0; i < TILE_M; i++) {
            float wv = LOAD_W(wcol[i] + co * pc.c_in);
            for (uint q = 0; q < TQ; q++)
                acc4[i * TQ + q] = fma(vec4(wv), gv[q], acc4[i * TQ + q]);
        }
    }
    for (uint i = 0; i < TILE_M; i++)
        for (uint j = 0; j < TILE_N; j++)
            acc[i * TILE_N + j] = acc4[i * TQ + j / 4][j % 4];
}

// Strided 1x1: dy pixel (oy, ox) of the tile owns the block of dx rows [oy*s, min(oy*s + s, h)) and
// columns likewise; its top-left pixel gets the product, the others (which no tap reaches) zero. The
// blocks tile dx exactly, since (oh - 1) * s <= h - 1 < oh * s.
void store_blocks(uint img, uint ci0, uint pix0) {
    uint plane = pc.h * pc.w, dyplane = pc.oh * pc.ow;
    uint xb = pc.x_base + img * pc.c_in * plane;
    for (uint j = 0; j < TILE_N && pix0 + j < dyplane; j++) {
        uint iy0 = (pix0 + j) / pc.ow * STRIDE, ix0 = (pix0 + j) % pc.ow * STRIDE;
        uint iy1 = min(iy0 + STRIDE, pc.h), ix1 = min(ix0 + STRIDE, pc.w);
        for (uint i = 0; i < TILE_M && ci0 + i < pc.c_in; i++) {
            uint base = xb + (ci0 + i) * plane;
            for (uint iy = iy0; iy < iy1; iy++)
                for (uint ix = ix0; ix < ix1; ix++)
                    dx[base + iy * pc.w + ix] = iy == iy0 && ix == ix0 ? acc[i * TILE_N + j] : 0.0;
        }
    }
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
    float a[TILE_M * TILE_N]; // a local array: SoA registers on a CPU driver, where `acc` is memory
    for (uint t = 0; t < TILE_M * TILE_N; t++)
        a[t] = 0.0;
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
                    float v = LOAD_DY(hit ? row + uint(ox) : row);
                    gv[j] = hit ? v : 0.0;
                }
                uint k = co * K + ky * pc.kw + kx;
                for (uint i = 0; i < TILE_M; i++) {
                    float wv = LOAD_W(wcol[i] + k);
                    for (uint j = 0; j < TILE_N; j++)
                        a[i * TILE_N + j] = fma(wv, gv[j], a[i * TILE_N + j]);
                }
            }
        }
    }
    for (uint t = 0; t < TILE_M * TILE_N; t++)
        acc[t] = a[t];
}

#if TSL_CONV_FLAT
// CPU variant (not 1x1, at least 8 input channels; the host makes the same test, cpu_dx_flat): tiles of
// TILE_N consecutive pixels of one stride phase (iy % s, ix % s) of the chunk, flattened over (image, iy /
// s, ix / s) so a tile may span images and small planes leave no lane idle; all pixels of a phase take
// the same taps (ky = (iy + pad) mod s, step s; likewise kx). Every phase is numbered over the same
// ceil(h / s) x ceil(w / s) grid; positions past dx's edge compute a repeat and are not stored. The
// sum runs over (co, ky, kx); pixel (iy, ix) takes dy at ((iy + pad - ky) / s, (ix + pad - kx) / s)
// where that lies inside dy. Accumulators are vec4s of 4 pixels, like the forward's general_flat.
uint flat_hq() {
    return (pc.h + STRIDE - 1) / STRIDE;
}

uint flat_wq() {
    return (pc.w + STRIDE - 1) / STRIDE;
}

uint flat_tiles_per_phase() {
    return (pc.n * flat_hq() * flat_wq() + TILE_N - 1) / TILE_N;
}

// Pixel j of column tile `tile`: its image, row and column in dx, and whether it is inside dx.
struct flat_pixel {
    uint img, iy, ix;
    bool valid;
};

flat_pixel flat_pixel_of(uint tile, uint j) {
    uint per_phase = flat_tiles_per_phase(), phase = tile / per_phase, grid = flat_hq() * flat_wq();
    uint g = (tile % per_phase) * TILE_N + j, gc = min(g, pc.n * grid - 1), r = gc % grid;
    flat_pixel f;
    f.img = gc / grid;
    f.iy = phase / STRIDE + STRIDE * (r / flat_wq());
    f.ix = phase % STRIDE + STRIDE * (r % flat_wq());
    f.valid = g < pc.n * grid && f.iy < pc.h && f.ix < pc.w;
    return f;
}

void general_flat(uint ci0, uint tile) {
    uint dyplane = pc.oh * pc.ow, khw = pc.kh * pc.kw, phase = tile / flat_tiles_per_phase();
    uint ky0 = (phase / STRIDE + pc.pad) % STRIDE, kx0 = (phase % STRIDE + pc.pad) % STRIDE;
    uint yb[TILE_N];              // image start in dy of each pixel
    int ty0[TILE_N], tx0[TILE_N]; // iy + pad, ix + pad
    for (uint j = 0; j < TILE_N; j++) {
        flat_pixel f = flat_pixel_of(tile, j);
        yb[j] = pc.y_base + f.img * pc.c_out * dyplane;
        ty0[j] = int(min(f.iy, pc.h - 1) + pc.pad); // edge repeats stay in range (not stored)
        tx0[j] = int(min(f.ix, pc.w - 1) + pc.pad);
    }
    uint wcol[TILE_M];
    for (uint i = 0; i < TILE_M; i++)
        wcol[i] = pc.w_base + min(ci0 + i, pc.c_in - 1) * khw;
    const uint TQ = (TILE_N + 3) / 4; // vec4s per row of the tile
    vec4 acc4[TILE_M * TQ];
    for (uint t = 0; t < TILE_M * TQ; t++)
        acc4[t] = vec4(0.0);
    uint co_dy = 0, co_w = 0; // channel co's offset in a dy image and in w
    for (uint co = 0; co < pc.c_out; co++, co_dy += dyplane, co_w += pc.c_in * khw) {
        for (uint ky = ky0; ky < pc.kh; ky += STRIDE) {
            for (uint kx = kx0; kx < pc.kw; kx += STRIDE) {
                vec4 gv[TQ];
                for (uint j = 0; j < 4 * TQ; j++) {
                    uint jj = min(j, TILE_N - 1);
                    // Negative differences wrap to huge values, past oh and ow after the division.
                    uint oy = uint(ty0[jj] - int(ky)) / STRIDE, ox = uint(tx0[jj] - int(kx)) / STRIDE;
                    bool hit = oy < pc.oh && ox < pc.ow;
                    float v = LOAD_DY(hit ? yb[jj] + co_dy + oy * pc.ow + ox : yb[jj]);
                    gv[j / 4][j % 4] = hit ? v : 0.0;
                }
                uint k = co_w + ky * pc.kw + kx;
                for (uint i = 0; i < TILE_M; i++) {
                    float wv = LOAD_W(wcol[i] + k);
                    for (uint q = 0; q < TQ; q++)
                        acc4[i * TQ + q] = fma(vec4(wv), gv[q], acc4[i * TQ + q]);
                }
            }
        }
    }
    for (uint i = 0; i < TILE_M; i++)
        for (uint j = 0; j < TILE_N; j++)
            acc[i * TILE_N + j] = acc4[i * TQ + j / 4][j % 4];
}

// Stores a general_flat tile: its pixels inside dx.
void store_flat(uint ci0, uint tile) {
    uint plane = pc.h * pc.w;
    for (uint j = 0; j < TILE_N; j++) {
        flat_pixel f = flat_pixel_of(tile, j);
        if (!f.valid)
            continue;
        uint xb = pc.x_base + f.img * pc.c_in * plane + f.iy * pc.w + f.ix;
        for (uint i = 0; i < TILE_M && ci0 + i < pc.c_in; i++)
            dx[xb + (ci0 + i) * plane] = acc[i * TILE_N + j];
    }
}
#endif

void main() {
    uint plane = pc.h * pc.w;
#if TSL_CONV_FLAT
    if (!conv_is_1x1() && pc.c_in >= 8) { // tiles of the chunk's phases, flattened (the host agrees)
        conv_cell f = conv_cell_of(STRIDE * STRIDE * flat_tiles_per_phase(), (pc.c_in + TILE_M - 1) / TILE_M, 1);
        if (!f.valid)
            return;
        general_flat(f.row_tile * TILE_M, f.tile);
        store_flat(f.row_tile * TILE_M, f.tile);
        return;
    }
#endif
    // Tiles of one row: STRIDE phases, each of ceil(ceil(w / s) / TILE_N) tiles.
    uint per_phase = ((pc.w + STRIDE - 1) / STRIDE + TILE_N - 1) / TILE_N;
    uint tiles_per_row = STRIDE * per_phase;
    bool whole_plane = conv_is_1x1(); // tiles of the flattened dy plane
    conv_cell c = conv_cell_of(whole_plane ? (pc.oh * pc.ow + TILE_N - 1) / TILE_N : pc.h * tiles_per_row,
                               (pc.c_in + TILE_M - 1) / TILE_M, pc.n);
    if (!c.valid)
        return;
    uint ci0 = c.row_tile * TILE_M;
    if (whole_plane) {
        uint pix0 = c.tile * TILE_N;
        pointwise(c.img, ci0, pix0);
        if (STRIDE == 1)
            store(c.img, ci0, pix0, 1, plane);
        else
            store_blocks(c.img, ci0, pix0);
        return;
    }
    uint iy = c.tile / tiles_per_row, in_row = c.tile % tiles_per_row;
    uint r = in_row / per_phase, q0 = (in_row % per_phase) * TILE_N;
    general(c.img, ci0, iy, r, q0);
    store(c.img, ci0, iy * pc.w + r + q0 * STRIDE, STRIDE, iy * pc.w + pc.w);
}
