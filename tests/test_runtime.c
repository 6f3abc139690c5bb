/* trainer/vk and the basic kernels: memory pooling, transfers of any size, range splitting past
 * maxStorageBufferRange, barrier placement, timestamp profiling, the pipeline cache, and
 * fill/copy/axpy/reduce against the CPU. */
#include "tsl_elementwise.h"
#include "tsl_reduce.h"
#include "tsl_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(device_features_are_probed) {
    tsl_vk_device *d = tsl_test_device_open();
    const tsl_vk_features *f = tsl_vk_device_features(d);
    ck_assert(f->usable);
    ck_assert_uint_gt(f->max_storage_buffer_range, 0);
    ck_assert_uint_gt(f->subgroup_size, 0);
    ck_assert_uint_ge(f->max_subgroup_size, f->min_subgroup_size);
    ck_assert_uint_gt(f->max_workgroup_count[0], 0);
    tsl_test_device_close(d);
}
END_TEST

START_TEST(small_allocations_share_a_block) {
    tsl_vk_device *d = tsl_test_device_open();
    tsl_vk_buffer b[64];
    for (int i = 0; i < 64; i++)
        b[i] = tsl_test_alloc(d, TSL_MEM_DEVICE, 1000 + 17 * i, "small");
    tsl_vk_memory_stats s;
    tsl_vk_memory_stats_get(d, &s);
    ck_assert_uint_eq(s.blocks[TSL_MEM_DEVICE], 1);
    ck_assert_uint_eq(s.live_allocations, 64);
    for (int i = 0; i < 64; i++) {
        ck_assert_uint_eq(b[i].range.offset % 64, 0);
        for (int j = 0; j < i; j++) /* no two allocations overlap */
            ck_assert(b[i].range.offset >= b[j].range.offset + b[j].range.size ||
                      b[j].range.offset >= b[i].range.offset + b[i].range.size);
    }
    /* Free in an interleaved order: the free list must coalesce back to one empty block, given back. */
    for (int i = 0; i < 64; i += 2)
        tsl_vk_free(d, &b[i]);
    for (int i = 1; i < 64; i += 2)
        tsl_vk_free(d, &b[i]);
    tsl_vk_memory_stats_get(d, &s);
    ck_assert_uint_eq(s.blocks[TSL_MEM_DEVICE], 0);
    ck_assert_uint_eq(s.bytes_in_use[TSL_MEM_DEVICE], 0);
    ck_assert_uint_eq(s.live_allocations, 0);
    tsl_test_device_close(d);
}
END_TEST

/* lavapipe compiles a pipeline again for each mix of power-of-two and other buffer sizes behind its texel
 * bindings (tsl_vk_features.pow2_buffers_recompile): there, no block is a power of two in size; a pool's
 * shared block (256 MiB) and a request of its own block (512 MiB) both grow by one alignment unit, and
 * other sizes stay as they are. Elsewhere blocks are exactly the size asked. */
START_TEST(blocks_avoid_power_of_two_sizes_where_that_recompiles) {
    tsl_vk_device *d = tsl_test_device_open();
    const tsl_vk_features *f = tsl_vk_device_features(d);
    if (strstr(f->driver_name, "llvmpipe"))
        ck_assert_msg(f->pow2_buffers_recompile, "the quirk is not probed on %s", f->driver_name);
    const uint64_t mib = 1048576, shared = 256 * mib, own_pow2 = 512 * mib, own_other = 300 * mib;
    uint64_t extra = 0;
    tsl_vk_buffer small = tsl_test_alloc(d, TSL_MEM_DEVICE, 1000, "small");
    tsl_vk_memory_stats s;
    tsl_vk_memory_stats_get(d, &s);
    if (f->pow2_buffers_recompile) {
        extra = s.bytes_reserved[TSL_MEM_DEVICE] - shared; /* the alignment unit, a power of two */
        ck_assert_uint_ge(extra, 64);
        ck_assert_uint_eq(extra & (extra - 1), 0);
    }
    ck_assert_uint_eq(s.bytes_reserved[TSL_MEM_DEVICE], shared + extra);
    tsl_vk_buffer big = tsl_test_alloc(d, TSL_MEM_DEVICE, own_pow2, "power-of-two");
    tsl_vk_memory_stats_get(d, &s);
    ck_assert_uint_eq(s.bytes_reserved[TSL_MEM_DEVICE], shared + own_pow2 + 2 * extra);
    tsl_vk_buffer other = tsl_test_alloc(d, TSL_MEM_DEVICE, own_other, "other");
    tsl_vk_memory_stats_get(d, &s);
    ck_assert_uint_eq(s.bytes_reserved[TSL_MEM_DEVICE], shared + own_pow2 + own_other + 2 * extra);
    ck_assert_uint_eq(s.blocks[TSL_MEM_DEVICE], 3);
    tsl_vk_free(d, &other);
    tsl_vk_free(d, &big);
    tsl_vk_free(d, &small);
    tsl_vk_memory_stats_get(d, &s);
    ck_assert_uint_eq(s.bytes_reserved[TSL_MEM_DEVICE], 0);
    tsl_test_device_close(d);
}
END_TEST

START_TEST(impossible_allocation_is_reported_by_name) {
    tsl_vk_device *d = tsl_test_device_open();
    const tsl_vk_features *f = tsl_vk_device_features(d);
    tsl_vk_buffer b;
    tsl_status st = tsl_vk_alloc(d, TSL_MEM_DEVICE, f->max_allocation_size + 4096, "huge activations", &b);
    ck_assert_int_eq(st, TSL_ERR_DEVICE_OOM);
    ck_assert_msg(strstr(tsl_error_message(), "huge activations"), "message: %s", tsl_error_message());
    st = tsl_vk_alloc(d, TSL_MEM_DEVICE, 0, "empty", &b);
    ck_assert_int_eq(st, TSL_ERR_INVALID_ARG);
    tsl_test_device_close(d);
}
END_TEST

/* TESSL_FAULT (trainer/vk/tsl_vk_fault.h) stands in for what lavapipe cannot provoke. Each Check test runs
 * in its own process, so setting the variable here affects this test only. */
START_TEST(injected_device_loss_fails_every_later_submission) {
    setenv("TESSL_FAULT", "device-lost:submit=2", 1);
    tsl_vk_device *d = tsl_test_device_open();
    tsl_vk_buffer b = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "filled");
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    uint64_t first, second;
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_vk_cmd_fill(cmd, tsl_vk_subrange(&b, 0, 4096), 7));
    TSL_TEST_OK(tsl_vk_cmd_submit(cmd, &first)); /* submission 1 runs */
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_vk_cmd_fill(cmd, tsl_vk_subrange(&b, 0, 4096), 8));
    ck_assert_int_eq(tsl_vk_cmd_submit(cmd, &second), TSL_ERR_DEVICE_LOST);
    ck_assert_msg(strstr(tsl_error_message(), "device lost"), "message: %s", tsl_error_message());
    /* Lost stays lost: waits (even for the unsignalled value, which must not hang) and transfers fail. */
    ck_assert_int_eq(tsl_vk_wait(d, second), TSL_ERR_DEVICE_LOST);
    ck_assert_int_eq(tsl_vk_wait(d, first), TSL_ERR_DEVICE_LOST);
    uint32_t word;
    ck_assert_int_eq(tsl_vk_download(d, tsl_vk_subrange(&b, 0, 4), &word), TSL_ERR_DEVICE_LOST);
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(d, &b);
    tsl_test_device_close(d); /* closes cleanly, validation silent */
}
END_TEST

START_TEST(injected_out_of_device_memory_names_the_allocation) {
    setenv("TESSL_FAULT", "device-oom:block=2", 1);
    tsl_vk_device *d = tsl_test_device_open();
    tsl_vk_buffer first = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "first");
    /* Larger than the default block, so it needs a block of its own: the second, which fails. */
    tsl_vk_buffer b;
    ck_assert_int_eq(tsl_vk_alloc(d, TSL_MEM_DEVICE, 300ull << 20, "layer3 activations", &b),
                     TSL_ERR_DEVICE_OOM);
    ck_assert_msg(strstr(tsl_error_message(), "'layer3 activations' (300.0 MiB of device memory)"),
                  "message: %s", tsl_error_message());
    tsl_vk_buffer later = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "later"); /* nothing was left broken */
    tsl_vk_free(d, &later);
    tsl_vk_free(d, &first);
    tsl_test_device_close(d);
}
END_TEST

START_TEST(malformed_fault_injection_is_refused) {
    const char *bad[] = {"device-lost", "device-lost:submit=0", "device-lost:submit=-1",
                         "device-oom:block=2x", "disk-full"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("TESSL_FAULT", bad[i], 1);
        tsl_vk_options options;
        tsl_vk_options_default(&options);
        tsl_vk_device *d = NULL;
        ck_assert_int_eq(tsl_vk_device_open(&options, &d), TSL_ERR_INVALID_ARG);
        ck_assert_ptr_null(d);
        ck_assert_msg(strstr(tsl_error_message(), bad[i]), "message for %s: %s", bad[i], tsl_error_message());
    }
}
END_TEST

/* 300 MiB: larger than maxStorageBufferRange (128 MiB on lavapipe), so the shader copy must be split. */
enum { BIG_BYTES = 300u << 20 };

static uint8_t *pattern_bytes(size_t n, uint64_t seed) {
    uint8_t *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    tsl_test_rng rng = tsl_test_rng_new(seed);
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = tsl_test_rng_u64(&rng);
        memcpy(p + i, &v, n - i < 8 ? n - i : 8);
    }
    return p;
}

START_TEST(big_buffer_round_trip_through_the_gpu_is_exact) {
    uint64_t seed = tsl_test_seed("big_buffer_round_trip");
    tsl_vk_device *d = tsl_test_device_open();
    uint8_t *src = pattern_bytes(BIG_BYTES, seed);
    uint8_t *back = malloc(BIG_BYTES);
    ck_assert_ptr_nonnull(back);
    tsl_vk_buffer a = tsl_test_alloc(d, TSL_MEM_DEVICE, BIG_BYTES, "round trip a");
    tsl_vk_buffer b = tsl_test_alloc(d, TSL_MEM_DEVICE, BIG_BYTES, "round trip b");
    tsl_test_upload(d, &a, src);
    tsl_test_poison(d, &b);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_copy_u32(d, cmd, a.range, b.range));
    tsl_vk_cmd_stats stats = tsl_vk_cmd_stats_get(cmd);
    uint64_t limit = tsl_vk_device_features(d)->max_storage_buffer_range;
    ck_assert_uint_eq(stats.dispatches,
                      (BIG_BYTES + tsl_vk_max_binding_bytes(d, 4) - 1) / tsl_vk_max_binding_bytes(d, 4));
    if (limit < BIG_BYTES)
        ck_assert_uint_ge(stats.dispatches, 2);
    ck_assert_uint_eq(stats.barriers, 0); /* chunks touch disjoint bytes */
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_test_download(d, &b, back);
    ck_assert_msg(memcmp(src, back, BIG_BYTES) == 0, "300 MiB copy through the GPU differs (seed %llu)",
                  (unsigned long long)seed);
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(d, &a);
    tsl_vk_free(d, &b);
    free(src);
    free(back);
    tsl_test_device_close(d);
}
END_TEST

START_TEST(transfers_of_odd_sizes_are_exact) {
    uint64_t seed = tsl_test_seed("transfers_of_odd_sizes");
    tsl_vk_device *d = tsl_test_device_open();
    const size_t sizes[] = {1, 3, 4, 63, 65, 4097, (32u << 20) + 5}; /* the last crosses a staging chunk */
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (int kind = 0; kind < TSL_MEM_KIND_COUNT; kind++) {
            uint8_t *src = pattern_bytes(sizes[k], seed + k);
            uint8_t *back = calloc(sizes[k], 1);
            tsl_vk_buffer b = tsl_test_alloc(d, (tsl_mem_kind)kind, sizes[k], "odd");
            tsl_test_upload(d, &b, src);
            tsl_test_download(d, &b, back);
            ck_assert_msg(memcmp(src, back, sizes[k]) == 0, "%zu bytes of memory kind %d differ", sizes[k],
                          kind);
            tsl_vk_free(d, &b);
            free(src);
            free(back);
        }
    }
    tsl_test_device_close(d);
}
END_TEST

static void check_fill_and_axpy(tsl_vk_device *d, uint64_t seed, size_t n) {
    tsl_test_rng rng = tsl_test_rng_new(seed);
    float *x = malloc(n * 4), *y = malloc(n * 4), *got = malloc(n * 4);
    double *want = malloc(n * sizeof *want);
    tsl_test_fill_uniform(&rng, x, n, -2, 2);
    tsl_test_fill_uniform(&rng, y, n, -2, 2);
    float a = (float)tsl_test_rng_uniform(&rng, -3, 3);
    tsl_vk_buffer bx = tsl_test_alloc(d, TSL_MEM_DEVICE, n * 4, "x");
    tsl_vk_buffer by = tsl_test_alloc(d, TSL_MEM_DEVICE, n * 4, "y");
    tsl_vk_buffer bf = tsl_test_alloc(d, TSL_MEM_DEVICE, n * 4, "filled");
    tsl_test_upload(d, &bx, x);
    tsl_test_upload(d, &by, y);
    tsl_test_poison(d, &bf);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_axpy_f32(d, cmd, a, bx.range, by.range));
    TSL_TEST_OK(tsl_fill_u32(d, cmd, bf.range, 0x3f800000u)); /* 1.0f */
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_test_download(d, &by, got);
    for (size_t i = 0; i < n; i++)
        want[i] = (double)a * x[i] + y[i];
    /* SPIR-V's Fma may run unfused (a*x rounded, then the add rounded): error <= ulp/2 of |a*x| (<= 6 here,
     * so <= 2.4e-7) plus ulp/2 of the result (6e-8 relative). */
    tsl_test_check_close("axpy", seed, got, want, n, 6e-8, 2.4e-7);
    tsl_test_download(d, &bf, got);
    for (size_t i = 0; i < n; i++)
        want[i] = 1.0;
    tsl_test_check_close("fill", seed, got, want, n, 0, 0);
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(d, &bx);
    tsl_vk_free(d, &by);
    tsl_vk_free(d, &bf);
    free(x);
    free(y);
    free(got);
    free(want);
}

START_TEST(fill_and_axpy_match_the_cpu) {
    uint64_t seed = tsl_test_seed("fill_and_axpy");
    tsl_vk_device *d = tsl_test_device_open();
    const size_t sizes[] = {1, 7, 255, 256, 257, 13 * 13 * 3, 1000003};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        check_fill_and_axpy(d, seed + k, sizes[k]);
    tsl_test_device_close(d);
}
END_TEST

START_TEST(reduce_sum_matches_the_cpu) {
    uint64_t seed = tsl_test_seed("reduce_sum");
    tsl_vk_device *d = tsl_test_device_open();
    const size_t sizes[] = {1, 2, 255, 4097, 65537, 3000017};
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        tsl_test_rng rng = tsl_test_rng_new(seed + k);
        float *x = malloc(n * 4);
        tsl_test_fill_uniform(&rng, x, n, -1, 1);
        double want = 0, magnitude = 0;
        for (size_t i = 0; i < n; i++) {
            want += x[i];
            magnitude += x[i] < 0 ? -x[i] : x[i];
        }
        tsl_vk_buffer bx = tsl_test_alloc(d, TSL_MEM_DEVICE, n * 4, "x");
        tsl_vk_buffer bs = tsl_test_alloc(d, TSL_MEM_DEVICE, tsl_reduce_sum_scratch_bytes(n), "scratch");
        tsl_vk_buffer bo = tsl_test_alloc(d, TSL_MEM_DEVICE, 4, "sum");
        tsl_test_upload(d, &bx, x);
        tsl_test_poison(d, &bs);
        tsl_test_poison(d, &bo);
        TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
        TSL_TEST_OK(tsl_reduce_sum_f32(d, cmd, bx.range, bs.range, bo.range));
        TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
        float got;
        tsl_test_download(d, &bo, &got);
        /* fp32 sums of runs of <= ~4096 terms then a tree: error <= ~eps * 4096 * sum|x| worst case,
         * ~eps * sqrt(run) in practice; 1e-5 * sum|x| is the bound stated in tsl_reduce.h. */
        tsl_test_check_close("reduce_sum", seed + k, &got, &want, 1, 0, 1e-5 * magnitude);
        tsl_vk_free(d, &bx);
        tsl_vk_free(d, &bs);
        tsl_vk_free(d, &bo);
        free(x);
    }
    tsl_vk_cmd_destroy(cmd);
    tsl_test_device_close(d);
}
END_TEST

START_TEST(barriers_only_where_a_hazard_exists) {
    tsl_vk_device *d = tsl_test_device_open();
    tsl_vk_buffer a = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "a");
    tsl_vk_buffer b = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "b");
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_fill_u32(d, cmd, tsl_vk_subrange(&a, 0, 2048), 0));    /* write a[0:2048) */
    TSL_TEST_OK(tsl_fill_u32(d, cmd, tsl_vk_subrange(&a, 2048, 2048), 0)); /* disjoint: no barrier */
    TSL_TEST_OK(tsl_fill_u32(d, cmd, b.range, 0));                         /* other buffer: none */
    ck_assert_uint_eq(tsl_vk_cmd_stats_get(cmd).barriers, 0);
    TSL_TEST_OK(tsl_axpy_f32(d, cmd, 1.0f, a.range, b.range)); /* reads a, read-writes b: RAW */
    ck_assert_uint_eq(tsl_vk_cmd_stats_get(cmd).barriers, 1);
    TSL_TEST_OK(tsl_axpy_f32(d, cmd, 1.0f, a.range, b.range)); /* b again: RAW + WAW */
    ck_assert_uint_eq(tsl_vk_cmd_stats_get(cmd).barriers, 2);
    TSL_TEST_OK(tsl_vk_cmd_copy(cmd, b.range, a.range)); /* a was read: WAR */
    ck_assert_uint_eq(tsl_vk_cmd_stats_get(cmd).barriers, 3);
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd)); /* synchronisation validation checks the rest */
    uint32_t got[1024];
    tsl_test_download(d, &a, got);
    for (int i = 0; i < 1024; i++)
        ck_assert_uint_eq(got[i], 0);
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(d, &a);
    tsl_vk_free(d, &b);
    tsl_test_device_close(d);
}
END_TEST

static uint64_t profiled_count(tsl_vk_device *d, const char *name) {
    tsl_vk_profile_row *rows;
    uint32_t n;
    uint64_t untimed = 1, count = 0;
    TSL_TEST_OK(tsl_vk_profile_report(d, &rows, &n, &untimed));
    ck_assert_uint_eq(untimed, 0);
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_msg(rows[i].ms >= 0 && rows[i].ms < 60e3, "%s: %g ms", rows[i].name, rows[i].ms);
        ck_assert(i == 0 || rows[i].ms <= rows[i - 1].ms); /* slowest first */
        if (strcmp(rows[i].name, name) == 0)
            count = rows[i].count;
    }
    free(rows);
    return count;
}

static void record_profiled_work(tsl_vk_device *d, tsl_vk_cmd *cmd, tsl_vk_buffer *a, tsl_vk_buffer *b) {
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_fill_u32(d, cmd, a->range, 0));
    TSL_TEST_OK(tsl_fill_u32(d, cmd, b->range, 0));
    for (int i = 0; i < 3; i++)
        TSL_TEST_OK(tsl_axpy_f32(d, cmd, 1.0f, a->range, b->range));
    TSL_TEST_OK(tsl_vk_cmd_fill(cmd, a->range, 0));
    TSL_TEST_OK(tsl_vk_cmd_copy(cmd, b->range, a->range));
}

/* Timestamp profiling (tsl_vk_profile.c) charges every command to its kernel, once per submission,
 * whether the submission is waited for or collected when the recorder begins again; reset forgets. */
START_TEST(profile_counts_every_command_by_kernel) {
    tsl_vk_device *d = tsl_test_device_open();
    tsl_vk_profile_row *rows;
    uint32_t n;
    ck_assert_int_eq(tsl_vk_profile_report(d, &rows, &n, NULL), TSL_ERR_INVALID_ARG); /* not enabled */
    if (!tsl_vk_device_features(d)->timestamps) {
        ck_assert_int_eq(tsl_vk_profile_enable(d), TSL_ERR_UNSUPPORTED);
        tsl_test_device_close(d);
        return;
    }
    tsl_vk_buffer a = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "a");
    tsl_vk_buffer b = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "b");
    TSL_TEST_OK(tsl_vk_profile_enable(d));
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    record_profiled_work(d, cmd, &a, &b);
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    ck_assert_uint_eq(profiled_count(d, "axpy_f32"), 3);
    ck_assert_uint_eq(profiled_count(d, "fill_u32"), 2);
    ck_assert_uint_eq(profiled_count(d, "(fill)"), 1);
    ck_assert_uint_eq(profiled_count(d, "(copy)"), 1);
    record_profiled_work(d, cmd, &a, &b);
    TSL_TEST_OK(tsl_vk_cmd_submit(cmd, NULL)); /* not waited for: counted when the recorder begins again */
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    ck_assert_uint_eq(profiled_count(d, "axpy_f32"), 6);
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd)); /* an empty recording adds nothing */
    ck_assert_uint_eq(profiled_count(d, "axpy_f32"), 6);
    tsl_vk_profile_reset(d);
    ck_assert_uint_eq(profiled_count(d, "axpy_f32"), 0);
    record_profiled_work(d, cmd, &a, &b);
    TSL_TEST_OK(tsl_vk_cmd_submit(cmd, NULL));
    tsl_vk_profile_reset(d); /* a submission recorded before a reset is not counted after it */
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    ck_assert_uint_eq(profiled_count(d, "axpy_f32"), 0);
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(d, &a);
    tsl_vk_free(d, &b);
    tsl_test_device_close(d);
}
END_TEST

/* A barrier raised by a compute read must also order a later copy of the same bytes (found by
 * synchronisation validation: compute write, compute read, transfer read). */
START_TEST(barrier_covers_later_transfers) {
    tsl_vk_device *d = tsl_test_device_open();
    tsl_vk_buffer a = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "a");
    tsl_vk_buffer b = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "b");
    tsl_vk_buffer c = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "c");
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_fill_u32(d, cmd, a.range, 0x40000000u));   /* a = 2.0f (compute write) */
    TSL_TEST_OK(tsl_fill_u32(d, cmd, b.range, 0));             /* b = 0 */
    TSL_TEST_OK(tsl_axpy_f32(d, cmd, 1.0f, a.range, b.range)); /* reads a: barrier */
    TSL_TEST_OK(tsl_vk_cmd_copy(cmd, a.range, c.range));       /* reads a again, in the transfer stage */
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    float got[1024];
    tsl_test_download(d, &c, got);
    for (int i = 0; i < 1024; i++)
        ck_assert_float_eq(got[i], 2.0f);
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(d, &a);
    tsl_vk_free(d, &b);
    tsl_vk_free(d, &c);
    tsl_test_device_close(d);
}
END_TEST

START_TEST(oversized_binding_is_refused) {
    tsl_vk_device *d = tsl_test_device_open();
    const tsl_vk_features *f = tsl_vk_device_features(d);
    uint64_t limit = f->max_storage_buffer_range;
    if (limit + 64 > f->max_allocation_size || limit + 64 > f->max_buffer_size) {
        /* NVIDIA: a 4 GiB - 1 range and 4 GiB allocations: no buffer can exceed the range. */
        printf("runtime oversized_binding_is_refused: no buffer of %llu bytes on this device\n",
               (unsigned long long)(limit + 64));
        tsl_test_device_close(d);
        return;
    }
    tsl_vk_buffer a = tsl_test_alloc(d, TSL_MEM_DEVICE, limit + 64, "over the limit");
    tsl_vk_pipeline *p;
    uint32_t spec[] = {256};
    TSL_TEST_OK(tsl_vk_pipeline_get(d, TSL_SHADER_FILL_U32, spec, 1, &p));
    ck_assert_uint_eq(tsl_vk_pipeline_binding_count(p), 1);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    tsl_vk_arg arg = {a.range, TSL_WRITE};
    uint32_t push[2] = {1, 0};
    tsl_status st = tsl_vk_cmd_dispatch(cmd, p, &arg, 1, push, sizeof push, 1, 1, 1);
    ck_assert_int_eq(st, TSL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(tsl_error_message(), "maxStorageBufferRange"), "message: %s", tsl_error_message());
    st = tsl_vk_cmd_dispatch(cmd, p, &arg, 0, push, sizeof push, 1, 1, 1);
    ck_assert_int_eq(st, TSL_ERR_INVALID_ARG); /* binding count mismatch */
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(d, &a);
    tsl_test_device_close(d);
}
END_TEST

/* Texel-buffer bindings (gemm_cpu.comp's A and B, r32f in its scalar build): reflected from the SPIR-V,
 * their views checked for whole texels and the texel offset alignment before anything is recorded. */
START_TEST(texel_binding_is_checked) {
    tsl_vk_device *d = tsl_test_device_open();
    const tsl_vk_features *f = tsl_vk_device_features(d);
    tsl_vk_buffer a = tsl_test_alloc(d, TSL_MEM_DEVICE, 4096, "texel operand");
    tsl_vk_pipeline *p;
    uint32_t spec[] = {64, 8, 8, 0, 0};
    TSL_TEST_OK(tsl_vk_pipeline_get(d, TSL_SHADER_GEMM_CPU_FFF, spec, 5, &p));
    ck_assert_uint_eq(tsl_vk_pipeline_binding_count(p), 3);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    uint32_t push[12] = {0};
    tsl_vk_range whole = a.range, tiny = {a.range.vk, a.range.offset, 2};
    tsl_vk_range odd = {a.range.vk, a.range.offset + 4, 64};
    tsl_vk_arg args[3] = {{tiny, TSL_READ}, {whole, TSL_READ}, {whole, TSL_WRITE}};
    ck_assert_int_eq(tsl_vk_cmd_dispatch(cmd, p, args, 3, push, sizeof push, 1, 1, 1), TSL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(tsl_error_message(), "texel-buffer binding 0 covers 0 texels"), "message: %s",
                  tsl_error_message());
    if (f->min_texel_buffer_offset_alignment > 4) {
        args[0].range = odd;
        ck_assert_int_eq(tsl_vk_cmd_dispatch(cmd, p, args, 3, push, sizeof push, 1, 1, 1),
                         TSL_ERR_INVALID_ARG);
        ck_assert_msg(strstr(tsl_error_message(), "binding 0 starts at offset"), "message: %s",
                      tsl_error_message());
    }
    ck_assert_uint_eq(tsl_vk_cmd_stats_get(cmd).dispatches, 0);
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(d, &a);
    tsl_test_device_close(d);
}
END_TEST

static tsl_vk_device *open_with_cache(const char *dir) {
    tsl_vk_options o;
    tsl_vk_options_default(&o);
    o.validation = true;
    o.cache_dir = dir;
    tsl_vk_device *d;
    TSL_TEST_OK(tsl_vk_device_open(&o, &d));
    return d;
}

static void build_one_pipeline(tsl_vk_device *d) {
    tsl_vk_pipeline *p;
    uint32_t spec[] = {128};
    TSL_TEST_OK(tsl_vk_pipeline_get(d, TSL_SHADER_AXPY_F32, spec, 1, &p));
}

START_TEST(pipeline_cache_persists_and_survives_corruption) {
    char dir[] = "/tmp/tessl-test-cache-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    tsl_vk_device *d = open_with_cache(dir);
    build_one_pipeline(d);
    tsl_test_device_close(d);
    char cmdline[256];
    snprintf(cmdline, sizeof cmdline, "ls %s/pipelines-*.bin >/dev/null 2>&1", dir);
    ck_assert_msg(system(cmdline) == 0, "no pipeline cache file written in %s", dir);
    /* A reopened device loads it; a corrupted file is ignored, never fatal. */
    d = open_with_cache(dir);
    build_one_pipeline(d);
    tsl_test_device_close(d);
    snprintf(cmdline, sizeof cmdline, "for f in %s/pipelines-*.bin; do printf 'garbage' > $f; done", dir);
    ck_assert_int_eq(system(cmdline), 0);
    d = open_with_cache(dir);
    build_one_pipeline(d);
    tsl_test_device_close(d);
    snprintf(cmdline, sizeof cmdline, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmdline), 0);
}
END_TEST

START_TEST(bad_device_index_is_reported) {
    tsl_vk_options o;
    tsl_vk_options_default(&o);
    o.device_index = 999;
    tsl_vk_device *d;
    tsl_status st = tsl_vk_device_open(&o, &d);
    ck_assert_int_eq(st, TSL_ERR_NOT_FOUND);
    ck_assert_msg(strstr(tsl_error_message(), "device 999"), "message: %s", tsl_error_message());
    setenv("TESSL_DEVICE", "abc", 1);
    o.device_index = -1;
    st = tsl_vk_device_open(&o, &d);
    ck_assert_int_eq(st, TSL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(tsl_error_message(), "TESSL_DEVICE"), "message: %s", tsl_error_message());
    unsetenv("TESSL_DEVICE");
}
END_TEST

int main(void) {
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("runtime");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, device_features_are_probed);
    tcase_add_test(tc, small_allocations_share_a_block);
    tcase_add_test(tc, blocks_avoid_power_of_two_sizes_where_that_recompiles);
    tcase_add_test(tc, impossible_allocation_is_reported_by_name);
    tcase_add_test(tc, injected_device_loss_fails_every_later_submission);
    tcase_add_test(tc, injected_out_of_device_memory_names_the_allocation);
    tcase_add_test(tc, malformed_fault_injection_is_refused);
    tcase_add_test(tc, big_buffer_round_trip_through_the_gpu_is_exact);
    tcase_add_test(tc, transfers_of_odd_sizes_are_exact);
    tcase_add_test(tc, fill_and_axpy_match_the_cpu);
    tcase_add_test(tc, reduce_sum_matches_the_cpu);
    tcase_add_test(tc, barriers_only_where_a_hazard_exists);
    tcase_add_test(tc, barrier_covers_later_transfers);
    tcase_add_test(tc, profile_counts_every_command_by_kernel);
    tcase_add_test(tc, oversized_binding_is_refused);
    tcase_add_test(tc, texel_binding_is_checked);
    tcase_add_test(tc, pipeline_cache_persists_and_survives_corruption);
    tcase_add_test(tc, bad_device_index_is_reported);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
