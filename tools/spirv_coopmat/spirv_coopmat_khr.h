/* Build-time SPIR-V translator: SPV_NV_cooperative_matrix -> SPV_KHR_cooperative_matrix.
 *
 * Debian 12's glslang (12.0) compiles GL_NV_cooperative_matrix but not GL_KHR_cooperative_matrix, so
 * tessl writes its tensor-core shaders against the NV extension and this translator derives the
 * vendor-neutral module from each. The two extensions share their semantics (subgroup-scope matrices,
 * D = A * B + C with the same shapes, element-strided loads and stores); they differ in encoding:
 *
 *   NV (opcode)                                        KHR (opcode)
 *   Capability CooperativeMatrixNV (5357)              Capability CooperativeMatrixKHR (6022)
 *   OpTypeCooperativeMatrixNV (5358)                   OpTypeCooperativeMatrixKHR (4456)
 *     result, component type, scope, rows, columns       the same + Use (id of a 32-bit integer constant:
 *                                                        MatrixA 0, MatrixB 1, MatrixAccumulator 2)
 *   OpCooperativeMatrixLoadNV (5359)                   OpCooperativeMatrixLoadKHR (4457)
 *     type, result, pointer, stride, column-major bool   type, result, pointer, layout (id of a 32-bit
 *     [memory access]                                    integer constant: RowMajor 0, ColumnMajor 1),
 *                                                        stride, [memory operand]
 *   OpCooperativeMatrixStoreNV (5360)                  OpCooperativeMatrixStoreKHR (4458)
 *     pointer, object, stride, column-major bool, [mem]  pointer, object, layout, stride, [mem]
 *   OpCooperativeMatrixMulAddNV (5361)                 OpCooperativeMatrixMulAddKHR (4459)
 *     type, result, A, B, C                              the same (no Cooperative Matrix Operands: only
 *                                                        floating-point matrices are translated)
 *   OpCooperativeMatrixLengthNV (5362)                 OpCooperativeMatrixLengthKHR (4460)
 *   OpExtension "SPV_NV_cooperative_matrix"            OpExtension "SPV_KHR_cooperative_matrix"
 *
 * The Use of each KHR type is inferred: the operands of every multiply-add seed MatrixA, MatrixB and
 * MatrixAccumulator, and the role flows through every instruction that passes a matrix on unchanged in
 * role (OpLoad/OpStore of function variables, OpCopyObject, OpPhi, OpSelect, element-wise arithmetic,
 * conversions, OpCompositeInsert). An NV type used in several roles (glslang gives A and B of the same
 * shape one type) becomes one KHR type per role, and so do the pointer types to it; every value and
 * variable takes the type of its role.
 *
 * What it does not understand it rejects with a message, never guesses: a matrix reached by an
 * instruction outside that list (function parameters, arrays or structs of matrices, ...), a value whose
 * role cannot be inferred or that would need two roles, non-constant or non-subgroup shapes, integer
 * matrices, spec-constant layouts, multiply-adds of inconsistent shapes, and malformed modules. The scan
 * for uses is conservative: it treats every operand word of an unlisted instruction as a possible id, so
 * a literal that happens to equal a matrix id gives a (spurious, loud) error, never a wrong module. */
#ifndef SPIRV_COOPMAT_KHR_H
#define SPIRV_COOPMAT_KHR_H

#include <stddef.h>
#include <stdint.h>

/* Opcodes, capabilities and enumerants of both extensions (SPIR-V registry). */
enum {
    SPV_MAGIC = 0x07230203u,
    SPV_CAP_COOPMAT_NV = 5357,
    SPV_CAP_COOPMAT_KHR = 6022,
    SPV_OP_TYPE_COOPMAT_NV = 5358,
    SPV_OP_COOPMAT_LOAD_NV = 5359,
    SPV_OP_COOPMAT_STORE_NV = 5360,
    SPV_OP_COOPMAT_MULADD_NV = 5361,
    SPV_OP_COOPMAT_LENGTH_NV = 5362,
    SPV_OP_TYPE_COOPMAT_KHR = 4456,
    SPV_OP_COOPMAT_LOAD_KHR = 4457,
    SPV_OP_COOPMAT_STORE_KHR = 4458,
    SPV_OP_COOPMAT_MULADD_KHR = 4459,
    SPV_OP_COOPMAT_LENGTH_KHR = 4460,
    SPV_COOPMAT_USE_A = 0,
    SPV_COOPMAT_USE_B = 1,
    SPV_COOPMAT_USE_ACCUMULATOR = 2,
    SPV_COOPMAT_ROW_MAJOR = 0,
    SPV_COOPMAT_COLUMN_MAJOR = 1,
};

/* Translates the module `in` (`n_in` words, host byte order). On success returns 0 and sets `*out`
 * (malloc'd, caller frees) and `*n_out`; on failure returns -1, sets `*out` to NULL and writes a
 * one-line reason to `err` (`err_size` bytes). Nothing is written on failure. */
int spirv_coopmat_nv_to_khr(const uint32_t *in, size_t n_in, uint32_t **out, size_t *n_out, char *err,
                            size_t err_size);

#endif
