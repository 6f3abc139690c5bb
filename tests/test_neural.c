/* Neural-data readers (datasets/tsl_neural_*.h): the simple format (stimulus table + .npy), stimulus-set
 * CSVs, and BrainIO netCDF assemblies against tests/fixtures/neural (tools/make_neural_fixtures.py, which
 * also computes the expected responses with numpy). Bad inputs must be refused with a message naming the
 * file and the problem. Values are compared exactly up to the rounding of a mean of <= 6 doubles (1e-12). */
#include "tsl_file.h"
#include "tsl_neural_isolate.h"
#include "tsl_neural_load.h"
#include "tsl_neural_netcdf.h"
#include "tsl_neural_simple.h"
#include "tsl_neural_stimuli.h"
#include "tsl_npy.h"
#include "tsl_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TSL_FIXTURE_DIR
#error "TSL_FIXTURE_DIR must name tests/fixtures"
#endif
#define NEURAL_DIR TSL_FIXTURE_DIR "/neural/"

static const uint64_t MAX_VALUES = 1 << 24;

static void expect_error(tsl_status st, tsl_status code, const char *source, const char *fragment) {
    ck_assert_msg(st == code, "expected %s for %s ('%s'), got %s: %s", tsl_status_name(code), source,
                  fragment, tsl_status_name(st), tsl_error_message());
    ck_assert_msg(strstr(tsl_error_message(), source) && strstr(tsl_error_message(), fragment),
                  "message '%s' lacks '%s' or '%s'", tsl_error_message(), source, fragment);
}

/* A .npy image of doubles ('<f8') or floats with the given shape (v1.0 header). */
static size_t npy_image(char *buf, bool f8, int ndim, const int64_t *shape, const double *values) {
    char dict[128];
    int n =
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", f8 ? "<f8" : "<f4");
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        n += snprintf(dict + n, sizeof dict - n, "%lld,", (long long)shape[i]);
        count *= (size_t)shape[i];
    }
    n += snprintf(dict + n, sizeof dict - n, "), }\n");
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)n, buf[9] = 0;
    memcpy(buf + 10, dict, (size_t)n);
    size_t at = 10 + (size_t)n;
    for (size_t i = 0; i < count; i++) {
        if (f8) {
            memcpy(buf + at, &values[i], 8), at += 8;
        } else {
            float v = (float)values[i];
            memcpy(buf + at, &v, 4), at += 4;
        }
    }
    return at;
}

static void parse_table(const char *text, tsl_neural_table *t) {
    TSL_TEST_OK(tsl_neural_table_parse("list.csv", text, strlen(text), t));
}

START_TEST(stimulus_tables_csv_and_text) {
    tsl_neural_table t;
    parse_table("stimulus_id,object_name,filename,extra\n"
                "a,car,a.png,1\n"
                "\"b,2\",\"the \"\"bear\"\"\",b.jpg,\r\n"
                "c,car,sub/c.png,3\n",
                &t);
    ck_assert_uint_eq(t.n, 3);
    ck_assert_str_eq(t.ids[1], "b,2");
    ck_assert_str_eq(t.labels[1], "the \"bear\"");
    ck_assert_str_eq(t.filenames[2], "sub/c.png");
    tsl_neural_table_free(&t);
    parse_table("image_id,image_file_name\nx,x.png", &t); /* old BrainIO names, no final newline */
    ck_assert(t.n == 1 && !t.labels && strcmp(t.filenames[0], "x.png") == 0);
    tsl_neural_table_free(&t);
    parse_table("s1\r\ns2\ns3\n", &t); /* a text list */
    ck_assert(t.n == 3 && !t.labels && !t.filenames && strcmp(t.ids[2], "s3") == 0 &&
              strcmp(t.ids[0], "s1") == 0);
    tsl_neural_table_free(&t);

    const struct {
        const char *text, *fragment;
    } bad[] = {
        {"stimulus_id,x\na,1\na,2\n", "not unique"},
        {"stimulus_id,x\na,1\nb\n", "line 3 has 1 fields"},
        {"stimulus_id\n\"a\n", "unterminated"},
        {"stimulus_id\na\"b\n", "quote"},
        {"s1\n\ns2\n", "line 2"},
        {"", "no stimuli"},
        {"stimulus_id\n", "no stimuli"},
        {"id,name\na,b\n", "without a stimulus_id"},
        {"stimulus_id,x\n,1\n", "empty stimulus id"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tsl_status st = tsl_neural_table_parse("list.csv", bad[i].text, strlen(bad[i].text), &t);
        expect_error(st, TSL_ERR_FORMAT, "list.csv", bad[i].fragment);
    }
}
END_TEST

START_TEST(simple_format_averages_and_trials) {
    tsl_neural_table t;
    parse_table("stimulus_id,object_name\na,car\nb,bear\nc,car\n", &t);
    static char buf[4096];
    double avg[6] = {1, 2, 3, 4, 5, 6};
    size_t n = npy_image(buf, true, 2, (int64_t[]){3, 2}, avg);
    tsl_neural_data d;
    TSL_TEST_OK(tsl_neural_simple_parse(&t, "r.npy", buf, n, &d));
    ck_assert(d.n_stimuli == 3 && d.n_neuroids == 2 && d.n_trials == 0 && !d.trials);
    ck_assert(d.responses[5] == 6 && d.n_labels == 2 && d.labels[0] == 0 && d.labels[1] == 1 &&
              d.labels[2] == 0);
    ck_assert_str_eq(d.label_names[1], "bear");
    tsl_neural_data_free(&d);

    /* 3 stimuli x 2 trials x 2 neuroids, float32, one trial not recorded (NaN) */
    double tr[12] = {1, 2, 3, 4, 5, 6, NAN, NAN, 9, 10, 11, 12};
    n = npy_image(buf, false, 3, (int64_t[]){3, 2, 2}, tr);
    TSL_TEST_OK(tsl_neural_simple_parse(&t, "r.npy", buf, n, &d));
    ck_assert(d.n_trials == 2 && d.trials && isnan(d.trials[6]));
    ck_assert(d.responses[0] == 2 && d.responses[1] == 3 && d.responses[2] == 5 && d.responses[3] == 6);
    ck_assert(d.responses[4] == 10 && d.responses[5] == 11);
    tsl_neural_data_free(&d);

    n = npy_image(buf, true, 2, (int64_t[]){2, 2}, avg);
    expect_error(tsl_neural_simple_parse(&t, "r.npy", buf, n, &d), TSL_ERR_FORMAT, "r.npy",
                 "2 rows of responses for 3");
    double inf[6] = {1, 2, INFINITY, 4, 5, 6};
    n = npy_image(buf, true, 2, (int64_t[]){3, 2}, inf);
    expect_error(tsl_neural_simple_parse(&t, "r.npy", buf, n, &d), TSL_ERR_FORMAT, "r.npy", "not finite");
    double missing[12] = {1, 2, 3, 4, NAN, 6, NAN, 8, 9, 10, 11, 12};
    n = npy_image(buf, true, 3, (int64_t[]){3, 2, 2}, missing);
    expect_error(tsl_neural_simple_parse(&t, "r.npy", buf, n, &d), TSL_ERR_FORMAT, "r.npy",
                 "no recorded trial");
    n = npy_image(buf, true, 1, (int64_t[]){3}, avg);
    expect_error(tsl_neural_simple_parse(&t, "r.npy", buf, n, &d), TSL_ERR_FORMAT, "r.npy", "1 dimensions");
    expect_error(tsl_neural_simple_parse(&t, "r.npy", buf, n - 1, &d), TSL_ERR_FORMAT, "r.npy", "bytes");
    tsl_neural_table_free(&t);
}
END_TEST

static void expect_close(const double *got, const double *want, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) {
        bool same =
            (isnan(got[i]) && isnan(want[i])) || fabs(got[i] - want[i]) <= 1e-12 * (1 + fabs(want[i]));
        ck_assert_msg(same, "%s[%zu]: got %.17g, want %.17g", what, i, got[i], want[i]);
    }
}

static void load_expected(const char *name, tsl_npy_f64 *a) {
    TSL_TEST_OK(tsl_npy_read_f64(name, 1 << 20, a));
}

START_TEST(brainio_netcdf4_selects_region_and_averages) {
    tsl_neural_data d;
    TSL_TEST_OK(tsl_neural_netcdf_read(NEURAL_DIR "assembly.nc", "IT", MAX_VALUES, &d));
    tsl_npy_f64 resp, trials;
    load_expected(NEURAL_DIR "expected_it.npy", &resp);
    load_expected(NEURAL_DIR "expected_trials.npy", &trials);
    ck_assert(d.n_stimuli == 12 && d.n_neuroids == 3 && d.n_trials == 3);
    ck_assert(resp.shape[0] == 12 && resp.shape[1] == 3 && trials.count == 12 * 3 * 3);
    expect_close(d.responses, resp.data, 36, "responses");
    expect_close(d.trials, trials.data, 108, "trials");
    ck_assert_uint_eq(d.n_labels, 3);
    for (size_t i = 0; i < d.n_stimuli; i++) { /* object = stimulus number mod 3; ids "imgNN_..." */
        int s = atoi(d.stimulus_ids[i] + 3);
        const char *objects[] = {"bear", "car", "chair"};
        ck_assert_str_eq(d.label_names[d.labels[i]], objects[s % 3]);
    }
    tsl_neural_data_free(&d);
    TSL_TEST_OK(tsl_neural_netcdf_read(NEURAL_DIR "assembly.nc", "V4", MAX_VALUES, &d));
    ck_assert_uint_eq(d.n_neuroids, 2);
    tsl_neural_data_free(&d);
    tsl_npy_free_f64(&resp);
    tsl_npy_free_f64(&trials);
}
END_TEST

START_TEST(brainio_classic_char_strings_from_memory) {
    void *bytes;
    size_t size;
    TSL_TEST_OK(tsl_read_file(NEURAL_DIR "assembly_classic.nc", 1 << 20, &bytes, &size));
    tsl_neural_data d;
    TSL_TEST_OK(tsl_neural_netcdf_parse("classic.nc", bytes, size, "all", MAX_VALUES, &d));
    tsl_npy_f64 resp;
    load_expected(NEURAL_DIR "expected_classic.npy", &resp);
    ck_assert(d.n_stimuli == 12 && d.n_neuroids == 5 && d.n_trials == 3 && d.n_labels == 3);
    expect_close(d.responses, resp.data, 60, "responses");
    tsl_neural_data_free(&d);
    tsl_npy_free_f64(&resp);
    expect_error(tsl_neural_netcdf_parse("classic.nc", bytes, size, "IT", 100, &d), TSL_ERR_FORMAT,
                 "classic.nc", "more than 100 values");
    expect_error(tsl_neural_netcdf_parse("classic.nc", bytes, size, "MT", MAX_VALUES, &d), TSL_ERR_FORMAT,
                 "classic.nc", "no neuroid has region 'MT'");
    /* A classic header asking for 2^31 - 1 variables in 32 bytes: refused before libnetcdf allocates. */
    static const uint8_t greedy[32] = {'C', 'D', 'F', 1, 0, 0, 0, 0, 0, 0, 0, 0,  0,    0,    0,    0,
                                       0,   0,   0,   0, 0, 0, 0, 0, 0, 0, 0, 11, 0x7f, 0xff, 0xff, 0xff};
    expect_error(tsl_neural_netcdf_parse("greedy.nc", greedy, sizeof greedy, "IT", MAX_VALUES, &d),
                 TSL_ERR_FORMAT, "greedy.nc", "malformed or truncated netCDF header");
    free(bytes);
}
END_TEST

START_TEST(brainio_bad_files_are_refused) {
    const struct {
        const char *file, *fragment;
    } bad[] = {
        {"bad_no_stimulus_id.nc", "no stimulus_id"},
        {"bad_no_region.nc", "no 'region' coordinate"},
        {"bad_extra_dim.nc", "unexpected data dimension 'channel'"},
        {"bad_duplicate_trial.nc", "twice"},
        {"bad_truncated.nc", "truncated"},
        {"bad_truncated_nc4.nc", "netCDF"},
        {"expected_it.npy", "netCDF"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char path[512];
        snprintf(path, sizeof path, NEURAL_DIR "%s", bad[i].file);
        tsl_neural_data d;
        expect_error(tsl_neural_netcdf_read(path, "IT", MAX_VALUES, &d), TSL_ERR_FORMAT, path,
                     bad[i].fragment);
    }
    tsl_neural_data d;
    tsl_status st = tsl_neural_netcdf_read(NEURAL_DIR "missing.nc", "IT", MAX_VALUES, &d);
    ck_assert_msg(st != TSL_OK && strstr(tsl_error_message(), "missing.nc"), "%s", tsl_error_message());
}
END_TEST

START_TEST(grouping_by_repetition) {
    /* stimulus b lacks repetition 7; repetitions are aligned by value, not by order of appearance */
    const char *ids[] = {"a", "b", "a", "b", "a"};
    int64_t reps[] = {7, 9, 9, 8, 8};
    double v[] = {1, 2, 3, 4, 5};
    tsl_neural_presentations p = {5, 1, ids, reps, NULL, v};
    tsl_neural_data d;
    TSL_TEST_OK(tsl_neural_group("g", &p, &d));
    ck_assert(d.n_stimuli == 2 && d.n_trials == 3 && !d.labels);
    ck_assert(d.trials[0] == 1 && d.trials[1] == 5 && d.trials[2] == 3);
    ck_assert(isnan(d.trials[3]) && d.trials[4] == 4 && d.trials[5] == 2);
    ck_assert(d.responses[0] == 3 && d.responses[1] == 3);
    tsl_neural_data_free(&d);
    const char *labels[] = {"x", "y", "z", "y", "x"};
    p.labels = labels;
    expect_error(tsl_neural_group("g", &p, &d), TSL_ERR_FORMAT, "g", "two object labels");
    p.labels = NULL;
    int64_t sparse[] = {1, 2, 3, 4, 5};
    const char *all_different[] = {"a", "b", "c", "d", "e"};
    p.ids = all_different, p.reps = sparse;
    expect_error(tsl_neural_group("g", &p, &d), TSL_ERR_FORMAT, "g", "too sparse");
}
END_TEST

START_TEST(field_of_view_canvas_and_crop) {
    /* A 4x4 stimulus shown at 4 degrees to a model seeing 8: centred on an 8x8 gray canvas (offset 2). At
     * the canvas size the resize is the identity, so the pixels are exact. */
    uint8_t img[4 * 4 * 3], out[8 * 8 * 3];
    for (int i = 0; i < 48; i++)
        img[i] = (uint8_t)(i * 5);
    tsl_neural_view v = {8, 4, 8};
    TSL_TEST_OK(tsl_neural_place(img, 4, 4, &v, out));
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            for (int c = 0; c < 3; c++) {
                bool inside = x >= 2 && x < 6 && y >= 2 && y < 6;
                int want = inside ? img[((y - 2) * 4 + (x - 2)) * 3 + c] : 128;
                ck_assert_msg(out[(y * 8 + x) * 3 + c] == want, "canvas (%d, %d, %d): %d, want %d", x, y, c,
                              out[(y * 8 + x) * 3 + c], want);
            }
    /* The other way: an 8x8 stimulus at 16 degrees, model 8: the centre 4x4 (offset 2). */
    uint8_t crop[4 * 4 * 3];
    tsl_neural_view w = {4, 16, 8};
    TSL_TEST_OK(tsl_neural_place(out, 8, 8, &w, crop));
    ck_assert(memcmp(crop, img, sizeof img) == 0);
    /* Odd margins round half to even, as numpy: a 3-pixel image on a 6-pixel canvas sits at 1.5 -> 2. */
    uint8_t three[3 * 3 * 3], six[6 * 6 * 3];
    memset(three, 7, sizeof three);
    tsl_neural_view u = {6, 4, 8};
    TSL_TEST_OK(tsl_neural_place(three, 3, 3, &u, six));
    ck_assert(six[(1 * 6 + 1) * 3] == 128 && six[(2 * 6 + 2) * 3] == 7 && six[(4 * 6 + 4) * 3] == 7 &&
              six[(5 * 6 + 5) * 3] == 128);
    float chw[3 * 8 * 8];
    tsl_neural_normalize(out, 8, chw);
    ck_assert_float_eq_tol(chw[0], (128 / 255.0f - 0.485f) / 0.229f, 1e-6f);
    ck_assert_float_eq_tol(chw[2 * 64], (128 / 255.0f - 0.406f) / 0.225f, 1e-6f);
}
END_TEST

static tsl_status crashing_reader(const char *path, const char *region, uint64_t max_values,
                                  tsl_neural_data *out) {
    (void)path, (void)region, (void)max_values, (void)out;
    abort(); /* what libhdf5 does on some corrupt files */
}

START_TEST(isolated_reading_survives_a_crashing_library) {
    tsl_neural_data direct, isolated;
    TSL_TEST_OK(tsl_neural_netcdf_read(NEURAL_DIR "assembly.nc", "IT", MAX_VALUES, &direct));
    TSL_TEST_OK(tsl_neural_load(NEURAL_DIR "assembly.nc", NULL, "IT", MAX_VALUES, &isolated)); /* a child */
    ck_assert(isolated.n_stimuli == direct.n_stimuli && isolated.n_neuroids == direct.n_neuroids &&
              isolated.n_trials == direct.n_trials && isolated.n_labels == direct.n_labels);
    for (size_t i = 0; i < direct.n_stimuli; i++) {
        ck_assert_str_eq(isolated.stimulus_ids[i], direct.stimulus_ids[i]);
        ck_assert_str_eq(isolated.label_names[isolated.labels[i]], direct.label_names[direct.labels[i]]);
    }
    ck_assert(memcmp(isolated.responses, direct.responses, direct.n_stimuli * direct.n_neuroids * 8) == 0);
    size_t nt = direct.n_stimuli * direct.n_trials * direct.n_neuroids;
    for (size_t i = 0; i < nt; i++)
        ck_assert(isnan(direct.trials[i]) ? isnan(isolated.trials[i])
                                          : direct.trials[i] == isolated.trials[i]);
    tsl_neural_data_free(&direct);
    tsl_neural_data_free(&isolated);
    expect_error(tsl_neural_load(NEURAL_DIR "bad_no_stimulus_id.nc", NULL, "IT", MAX_VALUES, &isolated),
                 TSL_ERR_FORMAT, "bad_no_stimulus_id.nc", "no stimulus_id"); /* the child's message */
    expect_error(tsl_neural_read_isolated("x.nc", "IT", MAX_VALUES, crashing_reader, &isolated),
                 TSL_ERR_FORMAT, "x.nc", "crashed");
}
END_TEST

int main(void) {
    Suite *s = suite_create("neural");
    TCase *tc = tcase_create("neural");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stimulus_tables_csv_and_text);
    tcase_add_test(tc, simple_format_averages_and_trials);
    tcase_add_test(tc, brainio_netcdf4_selects_region_and_averages);
    tcase_add_test(tc, brainio_classic_char_strings_from_memory);
    tcase_add_test(tc, brainio_bad_files_are_refused);
    tcase_add_test(tc, grouping_by_repetition);
    tcase_add_test(tc, field_of_view_canvas_and_crop);
    tcase_add_test(tc, isolated_reading_survives_a_crashing_library);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
