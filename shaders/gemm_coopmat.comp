#version 450
// Tensor-core GEMM (cooperative matrices): C = alpha * op(A) * op(B) + beta * C with the contract,
// layouts and push constants of gemm.comp (row-major operands with leading dimensions, a_off/b_off/c_off
// inside bindings the host splits to maxStorageBufferRange, beta_zero: C write-only).
//
// Precision: op(A) and op(B) are rounded to IEEE half when staged (an fp16-stored operand is exact),
// multiplied as 16 x 16 x 16 fp16 fragments with fp32 accumulators; alpha, beta and the store are fp32
// as in gemm.comp. The host takes this shader only when the caller allows fp16 inputs
// (tsl_gemm_params.allow_tensor_cores) and the device lists the fp16 x fp16 + fp32 -> fp32, 16 x 16 x 16,
// subgroup-scope configuration (tsl_vk_features.coopmat_*).
//
// Written against GL_NV_cooperative_matrix (what Debian's glslang 12 compiles); the build also
// translates the module to SPV_KHR_cooperative_matrix (tools/spirv_coopmat_khr.c), so one source gives
// both. What the translator accepts is narrow on purpose: cooperative-matrix values live in plain
// function variables (no arrays or structs of them, no function calls taking them), and each matrix value
// is used in one role of the multiply-add (A, B or accumulator).
//
// Tiling: a workgroup of WG_SIZE (256) invocations computes a BM x BN (64 x 64) block of C, stepping
// through k by BK (32). Each step stages op(A)'s BM x BK and op(B)'s BK x BN block in shared memory
// (all invocations, scalar loads along each operand's contiguous dimension, rows, columns and k outside
// the matrix written as zero, so ragged edges and any alignment need no special case), then each
// subgroup multiplies its fragments from shared memory. The block has 16 fragments of 16 x 16; subgroup s
// of S = gl_NumSubgroups owns fragments s, s + S, s + 2S, s + 3S, in four accumulators: the host
// guarantees S >= 4 (WG_SIZE / maxSubgroupSize >= 4). The subgroup size is never assumed. At the end the
// accumulators go through shared memory (c_tile), and every invocation applies alpha, beta and the
// bounds to its elements of C.
//
// Shared-memory strides are multiples of 16 bytes (8 halves, 4 floats) and every fragment starts at a
// multiple of 16 bytes, which the cooperative-matrix loads and stores require; the padding (+8, +4)
// staggers rows across banks. Total: 64*40*2 + 32*72*2 + 64*68*4 = 27136 bytes (the host checks
// maxComputeSharedMemorySize).
//
// TSL_COOPMAT_EMULATE = 1 builds the same kernel with the three fragment operations emulated, for tests
// on devices without cooperative matrices (lavapipe): each accumulator lives in c_tile at its fragment's
// place from the start, and the invocations of the owning subgroup share its 256 elements (fp32 fma over
// the staged halves, k ascending). Everything else (staging, edges, fragment ownership, barriers, the
// epilogue, the host's split) is the code the tensor cores run.
//
// Device quirk: gl_WorkGroupSize is never read (see common.glsl); the named constant WG_SIZE is used.
#if !TSL_COOPMAT_EMULATE
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#endif
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#if TSL_A_F16 || TSL_B_F16 || TSL_C_F16
#extension GL_EXT_shader_16bit_storage : require
#endif

layout(constant_id = 0) const uint WG_SIZE = 256;
layout(constant_id = 1) const bool TRANS_A = false;
layout(constant_id = 2) const bool TRANS_B = false;
layout(local_size_x_id = 0) in;

#if TSL_A_F16
#define a_t float16_t
#else
#define a_t float
#endif
#if TSL_B_F16
#define b_t float16_t
#else
#define b_t float
#endif
#if TSL_C_F16
#define c_t float16_t
#else
#define c_t float
#endif

layout(std430, set = 0, binding = 0) readonly buffer A { a_t a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { b_t b[]; };
layout(std430, set = 0, binding = 2) buffer C { c_t c[]; };
layout(push_constant) uniform Push {
    uint m, n, k;
    uint lda, ldb, ldc;
    uint a_off, b_off, c_off;
    float alpha, beta;
    uint beta_zero;
} pc;

const uint BM = 64;
const uint BN = 64;
const uint BK = 32;
const uint FRAG = 16;                  // fragment rows, columns and depth
const uint FRAG_COLS = BN / FRAG;      // 4 fragment columns per block
const uint FRAGMENTS = (BM / FRAG) * FRAG_COLS; // 16
const uint A_STRIDE = BK + 8;          // halves per staged row of op(A)
const uint B_STRIDE = BN + 8;          // halves per staged row of op(B)
const uint C_STRIDE = BN + 4;          // floats per row of the result staging

shared float16_t a_tile[BM * A_STRIDE];
shared float16_t b_tile[BK * B_STRIDE];
shared float c_tile[BM * C_STRIDE];

#if !TSL_COOPMAT_EMULATE
#define ACC_T fcoopmatNV<32, gl_ScopeSubgroup, FRAG, FRAG>
#define IN_T fcoopmatNV<16, gl_ScopeSubgroup, FRAG, FRAG>
#define ACC_ZERO(acc) ACC_T acc = ACC_T(0.0);
#else
#define ACC_ZERO(acc)
#endif

// op(A)(row0 + r, k0 + kk) for r < BM, kk < BK into a_tile, zero outside the matrix. Consecutive
// invocations read consecutive stored elements.
void stage_a(uint row0, uint k0) {
    for (uint i = gl_LocalInvocationID.x; i < BM * BK; i += WG_SIZE) {
        uint r = TRANS_A ? i % BM : i / BK;
        uint kk = TRANS_A ? i / BM : i % BK;
        uint row = row0 + r, col = k0 + kk;
        float v = 0.0;
        if (row < pc.m && col < pc.k)
            v = float(TRANS_A ? a[pc.a_off + col * pc.lda + row] : a[pc.a_off + row * pc.lda + col]);
        a_tile[r * A_STRIDE + kk] = float16_t(v);
    }
}

// op(B)(k0 + kk, col0 + cn) for kk < BK, cn < BN into b_tile, zero outside the matrix.
void stage_b(uint k0, uint col0) {
    for (uint i = gl_LocalInvocationID.x; i < BK * BN; i += WG_SIZE) {
        uint kk = TRANS_B ? i % BK : i / BN;
        uint cn = TRANS_B ? i / BK : i % BN;
        uint row = k0 + kk, col = col0 + cn;
        float v = 0.0;
        if (row < pc.k && col < pc.n)
            v = float(TRANS_B ? b[pc.b_off + col * pc.ldb + row] : b[pc.b_off + row * pc.ldb + col]);
        b_tile[kk * B_STRIDE + cn] = float16_t(v);
    }
}

// acc += the staged A rows of fragment f times the staged B columns of fragment f, over BK. Called in
// subgroup-uniform control flow only (f depends on gl_SubgroupID and gl_NumSubgroups).
#if !TSL_COOPMAT_EMULATE
#define MULTIPLY_FRAGMENT(f, acc)                                                                     \
    {                                                                                                 \
        uint fr = (f) / FRAG_COLS, fc = (f) % FRAG_COLS;                                              \
        for (uint ks = 0; ks < BK; ks += FRAG) {                                                      \
            IN_T fa;                                                                                  \
            IN_T fb;                                                                                  \
            coopMatLoadNV(fa, a_tile, fr * FRAG * A_STRIDE + ks, A_STRIDE, false);                    \
            coopMatLoadNV(fb, b_tile, ks * B_STRIDE + fc * FRAG, B_STRIDE, false);                    \
            acc = coopMatMulAddNV(fa, fb, acc);                                                       \
        }                                                                                             \
    }

#define STORE_FRAGMENT(f, acc)                                                                        \
    {                                                                                                 \
        uint fr = (f) / FRAG_COLS, fc = (f) % FRAG_COLS;                                              \
        coopMatStoreNV(acc, c_tile, fr * FRAG * C_STRIDE + fc * FRAG, C_STRIDE, false);               \
    }
#else
// Emulation: the owning subgroup's invocations update the fragment's elements of c_tile in place.
#define MULTIPLY_FRAGMENT(f, acc)                                                                     \
    {                                                                                                 \
        uint fr = (f) / FRAG_COLS, fc = (f) % FRAG_COLS;                                              \
        for (uint e = gl_SubgroupInvocationID; e < FRAG * FRAG; e += gl_SubgroupSize) {               \
            uint r = fr * FRAG + e / FRAG, cn = fc * FRAG + e % FRAG;                                 \
            float s = c_tile[r * C_STRIDE + cn];                                                      \
            for (uint kk = 0; kk < BK; kk++)                                                          \
                s = fma(float(a_tile[r * A_STRIDE + kk]), float(b_tile[kk * B_STRIDE + cn]), s);      \
            c_tile[r * C_STRIDE + cn] = s;                                                            \
        }                                                                                             \
    }
#define STORE_FRAGMENT(f, acc) {} // already in c_tile
#endif

void main() {
    uint row0 = gl_WorkGroupID.y * BM;
    uint col0 = gl_WorkGroupID.x * BN;
    uint sg = gl_SubgroupID, nsg = gl_NumSubgroups;
    ACC_ZERO(acc0)
    ACC_ZERO(acc1)
    ACC_ZERO(acc2)
    ACC_ZERO(acc3)
#if TSL_COOPMAT_EMULATE
    for (uint i = gl_LocalInvocationID.x; i < BM * C_STRIDE; i += WG_SIZE)
        c_tile[i] = 0.0; // the emulated accumulators; the k loop's first barrier orders this
#endif

    for (uint k0 = 0; k0 < pc.k; k0 += BK) {
        barrier(); // every subgroup has finished reading the previous step's tiles
        stage_a(row0, k0);
        stage_b(k0, col0);
        barrier();
        if (sg < FRAGMENTS)
            MULTIPLY_FRAGMENT(sg, acc0)
        if (sg + nsg < FRAGMENTS)
            MULTIPLY_FRAGMENT(sg + nsg, acc1)
        if (sg + 2 * nsg < FRAGMENTS)
            MULTIPLY_FRAGMENT(sg + 2 * nsg, acc2)
        if (sg + 3 * nsg < FRAGMENTS)
            MULTIPLY_FRAGMENT(sg + 3 * nsg, acc3)
    }

    if (sg < FRAGMENTS)
        STORE_FRAGMENT(sg, acc0)
    if (sg + nsg < FRAGMENTS)
        STORE_FRAGMENT(sg + nsg, acc1)
    if (sg + 2 * nsg < FRAGMENTS)
        STORE_FRAGMENT(sg + 2 * nsg, acc2)
    if (sg + 3 * nsg < FRAGMENTS)
        STORE_FRAGMENT(sg + 3 * nsg, acc3)
    barrier();

    for (uint i = gl_LocalInvocationID.x; i < BM * BN; i += WG_SIZE) {
        uint r = i / BN, cn = i % BN;
        uint row = row0 + r, col = col0 + cn;
        if (row >= pc.m || col >= pc.n)
            continue;
        uint idx = pc.c_off + row * pc.ldc + col;
        float v = pc.alpha * c_tile[r * C_STRIDE + cn];
        if (pc.beta_zero == 0)
            v = fma(pc.beta, float(c[idx]), v);
        c[idx] = c_t(v);
    }
}
