/* Shared helpers of the Check test suites.
 *
 * Every GPU test opens its device through tsl_test_device_open(), which turns on the Khronos validation
 * layer with synchronisation validation, and closes it through tsl_test_device_close(), which fails the
 * test if the layer reported anything. A missing device is a failure, never a skip: tools/setup installs
 * lavapipe everywhere.
 *
 * Random data: each test case draws a fresh seed (or TESSL_TEST_SEED, to replay a failure); the seed is
 * printed in every failure message of the comparison helpers. */
#ifndef TSL_TEST_H
#define TSL_TEST_H

#include "tsl_vk.h"

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Opens the test device (validation on, pipeline cache in the build tree); aborts the test on failure. */
tsl_vk_device *tsl_test_device_open(void);

/* Fails the test if any validation message was reported, then closes the device. */
void tsl_test_device_close(tsl_vk_device *device);

/* Whether the installed Khronos validation layer knows VK_KHR_cooperative_matrix (1.3.255 and later):
 * older ones (Debian 12 ships 1.3.239) report its structures as unknown on a device that enables it. */
bool tsl_test_validation_knows_khr_coopmat(void);

/* A fresh seed for this test case: TESSL_TEST_SEED if set, else from the clock. Printed to stderr. */
uint64_t tsl_test_seed(const char *test_name);

typedef struct {
    uint64_t state;
} tsl_test_rng;

tsl_test_rng tsl_test_rng_new(uint64_t seed);
uint64_t tsl_test_rng_u64(tsl_test_rng *rng);
/* Uniform in [lo, hi). */
double tsl_test_rng_uniform(tsl_test_rng *rng, double lo, double hi);
/* Standard normal (Box-Muller). */
double tsl_test_rng_normal(tsl_test_rng *rng);
/* Fills `n` floats uniform in [lo, hi). */
void tsl_test_fill_uniform(tsl_test_rng *rng, float *data, size_t n, float lo, float hi);

/* Checks |got[i] - want[i]| <= abs_tol + rel_tol * |want[i]| for every i; on failure reports the test's
 * seed, the count of bad elements, the first bad index with both values, and the largest error. */
void tsl_test_check_close(const char *what, uint64_t seed, const float *got, const double *want, size_t n,
                          double rel_tol, double abs_tol);

/* Device helpers that fail the test on error. */
tsl_vk_buffer tsl_test_alloc(tsl_vk_device *device, tsl_mem_kind kind, VkDeviceSize size, const char *name);
void tsl_test_upload(tsl_vk_device *device, const tsl_vk_buffer *buffer, const void *data);
void tsl_test_download(tsl_vk_device *device, const tsl_vk_buffer *buffer, void *data);
/* Fills the buffer with quiet-NaN bit patterns, so a kernel that forgets an element is caught. */
void tsl_test_poison(tsl_vk_device *device, const tsl_vk_buffer *buffer);

/* A fresh empty directory "$TMPDIR/tessl_<name>_XXXXXX" (malloc'd path; fails the test on error). */
char *tsl_test_temp_dir(const char *name);

/* Removes a directory tree (like rm -rf); frees nothing. */
void tsl_test_remove_tree(const char *path);

/* Fails the test with the thread's error message when `status` is not TSL_OK. */
#define TSL_TEST_OK(status)                                                                                  \
    do {                                                                                                     \
        tsl_status tsl_test_status_ = (status);                                                              \
        ck_assert_msg(tsl_test_status_ == TSL_OK, "%s failed: %s", #status, tsl_error_message());            \
    } while (0)

/* Runs a suite (each test in its own process) and returns the process exit code: 0 only when every
 * test passed. */
int tsl_test_main(Suite *suite);

#endif
