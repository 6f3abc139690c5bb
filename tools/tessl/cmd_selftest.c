/* `tessl selftest` (and, until the trainer lands, `tessl demo`): runs the basic kernels on the chosen
 * device against CPU results and reports bandwidth, so a user sees at once that the device works. */
#include "tsl_cli.h"
#include "tsl_elementwise.h"
#include "tsl_reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    tsl_vk_device *dev;
    tsl_vk_cmd *cmd;
    tsl_vk_buffer x, y, scratch, sum;
    float *host_x, *host_y;
    uint64_t n;
} selftest_state;

static tsl_status run_and_time(selftest_state *s, double *seconds) {
    double t0 = now_seconds();
    TSL_TRY(tsl_vk_cmd_submit_wait(s->cmd));
    *seconds = now_seconds() - t0;
    return TSL_OK;
}

static tsl_status check_axpy(selftest_state *s) {
    TSL_TRY(tsl_vk_cmd_begin(s->cmd));
    TSL_TRY(tsl_axpy_f32(s->dev, s->cmd, 2.0f, s->x.range, s->y.range));
    double secs;
    TSL_TRY(run_and_time(s, &secs));
    float *got = malloc(s->n * sizeof *got);
    if (!got)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    tsl_status st = tsl_vk_download(s->dev, s->y.range, got);
    for (uint64_t i = 0; st == TSL_OK && i < s->n; i++) {
        double want = 2.0 * s->host_x[i] + s->host_y[i];
        /* Fma may run unfused on the device: two roundings, each <= 2^-24 of a term of magnitude <= 2. */
        if (!(fabs(got[i] - want) <= 2.4e-7))
            st = tsl_error(TSL_ERR_NUMERIC, "axpy: element %llu is %.9g, expected %.9g",
                           (unsigned long long)i, got[i], want);
    }
    free(got);
    if (st == TSL_OK)
        printf("  axpy         ok  %8.2f GB/s\n", 12.0 * s->n / secs / 1e9);
    return st;
}

static tsl_status check_sum(selftest_state *s) {
    TSL_TRY(tsl_vk_cmd_begin(s->cmd));
    TSL_TRY(tsl_reduce_sum_f32(s->dev, s->cmd, s->x.range, s->scratch.range, s->sum.range));
    double secs;
    TSL_TRY(run_and_time(s, &secs));
    float got;
    TSL_TRY(tsl_vk_download(s->dev, s->sum.range, &got));
    double want = 0, abs_sum = 0;
    for (uint64_t i = 0; i < s->n; i++) {
        want += s->host_x[i];
        abs_sum += fabs(s->host_x[i]);
    }
    /* fp32 partial sums vs a double reference: 1e-5 of sum |x| (see tsl_reduce.h). */
    if (fabs(got - want) > 1e-5 * abs_sum)
        return tsl_error(TSL_ERR_NUMERIC, "reduce_sum: got %.9g, expected %.9g", got, want);
    printf("  reduce_sum   ok  %8.2f GB/s\n", 4.0 * s->n / secs / 1e9);
    return TSL_OK;
}

static tsl_status check_copy(selftest_state *s) {
    TSL_TRY(tsl_vk_cmd_begin(s->cmd));
    TSL_TRY(tsl_copy_u32(s->dev, s->cmd, s->x.range, s->y.range));
    double secs;
    TSL_TRY(run_and_time(s, &secs));
    float *got = malloc(s->n * sizeof *got);
    if (!got)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    tsl_status st = tsl_vk_download(s->dev, s->y.range, got);
    if (st == TSL_OK && memcmp(got, s->host_x, s->n * sizeof *got) != 0)
        st = tsl_error(TSL_ERR_NUMERIC, "copy: the copy differs from its source");
    free(got);
    if (st == TSL_OK)
        printf("  copy         ok  %8.2f GB/s\n", 8.0 * s->n / secs / 1e9);
    return st;
}

static tsl_status selftest(selftest_state *s, int64_t mib) {
    s->n = (uint64_t)mib << 18; /* floats */
    s->host_x = malloc(s->n * sizeof(float));
    s->host_y = malloc(s->n * sizeof(float));
    if (!s->host_x || !s->host_y)
        return tsl_error(TSL_ERR_NOMEM, "out of memory for %lld MiB test arrays", (long long)mib);
    uint32_t state = 12345;
    for (uint64_t i = 0; i < s->n; i++) {
        state = state * 1664525u + 1013904223u;
        s->host_x[i] = (float)(state >> 8) / 16777216.0f - 0.5f;
        s->host_y[i] = (float)i / (float)s->n;
    }
    TSL_TRY(tsl_vk_cmd_create(s->dev, &s->cmd));
    TSL_TRY(tsl_vk_alloc(s->dev, TSL_MEM_DEVICE, s->n * 4, "selftest x", &s->x));
    TSL_TRY(tsl_vk_alloc(s->dev, TSL_MEM_DEVICE, s->n * 4, "selftest y", &s->y));
    TSL_TRY(tsl_vk_alloc(s->dev, TSL_MEM_DEVICE, tsl_reduce_sum_scratch_bytes(s->n), "selftest scratch",
                         &s->scratch));
    TSL_TRY(tsl_vk_alloc(s->dev, TSL_MEM_DEVICE, 4, "selftest sum", &s->sum));
    TSL_TRY(tsl_vk_upload(s->dev, s->x.range, s->host_x));
    TSL_TRY(tsl_vk_upload(s->dev, s->y.range, s->host_y));
    TSL_TRY(check_axpy(s));
    TSL_TRY(check_sum(s));
    return check_copy(s);
}

static void selftest_free(selftest_state *s) {
    tsl_vk_cmd_destroy(s->cmd);
    tsl_vk_buffer *bufs[] = {&s->x, &s->y, &s->scratch, &s->sum};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        tsl_vk_free(s->dev, bufs[i]);
    free(s->host_x);
    free(s->host_y);
}

static int run_selftest(const char *name, const char *summary, int argc, char **argv) {
    int64_t device = -1, mib = 64;
    tsl_opt opts[] = {
        TSL_CLI_DEVICE_OPTION(&device),
        {"--mib", TSL_OPT_INT, &mib, "N", "size of each test array in MiB", 1, 4096},
    };
    tsl_command_spec spec = {.name = name, .args = "", .summary = summary, .opts = opts, .n_opts = 2};
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    selftest_state s = {0};
    tsl_status st = tsl_cli_open_device(device, &s.dev);
    if (st != TSL_OK)
        return tsl_cli_fail(st);
    const tsl_vk_features *f = tsl_vk_device_features(s.dev);
    printf("tessl: device %u: %s (%s, %s)\n", f->index, f->name, tsl_vk_device_type_name(f->type),
           f->driver_name);
    printf("tessl: checking kernels on %lld MiB arrays against the CPU\n", (long long)mib);
    st = selftest(&s, mib);
    selftest_free(&s);
    tsl_status closed = tsl_cli_close_device(s.dev);
    st = st != TSL_OK ? st : closed;
    if (st != TSL_OK)
        return tsl_cli_fail(st);
    printf("tessl: all kernels agree with the CPU\n");
    return TSL_EXIT_OK;
}

int tsl_cmd_selftest(int argc, char **argv) {
    return run_selftest("tessl selftest",
                        "Runs every basic kernel on the device and checks it against the CPU.", argc, argv);
}
