#include "tsl_test.h"

#include <ftw.h>
#include <unistd.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

tsl_vk_device *tsl_test_device_open(void) {
    tsl_vk_options options;
    tsl_vk_options_default(&options);
    options.validation = true;
    tsl_vk_device *device = NULL;
    tsl_status st = tsl_vk_device_open(&options, &device);
    ck_assert_msg(st == TSL_OK, "opening the test device: %s", tsl_error_message());
    return device;
}

void tsl_test_device_close(tsl_vk_device *device) {
    uint32_t messages = tsl_vk_validation_message_count(device);
    tsl_vk_device_close(device);
    ck_assert_msg(messages == 0, "the validation layer reported %u message(s) (printed above)", messages);
}

uint64_t tsl_test_seed(const char *test_name) {
    const char *env = getenv("TESSL_TEST_SEED");
    uint64_t seed;
    if (env && *env) {
        seed = strtoull(env, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
    }
    fprintf(stderr, "%s: seed %llu (replay with TESSL_TEST_SEED=%llu)\n", test_name, (unsigned long long)seed,
            (unsigned long long)seed);
    return seed;
}

tsl_test_rng tsl_test_rng_new(uint64_t seed) {
    return (tsl_test_rng){seed ^ 0x9e3779b97f4a7c15ull};
}

uint64_t tsl_test_rng_u64(tsl_test_rng *rng) { /* splitmix64 */
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double tsl_test_rng_uniform(tsl_test_rng *rng, double lo, double hi) {
    return lo + (hi - lo) * ((tsl_test_rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0));
}

double tsl_test_rng_normal(tsl_test_rng *rng) {
    double u1 = tsl_test_rng_uniform(rng, 0, 1), u2 = tsl_test_rng_uniform(rng, 0, 1);
    return sqrt(-2.0 * log(u1 > 0 ? u1 : 1e-300)) * cos(2 * M_PI * u2);
}

void tsl_test_fill_uniform(tsl_test_rng *rng, float *data, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++)
        data[i] = (float)tsl_test_rng_uniform(rng, lo, hi);
}

void tsl_test_check_close(const char *what, uint64_t seed, const float *got, const double *want, size_t n,
                          double rel_tol, double abs_tol) {
    size_t bad = 0, first = 0, worst_i = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        bool ok = err <= abs_tol + rel_tol * fabs(want[i]); /* false for NaN */
        if (!ok && bad++ == 0)
            first = i;
        if (!(err <= worst)) {
            worst = err;
            worst_i = i;
        }
    }
    ck_assert_msg(bad == 0,
                  "%s (seed %llu): %zu of %zu elements off; first at %zu: got %.9g, want %.9g; largest error "
                  "%.3g at %zu (tolerance %.1e + %.1e * |want|)",
                  what, (unsigned long long)seed, bad, n, first, got[first], want[first], worst, worst_i,
                  abs_tol, rel_tol);
}

tsl_vk_buffer tsl_test_alloc(tsl_vk_device *device, tsl_mem_kind kind, VkDeviceSize size, const char *name) {
    tsl_vk_buffer b;
    TSL_TEST_OK(tsl_vk_alloc(device, kind, size, name, &b));
    return b;
}

void tsl_test_upload(tsl_vk_device *device, const tsl_vk_buffer *buffer, const void *data) {
    TSL_TEST_OK(tsl_vk_upload(device, buffer->range, data));
}

void tsl_test_download(tsl_vk_device *device, const tsl_vk_buffer *buffer, void *data) {
    TSL_TEST_OK(tsl_vk_download(device, buffer->range, data));
}

void tsl_test_poison(tsl_vk_device *device, const tsl_vk_buffer *buffer) {
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(device, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_vk_cmd_fill(
        cmd, (tsl_vk_range){buffer->range.vk, buffer->range.offset, buffer->range.size / 4 * 4},
        0x7fc00000u));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
}

int tsl_test_main(Suite *suite) {
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

char *tsl_test_temp_dir(const char *name) {
    const char *tmp = getenv("TMPDIR");
    size_t n = strlen(tmp && *tmp ? tmp : "/tmp") + strlen(name) + 32;
    char *path = malloc(n);
    ck_assert(path != NULL);
    snprintf(path, n, "%s/tessl_%s_XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    ck_assert_msg(mkdtemp(path) != NULL, "mkdtemp(%s) failed", path);
    return path;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tsl_test_remove_tree(const char *path) {
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

bool tsl_test_validation_knows_khr_coopmat(void) {
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkLayerProperties *layers = calloc(n, sizeof *layers);
    bool known = false;
    if (layers && vkEnumerateInstanceLayerProperties(&n, layers) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            if (strcmp(layers[i].layerName, "VK_LAYER_KHRONOS_validation") == 0)
                known = layers[i].specVersion >= VK_MAKE_API_VERSION(0, 1, 3, 255);
    free(layers);
    return known;
}
