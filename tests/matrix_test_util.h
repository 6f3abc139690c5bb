/* Small helpers shared by the matrix-kernel test suites (gemm, linear, barlow, cross_entropy). */
#ifndef MATRIX_TEST_UTIL_H
#define MATRIX_TEST_UTIL_H

#include "tsl_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* n floats uniform in [lo, hi) (malloc'd). */
static inline float *mt_random_floats(tsl_test_rng *rng, size_t n, float lo, float hi) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    tsl_test_fill_uniform(rng, x, n, lo, hi);
    return x;
}

/* A double copy of x (malloc'd). */
static inline double *mt_to_double(const float *x, size_t n) {
    double *y = malloc((n ? n : 1) * sizeof *y);
    ck_assert_ptr_nonnull(y);
    for (size_t i = 0; i < n; i++)
        y[i] = x[i];
    return y;
}

/* A device buffer holding the n floats of x. */
static inline tsl_vk_buffer mt_upload(tsl_vk_device *d, const float *x, size_t n, const char *name) {
    tsl_vk_buffer b = tsl_test_alloc(d, TSL_MEM_DEVICE, 4 * n, name);
    tsl_test_upload(d, &b, x);
    return b;
}

/* A NaN-poisoned device buffer of n floats, for an output. */
static inline tsl_vk_buffer mt_poisoned(tsl_vk_device *d, size_t n, const char *name) {
    tsl_vk_buffer b = tsl_test_alloc(d, TSL_MEM_DEVICE, 4 * n, name);
    tsl_test_poison(d, &b);
    return b;
}

/* Downloads n floats of b into a malloc'd array. */
static inline float *mt_download(tsl_vk_device *d, const tsl_vk_buffer *b, size_t n) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    tsl_test_download(d, b, x);
    return x;
}

static inline tsl_vk_cmd *mt_begin(tsl_vk_device *d) {
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(d, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    return cmd;
}

static inline void mt_submit(tsl_vk_cmd *cmd) {
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
}

/* Checks that `st` is TSL_ERR_INVALID_ARG with a message holding both `op` and `fragment`. */
#define MT_EXPECT_INVALID(st, op, fragment)                                                                  \
    do {                                                                                                     \
        ck_assert_int_eq((st), TSL_ERR_INVALID_ARG);                                                         \
        ck_assert_msg(strstr(tsl_error_message(), (op)) && strstr(tsl_error_message(), (fragment)),          \
                      "message '%s' lacks '%s' or '%s'", tsl_error_message(), (op), (fragment));             \
    } while (0)

#endif
