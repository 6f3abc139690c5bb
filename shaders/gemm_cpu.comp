#version 450
// CPU-class GEMM (tsl_vk_features.cpu_kernels; lavapipe): C = alpha * op(A) * op(B) + beta * C, the
// same contract, layouts and push constants as gemm.comp, computed in fp32.
//
// A CPU driver runs each invocation as one lane of a SIMD loop and loads every lane's operand values
// one by one, so what costs is the number of values loaded, not the arithmetic. Each invocation
// therefore keeps a large TM x TN register tile (vec4 accumulators in a function-local array, which the
// driver keeps in SIMD registers or their spill slots; a module-scope array would live in memory) and
// reuses every loaded value TN (A) or TM (B) times. A workgroup is WG / lanes_n rows of lanes_n
// invocations along N (a power of two from the subgroup size, chosen by the host for narrow products);
// the invocations of a row share its TM rows, so their A loads read the same addresses.
//
// Variants: TSL_GEMM_VEC4 = 1 reads A and B as vec4 along their contiguous dimension and steps k by 4
// (the host's vec4 conditions, as for gemm.comp: k % 4 == 0, lda, ldb, a_off, b_off multiples of 4,
// m % 4 == 0 when A is transposed, n % 4 == 0 when B is not); TSL_GEMM_VEC4 = 0 takes any shape with
// scalar loads, k by 1. TN is a multiple of 4 and, for transposed A in the vec4 variant, TM too (the
// host's choice). Storage types: TSL_A_F16, TSL_B_F16, TSL_C_F16 as in gemm.comp.
//
// Edge tiles clamp their load indices into the matrix (values computed there are discarded at the
// store), so the inner loop has no bounds branches. The k loop runs k/4 (vec4) or k iterations; the
// host caps k per dispatch below tsl_vk_features.max_loop_iterations.
//
// Device quirk: gl_WorkGroupSize is never read (see common.glsl); the named constant WG is used.
layout(constant_id = 0) const uint WG = 64; // invocations per workgroup
layout(constant_id = 1) const uint TM = 16; // rows of C per invocation
layout(constant_id = 2) const uint TN = 8;  // columns of C per invocation (multiple of 4)
layout(constant_id = 3) const bool TRANS_A = false;
layout(constant_id = 4) const bool TRANS_B = false;
layout(local_size_x_id = 0) in;

#if TSL_A_F16 || TSL_B_F16 || TSL_C_F16
#extension GL_EXT_shader_16bit_storage : require
#endif
#if TSL_C_F16
#define c_t float16_t
#define c4_t f16vec4
#else
#define c_t float
#define c4_t vec4
#endif

// A and B are storage texel buffers (imageBuffer): lavapipe turns an SSBO load into a loop over the
// SIMD lanes with a branch per lane and component, and a texel load into one straight-line gather, which
// ran the 1024^3 GEMM 1.8x faster (docs/PERFORMANCE.md). The format qualifier gives the view's format
// (tsl_vk_pipeline.c reads it); fp16 operands are rgba16f / r16f views, converted to fp32 by the load.
#if TSL_GEMM_VEC4
#if TSL_A_F16
layout(set = 0, binding = 0, rgba16f) uniform readonly imageBuffer a_texels;
#else
layout(set = 0, binding = 0, rgba32f) uniform readonly imageBuffer a_texels;
#endif
#if TSL_B_F16
layout(set = 0, binding = 1, rgba16f) uniform readonly imageBuffer b_texels;
#else
layout(set = 0, binding = 1, rgba32f) uniform readonly imageBuffer b_texels;
#endif
#define A4(i) imageLoad(a_texels, int(i))
#define B4(i) imageLoad(b_texels, int(i))
#else
#if TSL_A_F16
layout(set = 0, binding = 0, r16f) uniform readonly imageBuffer a_texels;
#else
layout(set = 0, binding = 0, r32f) uniform readonly imageBuffer a_texels;
#endif
#if TSL_B_F16
layout(set = 0, binding = 1, r16f) uniform readonly imageBuffer b_texels;
#else
layout(set = 0, binding = 1, r32f) uniform readonly imageBuffer b_texels;
#endif
#define A1(i) imageLoad(a_texels, int(i)).x
#define B1(i) imageLoad(b_texels, int(i)).x
#endif
layout(std430, set = 0, binding = 2) buffer C { c_t c[]; };
layout(std430, set = 0, binding = 2) buffer C4 { c4_t c4[]; }; // the same bytes, as vec4s
layout(push_constant) uniform Push {
    uint m, n, k;
    uint lda, ldb, ldc;
    uint a_off, b_off, c_off;
    float alpha, beta;
    uint beta_zero;
    uint lanes_n; // invocations along N; the workgroup's WG / lanes_n row tiles lie along M
} pc;

const uint TG = TM / 4; // groups of 4 rows of the tile
const uint TQ = TN / 4; // groups of 4 columns (one vec4 accumulator each)

// Every loop over the tile runs a constant count and indexes a function-local array of exactly that
// length with its own counter: NIR then unrolls it (its forced unrolling for array access), so every
// index is constant and the arrays become registers. A loop it does not unroll leaves the array in
// memory and runs several times slower.
void main() {
    uint lane = gl_LocalInvocationID.x;
    uint row0 = (gl_WorkGroupID.y * (WG / pc.lanes_n) + lane / pc.lanes_n) * TM;
    uint col0 = (gl_WorkGroupID.x * pc.lanes_n + lane % pc.lanes_n) * TN;
    if (row0 >= pc.m || col0 >= pc.n)
        return;
    uint rows[TG][4]; // clamped row of each tile row (the same in every lane of a row of lanes_n)
    for (uint g = 0; g < TG; g++)
        for (uint i = 0; i < 4; i++)
            rows[g][i] = min(row0 + 4 * g + i, pc.m - 1);
    uint cols[TQ][4]; // clamped column of each tile column
    for (uint q = 0; q < TQ; q++)
        for (uint e = 0; e < 4; e++)
            cols[q][e] = min(col0 + 4 * q + e, pc.n - 1);

    vec4 acc[TG][4][TQ]; // acc[g][i][q][e]: C(row0 + 4 g + i, col0 + 4 q + e)
    for (uint g = 0; g < TG; g++)
        for (uint i = 0; i < 4; i++)
            for (uint q = 0; q < TQ; q++)
                acc[g][i][q] = vec4(0.0);

#if TSL_GEMM_VEC4
    for (uint kk = 0; kk < pc.k; kk += 4) {
        vec4 bv[4][TQ]; // bv[s][q][e] = op(B)(kk + s, col0 + 4 q + e)
        for (uint q = 0; q < TQ; q++) {
            if (TRANS_B) {
                vec4 bt[4]; // bt[e][s]: stored row cols[q][e], columns kk .. kk + 3
                for (uint e = 0; e < 4; e++)
                    bt[e] = B4((pc.b_off + cols[q][e] * pc.ldb + kk) / 4);
                for (uint s = 0; s < 4; s++)
                    bv[s][q] = vec4(bt[0][s], bt[1][s], bt[2][s], bt[3][s]);
            } else {
                uint c4 = min(col0 + 4 * q, pc.n - 4); // n % 4 == 0: inside the row, or wholly past n
                for (uint s = 0; s < 4; s++)
                    bv[s][q] = B4((pc.b_off + (kk + s) * pc.ldb + c4) / 4);
            }
        }
        for (uint g = 0; g < TG; g++) {
            vec4 av[4]; // av[i][s] = op(A)(row0 + 4 g + i, kk + s)
            if (TRANS_A) {
                uint r = min(row0 + 4 * g, pc.m - 4); // m % 4 == 0: inside, or wholly past m
                vec4 at[4]; // at[s][i]: stored row kk + s, columns r .. r + 3
                for (uint s = 0; s < 4; s++)
                    at[s] = A4((pc.a_off + (kk + s) * pc.lda + r) / 4);
                for (uint i = 0; i < 4; i++)
                    av[i] = vec4(at[0][i], at[1][i], at[2][i], at[3][i]);
            } else {
                for (uint i = 0; i < 4; i++)
                    av[i] = A4((pc.a_off + rows[g][i] * pc.lda + kk) / 4);
            }
            for (uint i = 0; i < 4; i++)
                for (uint q = 0; q < TQ; q++)
                    acc[g][i][q] = fma(vec4(av[i].w), bv[3][q],
                                       fma(vec4(av[i].z), bv[2][q],
                                           fma(vec4(av[i].y), bv[1][q], fma(vec4(av[i].x), bv[0][q], acc[g][i][q]))));
        }
    }
#else
    for (uint kk = 0; kk < pc.k; kk++) {
        vec4 bv[TQ]; // bv[q][e] = op(B)(kk, col0 + 4 q + e)
        for (uint q = 0; q < TQ; q++) {
            float bs[4];
            for (uint e = 0; e < 4; e++)
                bs[e] = TRANS_B ? B1(pc.b_off + cols[q][e] * pc.ldb + kk) : B1(pc.b_off + kk * pc.ldb + cols[q][e]);
            bv[q] = vec4(bs[0], bs[1], bs[2], bs[3]);
        }
        for (uint g = 0; g < TG; g++)
            for (uint i = 0; i < 4; i++) {
                float av = TRANS_A ? A1(pc.a_off + kk * pc.lda + rows[g][i]) : A1(pc.a_off + rows[g][i] * pc.lda + kk);
                for (uint q = 0; q < TQ; q++)
                    acc[g][i][q] = fma(vec4(av), bv[q], acc[g][i][q]);
            }
    }
#endif

    // Stores a vec4 at a time where every row of C starts 4-aligned and n % 4 == 0 (a group of 4 columns
    // is then wholly inside or wholly past n), else element by element. No early exits: loops of
    // constant trip count unroll, keeping acc's indices constant.
    bool c_vec4 = pc.ldc % 4 == 0 && pc.c_off % 4 == 0 && pc.n % 4 == 0;
    for (uint g = 0; g < TG; g++)
        for (uint i = 0; i < 4; i++)
            for (uint q = 0; q < TQ; q++) {
                uint row = row0 + 4 * g + i, col = col0 + 4 * q;
                if (row >= pc.m || col >= pc.n)
                    continue;
                uint idx = pc.c_off + row * pc.ldc + col;
                vec4 v = pc.alpha * acc[g][i][q];
                if (c_vec4) {
                    if (pc.beta_zero == 0)
                        v = fma(vec4(pc.beta), vec4(c4[idx / 4]), v);
                    c4[idx / 4] = c4_t(v);
                    continue;
                }
                float v4[4] = {v.x, v.y, v.z, v.w};
                for (uint e = 0; e < 4; e++) {
                    if (col + e >= pc.n)
                        continue;
                    float x = v4[e];
                    if (pc.beta_zero == 0)
                        x = fma(pc.beta, float(c[idx + e]), x);
                    c[idx + e] = c_t(x);
                }
            }
}
