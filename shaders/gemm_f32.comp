#version 450
// C = alpha * op(A) * op(B) + beta * C in fp32, row-major with leading dimensions (in elements).
// op(A) is M x K, op(B) is K x N. Each invocation accumulates a TM x TN block of C in registers over the
// whole K range: no shared memory and no barriers, because on CPU drivers (lavapipe) both are slow
// while plain loads from L1-resident rows are fast.
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

layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) buffer C { float c[]; };
layout(push_constant) uniform Push {
    uint m, n, k;
    uint lda, ldb, ldc;
    uint a_off, b_off, c_off;
    float alpha, beta;
    uint beta_zero;
} pc;

// Element (row, col) of op(A) and of op(B).
float load_a(uint row, uint kk) {
    return TRANS_A ? a[pc.a_off + kk * pc.lda + row] : a[pc.a_off + row * pc.lda + kk];
}
float load_b(uint kk, uint col) {
    return TRANS_B ? b[pc.b_off + col * pc.ldb + kk] : b[pc.b_off + kk * pc.ldb + col];
}

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

    for (uint i = 0; i < TM; i++) {
        if (row0 + i >= pc.m)
            break;
        for (uint j = 0; j < TN; j++) {
            if (col0 + j >= pc.n)
                break;
            uint idx = pc.c_off + (row0 + i) * pc.ldc + col0 + j;
            float v = pc.alpha * acc[i][j];
            if (pc.beta_zero == 0)
                v = fma(pc.beta, c[idx], v);
            c[idx] = v;
        }
    }
}
