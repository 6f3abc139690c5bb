/* General matrix multiply on the device: C = alpha * op(A) * op(B) + beta * C, computed in fp32 (hence
 * tsl_gemm_f32; the storage type is per operand).
 *
 * Storage: each of A, B, C is fp32 or fp16 (tsl_gemm_params.a_dtype, b_dtype, c_dtype; fp32 by default).
 * fp16 operands are read as IEEE half and converted; products, accumulation, alpha and beta are fp32,
 * and an fp16 C is rounded to half once per store. So with fp16 inputs the result is the fp32 GEMM of
 * the half values (exactly representable in fp32); an fp16 C adds one rounding to half (relative
 * 2^-11), and one more per extra chunk of the sum over k when the split below chunks k (each chunk's
 * result is stored and re-read with beta = 1). fp16 needs tsl_vk_features.fp16_storage.
 *
 * Layout: every matrix is row-major with a leading dimension (elements between the starts of consecutive
 * stored rows). op(X) is X or X^T. op(A) is m x k, op(B) is k x n, C is m x n; so A is stored m x k
 * (lda >= k), or k x m when trans_a (lda >= m); B is stored k x n (ldb >= n), or n x k when trans_b
 * (ldb >= k); C is stored m x n (ldc >= n).
 *
 * Matrices of any size: when an operand is larger than one binding may cover (maxStorageBufferRange),
 * C is split into row and column blocks and the sum over k into chunks (later chunks accumulate with
 * beta = 1), so that every binding stays within the limit; each operand's block is measured in bytes at
 * its own element size.
 *
 * Speed: a vec4 variant runs when k % 4 == 0, lda and ldb are multiples of 4, A and B start 16-byte
 * aligned (8 for fp16), m % 4 == 0 if trans_a and n % 4 == 0 if !trans_b; any other shape takes the scalar
 * variant. Each comes in two device classes (tsl_vk_features.cpu_kernels picks, see tsl_gemm_variant):
 * the GPU one keeps a 4 x 4 block of C per invocation (lavapipe, 1024^3: ~4 GFLOP/s per CPU-second), the
 * CPU one a 32 x 16 block (16 x 16 when m <= 16; 8 x 8 for scalar loads, both operands transposed or fp16
 * storage), reading A and B through storage texel buffers (lavapipe gathers those; see docs/ARCHITECTURE.md,
 * device quirks): ~34 GFLOP/s per CPU-second on lavapipe at 1024^3 (docs/PERFORMANCE.md).
 *
 * Tensor cores (opt-in): with tsl_gemm_params.allow_tensor_cores set, on a device opened with a
 * cooperative-matrix extension enabled (tsl_vk_options.tensor_cores; tsl_vk_features.coopmat_enabled)
 * the product runs on gemm_coopmat.comp: op(A) and op(B) rounded to fp16 (exact for fp16 operands),
 * 16 x 16 x 16 fp16 fragments with fp32 accumulation, alpha, beta and the store as above. Relative to
 * the fp32 path each product a*b gains at most (2u + u^2)|a||b| with u = 2^-10 (one rounding of each
 * fp32 input to half, either rounding mode), and the fp32 sums differ in order. The KHR build (the
 * build-time translation of the NV module) is preferred to the NV one. Without the flag nothing changes:
 * fp32 stays the reference path.
 *
 * Long sums: on a driver whose shader loops stop after tsl_vk_features.max_loop_iterations, the sum over
 * k is chunked so that each dispatch's k loop stays under half that count. */
#ifndef TSL_GEMM_H
#define TSL_GEMM_H

#include "tsl_safetensors.h" /* tsl_dtype */
#include "tsl_vk.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint32_t m, n, k; /* each >= 1 */
    bool trans_a, trans_b;
    uint32_t lda, ldb, ldc;              /* 0: the tight value (the stored row length) */
    float alpha, beta;                   /* beta == 0: C is not read (it may hold NaN) */
    tsl_dtype a_dtype, b_dtype, c_dtype; /* TSL_DTYPE_F32 (zero, the default) or _F16 */
    /* Test hook: when nonzero, the largest binding the split may use, in bytes (otherwise the device's
     * maxStorageBufferRange). Lets tests exercise the block-splitting path with small matrices. */
    uint64_t max_binding_bytes;
    /* Opt-in to tensor cores: op(A) and op(B) may be rounded to fp16 (see the top of this file). Default
     * false; honoured only on a device with a cooperative-matrix extension enabled. */
    bool allow_tensor_cores;
} tsl_gemm_params;

/* Parameters for C = op(A) * op(B) with tight leading dimensions (alpha 1, beta 0). */
tsl_gemm_params tsl_gemm_params_make(uint32_t m, uint32_t n, uint32_t k, bool trans_a, bool trans_b);

/* Kernel variants: the GPU one (gemm.comp: 8 x 8 workgroups of 4 x 4 tiles) and the CPU-class one
 * (gemm_cpu.comp: large register tiles), chosen from tsl_vk_features.cpu_kernels, compute the same
 * results; the tensor-core ones (gemm_coopmat.comp as SPV_NV_ or SPV_KHR_cooperative_matrix) round the
 * inputs to fp16 and run only when the caller allows it. */
typedef enum {
    TSL_GEMM_VARIANT_AUTO,
    TSL_GEMM_VARIANT_GPU,
    TSL_GEMM_VARIANT_CPU,
    TSL_GEMM_VARIANT_COOPMAT_NV,
    TSL_GEMM_VARIANT_COOPMAT_KHR,
    /* gemm_coopmat.comp with its three fragment operations emulated in shared memory: the tensor-core
     * kernel's staging, edges, fragment ownership and epilogue on any device with shaderFloat16 (tests
     * on lavapipe), in workgroups of 4 subgroups so that every accumulator is used. Never chosen
     * automatically; slow. */
    TSL_GEMM_VARIANT_COOPMAT_EMULATED
} tsl_gemm_variant;

/* "gpu", "cpu", "coopmat-nv", "coopmat-khr", "coopmat-emulated" ("auto" for AUTO). */
const char *tsl_gemm_variant_name(tsl_gemm_variant variant);

/* Test hook: forces a variant for every GEMM of this process (AUTO restores the device's choice), so one
 * device checks several. A forced cooperative-matrix variant needs the device to have that extension
 * enabled (tsl_gemm_f32 returns TSL_ERR_UNSUPPORTED otherwise) and ignores allow_tensor_cores. */
void tsl_gemm_set_variant_for_testing(tsl_gemm_variant variant);

/* The variant tsl_gemm_f32 runs for these parameters on a device with these features (never AUTO): the
 * forced one if any; else a cooperative-matrix one when params->allow_tensor_cores and
 * features->coopmat_enabled say so and the device meets the shader's limits (maxSubgroupSize <= 64,
 * 27136 bytes of shared memory, 256 invocations per workgroup), KHR when that is the one enabled; else
 * CPU or GPU by features->cpu_kernels. The one place that decides. */
tsl_gemm_variant tsl_gemm_variant_for(const tsl_vk_features *features, const tsl_gemm_params *params);

/* Records C = alpha * op(A) * op(B) + beta * C into `cmd`. `a`, `b`, `c` hold the stored matrices from
 * their first byte (offsets multiples of the element size). Errors (TSL_ERR_INVALID_ARG, naming the
 * problem): a zero dimension, a dtype other than F32 and F16, a leading dimension smaller than the stored
 * row, a range too small for its matrix, C overlapping A or B, a forced binding limit too small for one
 * element; TSL_ERR_UNSUPPORTED for an fp16 operand on a device without storageBuffer16BitAccess. */
tsl_status tsl_gemm_f32(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_gemm_params *params, tsl_vk_range a,
                        tsl_vk_range b, tsl_vk_range c);

#endif
