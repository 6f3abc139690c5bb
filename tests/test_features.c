/* .npy reading and writing (core/tsl_npy.h) and evaluation-mode features (trainer/model/tsl_features.h)
 * against torchvision: narrow ResNet-18 and ResNet-50 trunks with random weights and BatchNorm running
 * statistics (tests/fixtures/features_*, written by tools/make_features_fixture.py).
 *
 * Tolerance: fp32 sums of K <= 4608 products per layer, relative rounding ~6e-8 * sqrt(K) ~ 4e-6 per
 * layer at worst, compounding over ~20 layers only where errors align; in evaluation mode BatchNorm is a
 * fixed affine map (no batch statistics to amplify them). Every element within 1e-5 * (|want| +
 * max|want|); measured at most 8e-7 of the magnitude (printed per tensor). */
#include "tsl_features.h"
#include "tsl_npy.h"
#include "tsl_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TSL_FIXTURE_DIR
#error "TSL_FIXTURE_DIR must name tests/fixtures"
#endif

static tsl_status parse(const char *bytes, size_t size, tsl_npy_f32 *out) {
    return tsl_npy_parse_f32("test.npy", bytes, size, out);
}

/* A v1.0 file image with the given header dictionary and `data_bytes` zero bytes of data. */
static size_t make_npy(char *buf, const char *dict, size_t data_bytes) {
    size_t len = strlen(dict);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((len + 1) & 0xff);
    buf[9] = (char)((len + 1) >> 8);
    memcpy(buf + 10, dict, len);
    buf[10 + len] = '\n';
    memset(buf + 11 + len, 0, data_bytes);
    return 11 + len + data_bytes;
}

START_TEST(npy_round_trip_and_strict_header) {
    char *dir = tsl_test_temp_dir("npy");
    char path[512];
    snprintf(path, sizeof path, "%s/a.npy", dir);
    float data[6] = {1, -2, 3.5f, 0, 1e-30f, 7};
    int64_t shape[2] = {2, 3};
    TSL_TEST_OK(tsl_npy_write_f32(path, data, 2, shape));
    tsl_npy_f32 a;
    TSL_TEST_OK(tsl_npy_read_f32(path, 1 << 20, &a));
    ck_assert_int_eq(a.ndim, 2);
    ck_assert(a.shape[0] == 2 && a.shape[1] == 3 && a.count == 6);
    ck_assert(memcmp(a.data, data, sizeof data) == 0);
    tsl_npy_free(&a);
    int64_t one[1] = {6};
    TSL_TEST_OK(tsl_npy_write_f32(path, data, 1, one));
    TSL_TEST_OK(tsl_npy_read_f32(path, 1 << 20, &a));
    ck_assert(a.ndim == 1 && a.shape[0] == 6);
    tsl_npy_free(&a);

    char buf[512];
    size_t n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 16);
    TSL_TEST_OK(parse(buf, n, &a));
    tsl_npy_free(&a);
    const struct {
        const char *dict;
        size_t data;
        const char *message;
    } bad[] = {
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16, "'<f8'"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, "'>f4'"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8, "Fortran"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 12, "data is 12 bytes"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 12, "data is 12 bytes"},
        {"{'descr': '<f4', 'descr': '<f4', 'shape': (2,), }", 8, "repeated key 'descr'"},
        {"{'descr': '<f4', 'fortran_order': False, }", 0, "needs descr"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 0, "malformed shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", 8, "trailing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        n = make_npy(buf, bad[i].dict, bad[i].data);
        ck_assert_int_eq(parse(buf, n, &a), TSL_ERR_FORMAT);
        ck_assert_msg(strstr(tsl_error_message(), bad[i].message), "case %zu: %s", i, tsl_error_message());
    }
    n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4);
    buf[0] = 'x';
    ck_assert_int_eq(parse(buf, n, &a), TSL_ERR_FORMAT);
    buf[0] = '\x93';
    buf[6] = 4;
    ck_assert_int_eq(parse(buf, n, &a), TSL_ERR_FORMAT);
    buf[6] = 1;
    buf[8] = (char)200; /* header longer than the file */
    ck_assert_int_eq(parse(buf, n, &a), TSL_ERR_FORMAT);
    ck_assert_int_eq(parse(buf, 9, &a), TSL_ERR_FORMAT);
    tsl_test_remove_tree(dir);
    free(dir);
}
END_TEST

static void compare(const char *what, const float *got, const float *want, uint64_t n, double rel) {
    double scale = 0, worst = 0;
    for (uint64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    for (uint64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        ck_assert_msg(err <= rel * (fabs(want[i]) + scale), "%s[%llu]: got %.9g want %.9g (max|want| %g)",
                      what, (unsigned long long)i, got[i], want[i], scale);
        worst = fmax(worst, err);
    }
    printf("  %-24s n %6llu  max|want| %.3e  max err %.3e (%.2e of max)\n", what, (unsigned long long)n,
           scale, worst, worst / scale);
}

static void check_net(const char *weights, const char *prefix, const char *const *layers, int n_layers,
                      uint32_t chunk) {
    tsl_vk_device *dev = tsl_test_device_open();
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TSL_FIXTURE_DIR, weights);
    tsl_safetensors st;
    TSL_TEST_OK(tsl_safetensors_read(path, 64u << 20, &st));
    tsl_npy_f32 x;
    TSL_TEST_OK(tsl_npy_read_f32(TSL_FIXTURE_DIR "/features_input.npy", 64u << 20, &x));
    ck_assert(x.ndim == 4 && x.shape[1] == 3);
    for (int l = 0; l < n_layers; l++) {
        tsl_features f;
        TSL_TEST_OK(tsl_features_extract(dev, &st, x.data, (uint32_t)x.shape[0], (int)x.shape[2],
                                         (int)x.shape[3], layers[l], chunk, &f));
        tsl_npy_f32 want;
        snprintf(path, sizeof path, "%s/features_%s_%s.npy", TSL_FIXTURE_DIR, prefix, layers[l]);
        TSL_TEST_OK(tsl_npy_read_f32(path, 64u << 20, &want));
        ck_assert_int_eq(f.ndim, want.ndim);
        for (int d = 0; d < f.ndim; d++)
            ck_assert_msg(f.shape[d] == want.shape[d], "%s dim %d: %lld, torchvision %lld", layers[l], d,
                          (long long)f.shape[d], (long long)want.shape[d]);
        snprintf(path, sizeof path, "%s %s", prefix, layers[l]);
        compare(path, f.data, want.data, f.count, 1e-5);
        tsl_npy_free(&want);
        tsl_features_free(&f);
    }
    tsl_npy_free(&x);
    tsl_safetensors_free(&st);
    tsl_test_device_close(dev);
}

/* 5 images in chunks of 2 (2 + 2 + 1): chunking and a last partial chunk. */
START_TEST(resnet18_features_match_torchvision) {
    const char *layers[] = {"conv1", "layer1", "layer3", "avgpool"};
    check_net("features_resnet18w8.safetensors", "r18", layers, 4, 2);
}
END_TEST

START_TEST(resnet50_features_match_torchvision) {
    const char *layers[] = {"avgpool"};
    check_net("features_resnet50w4.safetensors", "r50", layers, 1, 64);
}
END_TEST

START_TEST(bad_layer_or_missing_weights_are_errors) {
    tsl_vk_device *dev = tsl_test_device_open();
    tsl_safetensors st;
    TSL_TEST_OK(tsl_safetensors_read(TSL_FIXTURE_DIR "/features_resnet18w8.safetensors", 64u << 20, &st));
    float x[2 * 3 * 16 * 16] = {0};
    tsl_features f;
    ck_assert_int_eq(tsl_features_extract(dev, &st, x, 2, 16, 16, "layer5", 4, &f), TSL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(tsl_error_message(), "layer5"), "%s", tsl_error_message());
    tsl_safetensors_free(&st);

    char *dir = tsl_test_temp_dir("features");
    char path[512];
    snprintf(path, sizeof path, "%s/partial.safetensors", dir);
    static float conv1[8 * 3 * 7 * 7];
    tsl_tensor_view only = {"conv1.weight", TSL_DTYPE_F32, 4, {8, 3, 7, 7}, conv1};
    TSL_TEST_OK(tsl_safetensors_write(path, &only, 1, NULL, NULL, 0));
    TSL_TEST_OK(tsl_safetensors_read(path, 1 << 20, &st));
    ck_assert_int_eq(tsl_features_extract(dev, &st, x, 2, 16, 16, "avgpool", 4, &f), TSL_ERR_FORMAT);
    ck_assert_msg(strstr(tsl_error_message(), "no tensor bn1.weight"), "%s", tsl_error_message());
    tsl_safetensors_free(&st);
    tsl_test_remove_tree(dir);
    free(dir);
    tsl_test_device_close(dev);
}
END_TEST

int main(void) {
    Suite *s = suite_create("features");
    TCase *tc = tcase_create("features");
    tcase_set_timeout(tc, 240); /* a case that compiles the 32 x 16 GEMM pipelines: ~45 s each under ASan */
    tcase_add_test(tc, npy_round_trip_and_strict_header);
    tcase_add_test(tc, resnet18_features_match_torchvision);
    tcase_add_test(tc, resnet50_features_match_torchvision);
    tcase_add_test(tc, bad_layer_or_missing_weights_are_errors);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
