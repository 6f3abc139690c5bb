#include "tsl_gemm.h"

/* Workgroup shape and register tile per invocation, per device class (gemm_config_for, the one place
 * that picks). */
typedef struct {
    uint32_t wg_x, wg_y; /* invocations along N and M (coopmat: 1 x 1, see coopmat_config) */
    uint32_t tm, tn;     /* rows and columns of C per invocation (coopmat: per workgroup) */
    tsl_gemm_variant variant;
} gemm_config;

static tsl_gemm_variant variant_override;

void tsl_gemm_set_variant_for_testing(tsl_gemm_variant variant) {
    variant_override = variant;
}

const char *tsl_gemm_variant_name(tsl_gemm_variant v) {
    switch (v) {
    case TSL_GEMM_VARIANT_GPU:
        return "gpu";
    case TSL_GEMM_VARIANT_CPU:
        return "cpu";
    case TSL_GEMM_VARIANT_COOPMAT_NV:
        return "coopmat-nv";
    case TSL_GEMM_VARIANT_COOPMAT_KHR:
        return "coopmat-khr";
    case TSL_GEMM_VARIANT_COOPMAT_EMULATED:
        return "coopmat-emulated";
    default:
        return "auto";
    }
}

/* gemm_coopmat.comp's fixed shape: 256 invocations computing a 64 x 64 block of C, and its shared memory
 * (a_tile + b_tile + c_tile, see the shader). With maxSubgroupSize <= 64 a workgroup has >= 4 subgroups,
 * so each owns at most 4 of the 16 fragments: the shader's four accumulators. */
enum {
    COOPMAT_INVOCATIONS = 256,
    COOPMAT_BLOCK = 64,
    COOPMAT_SHARED_BYTES = 64 * 40 * 2 + 32 * 72 * 2 + 64 * 68 * 4,
    COOPMAT_MAX_SUBGROUP = COOPMAT_INVOCATIONS / 4
};

static bool is_coopmat(tsl_gemm_variant v) {
    return v == TSL_GEMM_VARIANT_COOPMAT_NV || v == TSL_GEMM_VARIANT_COOPMAT_KHR ||
           v == TSL_GEMM_VARIANT_COOPMAT_EMULATED;
}

static bool coopmat_fits(const tsl_vk_features *f) {
    return f->max_subgroup_size <= COOPMAT_MAX_SUBGROUP && f->max_shared_memory >= COOPMAT_SHARED_BYTES &&
           f->max_workgroup_invocations >= COOPMAT_INVOCATIONS &&
           f->max_workgroup_size[0] >= COOPMAT_INVOCATIONS;
}

tsl_gemm_variant tsl_gemm_variant_for(const tsl_vk_features *f, const tsl_gemm_params *p) {
    if (variant_override != TSL_GEMM_VARIANT_AUTO)
        return variant_override;
    if (p->allow_tensor_cores && f->coopmat_enabled != TSL_VK_COOPMAT_NONE && coopmat_fits(f))
        return f->coopmat_enabled == TSL_VK_COOPMAT_KHR ? TSL_GEMM_VARIANT_COOPMAT_KHR
                                                        : TSL_GEMM_VARIANT_COOPMAT_NV;
    return f->cpu_kernels ? TSL_GEMM_VARIANT_CPU : TSL_GEMM_VARIANT_GPU;
}

/* Invocations per workgroup of gemm_coopmat.comp: 256; the emulated build takes 4 subgroups of the
 * largest size, so that each subgroup owns 4 of the 16 fragments and all four accumulators are used
 * (with 256 invocations of 8 lanes, lavapipe's, each subgroup would own one). */
static uint32_t coopmat_invocations(const tsl_vk_features *f, tsl_gemm_variant v) {
    if (v != TSL_GEMM_VARIANT_COOPMAT_EMULATED)
        return COOPMAT_INVOCATIONS;
    uint32_t sg = f->max_subgroup_size ? f->max_subgroup_size : 1;
    return 4 * sg < COOPMAT_INVOCATIONS ? 4 * sg : COOPMAT_INVOCATIONS;
}

/* k per dispatch that keeps gemm_coopmat.comp's loop iterations per invocation under `max_iter`. Per
 * 32-deep k step an invocation runs 1 + 2 * (64 * 32 / invocations) staging iterations plus, per
 * fragment it helps with (at most 4), 2 (tensor cores) or (256 / subgroup size) * 33 (emulated). */
static uint64_t coopmat_max_k(const tsl_vk_features *f, tsl_gemm_variant v, uint64_t max_iter) {
    uint64_t per_fragment = 2;
    if (v == TSL_GEMM_VARIANT_COOPMAT_EMULATED) {
        uint64_t sg = f->min_subgroup_size ? f->min_subgroup_size : 1;
        per_fragment = (16 * 16 + sg - 1) / sg * 33;
    }
    uint64_t staging = 2 * ((COOPMAT_BLOCK * 32 + coopmat_invocations(f, v) - 1) / coopmat_invocations(f, v));
    uint64_t per_step = 1 + staging + 4 * per_fragment;
    uint64_t steps = max_iter / per_step;
    return (steps ? steps : 1) * 32;
}

/* A forced cooperative-matrix variant on a device that cannot run it is the caller's error, reported. */
static tsl_status check_coopmat(const tsl_vk_features *f, tsl_gemm_variant v) {
    tsl_vk_coopmat need = v == TSL_GEMM_VARIANT_COOPMAT_KHR ? TSL_VK_COOPMAT_KHR : TSL_VK_COOPMAT_NV;
    if (v == TSL_GEMM_VARIANT_COOPMAT_EMULATED && !f->fp16_arithmetic)
        return tsl_error(TSL_ERR_UNSUPPORTED,
                         "gemm: coopmat-emulated stages halves in shared memory, which needs "
                         "shaderFloat16; %s lacks it",
                         f->name);
    if (v != TSL_GEMM_VARIANT_COOPMAT_EMULATED && f->coopmat_enabled != need)
        return tsl_error(TSL_ERR_UNSUPPORTED,
                         "gemm: the %s variant needs the device opened with VK_%s_cooperative_matrix enabled "
                         "(tsl_vk_options.tensor_cores; 'tessl devices' shows what %s offers)",
                         tsl_gemm_variant_name(v), need == TSL_VK_COOPMAT_KHR ? "KHR" : "NV", f->name);
    if (!coopmat_fits(f))
        return tsl_error(TSL_ERR_UNSUPPORTED,
                         "gemm: %s needs maxSubgroupSize <= %d, %d bytes of shared memory and %d invocations "
                         "per workgroup; %s has %u, %u, %u",
                         tsl_gemm_variant_name(v), COOPMAT_MAX_SUBGROUP, COOPMAT_SHARED_BYTES,
                         COOPMAT_INVOCATIONS, f->name, f->max_subgroup_size, f->max_shared_memory,
                         f->max_workgroup_invocations);
    return TSL_OK;
}

/* Invocations along N of a CPU-variant workgroup for n columns of tn each: the smallest power of two
 * from the subgroup size up to 64 that covers n; the workgroup's 64 invocations then cover 64 / that
 * many row tiles. lavapipe runs a workgroup as a loop over its subgroups, and a subgroup whose lanes all
 * lie past n still runs the whole k loop: rows of 64 left 51 of 64 lanes idle on 14 x 14 planes (n =
 * 196), where rows of 16 ran the 1x1 convolutions' GEMMs about 1.7x faster (docs/PERFORMANCE.md). The
 * split is a push constant, so every width shares one pipeline (each costs seconds to compile). */
static uint32_t cpu_row_invocations(uint32_t n, uint32_t tn, const tsl_vk_features *f) {
    uint32_t wg = f->subgroup_size ? f->subgroup_size : 1;
    while (wg < 64 && (uint64_t)wg * tn < n)
        wg *= 2;
    return wg < 64 ? wg : 64;
}

/* GPU class: 4 x 4 accumulators per invocation keep 16 FMAs per 8 loads in the inner loop (8 vec4 loads
 * per 64 FMAs in the vec4 variant); 8 x 8 invocations give 64-wide workgroups, a multiple of any
 * subgroup.
 *
 * CPU class (lavapipe): every lane loads its operand values one by one, so the cost is the values
 * loaded and the tile is as large as still runs fast: 32 x 16 (512 accumulators, spilled but in L1) ran
 * the 1024^3 GEMM at ~16 GFLOP/s per CPU-second against ~11 for 16 x 8, ~7.5 for 8 x 8 and ~4 for the
 * GPU variant (2 cores, process CPU time, a loaded machine: see docs/PERFORMANCE.md). Products of 16
 * rows or fewer (the projector at 8 pairs) take 16 rows so fewer lanes compute clamped duplicates. The
 * scalar-load build (odd shapes, off the model's hot path) keeps 8 x 8: lavapipe's compile time grows
 * steeply with the tile there (~30 CPU-s at 32 x 16, ~1.7 at 16 x 8, ~0.5 at 8 x 8), and every process
 * compiles it afresh. So does the vec4 build with both operands transposed (~25 CPU-s at 32 x 16; no
 * layer of the model uses that form), and the fp16-storage builds, not tuned (their test spent over
 * 70 CPU-s, mostly compiling them, at 32 x 16). A workgroup is 64 invocations along N sharing A's rows,
 * or for narrow products (n <= 512 in the vec4 build) rows of as few as cover n, at least a subgroup
 * each, one row per tile of TM rows (cpu_row_invocations). TM and TN stay multiples of 4 (gemm_cpu.comp). */
static gemm_config gemm_config_for(tsl_gemm_variant v, const tsl_gemm_params *p, bool vec4,
                                   const tsl_vk_features *f) {
    if (is_coopmat(v)) /* one 64 x 64 block per workgroup: the block arithmetic below sees a 1 x 1 grid */
        return (gemm_config){1, 1, COOPMAT_BLOCK, COOPMAT_BLOCK, v};
    if (v != TSL_GEMM_VARIANT_CPU)
        return (gemm_config){8, 8, 4, 4, TSL_GEMM_VARIANT_GPU};
    bool half = p->a_dtype == TSL_DTYPE_F16 || p->b_dtype == TSL_DTYPE_F16 || p->c_dtype == TSL_DTYPE_F16;
    if (!vec4 || (p->trans_a && p->trans_b) || half)
        return (gemm_config){64, 1, 8, 8, v};
    uint32_t lanes_n = cpu_row_invocations(p->n, 16, f);
    return (gemm_config){lanes_n, 64 / lanes_n, p->m <= 16 ? 16 : 32, 16, v};
}

static uint64_t block_m(gemm_config g) {
    return (uint64_t)g.wg_y * g.tm;
}
static uint64_t block_n(gemm_config g) {
    return (uint64_t)g.wg_x * g.tn;
}

typedef struct {
    uint32_t m, n, k, lda, ldb, ldc, a_off, b_off, c_off;
    float alpha, beta;
    uint32_t beta_zero;
    uint32_t lanes_n; /* gemm_cpu.comp: invocations of a workgroup along N (gemm_config.wg_x) */
} gemm_push;

tsl_gemm_params tsl_gemm_params_make(uint32_t m, uint32_t n, uint32_t k, bool trans_a, bool trans_b) {
    return (tsl_gemm_params){.m = m, .n = n, .k = k, .trans_a = trans_a, .trans_b = trans_b, .alpha = 1.0f};
}

static uint64_t min_u64(uint64_t x, uint64_t y) {
    return x < y ? x : y;
}

/* A matrix as stored: `rows` rows of `cols` elements, `ld` elements apart. */
typedef struct {
    uint64_t rows, cols, ld;
} stored_shape;

static uint64_t stored_elements(stored_shape s) {
    return (s.rows - 1) * s.ld + s.cols;
}

/* Bytes from an operand's first stored element to its last, inclusive, at `elem` bytes per element. */
static uint64_t stored_bytes(stored_shape s, uint32_t elem) {
    return elem * stored_elements(s);
}

static stored_shape shape_a(const tsl_gemm_params *p, uint64_t m, uint64_t k) {
    return p->trans_a ? (stored_shape){k, m, p->lda} : (stored_shape){m, k, p->lda};
}
static stored_shape shape_b(const tsl_gemm_params *p, uint64_t k, uint64_t n) {
    return p->trans_b ? (stored_shape){n, k, p->ldb} : (stored_shape){k, n, p->ldb};
}
static stored_shape shape_c(const tsl_gemm_params *p, uint64_t m, uint64_t n) {
    return (stored_shape){m, n, p->ldc};
}

static bool ranges_overlap(tsl_vk_range x, tsl_vk_range y) {
    return x.vk == y.vk && x.offset < y.offset + y.size && y.offset < x.offset + x.size;
}

static tsl_status check_operand(const char *name, stored_shape s, tsl_vk_range r, tsl_dtype t) {
    uint32_t elem = (uint32_t)tsl_dtype_size(t);
    if (s.ld < s.cols)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "gemm: leading dimension of %s is %llu, below its stored row "
                         "length %llu",
                         name, (unsigned long long)s.ld, (unsigned long long)s.cols);
    if (r.offset % elem)
        return tsl_error(TSL_ERR_INVALID_ARG, "gemm: %s (%s) starts at byte %llu, not a multiple of %u", name,
                         tsl_dtype_name(t), (unsigned long long)r.offset, elem);
    uint64_t need = stored_bytes(s, elem);
    if (r.size < need)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "gemm: %s (%llu x %llu, ld %llu) needs %llu bytes (%s), its range has %llu", name,
                         (unsigned long long)s.rows, (unsigned long long)s.cols, (unsigned long long)s.ld,
                         (unsigned long long)need, tsl_dtype_name(t), (unsigned long long)r.size);
    return TSL_OK;
}

/* The dtype's safetensors name, also for values outside the enum (a caller's bug, reported not crashed). */
static const char *dtype_label(tsl_dtype t) {
    return (unsigned)t < TSL_DTYPE_COUNT ? tsl_dtype_name(t) : "unknown";
}

static tsl_status check_dtypes(const tsl_vk_device *d, const tsl_gemm_params *p) {
    const tsl_dtype types[3] = {p->a_dtype, p->b_dtype, p->c_dtype};
    bool half = false;
    for (int i = 0; i < 3; i++) {
        if (types[i] != TSL_DTYPE_F32 && types[i] != TSL_DTYPE_F16)
            return tsl_error(TSL_ERR_INVALID_ARG, "gemm: %c has dtype %s; only F32 and F16 are supported",
                             "ABC"[i], dtype_label(types[i]));
        half |= types[i] == TSL_DTYPE_F16;
    }
    if (half && !tsl_vk_device_features(d)->fp16_storage)
        return tsl_error(TSL_ERR_UNSUPPORTED, "gemm: fp16 operands need storageBuffer16BitAccess, which the "
                                              "device lacks");
    return TSL_OK;
}

static tsl_status check_params(const tsl_vk_device *d, tsl_gemm_params *p, tsl_vk_range a, tsl_vk_range b,
                               tsl_vk_range c) {
    TSL_TRY(check_dtypes(d, p));
    if (!p->m || !p->n || !p->k)
        return tsl_error(TSL_ERR_INVALID_ARG, "gemm: dimensions m=%u n=%u k=%u must all be >= 1", p->m, p->n,
                         p->k);
    if (!p->lda)
        p->lda = p->trans_a ? p->m : p->k;
    if (!p->ldb)
        p->ldb = p->trans_b ? p->k : p->n;
    if (!p->ldc)
        p->ldc = p->n;
    TSL_TRY(check_operand("A", shape_a(p, p->m, p->k), a, p->a_dtype));
    TSL_TRY(check_operand("B", shape_b(p, p->k, p->n), b, p->b_dtype));
    TSL_TRY(check_operand("C", shape_c(p, p->m, p->n), c, p->c_dtype));
    if (ranges_overlap(c, a) || ranges_overlap(c, b))
        return tsl_error(TSL_ERR_INVALID_ARG, "gemm: C overlaps an input (A or B)");
    return TSL_OK;
}

typedef struct {
    uint64_t m, n, k;
} block_dims;

/* Halves a block dimension, keeping it a multiple of `granule`; false when it cannot shrink. */
static bool halve(uint64_t *x, uint64_t granule) {
    if (*x <= granule)
        return false;
    *x = ((*x + 1) / 2 + granule - 1) / granule * granule;
    return true;
}

/* Whether an operand block of `bytes` bytes of `elem`-byte elements fits one binding of `limit` bytes
 * once its start is aligned down to `align` (up to align - elem bytes of slack before it). */
static bool block_fits(uint64_t bytes, uint32_t elem, uint64_t limit, uint64_t align) {
    return bytes + (align - elem) <= limit;
}

/* Limits on one dispatch besides the binding size. */
typedef struct {
    uint64_t align;      /* binding offset alignment */
    uint64_t max_groups; /* workgroups per grid dimension */
    uint64_t max_k;      /* sum over k per dispatch (the shader's k loop under the loop-iteration cap) */
    gemm_config cfg;
} dispatch_limits;

/* Block sizes of the split: the largest (halving from the whole problem, in multiples of `g` elements)
 * for which every operand's block, plus the slack of aligning its binding's start down, fits in `limit`
 * bytes (each operand counted at its own element size), the workgroup grid stays within the device's
 * limits and the k loop within max_k. False when no blocks fit. */
static bool choose_blocks(const tsl_gemm_params *p, uint64_t limit, dispatch_limits dl, uint64_t g,
                          block_dims *out) {
    uint64_t align = dl.align;
    uint32_t ea = (uint32_t)tsl_dtype_size(p->a_dtype), eb = (uint32_t)tsl_dtype_size(p->b_dtype),
             ec = (uint32_t)tsl_dtype_size(p->c_dtype);
    block_dims b = {p->m, p->n, p->k};
    for (;;) {
        bool ok;
        /* For each operand, shrink first the dimension that multiplies its leading dimension. */
        if (!block_fits(stored_bytes(shape_a(p, b.m, b.k), ea), ea, limit, align))
            ok = p->trans_a ? (halve(&b.k, g) || halve(&b.m, g)) : (halve(&b.m, g) || halve(&b.k, g));
        else if (!block_fits(stored_bytes(shape_b(p, b.k, b.n), eb), eb, limit, align))
            ok = p->trans_b ? (halve(&b.n, g) || halve(&b.k, g)) : (halve(&b.k, g) || halve(&b.n, g));
        else if (!block_fits(stored_bytes(shape_c(p, b.m, b.n), ec), ec, limit, align))
            ok = halve(&b.m, g) || halve(&b.n, g);
        else if ((b.m + block_m(dl.cfg) - 1) / block_m(dl.cfg) > dl.max_groups)
            ok = halve(&b.m, g);
        else if ((b.n + block_n(dl.cfg) - 1) / block_n(dl.cfg) > dl.max_groups)
            ok = halve(&b.n, g);
        else if (b.k > dl.max_k)
            ok = halve(&b.k, g);
        else
            break;
        if (!ok)
            return false;
    }
    *out = b;
    return true;
}

/* Whether the vec4 variant may run: every vec4 it reads lies inside a stored row and starts aligned to
 * four elements (16 bytes, or 8 for fp16; given block starts that are multiples of 4 elements, which
 * choose_blocks keeps). */
static bool vec4_applies(const tsl_gemm_params *p, tsl_vk_range a, tsl_vk_range b) {
    uint32_t a4 = 4 * (uint32_t)tsl_dtype_size(p->a_dtype), b4 = 4 * (uint32_t)tsl_dtype_size(p->b_dtype);
    return p->k % 4 == 0 && p->lda % 4 == 0 && p->ldb % 4 == 0 && a.offset % a4 == 0 && b.offset % b4 == 0 &&
           (!p->trans_a || p->m % 4 == 0) && (p->trans_b || p->n % 4 == 0);
}

static tsl_status record_block(tsl_vk_cmd *cmd, const tsl_vk_pipeline *pl, const tsl_gemm_params *p,
                               tsl_vk_range a, tsl_vk_range b, tsl_vk_range c, dispatch_limits dl,
                               uint64_t m0, uint64_t n0, uint64_t k0, block_dims bd) {
    gemm_push push = {.m = (uint32_t)bd.m,
                      .n = (uint32_t)bd.n,
                      .k = (uint32_t)bd.k,
                      .lda = p->lda,
                      .ldb = p->ldb,
                      .ldc = p->ldc,
                      .alpha = p->alpha,
                      .lanes_n = dl.cfg.wg_x};
    /* Chunks of the sum after the first add onto what the first wrote. */
    push.beta = k0 ? 1.0f : p->beta;
    push.beta_zero = push.beta == 0.0f;
    uint64_t a_first = p->trans_a ? k0 * p->lda + m0 : m0 * p->lda + k0;
    uint64_t b_first = p->trans_b ? n0 * p->ldb + k0 : k0 * p->ldb + n0;
    uint64_t c_first = m0 * p->ldc + n0;
    uint32_t ea = (uint32_t)tsl_dtype_size(p->a_dtype), eb = (uint32_t)tsl_dtype_size(p->b_dtype),
             ec = (uint32_t)tsl_dtype_size(p->c_dtype);
    uint64_t a_bytes = stored_bytes(shape_a(p, bd.m, bd.k), ea),
             b_bytes = stored_bytes(shape_b(p, bd.k, bd.n), eb),
             c_bytes = stored_bytes(shape_c(p, bd.m, bd.n), ec);
    tsl_vk_arg args[3] = {
        {tsl_vk_range_aligned_down(a, ea * a_first, a_bytes, dl.align, ea, &push.a_off), TSL_READ},
        {tsl_vk_range_aligned_down(b, eb * b_first, b_bytes, dl.align, eb, &push.b_off), TSL_READ},
        {tsl_vk_range_aligned_down(c, ec * c_first, c_bytes, dl.align, ec, &push.c_off),
         push.beta_zero ? TSL_WRITE : TSL_READ_WRITE},
    };
    uint32_t gx = (uint32_t)((bd.n + block_n(dl.cfg) - 1) / block_n(dl.cfg)),
             gy = (uint32_t)((bd.m + block_m(dl.cfg) - 1) / block_m(dl.cfg));
    return tsl_vk_cmd_dispatch(cmd, pl, args, 3, &push, sizeof push, gx, gy, 1);
}

/* The build of gemm.comp (or gemm_cpu.comp) for the operands' storage types, indexed [a][b][c][vec4] by
 * dtype. */
static tsl_shader_id gemm_shader(const tsl_gemm_params *p, bool vec4, bool cpu) {
    static const tsl_shader_id cpu_ids[2][2][2][2] = {
        {{{TSL_SHADER_GEMM_CPU_FFF, TSL_SHADER_GEMM_CPU_FFF_VEC4},
          {TSL_SHADER_GEMM_CPU_FFH, TSL_SHADER_GEMM_CPU_FFH_VEC4}},
         {{TSL_SHADER_GEMM_CPU_FHF, TSL_SHADER_GEMM_CPU_FHF_VEC4},
          {TSL_SHADER_GEMM_CPU_FHH, TSL_SHADER_GEMM_CPU_FHH_VEC4}}},
        {{{TSL_SHADER_GEMM_CPU_HFF, TSL_SHADER_GEMM_CPU_HFF_VEC4},
          {TSL_SHADER_GEMM_CPU_HFH, TSL_SHADER_GEMM_CPU_HFH_VEC4}},
         {{TSL_SHADER_GEMM_CPU_HHF, TSL_SHADER_GEMM_CPU_HHF_VEC4},
          {TSL_SHADER_GEMM_CPU_HHH, TSL_SHADER_GEMM_CPU_HHH_VEC4}}},
    };
    static const tsl_shader_id ids[2][2][2][2] = {
        {{{TSL_SHADER_GEMM_FFF, TSL_SHADER_GEMM_FFF_VEC4}, {TSL_SHADER_GEMM_FFH, TSL_SHADER_GEMM_FFH_VEC4}},
         {{TSL_SHADER_GEMM_FHF, TSL_SHADER_GEMM_FHF_VEC4}, {TSL_SHADER_GEMM_FHH, TSL_SHADER_GEMM_FHH_VEC4}}},
        {{{TSL_SHADER_GEMM_HFF, TSL_SHADER_GEMM_HFF_VEC4}, {TSL_SHADER_GEMM_HFH, TSL_SHADER_GEMM_HFH_VEC4}},
         {{TSL_SHADER_GEMM_HHF, TSL_SHADER_GEMM_HHF_VEC4}, {TSL_SHADER_GEMM_HHH, TSL_SHADER_GEMM_HHH_VEC4}}},
    };
    bool ha = p->a_dtype == TSL_DTYPE_F16, hb = p->b_dtype == TSL_DTYPE_F16, hc = p->c_dtype == TSL_DTYPE_F16;
    return cpu ? cpu_ids[ha][hb][hc][vec4] : ids[ha][hb][hc][vec4];
}

/* The build of gemm_coopmat.comp, indexed [NV, KHR, emulated][a][b][c] by dtype. */
static tsl_shader_id coopmat_shader(const tsl_gemm_params *p, tsl_gemm_variant v) {
    static const tsl_shader_id ids[3][2][2][2] = {
        {{{TSL_SHADER_GEMM_COOPMAT_NV_FFF, TSL_SHADER_GEMM_COOPMAT_NV_FFH},
          {TSL_SHADER_GEMM_COOPMAT_NV_FHF, TSL_SHADER_GEMM_COOPMAT_NV_FHH}},
         {{TSL_SHADER_GEMM_COOPMAT_NV_HFF, TSL_SHADER_GEMM_COOPMAT_NV_HFH},
          {TSL_SHADER_GEMM_COOPMAT_NV_HHF, TSL_SHADER_GEMM_COOPMAT_NV_HHH}}},
        {{{TSL_SHADER_GEMM_COOPMAT_KHR_FFF, TSL_SHADER_GEMM_COOPMAT_KHR_FFH},
          {TSL_SHADER_GEMM_COOPMAT_KHR_FHF, TSL_SHADER_GEMM_COOPMAT_KHR_FHH}},
         {{TSL_SHADER_GEMM_COOPMAT_KHR_HFF, TSL_SHADER_GEMM_COOPMAT_KHR_HFH},
          {TSL_SHADER_GEMM_COOPMAT_KHR_HHF, TSL_SHADER_GEMM_COOPMAT_KHR_HHH}}},
        {{{TSL_SHADER_GEMM_COOPMAT_EMU_FFF, TSL_SHADER_GEMM_COOPMAT_EMU_FFH},
          {TSL_SHADER_GEMM_COOPMAT_EMU_FHF, TSL_SHADER_GEMM_COOPMAT_EMU_FHH}},
         {{TSL_SHADER_GEMM_COOPMAT_EMU_HFF, TSL_SHADER_GEMM_COOPMAT_EMU_HFH},
          {TSL_SHADER_GEMM_COOPMAT_EMU_HHF, TSL_SHADER_GEMM_COOPMAT_EMU_HHH}}},
    };
    bool ha = p->a_dtype == TSL_DTYPE_F16, hb = p->b_dtype == TSL_DTYPE_F16, hc = p->c_dtype == TSL_DTYPE_F16;
    int which = v == TSL_GEMM_VARIANT_COOPMAT_NV ? 0 : v == TSL_GEMM_VARIANT_COOPMAT_KHR ? 1 : 2;
    return ids[which][ha][hb][hc];
}

/* The pipeline of a configuration, with its specialization constants. */
static tsl_status gemm_pipeline(tsl_vk_device *d, const tsl_gemm_params *p, gemm_config g, bool vec4,
                                tsl_vk_pipeline **pl) {
    if (is_coopmat(g.variant)) {
        uint32_t spec[] = {coopmat_invocations(tsl_vk_device_features(d), g.variant), p->trans_a, p->trans_b};
        return tsl_vk_pipeline_get(d, coopmat_shader(p, g.variant), spec, 3, pl);
    }
    bool cpu = g.variant == TSL_GEMM_VARIANT_CPU;
    uint32_t gpu_spec[] = {g.wg_x, g.wg_y, g.tm, g.tn, p->trans_a, p->trans_b};
    uint32_t cpu_spec[] = {g.wg_x * g.wg_y, g.tm, g.tn, p->trans_a,
                           p->trans_b}; /* the split: push constant */
    return tsl_vk_pipeline_get(d, gemm_shader(p, vec4, cpu), cpu ? cpu_spec : gpu_spec, cpu ? 5 : 6, pl);
}

tsl_status tsl_gemm_f32(tsl_vk_device *d, tsl_vk_cmd *cmd, const tsl_gemm_params *params, tsl_vk_range a,
                        tsl_vk_range b, tsl_vk_range c) {
    tsl_gemm_params p = *params;
    TSL_TRY(check_params(d, &p, a, b, c));
    const tsl_vk_features *f = tsl_vk_device_features(d);
    tsl_gemm_variant variant = tsl_gemm_variant_for(f, &p);
    /* gemm_cpu.comp reads A and B as texel buffers: their offset alignment and element count bound its
     * bindings too (counted in 2-byte elements, the smallest). */
    bool texels = variant == TSL_GEMM_VARIANT_CPU;
    uint64_t align = f->min_storage_buffer_offset_alignment;
    if (texels && align < f->min_texel_buffer_offset_alignment)
        align = f->min_texel_buffer_offset_alignment;
    dispatch_limits dl = {
        .align = align < 4 ? 4 : align,
        .max_groups = min_u64(f->max_workgroup_count[0], f->max_workgroup_count[1]),
    };
    uint64_t limit = f->max_storage_buffer_range;
    if (texels)
        limit = min_u64(limit, 2 * (uint64_t)f->max_texel_buffer_elements);
    if (p.max_binding_bytes && p.max_binding_bytes < limit)
        limit = p.max_binding_bytes;
    /* The k loop steps by 4 (vec4) or 1; half the loop-iteration cap leaves room for the shader's
     * other loops should the driver not unroll them. */
    uint64_t max_iter = f->max_loop_iterations ? f->max_loop_iterations / 2 : UINT64_MAX / 8;
    block_dims blk = {0, 0, 0};
    if (is_coopmat(variant))
        TSL_TRY(check_coopmat(f, variant));
    dl.max_k = 4 * max_iter;
    dl.cfg = gemm_config_for(variant, &p, true, f);
    bool vec4 = !is_coopmat(variant) && vec4_applies(&p, a, b) && choose_blocks(&p, limit, dl, 4, &blk);
    if (!vec4) {
        dl.max_k = is_coopmat(variant) ? coopmat_max_k(f, variant, max_iter) : max_iter;
        dl.cfg = gemm_config_for(variant, &p, false, f);
    }
    if (!vec4 && !choose_blocks(&p, limit, dl, 1, &blk))
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "gemm: a binding limit of %llu bytes cannot hold even one "
                         "element with the %llu-byte offset alignment",
                         (unsigned long long)limit, (unsigned long long)dl.align);

    tsl_vk_pipeline *pl;
    TSL_TRY(gemm_pipeline(d, &p, dl.cfg, vec4, &pl));
    for (uint64_t m0 = 0; m0 < p.m; m0 += blk.m)
        for (uint64_t n0 = 0; n0 < p.n; n0 += blk.n)
            for (uint64_t k0 = 0; k0 < p.k; k0 += blk.k) {
                block_dims bd = {min_u64(blk.m, p.m - m0), min_u64(blk.n, p.n - n0),
                                 min_u64(blk.k, p.k - k0)};
                TSL_TRY(record_block(cmd, pl, &p, a, b, c, dl, m0, n0, k0, bd));
            }
    return TSL_OK;
}
