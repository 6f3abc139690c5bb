#version 450
// C = alpha * op(A) * op(B) + beta * C, row-major with leading dimensions (in elements), computed in fp32.
// op(A) is M x K, op(B) is K x N. Each invocation accumulates a TM x TN block of C in registers over the
// whole K range: no shared memory and no barriers, because on CPU drivers (lavapipe) both are slow
// while plain loads from L1-resident rows are fast.
//
// Variants: TSL_GEMM_VEC4 = 0 handles any shape with scalar loads. TSL_GEMM_VEC4 = 1 (TN = 4, TM a
// multiple of 4) reads A and B as vec4 and steps k by 4: each step loads a TM x 4 block of op(A) and a
// 4 x 4 block of op(B) (whichever way each is stored, the four elements of a vec4 are consecutive in
// memory) and does 4 TM vec4 FMAs. The host picks it only when k % 4 == 0, lda, ldb, a_off, b_off are
// multiples of 4, m % 4 == 0 when A is transposed and n % 4 == 0 when B is not (so no vec4 runs past a
// stored row).
//
// Storage types: TSL_A_F16, TSL_B_F16, TSL_C_F16 = 1 keep that operand as IEEE half (storageBuffer16-
// BitAccess); loads convert to fp32, all arithmetic and accumulation is fp32, and the result is rounded
// to half only at C's store. One build per combination (shaders/meson.build).
//
// Bindings start at a multiple of minStorageBufferOffsetAlignment; a_off/b_off/c_off (elements) say
// where the operand really starts inside its binding (the host splits large matrices into blocks).
// beta_zero != 0 means C is write-only (never read), so NaN in C does not leak into the result.
//
// Device quirk: gl_WorkGroupSize is never read (see common.glsl); the named constants are used.
layout(constant_id = 0) const uint WG_X = 8;       // invocations along N
layout(constant_id = 1) const uint WG_Y = 8;       // invocations along M
layout(constant_id = 2) const uint TM = 4;         // rows of C per invocation
layout(constant_id = 3) const uint TN = 4;         // columns of C per invocation
layout(constant_id = 4) const bool TRANS_A = false;
layout(constant_id = 5) const bool TRANS_B = false;
layout(local_size_x_id = 0, local_size_y_id = 1) in;

#if TSL_A_F16 || TSL_B_F16 || TSL_C_F16
#extension GL_EXT_shader_16bit_storage : require
#endif
#if TSL_A_F16
#define a_t float16_t
#define a4_t f16vec4
#else
#define a_t float
#define a4_t vec4
#endif
#if TSL_B_F16
#define b_t float16_t
#define b4_t f16vec4
#else
#define b_t float
#define b4_t vec4
#endif
#if TSL_C_F16
#define c_t float16_t
#else
#define c_t float
#endif

#if TSL_GEMM_VEC4
layout(std430, set = 0, binding = 0) readonly buffer A { a4_t a4[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { b4_t b4[]; };
#else
layout(std430, set = 0, binding = 0) readonly buffer A { a_t a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { b_t b[]; };
#endif
layout(std430, set = 0, binding = 2) buffer C { c_t c[]; };
layout(push_constant) uniform Push {
    uint m, n, k;
    uint lda, ldb, ldc;
    uint a_off, b_off, c_off;
    float alpha, beta;
    uint beta_zero;
} pc;

#if TSL_GEMM_VEC4
// acc[i][j] = sum over k of op(A)(rows[i], k) * op(B)(k, col0 + j), 4 values of k per step (TN = 4, TM a
// multiple of 4).
void accumulate(inout float acc[TM][TN], uint rows[TM], uint row0, uint cols[TN], uint col0) {
    vec4 acc4[TM];
    for (uint i = 0; i < TM; i++)
        acc4[i] = vec4(0.0);
    for (uint kk = 0; kk < pc.k; kk += 4) {
        vec4 av[TM]; // av[i][q] = op(A)(row i, kk + q)
        if (TRANS_A) {
            for (uint g = 0; g < TM / 4; g++) {
                // Stored rows kk + q, columns r .. r + 3 (clamped into the matrix; m % 4 == 0).
                uint r = min(row0 + 4 * g, pc.m - 4);
                vec4 at[4];
                for (uint q = 0; q < 4; q++)
                    at[q] = vec4(a4[(pc.a_off + (kk + q) * pc.lda + r) / 4]);
                for (uint i = 0; i < 4; i++)
                    av[4 * g + i] = vec4(at[0][i], at[1][i], at[2][i], at[3][i]);
            }
        } else {
            for (uint i = 0; i < TM; i++)
                av[i] = vec4(a4[(pc.a_off + rows[i] * pc.lda + kk) / 4]);
        }
        vec4 bv[4]; // bv[q][j] = op(B)(kk + q, col0 + j)
        if (TRANS_B) {
            vec4 bt[4]; // bt[j][q]: stored row cols[j], columns kk .. kk + 3
            for (uint j = 0; j < 4; j++)
                bt[j] = vec4(b4[(pc.b_off + cols[j] * pc.ldb + kk) / 4]);
            for (uint q = 0; q < 4; q++)
                bv[q] = vec4(bt[0][q], bt[1][q], bt[2][q], bt[3][q]);
        } else {
            for (uint q = 0; q < 4; q++)
                bv[q] = vec4(b4[(pc.b_off + (kk + q) * pc.ldb + col0) / 4]);
        }
        for (uint i = 0; i < TM; i++)
            for (uint q = 0; q < 4; q++)
                acc4[i] = fma(vec4(av[i][q]), bv[q], acc4[i]);
    }
    for (uint i = 0; i < TM; i++)
        for (uint j = 0; j < 4; j++)
            acc[i][j] = acc4[i][j];
}
#else
// Element (row, col) of op(A) and of op(B).
float load_a(uint row, uint kk) {
    return TRANS_A ? float(a[pc.a_off + kk * pc.lda + row]) : float(a[pc.a_off + row * pc.lda + kk]);
}
float load_b(uint kk, uint col) {
    return TRANS_B ? float(b[pc.b_off + col * pc.ldb + kk]) : float(b[pc.b_off + kk * pc.ldb + col]);
}

void accumulate(inout float acc[TM][TN], uint rows[TM], uint row0, uint cols[TN], uint col0) {
    for (uint kk = 0; kk < pc.k; kk++) {
        float av[TM];
        float bv[TN];
        for (uint i = 0; i < TM; i++)
            av[i] = load_a(rows[i], kk);
        for (uint j = 0; j < TN; j++)
            bv[j] = load_b(kk, cols[j]);
        for (uint i = 0; i < TM; i++)
            for (uint j = 0; j < TN; j++)
                acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }
}
#endif

void main() {
    uint row0 = (gl_WorkGroupID.y * WG_Y + gl_LocalInvocationID.y) * TM;
    uint col0 = (gl_WorkGroupID.x * WG_X + gl_LocalInvocationID.x) * TN;
    if (row0 >= pc.m || col0 >= pc.n)
        return;
    // Edge blocks clamp their load indices into the matrix (values computed there are discarded at
    // the store), which keeps the inner loop free of bounds branches.
    uint rows[TM];
    uint cols[TN];
    for (uint i = 0; i < TM; i++)
        rows[i] = min(row0 + i, pc.m - 1);
    for (uint j = 0; j < TN; j++)
        cols[j] = min(col0 + j, pc.n - 1);

    float acc[TM][TN];
    for (uint i = 0; i < TM; i++)
        for (uint j = 0; j < TN; j++)
            acc[i][j] = 0.0;

    accumulate(acc, rows, row0, cols, col0);

    for (uint i = 0; i < TM; i++) {
        if (row0 + i >= pc.m)
            break;
        for (uint j = 0; j < TN; j++) {
            if (col0 + j >= pc.n)
                break;
            uint idx = pc.c_off + (row0 + i) * pc.ldc + col0 + j;
            float v = pc.alpha * acc[i][j];
            if (pc.beta_zero == 0)
                v = fma(pc.beta, float(c[idx]), v);
            c[idx] = c_t(v);
        }
    }
}
