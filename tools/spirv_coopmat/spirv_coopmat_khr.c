/* SPV_NV_cooperative_matrix -> SPV_KHR_cooperative_matrix (see spirv_coopmat_khr.h for the mapping and
 * what is rejected). Four passes over the words: index the definitions, classify the ids that are
 * cooperative-matrix types, pointer types to them and values of them, link values whose roles must agree
 * (union-find) and seed roles from the multiply-adds, then emit the KHR module. */
#include "spirv_coopmat_khr.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Core opcodes the translator looks at (SPIR-V 1.6 unified specification). */
enum {
    OP_UNDEF = 1,
    OP_SOURCE_CONTINUED = 2,
    OP_SOURCE = 3,
    OP_SOURCE_EXTENSION = 4,
    OP_NAME = 5,
    OP_MEMBER_NAME = 6,
    OP_STRING = 7,
    OP_LINE = 8,
    OP_EXTENSION = 10,
    OP_EXT_INST_IMPORT = 11,
    OP_MEMORY_MODEL = 14,
    OP_ENTRY_POINT = 15,
    OP_EXECUTION_MODE = 16,
    OP_CAPABILITY = 17,
    OP_TYPE_INT = 21,
    OP_TYPE_FLOAT = 22,
    OP_TYPE_POINTER = 32,
    OP_CONSTANT_TRUE = 41,
    OP_CONSTANT_FALSE = 42,
    OP_CONSTANT = 43,
    OP_CONSTANT_COMPOSITE = 44,
    OP_CONSTANT_NULL = 46,
    OP_SPEC_CONSTANT_TRUE = 48,
    OP_SPEC_CONSTANT_FALSE = 49,
    OP_SPEC_CONSTANT = 50,
    OP_SPEC_CONSTANT_COMPOSITE = 51,
    OP_VARIABLE = 59,
    OP_LOAD = 61,
    OP_STORE = 62,
    OP_ACCESS_CHAIN = 65,
    OP_IN_BOUNDS_ACCESS_CHAIN = 66,
    OP_DECORATE = 71,
    OP_MEMBER_DECORATE = 72,
    OP_COMPOSITE_CONSTRUCT = 80,
    OP_COMPOSITE_EXTRACT = 81,
    OP_COMPOSITE_INSERT = 82,
    OP_COPY_OBJECT = 83,
    OP_FCONVERT = 115,
    OP_FNEGATE = 127,
    OP_FADD = 129,
    OP_FSUB = 131,
    OP_FMUL = 133,
    OP_FDIV = 136,
    OP_MATRIX_TIMES_SCALAR = 143,
    OP_SELECT = 169,
    OP_PHI = 245,
    OP_LOOP_MERGE = 246,
    OP_SELECTION_MERGE = 247,
    OP_NO_LINE = 317,
    OP_MODULE_PROCESSED = 330,
    OP_DECORATE_ID = 332,
    OP_DECORATE_STRING = 5632,
    OP_MEMBER_DECORATE_STRING = 5633,
};

enum { SCOPE_SUBGROUP = 3, MAX_BOUND = 1u << 22, ROLES = 3, ROLE_NONE = 0xff };

/* What an id is, as far as cooperative matrices go. */
enum { ID_OTHER, ID_COOP_TYPE, ID_COOP_POINTER, ID_COOP_VALUE };

static const char *const role_names[ROLES] = {"MatrixA", "MatrixB", "MatrixAccumulator"};
static const char nv_extension[] = "SPV_NV_cooperative_matrix";
static const char khr_extension[] = "SPV_KHR_cooperative_matrix";

typedef struct {
    const uint32_t *w;
    size_t n;
    uint32_t bound;           /* grows as clones and constants get ids */
    uint32_t *def;            /* [id]: word index of the defining instruction, 0 if none seen */
    uint8_t *kind;            /* [id]: ID_* */
    uint32_t *type;           /* [value id]: its result type; [pointer type]: its pointee */
    uint32_t *parent;         /* union-find over value ids */
    uint8_t *role;            /* [root]: ROLE_NONE or 0..2 (the KHR Use) */
    uint8_t *roles;           /* [type or pointer type]: bit r set if some value of it has role r */
    uint32_t *clone;          /* [id * ROLES + r]: the KHR id of type / pointer type `id` in role r */
    uint32_t constant[ROLES]; /* 32-bit integer constants 0, 1, 2: the Use and MemoryLayout operands */
    uint32_t int_type;        /* their type */
    size_t first_coop_type;   /* word index of the first OpTypeCooperativeMatrixNV */
    char *err;
    size_t err_size;
} ctx;

static int fail(ctx *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->err_size, fmt, ap);
    va_end(ap);
    return -1;
}

static uint32_t op_of(uint32_t word) {
    return word & 0xffffu;
}
static uint32_t count_of(uint32_t word) {
    return word >> 16;
}

/* The word index of id's definition with opcode `op`, or 0. */
static size_t def_with_op(const ctx *c, uint32_t id, uint32_t op) {
    size_t at = id < c->bound ? c->def[id] : 0;
    return at && op_of(c->w[at]) == op ? at : 0;
}

/* Value of a 32-bit OpConstant of integer type, false if `id` is not one. */
static bool int_constant(const ctx *c, uint32_t id, uint32_t *value) {
    size_t at = def_with_op(c, id, OP_CONSTANT);
    if (!at || count_of(c->w[at]) != 4)
        return false;
    size_t t = def_with_op(c, c->w[at + 1], OP_TYPE_INT);
    if (!t || c->w[t + 2] != 32)
        return false;
    *value = c->w[at + 3];
    return true;
}

/* ---- pass 0: header, instruction bounds, definitions ---------------------------------------------- */

/* Where an instruction's result id is: word 1 for types, 2 for instructions with a result type, 0 for
 * none. Only the instructions whose definitions the translator reads are listed. */
static int result_word(uint32_t op) {
    if ((op >= 19 && op <= 39) || op == SPV_OP_TYPE_COOPMAT_NV)
        return 1;
    switch (op) {
    case OP_UNDEF:
    case OP_CONSTANT_TRUE:
    case OP_CONSTANT_FALSE:
    case OP_CONSTANT:
    case OP_CONSTANT_COMPOSITE:
    case OP_CONSTANT_NULL:
    case OP_SPEC_CONSTANT_TRUE:
    case OP_SPEC_CONSTANT_FALSE:
    case OP_SPEC_CONSTANT:
    case OP_SPEC_CONSTANT_COMPOSITE:
    case OP_VARIABLE:
    case OP_LOAD:
    case OP_COMPOSITE_CONSTRUCT:
    case OP_COMPOSITE_INSERT:
    case OP_COPY_OBJECT:
    case OP_FCONVERT:
    case OP_FNEGATE:
    case OP_FADD:
    case OP_FSUB:
    case OP_FMUL:
    case OP_FDIV:
    case OP_MATRIX_TIMES_SCALAR:
    case OP_SELECT:
    case OP_PHI:
    case SPV_OP_COOPMAT_LOAD_NV:
    case SPV_OP_COOPMAT_MULADD_NV:
        return 2;
    default:
        return 0;
    }
}

static int index_module(ctx *c) {
    if (c->n < 5)
        return fail(c, "truncated module: %zu words, a SPIR-V header has 5", c->n);
    if (c->w[0] != SPV_MAGIC)
        return fail(c, "not a SPIR-V module: magic 0x%08x (expected 0x%08x%s)", c->w[0], SPV_MAGIC,
                    c->w[0] == 0x03022307u ? "; the words are byte-swapped" : "");
    c->bound = c->w[3];
    if (c->bound == 0 || c->bound > MAX_BOUND)
        return fail(c, "implausible id bound %u in the header", c->bound);
    c->def = calloc(c->bound, sizeof *c->def);
    if (!c->def)
        return fail(c, "out of memory");
    for (size_t i = 5; i < c->n; i += count_of(c->w[i])) {
        uint32_t wc = count_of(c->w[i]);
        if (wc == 0 || wc > c->n - i)
            return fail(c, "truncated or malformed instruction at word %zu (opcode %u, %u words, %zu left)",
                        i, op_of(c->w[i]), wc, c->n - i);
        int r = result_word(op_of(c->w[i]));
        if (r && (uint32_t)r >= wc)
            return fail(c, "instruction at word %zu (opcode %u) is too short for its result", i,
                        op_of(c->w[i]));
        if (r) {
            uint32_t id = c->w[i + r];
            if (id == 0 || id >= c->bound)
                return fail(c, "id %u at word %zu is outside the header's bound %u", id, i + r, c->bound);
            c->def[id] = (uint32_t)i;
        }
    }
    return 0;
}

/* ---- pass 1: classify ------------------------------------------------------------------------------- */

static int check_coop_type(ctx *c, size_t i) {
    const uint32_t *t = c->w + i;
    if (count_of(t[0]) != 6)
        return fail(c, "OpTypeCooperativeMatrixNV at word %zu has %u words, expected 6", i, count_of(t[0]));
    if (!def_with_op(c, t[2], OP_TYPE_FLOAT))
        return fail(c,
                    "cooperative matrix type %%%u: component type %%%u is not a float (only floating-point "
                    "matrices are translated: integer ones would need signedness operands)",
                    t[1], t[2]);
    uint32_t scope, rows, cols;
    if (!int_constant(c, t[3], &scope) || scope != SCOPE_SUBGROUP)
        return fail(c, "cooperative matrix type %%%u: scope %%%u is not the constant Subgroup (3)", t[1],
                    t[3]);
    if (!int_constant(c, t[4], &rows) || !int_constant(c, t[5], &cols) || rows == 0 || cols == 0)
        return fail(c,
                    "cooperative matrix type %%%u: unknown shape (rows %%%u, columns %%%u must be positive "
                    "32-bit integer OpConstants; spec-constant shapes are not translated)",
                    t[1], t[4], t[5]);
    if (!c->first_coop_type) {
        c->first_coop_type = i;
        c->int_type = c->w[c->def[t[4]] + 1];
    }
    return 0;
}

static bool is_value_op(uint32_t op) {
    return result_word(op) == 2;
}

static int classify(ctx *c) {
    for (size_t i = 5; i < c->n; i += count_of(c->w[i])) {
        const uint32_t *in = c->w + i;
        uint32_t op = op_of(in[0]), wc = count_of(in[0]);
        if (op == OP_CAPABILITY && wc == 2 && in[1] == SPV_CAP_COOPMAT_KHR)
            return fail(c, "the module already declares CooperativeMatrixKHR");
        if (op == SPV_OP_TYPE_COOPMAT_NV) {
            if (check_coop_type(c, i))
                return -1;
            c->kind[in[1]] = ID_COOP_TYPE;
        } else if (op == OP_TYPE_POINTER && wc == 4 && in[3] < c->bound && c->kind[in[3]] == ID_COOP_TYPE) {
            c->kind[in[1]] = ID_COOP_POINTER;
            c->type[in[1]] = in[3];
        } else if (is_value_op(op) && in[1] < c->bound &&
                   (c->kind[in[1]] == ID_COOP_TYPE || c->kind[in[1]] == ID_COOP_POINTER)) {
            c->kind[in[2]] = ID_COOP_VALUE;
            c->type[in[2]] = in[1];
        }
    }
    if (!c->first_coop_type)
        return fail(c, "the module has no OpTypeCooperativeMatrixNV: nothing to translate");
    return 0;
}

/* ---- pass 2: link roles ---------------------------------------------------------------------------- */

static uint32_t find(ctx *c, uint32_t id) {
    while (c->parent[id] != id) {
        c->parent[id] = c->parent[c->parent[id]];
        id = c->parent[id];
    }
    return id;
}

static int merge_role(ctx *c, uint32_t root, uint8_t r, uint32_t witness) {
    if (r == ROLE_NONE || c->role[root] == r)
        return 0;
    if (c->role[root] != ROLE_NONE)
        return fail(c,
                    "cooperative matrix %%%u would need two Uses, %s and %s (a matrix value or variable "
                    "must keep one role)",
                    witness, role_names[c->role[root]], role_names[r]);
    c->role[root] = r;
    return 0;
}

static bool is_value(const ctx *c, uint32_t id) {
    return id < c->bound && c->kind[id] == ID_COOP_VALUE;
}

/* Values x and y must have the same role. */
static int link(ctx *c, uint32_t x, uint32_t y, size_t at) {
    if (!is_value(c, x) || !is_value(c, y))
        return fail(c, "instruction at word %zu mixes a cooperative matrix with %%%u, which is not one", at,
                    is_value(c, x) ? y : x);
    uint32_t rx = find(c, x), ry = find(c, y);
    if (rx == ry)
        return 0;
    c->parent[ry] = rx;
    return merge_role(c, rx, c->role[ry], y);
}

static int set_role(ctx *c, uint32_t id, uint8_t r, size_t at) {
    if (!is_value(c, id))
        return fail(c, "multiply-add at word %zu: operand %%%u is not a cooperative matrix", at, id);
    return merge_role(c, find(c, id), r, id);
}

/* Fails if any of words [from, to) of the instruction at `at` is a cooperative-matrix id. */
static int no_coop_operands(ctx *c, size_t at, uint32_t from, uint32_t to) {
    for (uint32_t k = from; k < to; k++) {
        uint32_t id = c->w[at + k];
        if (id < c->bound && c->kind[id] != ID_OTHER)
            return fail(c,
                        "opcode %u at word %zu uses cooperative-matrix id %%%u in a way this translator "
                        "does not handle (operand word %u; only plain variables, loads, stores, copies, "
                        "phis, selects, element-wise float arithmetic and conversions are followed)",
                        op_of(c->w[at]), at, id, k);
    }
    return 0;
}

static uint32_t rows_of(const ctx *c, uint32_t type_id, int which) {
    uint32_t v = 0;
    int_constant(c, c->w[c->def[type_id] + 4 + which], &v);
    return v;
}

static int link_muladd(ctx *c, size_t at) {
    const uint32_t *in = c->w + at;
    if (count_of(in[0]) != 6)
        return fail(c, "OpCooperativeMatrixMulAddNV at word %zu has %u words, expected 6", at,
                    count_of(in[0]));
    for (int k = 3; k <= 5; k++)
        if (!is_value(c, in[k]))
            return fail(c, "multiply-add at word %zu: operand %%%u is not a cooperative matrix", at, in[k]);
    uint32_t ta = c->type[in[3]], tb = c->type[in[4]], tc = c->type[in[5]];
    if (c->kind[ta] != ID_COOP_TYPE || c->kind[tb] != ID_COOP_TYPE || c->kind[tc] != ID_COOP_TYPE)
        return fail(c, "multiply-add at word %zu: an operand is a pointer, not a matrix", at);
    uint32_t m = rows_of(c, ta, 0), k = rows_of(c, ta, 1), n = rows_of(c, tb, 1);
    if (rows_of(c, tb, 0) != k || rows_of(c, tc, 0) != m || rows_of(c, tc, 1) != n || in[1] != tc)
        return fail(c,
                    "multiply-add at word %zu: shapes do not chain (A %ux%u, B %ux%u, C %ux%u, result type "
                    "%%%u vs C's %%%u)",
                    at, m, k, rows_of(c, tb, 0), n, rows_of(c, tc, 0), rows_of(c, tc, 1), in[1], tc);
    if (set_role(c, in[3], SPV_COOPMAT_USE_A, at) || set_role(c, in[4], SPV_COOPMAT_USE_B, at) ||
        set_role(c, in[5], SPV_COOPMAT_USE_ACCUMULATOR, at))
        return -1;
    return link(c, in[2], in[5], at);
}

static bool is_bool_constant(const ctx *c, uint32_t id) {
    return def_with_op(c, id, OP_CONSTANT_TRUE) || def_with_op(c, id, OP_CONSTANT_FALSE);
}

/* NV load: type result pointer stride colmajor [mem]; NV store: pointer object stride colmajor [mem]. */
static int check_nv_memory_op(ctx *c, size_t at, bool load) {
    const uint32_t *in = c->w + at;
    uint32_t wc = count_of(in[0]);
    uint32_t pointer = load ? 3 : 1, stride = load ? 4 : 3;
    if (wc < stride + 2u)
        return fail(c, "cooperative-matrix %s at word %zu is truncated", load ? "load" : "store", at);
    if (!load && !is_value(c, in[2]))
        return fail(c, "store at word %zu: %%%u is not a cooperative matrix", at, in[2]);
    if (!is_bool_constant(c, in[stride + 1]))
        return fail(c,
                    "cooperative-matrix %s at word %zu: ColumnMajor %%%u is not OpConstantTrue/False "
                    "(needed to pick the KHR MemoryLayout constant)",
                    load ? "load" : "store", at, in[stride + 1]);
    /* Pointer and stride are not matrices; the memory-access words after ColumnMajor are a mask, literals
     * and scope ids. */
    return no_coop_operands(c, at, pointer, pointer + 1) || no_coop_operands(c, at, stride, stride + 1) ? -1
                                                                                                        : 0;
}

/* Links the operands of an instruction that produces a matrix value with its result, or fails. */
static int link_value_op(ctx *c, size_t at) {
    const uint32_t *in = c->w + at;
    uint32_t op = op_of(in[0]), wc = count_of(in[0]);
    switch (op) {
    case OP_VARIABLE:
        return wc >= 5 ? link(c, in[2], in[4], at) : 0;
    case OP_LOAD:
        return link(c, in[2], in[3], at);
    case OP_COPY_OBJECT:
    case OP_FNEGATE:
    case OP_FCONVERT:
        return wc == 4 ? link(c, in[2], in[3], at) : fail(c, "malformed opcode %u at word %zu", op, at);
    case OP_FADD:
    case OP_FSUB:
    case OP_FMUL:
    case OP_FDIV:
        if (wc != 5)
            return fail(c, "malformed opcode %u at word %zu", op, at);
        return link(c, in[2], in[3], at) || link(c, in[2], in[4], at) ? -1 : 0;
    case OP_MATRIX_TIMES_SCALAR:
        if (wc != 5)
            return fail(c, "malformed opcode %u at word %zu", op, at);
        return link(c, in[2], in[3], at) || no_coop_operands(c, at, 4, 5) ? -1 : 0;
    case OP_SELECT:
        if (wc != 6)
            return fail(c, "malformed OpSelect at word %zu", at);
        return no_coop_operands(c, at, 3, 4) || link(c, in[2], in[4], at) || link(c, in[2], in[5], at) ? -1
                                                                                                       : 0;
    case OP_PHI:
        for (uint32_t k = 3; k + 1 < wc; k += 2)
            if (link(c, in[2], in[k], at))
                return -1;
        return 0;
    case OP_COMPOSITE_INSERT:
        if (wc < 5)
            return fail(c, "malformed OpCompositeInsert at word %zu", at);
        return no_coop_operands(c, at, 3, 4) || link(c, in[2], in[4], at) ? -1 : 0;
    case OP_UNDEF:
    case OP_CONSTANT_NULL:
    case OP_CONSTANT_COMPOSITE:
    case OP_SPEC_CONSTANT_COMPOSITE:
    case OP_COMPOSITE_CONSTRUCT:
        return no_coop_operands(c, at, 3, wc);
    case SPV_OP_COOPMAT_LOAD_NV:
        return check_nv_memory_op(c, at, true);
    case SPV_OP_COOPMAT_MULADD_NV:
        return link_muladd(c, at);
    default:
        return fail(c,
                    "opcode %u at word %zu produces a cooperative matrix, which this translator does not "
                    "follow",
                    op, at);
    }
}

static bool skip_operands(uint32_t op) {
    switch (op) {
    case OP_SOURCE_CONTINUED:
    case OP_SOURCE:
    case OP_SOURCE_EXTENSION:
    case OP_NAME:
    case OP_MEMBER_NAME:
    case OP_STRING:
    case OP_LINE:
    case OP_NO_LINE:
    case OP_EXTENSION:
    case OP_EXT_INST_IMPORT:
    case OP_MEMORY_MODEL:
    case OP_ENTRY_POINT:
    case OP_EXECUTION_MODE:
    case OP_CAPABILITY:
    case OP_MODULE_PROCESSED:
    case OP_TYPE_INT:
    case OP_TYPE_FLOAT:
    case OP_CONSTANT:
    case OP_SPEC_CONSTANT:
    case OP_CONSTANT_TRUE:
    case OP_CONSTANT_FALSE:
    case OP_SPEC_CONSTANT_TRUE:
    case OP_SPEC_CONSTANT_FALSE:
    case OP_LOOP_MERGE:
    case OP_SELECTION_MERGE:
    case SPV_OP_TYPE_COOPMAT_NV:
        return true;
    default:
        return false;
    }
}

static int link_instruction(ctx *c, size_t at) {
    const uint32_t *in = c->w + at;
    uint32_t op = op_of(in[0]), wc = count_of(in[0]);
    if (skip_operands(op))
        return 0;
    if (op == OP_DECORATE || op == OP_MEMBER_DECORATE || op == OP_DECORATE_ID || op == OP_DECORATE_STRING ||
        op == OP_MEMBER_DECORATE_STRING) {
        bool on_type = wc >= 2 && in[1] < c->bound &&
                       (c->kind[in[1]] == ID_COOP_TYPE || c->kind[in[1]] == ID_COOP_POINTER);
        return on_type ? fail(c, "decoration at word %zu targets cooperative-matrix type %%%u", at, in[1])
                       : 0;
    }
    if (op == OP_TYPE_POINTER)
        return wc == 4 ? 0 : fail(c, "malformed OpTypePointer at word %zu", at);
    if (is_value_op(op) && wc >= 3 && is_value(c, in[2]))
        return link_value_op(c, at);
    switch (op) {
    case OP_STORE:
        if (wc < 3)
            return fail(c, "malformed OpStore at word %zu", at);
        return is_value(c, in[1]) || is_value(c, in[2]) ? link(c, in[1], in[2], at) : 0;
    case OP_LOAD: /* a load of something else: only the pointer is an id of interest */
        return wc >= 4 ? no_coop_operands(c, at, 1, 4) : fail(c, "malformed OpLoad at word %zu", at);
    case OP_ACCESS_CHAIN: /* element of a matrix variable: base may be one, the indices not */
    case OP_IN_BOUNDS_ACCESS_CHAIN:
        return wc >= 4 ? no_coop_operands(c, at, 1, 3) || no_coop_operands(c, at, 4, wc) ? -1 : 0
                       : fail(c, "malformed access chain at word %zu", at);
    case OP_COMPOSITE_EXTRACT: /* element of a matrix value: the indices are literals */
        return wc >= 4 ? no_coop_operands(c, at, 1, 3)
                       : fail(c, "malformed OpCompositeExtract at word %zu", at);
    case SPV_OP_COOPMAT_STORE_NV:
        return check_nv_memory_op(c, at, false);
    case SPV_OP_COOPMAT_LENGTH_NV:
        if (wc != 4 || in[3] >= c->bound || c->kind[in[3]] != ID_COOP_TYPE)
            return fail(c, "OpCooperativeMatrixLengthNV at word %zu does not name a cooperative matrix type",
                        at);
        return 0;
    default:
        return no_coop_operands(c, at, 1, wc);
    }
}

/* Every matrix value has a role; each type and pointer type collects the roles of its values. */
static int collect_roles(ctx *c) {
    for (uint32_t id = 1; id < c->bound; id++) {
        if (c->kind[id] != ID_COOP_VALUE)
            continue;
        uint8_t r = c->role[find(c, id)];
        if (r == ROLE_NONE)
            return fail(c, "cannot infer the Use of cooperative matrix %%%u: no multiply-add reaches it", id);
        uint32_t t = c->type[id];
        c->roles[t] |= (uint8_t)(1u << r);
        if (c->kind[t] == ID_COOP_POINTER)
            c->roles[c->type[t]] |= (uint8_t)(1u << r);
    }
    return 0;
}

/* ---- pass 3: ids of clones and constants, then emission --------------------------------------------- */

static uint32_t first_role(uint8_t roles) {
    for (uint32_t r = 0; r < ROLES; r++)
        if (roles & (1u << r))
            return r;
    return ROLES;
}

static int assign_ids(ctx *c) {
    uint32_t old_bound = c->bound;
    for (uint32_t id = 1; id < old_bound; id++) {
        if (c->kind[id] != ID_COOP_TYPE && c->kind[id] != ID_COOP_POINTER)
            continue;
        uint8_t roles = c->roles[id];
        if (!roles && c->kind[id] == ID_COOP_TYPE)
            return fail(c, "cooperative matrix type %%%u has no values, so its Use cannot be inferred", id);
        if (!roles) /* a pointer type no variable uses: keep it, pointing at the pointee's first role */
            roles = (uint8_t)(1u << first_role(c->roles[c->type[id]]));
        c->roles[id] = roles;
        bool first = true;
        for (uint32_t r = 0; r < ROLES; r++) {
            if (!(roles & (1u << r)))
                continue;
            c->clone[id * ROLES + r] = first ? id : c->bound++;
            first = false;
        }
    }
    /* Reuse 32-bit constants 0, 1, 2 of the shape's integer type defined before the first matrix type. */
    for (size_t i = 5; i < c->first_coop_type; i += count_of(c->w[i])) {
        const uint32_t *in = c->w + i;
        if (op_of(in[0]) == OP_CONSTANT && count_of(in[0]) == 4 && in[1] == c->int_type && in[3] < ROLES &&
            !c->constant[in[3]])
            c->constant[in[3]] = in[2];
    }
    for (uint32_t v = 0; v < ROLES; v++)
        if (!c->constant[v])
            c->constant[v] = c->bound++;
    if (c->bound > MAX_BOUND)
        return fail(c, "id bound overflow");
    return 0;
}

typedef struct {
    uint32_t *w;
    size_t n, cap;
} out_buf;

static int emit(ctx *c, out_buf *o, const uint32_t *words, size_t n) {
    if (o->n + n > o->cap) {
        size_t cap = (o->cap + n) * 2;
        uint32_t *w = realloc(o->w, cap * sizeof *w);
        if (!w)
            return fail(c, "out of memory");
        o->w = w;
        o->cap = cap;
    }
    memcpy(o->w + o->n, words, n * sizeof *words);
    o->n += n;
    return 0;
}

static uint32_t head(uint32_t op, uint32_t wc) {
    return wc << 16 | op;
}

/* The literal string of an OpExtension, if it is NUL-terminated inside the instruction. */
static const char *extension_name(const uint32_t *in, uint32_t wc) {
    const char *s = (const char *)(in + 1);
    size_t max = 4 * (size_t)(wc - 1);
    return max && memchr(s, 0, max) ? s : NULL;
}

static int emit_extension(ctx *c, out_buf *o, const char *name) {
    uint32_t words[16] = {0};
    size_t len = strlen(name) + 1, nw = (len + 3) / 4;
    memcpy(words + 1, name, len);
    words[0] = head(OP_EXTENSION, (uint32_t)(1 + nw));
    return emit(c, o, words, 1 + nw);
}

static uint32_t role_of(ctx *c, uint32_t value) {
    return c->role[find(c, value)];
}

static int emit_coop_type(ctx *c, out_buf *o, const uint32_t *in) {
    for (uint32_t r = 0; r < ROLES; r++) {
        if (!(c->roles[in[1]] & (1u << r)))
            continue;
        uint32_t t[7] = {head(SPV_OP_TYPE_COOPMAT_KHR, 7),
                         c->clone[in[1] * ROLES + r],
                         in[2],
                         in[3],
                         in[4],
                         in[5],
                         c->constant[r]};
        if (emit(c, o, t, 7))
            return -1;
    }
    return 0;
}

static int emit_pointer_type(ctx *c, out_buf *o, const uint32_t *in) {
    for (uint32_t r = 0; r < ROLES; r++) {
        if (!(c->roles[in[1]] & (1u << r)))
            continue;
        uint32_t t[4] = {head(OP_TYPE_POINTER, 4), c->clone[in[1] * ROLES + r], in[2],
                         c->clone[in[3] * ROLES + r]};
        if (emit(c, o, t, 4))
            return -1;
    }
    return 0;
}

static uint32_t layout_constant(const ctx *c, uint32_t column_major_id) {
    return c->constant[def_with_op(c, column_major_id, OP_CONSTANT_TRUE) ? SPV_COOPMAT_COLUMN_MAJOR
                                                                         : SPV_COOPMAT_ROW_MAJOR];
}

/* NV load: type result pointer stride colmajor mem... -> KHR: type result pointer layout stride mem...;
 * NV store: pointer object stride colmajor mem... -> KHR: pointer object layout stride mem... */
static int emit_memory_op(ctx *c, out_buf *o, const uint32_t *in, bool load) {
    uint32_t wc = count_of(in[0]);
    uint32_t *t = malloc(wc * sizeof *t);
    if (!t)
        return fail(c, "out of memory");
    memcpy(t, in, wc * sizeof *t);
    uint32_t s = load ? 4 : 3; /* stride's word in NV */
    t[0] = head(load ? SPV_OP_COOPMAT_LOAD_KHR : SPV_OP_COOPMAT_STORE_KHR, wc);
    if (load)
        t[1] = c->clone[in[1] * ROLES + role_of(c, in[2])];
    t[s] = layout_constant(c, in[s + 1]);
    t[s + 1] = in[s];
    int rc = emit(c, o, t, wc);
    free(t);
    return rc;
}

static int emit_constants(ctx *c, out_buf *o, uint32_t old_bound) {
    for (uint32_t v = 0; v < ROLES; v++) {
        if (c->constant[v] < old_bound)
            continue;
        uint32_t t[4] = {head(OP_CONSTANT, 4), c->int_type, c->constant[v], v};
        if (emit(c, o, t, 4))
            return -1;
    }
    return 0;
}

static int emit_instruction(ctx *c, out_buf *o, size_t at, uint32_t old_bound) {
    const uint32_t *in = c->w + at;
    uint32_t op = op_of(in[0]), wc = count_of(in[0]);
    if (at == c->first_coop_type && emit_constants(c, o, old_bound))
        return -1;
    if (op == OP_CAPABILITY && wc == 2 && in[1] == SPV_CAP_COOPMAT_NV) {
        uint32_t t[2] = {in[0], SPV_CAP_COOPMAT_KHR};
        return emit(c, o, t, 2);
    }
    if (op == OP_EXTENSION) {
        const char *name = extension_name(in, wc);
        if (name && strcmp(name, nv_extension) == 0)
            return emit_extension(c, o, khr_extension);
    }
    if (op == SPV_OP_TYPE_COOPMAT_NV)
        return emit_coop_type(c, o, in);
    if (op == OP_TYPE_POINTER && c->kind[in[1]] == ID_COOP_POINTER)
        return emit_pointer_type(c, o, in);
    if (op == SPV_OP_COOPMAT_LOAD_NV || op == SPV_OP_COOPMAT_STORE_NV)
        return emit_memory_op(c, o, in, op == SPV_OP_COOPMAT_LOAD_NV);
    if (op == SPV_OP_COOPMAT_MULADD_NV) {
        uint32_t t[6] = {head(SPV_OP_COOPMAT_MULADD_KHR, 6),
                         c->clone[in[1] * ROLES + SPV_COOPMAT_USE_ACCUMULATOR],
                         in[2],
                         in[3],
                         in[4],
                         in[5]};
        return emit(c, o, t, 6);
    }
    if (op == SPV_OP_COOPMAT_LENGTH_NV) {
        uint8_t roles = c->roles[in[3]];
        if (roles & (roles - 1))
            return fail(c,
                        "OpCooperativeMatrixLengthNV at word %zu names type %%%u, which has several Uses "
                        "(the length may differ per Use)",
                        at, in[3]);
        uint32_t t[4] = {head(SPV_OP_COOPMAT_LENGTH_KHR, 4), in[1], in[2],
                         c->clone[in[3] * ROLES + first_role(roles)]};
        return emit(c, o, t, 4);
    }
    if (is_value_op(op) && wc >= 3 && is_value(c, in[2])) {
        uint32_t *t = malloc(wc * sizeof *t);
        if (!t)
            return fail(c, "out of memory");
        memcpy(t, in, wc * sizeof *t);
        t[1] = c->clone[in[1] * ROLES + role_of(c, in[2])];
        int rc = emit(c, o, t, wc);
        free(t);
        return rc;
    }
    return emit(c, o, in, wc);
}

static int translate(ctx *c, out_buf *o) {
    if (index_module(c))
        return -1;
    uint32_t b = c->bound;
    c->kind = calloc(b, 1);
    c->type = calloc(b, sizeof *c->type);
    c->parent = malloc(b * sizeof *c->parent);
    c->role = malloc(b);
    c->roles = calloc(b, 1);
    c->clone = calloc((size_t)b * ROLES, sizeof *c->clone);
    if (!c->kind || !c->type || !c->parent || !c->role || !c->roles || !c->clone)
        return fail(c, "out of memory");
    for (uint32_t id = 0; id < b; id++)
        c->parent[id] = id;
    memset(c->role, ROLE_NONE, b);
    if (classify(c))
        return -1;
    for (size_t i = 5; i < c->n; i += count_of(c->w[i]))
        if (link_instruction(c, i))
            return -1;
    if (collect_roles(c) || assign_ids(c))
        return -1;
    if (emit(c, o, c->w, 5))
        return -1;
    for (size_t i = 5; i < c->n; i += count_of(c->w[i]))
        if (emit_instruction(c, o, i, b))
            return -1;
    o->w[3] = c->bound;
    return 0;
}

int spirv_coopmat_nv_to_khr(const uint32_t *in, size_t n_in, uint32_t **out, size_t *n_out, char *err,
                            size_t err_size) {
    ctx c = {.w = in, .n = n_in, .err = err, .err_size = err_size};
    out_buf o = {0};
    *out = NULL;
    *n_out = 0;
    if (err_size)
        err[0] = '\0';
    int rc = translate(&c, &o);
    free(c.def);
    free(c.kind);
    free(c.type);
    free(c.parent);
    free(c.role);
    free(c.roles);
    free(c.clone);
    if (rc) {
        free(o.w);
        return -1;
    }
    *out = o.w;
    *n_out = o.n;
    return 0;
}
