/* The build-time translator SPV_NV_cooperative_matrix -> SPV_KHR_cooperative_matrix
 * (tools/spirv_coopmat), checked word by word on every module the build translates, because Debian 12's
 * spirv-val (2023.1) does not know the KHR extension. Per module: the header (magic, version, a bound
 * above every id, each id defined once), nothing of NV left and the KHR capability and extension once,
 * each KHR type well formed with the right Use (fp16 MatrixA and MatrixB, fp32 MatrixAccumulator, one
 * type per Use), every multiply-add's operands typed by their role, every load and store paired with its
 * NV original (same result, pointer, stride and memory operands; MemoryLayout the constant matching the
 * NV ColumnMajor bool), every variable load and store type-consistent, and the build's output file equal
 * to a fresh translation. Then malformed and unsupported input: each rejected with its reason. */
#include "spirv_coopmat_khr.h"
#include "tsl_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TSL_SHADER_BUILD_DIR
#error "TSL_SHADER_BUILD_DIR must name the build's shaders/ folder"
#endif

enum {
    OP_EXTENSION = 10,
    OP_CAPABILITY = 17,
    OP_TYPE_INT = 21,
    OP_TYPE_FLOAT = 22,
    OP_TYPE_POINTER = 32,
    OP_CONSTANT_TRUE = 41,
    OP_CONSTANT = 43,
    OP_SPEC_CONSTANT = 50,
    OP_VARIABLE = 59,
    OP_LOAD = 61,
    OP_STORE = 62,
    OP_ACCESS_CHAIN = 65,
};

typedef struct {
    uint32_t *w;
    size_t n;
} module;

static module load_module(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TSL_SHADER_BUILD_DIR, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (built by meson)", path);
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    ck_assert_msg(bytes > 20 && bytes % 4 == 0, "%s: %ld bytes", path, bytes);
    module m = {malloc((size_t)bytes), (size_t)bytes / 4};
    ck_assert_ptr_nonnull(m.w);
    ck_assert_uint_eq(fread(m.w, 4, m.n, f), m.n);
    fclose(f);
    return m;
}

static module translate_ok(module in) {
    module out = {0};
    char err[512];
    int rc = spirv_coopmat_nv_to_khr(in.w, in.n, &out.w, &out.n, err, sizeof err);
    ck_assert_msg(rc == 0, "translation failed: %s", err);
    return out;
}

static uint32_t op(const uint32_t *in) {
    return in[0] & 0xffff;
}
static uint32_t wc(const uint32_t *in) {
    return in[0] >> 16;
}

/* Where an instruction's result id is (1: types, 2: instructions with a result type), for the opcodes
 * these checks meet; 0 otherwise. */
static int result_word(uint32_t o) {
    if ((o >= 19 && o <= 39) || o == SPV_OP_TYPE_COOPMAT_KHR || o == SPV_OP_TYPE_COOPMAT_NV)
        return 1;
    static const uint32_t typed[] = {
        1,   41,  42,  43,  44,  46,  50,  59,  61,  65,  66,   80,   81,   82,   83,   84,  109, 110,
        111, 112, 113, 114, 115, 124, 126, 127, 128, 129, 130,  131,  132,  133,  134,  135, 136, 137,
        138, 139, 140, 141, 142, 143, 164, 166, 167, 168, 169,  170,  171,  172,  173,  174, 175, 176,
        177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187,  188,  189,  190,  191,  194, 195, 196,
        197, 198, 199, 200, 245, 248, 12,  54,  55,  57,  4457, 4459, 4460, 5359, 5361, 5362};
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++)
        if (typed[i] == o)
            return o == 248 ? 1 : 2; /* OpLabel: result only */
    return 0;
}

/* Word index of the instruction defining `id`, 0 if none. */
static size_t def_of(module m, uint32_t id) {
    for (size_t i = 5; i < m.n; i += wc(m.w + i)) {
        int r = result_word(op(m.w + i));
        if (r && m.w[i + r] == id)
            return i;
    }
    return 0;
}

static bool constant_value(module m, uint32_t id, uint32_t *value) {
    size_t at = def_of(m, id);
    if (!at || op(m.w + at) != OP_CONSTANT || wc(m.w + at) != 4)
        return false;
    size_t t = def_of(m, m.w[at + 1]);
    if (!t || op(m.w + t) != OP_TYPE_INT || m.w[t + 2] != 32)
        return false;
    *value = m.w[at + 3];
    return true;
}

/* The Use of a KHR type id (its Use constant's value), failing if `id` is not a KHR type. */
static uint32_t use_of_type(module m, uint32_t type) {
    size_t at = def_of(m, type);
    ck_assert_msg(at && op(m.w + at) == SPV_OP_TYPE_COOPMAT_KHR, "%%%u is not an OpTypeCooperativeMatrixKHR",
                  type);
    uint32_t use = 99;
    ck_assert_msg(constant_value(m, m.w[at + 6], &use) && use <= 2, "type %%%u: Use %%%u is not 0, 1 or 2",
                  type, m.w[at + 6]);
    return use;
}

static uint32_t type_of_value(module m, uint32_t value) {
    size_t at = def_of(m, value);
    ck_assert_msg(at && result_word(op(m.w + at)) == 2, "%%%u has no definition with a type", value);
    return m.w[at + 1];
}

static uint32_t pointee_of_pointer_value(module m, uint32_t pointer) {
    size_t at = def_of(m, type_of_value(m, pointer));
    ck_assert_msg(at && op(m.w + at) == OP_TYPE_POINTER, "%%%u is not a pointer", pointer);
    return m.w[at + 3];
}

static bool is_extension(const uint32_t *in, const char *name) {
    return op(in) == OP_EXTENSION && strcmp((const char *)(in + 1), name) == 0;
}

static void check_header_and_ids(module nv, module khr) {
    ck_assert_uint_eq(khr.w[0], SPV_MAGIC);
    ck_assert_uint_eq(khr.w[1], nv.w[1]); /* version */
    ck_assert_uint_eq(khr.w[2], nv.w[2]); /* generator */
    ck_assert_uint_eq(khr.w[4], 0);
    uint32_t bound = khr.w[3];
    ck_assert_uint_ge(bound, nv.w[3]);
    uint8_t *seen = calloc(bound, 1);
    ck_assert_ptr_nonnull(seen);
    size_t i = 5;
    for (; i < khr.n; i += wc(khr.w + i)) {
        ck_assert_uint_ge(wc(khr.w + i), 1);
        int r = result_word(op(khr.w + i));
        if (!r)
            continue;
        uint32_t id = khr.w[i + r];
        ck_assert_msg(id > 0 && id < bound, "id %u outside the bound %u", id, bound);
        ck_assert_msg(!seen[id], "id %u defined twice", id);
        seen[id] = 1;
    }
    ck_assert_uint_eq(i, khr.n); /* the last instruction ends at the end */
    free(seen);
}

static void check_no_nv_left(module khr) {
    int caps = 0, exts = 0;
    for (size_t i = 5; i < khr.n; i += wc(khr.w + i)) {
        const uint32_t *in = khr.w + i;
        ck_assert_msg(op(in) < SPV_OP_TYPE_COOPMAT_NV || op(in) > SPV_OP_COOPMAT_LENGTH_NV,
                      "NV opcode %u left at word %zu", op(in), i);
        ck_assert_msg(!(op(in) == OP_CAPABILITY && in[1] == SPV_CAP_COOPMAT_NV), "CooperativeMatrixNV left");
        ck_assert_msg(!is_extension(in, "SPV_NV_cooperative_matrix"), "SPV_NV_cooperative_matrix left");
        caps += op(in) == OP_CAPABILITY && in[1] == SPV_CAP_COOPMAT_KHR;
        exts += is_extension(in, "SPV_KHR_cooperative_matrix");
    }
    ck_assert_int_eq(caps, 1);
    ck_assert_int_eq(exts, 1);
}

/* Each KHR type: float component, subgroup scope, 16 x 16, a Use; exactly fp16 A, fp16 B, fp32 C. */
static void check_types(module khr) {
    int count = 0, seen[3] = {0};
    for (size_t i = 5; i < khr.n; i += wc(khr.w + i)) {
        const uint32_t *in = khr.w + i;
        if (op(in) == OP_TYPE_POINTER) {
            size_t p = def_of(khr, in[3]);
            if (p && (op(khr.w + p) == SPV_OP_TYPE_COOPMAT_NV))
                ck_abort_msg("pointer type %%%u still points at an NV type", in[1]);
            for (size_t j = i + 4; j < khr.n; j += wc(khr.w + j))
                ck_assert_msg(
                    !(op(khr.w + j) == OP_TYPE_POINTER && khr.w[j + 2] == in[2] && khr.w[j + 3] == in[3]),
                    "pointer types %%%u and %%%u are duplicates", in[1], khr.w[j + 1]);
        }
        if (op(in) != SPV_OP_TYPE_COOPMAT_KHR)
            continue;
        ck_assert_uint_eq(wc(in), 7);
        size_t comp = def_of(khr, in[2]);
        ck_assert_msg(comp && op(khr.w + comp) == OP_TYPE_FLOAT, "type %%%u: component not a float", in[1]);
        uint32_t scope = 0, rows = 0, cols = 0;
        ck_assert(constant_value(khr, in[3], &scope) && scope == 3);
        ck_assert(constant_value(khr, in[4], &rows) && rows == 16);
        ck_assert(constant_value(khr, in[5], &cols) && cols == 16);
        uint32_t use = use_of_type(khr, in[1]);
        ck_assert_msg(def_of(khr, in[6]) < i, "type %%%u: its Use constant is defined after it", in[1]);
        uint32_t width = khr.w[comp + 2];
        ck_assert_msg(width == (use == SPV_COOPMAT_USE_ACCUMULATOR ? 32u : 16u),
                      "type %%%u: Use %u with %u-bit floats", in[1], use, width);
        seen[use]++;
        count++;
    }
    ck_assert_int_eq(count, 3);
    ck_assert_int_eq(seen[0], 1);
    ck_assert_int_eq(seen[1], 1);
    ck_assert_int_eq(seen[2], 1);
}

static void check_muladds(module khr) {
    int count = 0;
    for (size_t i = 5; i < khr.n; i += wc(khr.w + i)) {
        const uint32_t *in = khr.w + i;
        if (op(in) != SPV_OP_COOPMAT_MULADD_KHR)
            continue;
        ck_assert_uint_eq(wc(in), 6); /* no Cooperative Matrix Operands: float matrices */
        ck_assert_uint_eq(use_of_type(khr, in[1]), SPV_COOPMAT_USE_ACCUMULATOR);
        ck_assert_uint_eq(use_of_type(khr, type_of_value(khr, in[3])), SPV_COOPMAT_USE_A);
        ck_assert_uint_eq(use_of_type(khr, type_of_value(khr, in[4])), SPV_COOPMAT_USE_B);
        ck_assert_uint_eq(type_of_value(khr, in[5]), in[1]);
        count++;
    }
    ck_assert_int_eq(count, 4); /* one per accumulator of gemm_coopmat.comp (inside its ks loop) */
}

/* The i-th NV load/store against the i-th KHR one. */
static void check_memory_ops(module nv, module khr, bool load) {
    uint32_t nv_op = load ? SPV_OP_COOPMAT_LOAD_NV : SPV_OP_COOPMAT_STORE_NV;
    uint32_t khr_op = load ? SPV_OP_COOPMAT_LOAD_KHR : SPV_OP_COOPMAT_STORE_KHR;
    size_t i = 5, j = 5;
    int pairs = 0;
    for (;;) {
        while (i < nv.n && op(nv.w + i) != nv_op)
            i += wc(nv.w + i);
        while (j < khr.n && op(khr.w + j) != khr_op)
            j += wc(khr.w + j);
        if (i >= nv.n || j >= khr.n)
            break;
        const uint32_t *a = nv.w + i, *b = khr.w + j;
        ck_assert_uint_eq(wc(a), wc(b));
        uint32_t s = load ? 4 : 3; /* NV stride word; KHR: layout there, stride after */
        for (uint32_t k = 1; k < s; k++)
            if (!(load && k == 1)) /* the result type changes to the role's type */
                ck_assert_uint_eq(a[k], b[k]);
        ck_assert_uint_eq(b[s + 1], a[s]);
        uint32_t layout = 99;
        ck_assert_msg(constant_value(khr, b[s], &layout), "MemoryLayout %%%u is not a 32-bit constant", b[s]);
        size_t colmajor = def_of(nv, a[s + 1]);
        ck_assert_uint_eq(layout, op(nv.w + colmajor) == OP_CONSTANT_TRUE ? SPV_COOPMAT_COLUMN_MAJOR
                                                                          : SPV_COOPMAT_ROW_MAJOR);
        for (uint32_t k = s + 2; k < wc(a); k++) /* memory operands */
            ck_assert_uint_eq(a[k], b[k]);
        if (load) { /* same component type and shape as the NV result type */
            size_t tn = def_of(nv, a[1]), tk = def_of(khr, b[1]);
            ck_assert(tn && tk && op(khr.w + tk) == SPV_OP_TYPE_COOPMAT_KHR);
            for (int k = 2; k <= 5; k++)
                ck_assert_uint_eq(nv.w[tn + k], khr.w[tk + k]);
        }
        pairs++;
        i += wc(a);
        j += wc(b);
    }
    ck_assert_msg(i >= nv.n && j >= khr.n, "NV and KHR modules have different numbers of %s",
                  load ? "loads" : "stores");
    ck_assert_int_eq(pairs, load ? 8 : 4); /* A and B per accumulator; one store each */
}

/* Loads from and stores to matrix variables agree with the variables' pointee types. */
static void check_variable_types(module khr) {
    for (size_t i = 5; i < khr.n; i += wc(khr.w + i)) {
        const uint32_t *in = khr.w + i;
        if (op(in) == OP_LOAD) {
            size_t t = def_of(khr, in[1]);
            if (t && op(khr.w + t) == SPV_OP_TYPE_COOPMAT_KHR)
                ck_assert_uint_eq(pointee_of_pointer_value(khr, in[3]), in[1]);
        } else if (op(in) == OP_STORE) {
            size_t v = def_of(khr, in[2]);
            if (!v || result_word(op(khr.w + v)) != 2)
                continue;
            size_t t = def_of(khr, khr.w[v + 1]);
            if (t && op(khr.w + t) == SPV_OP_TYPE_COOPMAT_KHR)
                ck_assert_uint_eq(pointee_of_pointer_value(khr, in[1]), khr.w[v + 1]);
        }
    }
}

static const char *const combos[] = {"fff", "ffh", "fhf", "fhh", "hff", "hfh", "hhf", "hhh"};

START_TEST(translates_every_built_module) {
    for (size_t c = 0; c < 8; c++) {
        char name[64];
        snprintf(name, sizeof name, "gemm_coopmat_nv_%s.spv", combos[c]);
        module nv = load_module(name);
        module khr = translate_ok(nv);
        check_header_and_ids(nv, khr);
        check_no_nv_left(khr);
        check_types(khr);
        check_muladds(khr);
        check_memory_ops(nv, khr, true);
        check_memory_ops(nv, khr, false);
        check_variable_types(khr);
        snprintf(name, sizeof name, "gemm_coopmat_khr_%s.spv", combos[c]);
        module built = load_module(name);
        ck_assert_msg(built.n == khr.n && memcmp(built.w, khr.w, 4 * khr.n) == 0,
                      "%s differs from a fresh translation", name);
        free(nv.w), free(khr.w), free(built.w);
    }
}
END_TEST

/* Translating a modified copy of `m` fails with a message containing `fragment`. */
static void expect_rejected(const uint32_t *w, size_t n, const char *fragment) {
    uint32_t *out = (uint32_t *)1;
    size_t n_out = 99;
    char err[512];
    int rc = spirv_coopmat_nv_to_khr(w, n, &out, &n_out, err, sizeof err);
    ck_assert_msg(rc == -1, "accepted input that should fail with '%s'", fragment);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(n_out, 0);
    ck_assert_msg(strstr(err, fragment) != NULL, "error '%s' does not mention '%s'", err, fragment);
}

static uint32_t *copy_of(module m) {
    uint32_t *w = malloc(4 * m.n);
    ck_assert_ptr_nonnull(w);
    memcpy(w, m.w, 4 * m.n);
    return w;
}

/* Word index of the first instruction with opcode `o`. */
static size_t first_op(const uint32_t *w, size_t n, uint32_t o) {
    for (size_t i = 5; i < n; i += wc(w + i))
        if (op(w + i) == o)
            return i;
    ck_abort_msg("no opcode %u", o);
    return 0;
}

START_TEST(rejects_malformed_modules) {
    module nv = load_module("gemm_coopmat_nv_fff.spv");
    uint32_t *w = copy_of(nv);
    expect_rejected(w, 3, "truncated module");
    size_t last = 5; /* cut one word into the last instruction longer than one word */
    for (size_t i = 5; i < nv.n; i += wc(nv.w + i))
        if (wc(nv.w + i) > 1)
            last = i;
    expect_rejected(w, last + 1, "truncated or malformed instruction");
    w[0] = 0xdeadbeef;
    expect_rejected(w, nv.n, "not a SPIR-V module");
    w[0] = 0x03022307;
    expect_rejected(w, nv.n, "byte-swapped");
    w[0] = SPV_MAGIC;
    w[3] = 10;
    expect_rejected(w, nv.n, "outside the header's bound");
    w[3] = nv.w[3];
    w[5] &= 0xffff; /* a zero word count */
    expect_rejected(w, nv.n, "malformed instruction");
    free(w);
    module plain = load_module("gemm_fff.spv");
    expect_rejected(plain.w, plain.n, "nothing to translate");
    module khr = translate_ok(nv);
    expect_rejected(khr.w, khr.n, "already declares CooperativeMatrixKHR");
    free(nv.w), free(plain.w), free(khr.w);
}
END_TEST

START_TEST(rejects_unknown_shapes_and_uses) {
    module nv = load_module("gemm_coopmat_nv_fff.spv");
    size_t t = first_op(nv.w, nv.n, SPV_OP_TYPE_COOPMAT_NV);
    size_t rows = def_of(nv, nv.w[t + 4]), scope = def_of(nv, nv.w[t + 3]);

    uint32_t *w = copy_of(nv);
    w[rows] = (w[rows] & 0xffff0000u) | OP_SPEC_CONSTANT; /* a spec-constant shape */
    expect_rejected(w, nv.n, "unknown shape");
    free(w);
    w = copy_of(nv);
    w[rows + 3] = 0; /* zero rows */
    expect_rejected(w, nv.n, "unknown shape");
    free(w);
    w = copy_of(nv);
    w[scope + 3] = 2; /* Workgroup scope */
    expect_rejected(w, nv.n, "not the constant Subgroup");
    free(w);
    w = copy_of(nv);
    w[t + 2] = nv.w[first_op(nv.w, nv.n, OP_TYPE_INT) + 1]; /* integer components */
    expect_rejected(w, nv.n, "not a float");
    free(w);

    size_t mad = first_op(nv.w, nv.n, SPV_OP_COOPMAT_MULADD_NV);
    w = copy_of(nv);
    w[mad + 4] = w[mad + 3]; /* the A value also as B */
    expect_rejected(w, nv.n, "two Uses");
    free(w);
    w = copy_of(nv);
    w[mad + 1] = type_of_value(nv, nv.w[mad + 3]); /* result typed like A */
    expect_rejected(w, nv.n, "shapes do not chain");
    free(w);

    /* An access chain whose result type is a pointer to a matrix: a use the translator does not follow. */
    size_t var = first_op(nv.w, nv.n, OP_VARIABLE);
    uint32_t matrix_pointer = 0;
    for (size_t i = var; i < nv.n && !matrix_pointer; i += wc(nv.w + i))
        if (op(nv.w + i) == OP_VARIABLE) {
            size_t p = def_of(nv, nv.w[i + 1]);
            size_t pointee = def_of(nv, nv.w[p + 3]);
            if (pointee && op(nv.w + pointee) == SPV_OP_TYPE_COOPMAT_NV)
                matrix_pointer = nv.w[i + 1];
        }
    ck_assert_uint_ne(matrix_pointer, 0);
    w = copy_of(nv);
    w[first_op(w, nv.n, OP_ACCESS_CHAIN) + 1] = matrix_pointer;
    expect_rejected(w, nv.n, "does not handle");
    free(w);
    free(nv.w);
}
END_TEST

/* When the integer constants 0, 1, 2 the KHR operands need are missing before the first matrix type, the
 * translator creates them there: here the module's uint 1 defined before the types is changed to 7, so
 * MatrixB's Use (and ColumnMajor, unused here) needs a new constant. */
START_TEST(creates_missing_constants) {
    module nv = load_module("gemm_coopmat_nv_fff.spv");
    size_t first = first_op(nv.w, nv.n, SPV_OP_TYPE_COOPMAT_NV);
    uint32_t int_type = nv.w[def_of(nv, nv.w[first + 4]) + 1]; /* the rows constant's type */
    int changed = 0;
    for (size_t i = 5; i < first; i += wc(nv.w + i))
        if (op(nv.w + i) == OP_CONSTANT && wc(nv.w + i) == 4 && nv.w[i + 1] == int_type && nv.w[i + 3] == 1) {
            nv.w[i + 3] = 7;
            changed++;
        }
    ck_assert_int_ge(changed, 1);
    module khr = translate_ok(nv);
    ck_assert_uint_gt(khr.w[3], nv.w[3]); /* new ids: the constant (and the split B type) */
    check_header_and_ids(nv, khr);
    check_no_nv_left(khr);
    check_types(khr); /* each Use constant holds its value and precedes its type */
    check_muladds(khr);
    check_memory_ops(nv, khr, true);
    check_memory_ops(nv, khr, false);
    check_variable_types(khr);
    free(nv.w), free(khr.w);
}
END_TEST

int main(void) {
    Suite *s = suite_create("spirv_coopmat");
    TCase *tc = tcase_create("spirv_coopmat");
    tcase_add_test(tc, translates_every_built_module);
    tcase_add_test(tc, creates_missing_constants);
    tcase_add_test(tc, rejects_malformed_modules);
    tcase_add_test(tc, rejects_unknown_shapes_and_uses);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
