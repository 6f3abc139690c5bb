/* core/: error values with context, command-line parsing, atomic files. */
#include "tsl_args.h"
#include "tsl_file.h"
#include "tsl_half.h"
#include "tsl_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(error_context_chains_outward) {
    tsl_error_clear();
    tsl_status st = tsl_error(TSL_ERR_IO, "reading %s: %s", "a.bin", "unexpected end of file");
    st = tsl_error_context(st, "loading checkpoint %s", "run/ck");
    ck_assert_int_eq(st, TSL_ERR_IO);
    ck_assert_str_eq(tsl_error_message(), "loading checkpoint run/ck: reading a.bin: unexpected end of file");
    ck_assert_str_eq(tsl_status_name(TSL_ERR_CORRUPT), "corrupt data");
}
END_TEST

typedef struct {
    int64_t count;
    double rate;
    const char *out;
    bool verbose;
    tsl_opt opts[4];
    tsl_command_spec spec;
} parse_fixture;

static void parse_fixture_init(parse_fixture *f) {
    f->count = 3;
    f->rate = 0.5;
    f->out = NULL;
    f->verbose = false;
    f->opts[0] = (tsl_opt){"--count", TSL_OPT_INT, &f->count, "N", "how many", 1, 100};
    f->opts[1] = (tsl_opt){"--rate", TSL_OPT_DOUBLE, &f->rate, "R", "how fast", 0, 0};
    f->opts[2] = (tsl_opt){"--out", TSL_OPT_STRING, &f->out, "PATH", "where", 0, 0};
    f->opts[3] = (tsl_opt){"--verbose", TSL_OPT_FLAG, &f->verbose, NULL, "talk", 0, 0};
    f->spec = (tsl_command_spec){.name = "tessl thing",
                                 .args = "SRC",
                                 .summary = "does a thing",
                                 .opts = f->opts,
                                 .n_opts = 4,
                                 .min_positional = 1,
                                 .max_positional = 1};
}

static tsl_status parse(parse_fixture *f, int argc, const char **argv, tsl_args_result *r) {
    return tsl_args_parse(&f->spec, argc, (char **)argv, r);
}

START_TEST(args_parse_all_forms) {
    parse_fixture f;
    parse_fixture_init(&f);
    const char *argv[] = {"thing", "--count", "7", "src", "--rate=2.5", "--out", "o.bin", "--verbose"};
    tsl_args_result r;
    TSL_TEST_OK(parse(&f, 8, argv, &r));
    ck_assert_int_eq(f.count, 7);
    ck_assert_double_eq(f.rate, 2.5);
    ck_assert_str_eq(f.out, "o.bin");
    ck_assert(f.verbose);
    ck_assert_int_eq(r.n_positional, 1);
    ck_assert_str_eq(r.positional[0], "src");
}
END_TEST

static void expect_usage_error(const char **argv, int argc, const char *fragment) {
    parse_fixture f;
    parse_fixture_init(&f);
    tsl_args_result r;
    tsl_status st = parse(&f, argc, argv, &r);
    ck_assert_int_eq(st, TSL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(tsl_error_message(), fragment), "message '%s' lacks '%s'", tsl_error_message(),
                  fragment);
    ck_assert_msg(strstr(tsl_error_message(), "tessl thing"), "message '%s' does not name the command",
                  tsl_error_message());
}

START_TEST(args_reject_bad_input) {
    expect_usage_error((const char *[]){"thing", "--bogus", "src"}, 3, "unknown option '--bogus'");
    expect_usage_error((const char *[]){"thing", "--count", "7x", "src"}, 4, "expects an integer, got '7x'");
    expect_usage_error((const char *[]){"thing", "--count", "0", "src"}, 4, "between 1 and 100");
    expect_usage_error((const char *[]){"thing", "--rate", "nan", "src"}, 4, "finite number");
    expect_usage_error((const char *[]){"thing", "src", "--count"}, 3, "needs a value");
    expect_usage_error((const char *[]){"thing", "--verbose=1", "src"}, 3, "takes no value");
    expect_usage_error((const char *[]){"thing"}, 1, "expected SRC, got 0 arguments");
    expect_usage_error((const char *[]){"thing", "a", "b"}, 3, "got 2 arguments");
}
END_TEST

START_TEST(args_help_and_double_dash) {
    parse_fixture f;
    parse_fixture_init(&f);
    tsl_args_result r;
    const char *argv[] = {"thing", "--", "-odd-name"};
    TSL_TEST_OK(parse(&f, 3, argv, &r));
    ck_assert_str_eq(r.positional[0], "-odd-name");
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    tsl_status st = parse(&f, 2, (const char *[]){"thing", "--help"}, &r);
    fclose(stdout);
    stdout = saved;
    TSL_TEST_OK(st);
    ck_assert(r.help_shown);
}
END_TEST

static char temp_dir[256];

static void make_temp_dir(void) {
    snprintf(temp_dir, sizeof temp_dir, "/tmp/tessl-test-core-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(temp_dir));
}

START_TEST(atomic_write_replaces_whole_file) {
    make_temp_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/out.bin", temp_dir);
    TSL_TEST_OK(tsl_write_file_atomic(path, "first", 5));
    TSL_TEST_OK(tsl_write_file_atomic(path, "second!", 7));
    void *data;
    size_t size;
    TSL_TEST_OK(tsl_read_file(path, 1024, &data, &size));
    ck_assert_uint_eq(size, 7);
    ck_assert_mem_eq(data, "second!", 7);
    free(data);
    /* An aborted write leaves the old file intact and no temporary behind. */
    tsl_atomic_file af;
    TSL_TEST_OK(tsl_atomic_open(&af, path));
    TSL_TEST_OK(tsl_atomic_write(&af, "partial", 7));
    char temp_path[600];
    snprintf(temp_path, sizeof temp_path, "%s", af.temp_path);
    tsl_atomic_abort(&af);
    ck_assert_int_ne(access(temp_path, F_OK), 0);
    TSL_TEST_OK(tsl_read_file(path, 1024, &data, &size));
    ck_assert_mem_eq(data, "second!", 7);
    free(data);
    unlink(path);
    rmdir(temp_dir);
}
END_TEST

START_TEST(file_errors_name_the_file) {
    void *data;
    size_t size;
    tsl_status st = tsl_read_file("/nonexistent/tessl/file.bin", 10, &data, &size);
    ck_assert_int_eq(st, TSL_ERR_NOT_FOUND);
    ck_assert(strstr(tsl_error_message(), "/nonexistent/tessl/file.bin"));
    st = tsl_write_file_atomic("/nonexistent/tessl/out.bin", "x", 1);
    ck_assert_int_eq(st, TSL_ERR_IO);
    ck_assert(strstr(tsl_error_message(), "/nonexistent/tessl/out.bin"));
    make_temp_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/big.bin", temp_dir);
    TSL_TEST_OK(tsl_write_file_atomic(path, "0123456789", 10));
    st = tsl_read_file(path, 9, &data, &size);
    ck_assert_int_eq(st, TSL_ERR_FORMAT);
    ck_assert(strstr(tsl_error_message(), "larger than the 9 allowed"));
    unlink(path);
    snprintf(path, sizeof path, "%s/a/b/c", temp_dir);
    TSL_TEST_OK(tsl_mkdirs(path));
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert(S_ISDIR(sb.st_mode));
}
END_TEST

/* Every half survives half -> float -> half; floats round to the nearest half, ties to even, with the
 * edges (largest half, overflow, subnormals, zero signs, NaN) exact. */
START_TEST(half_conversion_rounds_to_nearest_even) {
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = tsl_half_to_float((uint16_t)h);
        bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        /* (if + ck_abort_msg: a passing ck_assert costs a write to Check's pipe, too slow in loops) */
        if (nan ? f == f : tsl_half_from_float(f) != h)
            ck_abort_msg("half %#x -> %g -> %#x", h, (double)f, tsl_half_from_float(f));
    }
    uint64_t seed = tsl_test_seed("half_conversion");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    for (int i = 0; i < 200000; i++) {
        uint32_t bits = (uint32_t)tsl_test_rng_u64(&rng) & 0x47ffffffu; /* |f| < 131072, positive */
        float f;
        memcpy(&f, &bits, sizeof f);
        uint16_t h = tsl_half_from_float(f);
        if (f >= 65520.0f) {
            if (h != 0x7c00)
                ck_abort_msg("%a -> %#x, not inf", (double)f, h);
            continue;
        }
        double d = fabs((double)f - tsl_half_to_float(h));
        for (int step = -1; step <= 1; step += 2) {
            int n = (int)h + step;
            if (n < 0 || n > 0x7bff)
                continue;
            double dn = fabs((double)f - tsl_half_to_float((uint16_t)n));
            if (!(d < dn || (d == dn && (h & 1) == 0)))
                ck_abort_msg("seed %llu: %a -> %#x, but %#x is nearer or even", (unsigned long long)seed,
                             (double)f, h, n);
        }
    }
    ck_assert_uint_eq(tsl_half_from_float(65504.0f), 0x7bff);
    ck_assert_uint_eq(tsl_half_from_float(65519.996f), 0x7bff);
    ck_assert_uint_eq(tsl_half_from_float(65520.0f), 0x7c00);
    ck_assert_uint_eq(tsl_half_from_float(-INFINITY), 0xfc00);
    ck_assert_uint_eq(tsl_half_from_float(0x1p-25f), 0); /* tie between 0 and 2^-24: even */
    ck_assert_uint_eq(tsl_half_from_float(0x1.0002p-25f), 1);
    ck_assert_uint_eq(tsl_half_from_float(0x1.8p-24f), 2);       /* 1.5 units: tie to even 2 */
    ck_assert_uint_eq(tsl_half_from_float(0x1.ff8p-15f), 0x3ff); /* largest subnormal */
    ck_assert_uint_eq(tsl_half_from_float(0x1.ffcp-15f), 0x400); /* tie: even, up into the normals */
    ck_assert_uint_eq(tsl_half_from_float(-0.0f), 0x8000);
    ck_assert_uint_eq(tsl_half_from_float(1.0f + 0x1p-11f), 0x3c00); /* tie: even mantissa 0 */
    ck_assert_uint_eq(tsl_half_from_float(1.0f + 0x3p-11f), 0x3c02); /* tie: even mantissa 2 */
    ck_assert_uint_eq(tsl_half_from_float(NAN) & 0x7e00, 0x7e00);
}
END_TEST

int main(void) {
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, error_context_chains_outward);
    tcase_add_test(tc, args_parse_all_forms);
    tcase_add_test(tc, args_reject_bad_input);
    tcase_add_test(tc, args_help_and_double_dash);
    tcase_add_test(tc, atomic_write_replaces_whole_file);
    tcase_add_test(tc, file_errors_name_the_file);
    tcase_add_test(tc, half_conversion_rounds_to_nearest_even);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
