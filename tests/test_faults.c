/* Faults and hostile inputs at the library level (docs/RELIABILITY.md): write errors (RLIMIT_FSIZE makes
 * a write past the limit fail with EFBIG, as a full disk fails with ENOSPC) in atomic files and in the
 * shard writer, the clean-up of temporaries that killed writers leave, and the audit's regressions:
 * overflowing crop boxes in `--params`, and image headers that claim huge sizes on the full-size path. */
#include "tsl_augment_manual.h"
#include "tsl_file.h"
#include "tsl_image_decode.h"
#include "tsl_shard_reader.h"
#include "tsl_shard_writer.h"
#include "tsl_test.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- write errors ------------------------------------------------------------------------------- */

/* Limits the size of files this process writes to `bytes` (the test runs in its own process) and ignores
 * SIGXFSZ, so a write past the limit returns EFBIG. */
static void limit_file_size(rlim_t bytes) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = bytes;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static void unlimit_file_size(void) {
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static int count_temporaries(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "find '%s' -name '*.tmp.*' | grep -q .", dir);
    return system(cmd) == 0;
}

static void assert_file_is(const char *path, const void *want, size_t want_size) {
    void *data;
    size_t size;
    TSL_TEST_OK(tsl_read_file(path, want_size + 1, &data, &size));
    ck_assert_uint_eq(size, want_size);
    ck_assert_mem_eq(data, want, want_size);
    free(data);
}

START_TEST(atomic_write_error_keeps_the_previous_file) {
    char *dir = tsl_test_temp_dir("faults_atomic");
    char path[600];
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    TSL_TEST_OK(tsl_write_file_atomic(path, "previous version", 16));
    enum { BIG = 256 << 10 };
    char *big = calloc(BIG, 1);
    ck_assert_ptr_nonnull(big);
    limit_file_size(64 << 10);
    tsl_status st = tsl_write_file_atomic(path, big, BIG);
    unlimit_file_size();
    ck_assert_int_eq(st, TSL_ERR_IO);
    ck_assert_msg(strstr(tsl_error_message(), path) && strstr(tsl_error_message(), "File too large"),
                  "message: %s", tsl_error_message());
    assert_file_is(path, "previous version", 16);
    ck_assert_msg(!count_temporaries(dir), "a temporary was left in %s", dir);
    free(big);
    tsl_test_remove_tree(dir);
    free(dir);
}
END_TEST

/* Writes a one-record shard of a w x w grey image. */
static tsl_status write_shard(const char *path, uint32_t w, uint8_t grey) {
    uint8_t *rgb = malloc((size_t)w * w * 3);
    ck_assert_ptr_nonnull(rgb);
    uint32_t x = 2463534242u + grey; /* xorshift32 noise: incompressible, so it needs w*w*3 bytes */
    for (size_t i = 0; i < (size_t)w * w * 3; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        rgb[i] = (uint8_t)x;
    }
    void *stored;
    size_t stored_size;
    tsl_shard_compressor *c;
    TSL_TEST_OK(tsl_shard_compressor_create(TSL_SHARD_ZSTD, 1, &c));
    TSL_TEST_OK(tsl_shard_compress(c, rgb, w, w, &stored, &stored_size));
    tsl_shard_compressor_destroy(c);
    free(rgb);
    char *names[1] = {"class"};
    tsl_shard_writer *wr;
    tsl_status st = tsl_shard_writer_open(path, 0, TSL_SHARD_ZSTD, 1, names, 42, &wr);
    if (st == TSL_OK) {
        st = tsl_shard_writer_add(wr, stored, stored_size, 0, w, w);
        if (st == TSL_OK)
            st = tsl_shard_writer_finish(wr);
        else
            tsl_shard_writer_abort(wr);
    }
    free(stored);
    return st;
}

START_TEST(shard_write_error_keeps_the_previous_shard) {
    char *dir = tsl_test_temp_dir("faults_shard");
    char path[600];
    snprintf(path, sizeof path, "%s/shard-00000.tss", dir);
    TSL_TEST_OK(write_shard(path, 8, 1));
    void *before;
    size_t before_size;
    TSL_TEST_OK(tsl_read_file(path, 1 << 20, &before, &before_size));
    limit_file_size(16 << 10); /* a 128 x 128 record needs ~48 KiB */
    tsl_status st = write_shard(path, 128, 2);
    unlimit_file_size();
    ck_assert_int_eq(st, TSL_ERR_IO);
    ck_assert_msg(strstr(tsl_error_message(), path) && strstr(tsl_error_message(), "File too large"),
                  "message: %s", tsl_error_message());
    assert_file_is(path, before, before_size);
    ck_assert_msg(!count_temporaries(dir), "a temporary was left in %s", dir);
    tsl_shard_reader *r;
    TSL_TEST_OK(tsl_shard_reader_open(path, &r));
    TSL_TEST_OK(tsl_shard_reader_verify_record(r, 0));
    tsl_shard_reader_close(r);
    free(before);
    tsl_test_remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- temporaries of killed writers --------------------------------------------------------------- */

static void touch(const char *dir, const char *name) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb"); /* not an atomic write: its own temporary would collide with `own` */
    ck_assert_ptr_nonnull(f);
    fclose(f);
}

static int exists(const char *dir, const char *name) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

START_TEST(stale_temporaries_of_dead_writers_are_removed) {
    char *dir = tsl_test_temp_dir("faults_stale");
    pid_t child = fork(); /* a pid that is surely dead once reaped */
    if (child == 0)
        _exit(0);
    ck_assert_int_gt(child, 0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    char dead[64], live[64], own[64], other[64];
    snprintf(dead, sizeof dead, "report.txt.tmp.%ld", (long)child);
    snprintf(live, sizeof live, "report.txt.tmp.%ld", (long)getppid()); /* the test runner: alive */
    snprintf(own, sizeof own, "report.txt.tmp.%ld", (long)getpid());
    snprintf(other, sizeof other, "shard-00001.tss.tmp.%ld", (long)child);
    const char *names[] = {dead, live, own, other, "report.txt", "report.txt.tmp.x12"};
    for (int i = 0; i < 6; i++)
        touch(dir, names[i]);
    ck_assert_int_eq(tsl_atomic_remove_stale(dir, "report.txt"), 1);
    ck_assert(!exists(dir, dead));
    for (int i = 1; i < 6; i++)
        ck_assert_msg(exists(dir, names[i]), "%s was removed", names[i]);
    ck_assert_int_eq(tsl_atomic_remove_stale(dir, "shard-"), 1);
    ck_assert(!exists(dir, other));
    ck_assert_int_eq(tsl_atomic_remove_stale("/nonexistent/tessl", "x"), 0);
    tsl_test_remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- hostile inputs (audit regressions) ---------------------------------------------------------- */

/* int64 crop fields near INT64_MAX once overflowed `top + h` (undefined behaviour, then accepted). */
START_TEST(crop_boxes_that_overflow_are_refused) {
    static const char *const hostile[] = {
        "crop=9223372036854775807,0,1,1", "crop=0,9223372036854775807,1,1",
        "crop=0,0,9223372036854775807,1", "crop=1,1,9223372036854775807,9223372036854775807",
        "crop=4294967295,0,4294967297,1",
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        tsl_augment_manual p;
        TSL_TEST_OK(tsl_augment_manual_parse(hostile[i], &p));
        ck_assert_int_eq(tsl_augment_manual_place_crop(&p, 640, 480), TSL_ERR_INVALID_ARG);
        ck_assert_msg(strstr(tsl_error_message(), "leaves the 640x480 image"), "%s", tsl_error_message());
    }
    tsl_augment_manual p;
    TSL_TEST_OK(tsl_augment_manual_parse("crop=470,630,10,10", &p));
    TSL_TEST_OK(tsl_augment_manual_place_crop(&p, 640, 480));
    ck_assert(p.sample.crop_top + p.sample.crop_height == 1.0 &&
              p.sample.crop_left + p.sample.crop_width == 1.0);
}
END_TEST

/* A PNG header claiming 40000 x 40000 pixels (tests/fuzz/corpus/image/bomb_40000.png): the full-size path
 * (`tessl augment`'s loader), which once allocated from the header unchecked, refuses it. */
START_TEST(full_size_decode_refuses_decompression_bombs) {
    void *data;
    size_t size;
    TSL_TEST_OK(tsl_read_file(TSL_FIXTURE_DIR "/../fuzz/corpus/image/bomb_40000.png", 1 << 20, &data, &size));
    tsl_image img;
    ck_assert_int_eq(tsl_image_decode_full(data, size, &img), TSL_ERR_FORMAT);
    ck_assert_msg(strstr(tsl_error_message(), "40000x40000") && strstr(tsl_error_message(), "bomb"), "%s",
                  tsl_error_message());
    ck_assert_ptr_null(img.rgb);
    free(data);
    TSL_TEST_OK(tsl_read_file(TSL_FIXTURE_DIR "/../fuzz/corpus/image/bomb_65000.jpg", 1 << 20, &data, &size));
    ck_assert_int_eq(tsl_image_decode_full(data, size, &img), TSL_ERR_FORMAT);
    ck_assert_msg(strstr(tsl_error_message(), "65000x65000"), "%s", tsl_error_message());
    free(data);
}
END_TEST

int main(void) {
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_add_test(tc, atomic_write_error_keeps_the_previous_file);
    tcase_add_test(tc, shard_write_error_keeps_the_previous_shard);
    tcase_add_test(tc, stale_temporaries_of_dead_writers_are_removed);
    tcase_add_test(tc, crop_boxes_that_overflow_are_refused);
    tcase_add_test(tc, full_size_decode_refuses_decompression_bombs);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
