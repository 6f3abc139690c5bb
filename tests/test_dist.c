/* The communicator (trainer/dist/tsl_dist.h). Run plainly it checks the one-rank behaviour of whichever
 * implementation the build has; run under `mpirun -np 2` (tests/mpi_train_test.sh does) the same cases
 * check the collectives across ranks. `test_dist timeout` (under mpirun, 2 ranks) checks that a
 * collective one rank never joins fails on the other after the timeout, naming the rank. Checks run
 * without fork (MPI state does not survive a fork). All values are small integers or halves, exact in
 * fp32, so sums are compared exactly. */
#include "tsl_dist.h"
#include "tsl_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tsl_dist *dist;
static int rank, size;

START_TEST(ranks_are_consistent) {
    ck_assert_int_ge(size, 1);
    ck_assert_int_lt(rank, size);
    ck_assert_int_ge(tsl_dist_local_rank(dist), 0);
    ck_assert_int_lt(tsl_dist_local_rank(dist), tsl_dist_local_size(dist));
    ck_assert_int_le(tsl_dist_local_size(dist), size);
}
END_TEST

/* 2.5 buckets, so the bucketing (and a short last bucket) is exercised. */
START_TEST(allreduce_sums_every_bucket) {
    size_t n = TSL_DIST_BUCKET_BYTES / sizeof(float) * 5 / 2 + 3;
    float *f = malloc(n * sizeof *f);
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)rank + 0.5f * (float)(i % 1000);
    TSL_TEST_OK(tsl_dist_allreduce_sum_f32(dist, f, n, "test floats"));
    double ranks_sum = size * (size - 1) / 2.0;
    for (size_t i = 0; i < n; i++)
        if (f[i] != (float)(ranks_sum + size * 0.5 * (double)(i % 1000)))
            ck_abort_msg("float %zu: %g, expected %g", i, (double)f[i], ranks_sum + size * 0.5 * (i % 1000));
    free(f);
    double d[3] = {rank, 1.0, -2.5 * rank};
    TSL_TEST_OK(tsl_dist_allreduce_sum_f64(dist, d, 3, "test doubles"));
    ck_assert(d[0] == ranks_sum && d[1] == size && d[2] == -2.5 * ranks_sum);
}
END_TEST

START_TEST(broadcast_and_allgather) {
    int root = size - 1, v[4] = {rank, rank, rank, rank};
    if (rank == root)
        v[2] = 77;
    TSL_TEST_OK(tsl_dist_broadcast(dist, v, sizeof v, root, "test ints"));
    ck_assert_int_eq(v[0], root);
    ck_assert_int_eq(v[2], rank == root || size > 1 ? 77 : rank);
    ck_assert_int_eq(tsl_dist_broadcast(dist, v, sizeof v, size, "test ints"), TSL_ERR_INVALID_ARG);
    int mine[2] = {rank, 10 * rank}, *all = calloc(2 * (size_t)size, sizeof *all);
    ck_assert_ptr_nonnull(all);
    TSL_TEST_OK(tsl_dist_allgather(dist, mine, sizeof mine, all, "test pairs"));
    for (int r = 0; r < size; r++)
        ck_assert(all[2 * r] == r && all[2 * r + 1] == 10 * r);
    free(all);
    TSL_TEST_OK(tsl_dist_barrier(dist, "test barrier"));
}
END_TEST

START_TEST(config_mismatch_is_reported) {
    TSL_TEST_OK(tsl_dist_check_same_config(dist, 42, "options"));
    tsl_status st = tsl_dist_check_same_config(dist, rank == size - 1 ? 43 : 42, "options");
    if (size == 1) {
        ck_assert_int_eq(st, TSL_OK);
        return;
    }
    ck_assert_int_eq(st, TSL_ERR_INVALID_ARG);
    char want[64];
    snprintf(want, sizeof want, "rank %d has different options than rank 0", size - 1);
    ck_assert_msg(strstr(tsl_error_message(), want), "message: %s", tsl_error_message());
}
END_TEST

START_TEST(a_failure_on_one_rank_reaches_all) {
    TSL_TEST_OK(tsl_dist_agree(dist, TSL_OK, "testing"));
    bool failing = rank == size - 1;
    tsl_status local = failing ? tsl_error(TSL_ERR_NOT_FOUND, "shard 3 is missing") : TSL_OK;
    tsl_status st = tsl_dist_agree(dist, local, "opening shards");
    if (failing) {
        ck_assert_int_eq(st, TSL_ERR_NOT_FOUND);
        ck_assert_msg(strstr(tsl_error_message(), "shard 3 is missing"), "message: %s", tsl_error_message());
    } else {
        ck_assert_int_eq(st, TSL_ERR_IO);
        char want[64];
        snprintf(want, sizeof want, "rank %d failed while opening shards", size - 1);
        ck_assert_msg(strstr(tsl_error_message(), want), "message: %s", tsl_error_message());
    }
    bool any = false;
    TSL_TEST_OK(tsl_dist_any(dist, failing, &any));
    ck_assert(any);
    TSL_TEST_OK(tsl_dist_any(dist, false, &any));
    ck_assert(!any);
}
END_TEST

START_TEST(hash_is_fnv1a) {
    ck_assert_uint_eq(tsl_dist_hash(TSL_DIST_HASH_INIT, "a", 1), 0xaf63dc4c8601ec8cull);
    ck_assert_uint_eq(tsl_dist_hash(TSL_DIST_HASH_INIT, "", 0), TSL_DIST_HASH_INIT);
}
END_TEST

/* Rank 1 never joins; rank 0's allreduce must fail after 1 s naming itself and the data. */
static int timeout_case(void) {
    if (size != 2) {
        fprintf(stderr, "test_dist timeout needs 2 ranks\n");
        return 1;
    }
    if (rank == 1) {
        sleep(20); /* the job is aborted by rank 0 long before */
        return 0;
    }
    tsl_dist_set_timeout(dist, 1.0);
    double v = 1.0;
    tsl_status st = tsl_dist_allreduce_sum_f64(dist, &v, 1, "the test value");
    printf("rank 0 got: %s\n", st == TSL_OK ? "success" : tsl_error_message());
    fflush(stdout);
    tsl_dist_finalize(dist, true); /* aborts the job: rank 1 would wait forever */
    return 1;
}

int main(int argc, char **argv) {
    if (tsl_dist_init(&dist) != TSL_OK) {
        fprintf(stderr, "test_dist: %s\n", tsl_error_message());
        return 1;
    }
    rank = tsl_dist_rank(dist);
    size = tsl_dist_size(dist);
    if (argc > 1 && strcmp(argv[1], "timeout") == 0)
        return timeout_case();
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("dist");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ranks_are_consistent);
    tcase_add_test(tc, allreduce_sums_every_bucket);
    tcase_add_test(tc, broadcast_and_allgather);
    tcase_add_test(tc, config_mismatch_is_reported);
    tcase_add_test(tc, a_failure_on_one_rank_reaches_all);
    tcase_add_test(tc, hash_is_fnv1a);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, rank == 0 ? CK_NORMAL : CK_SILENT);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    tsl_dist_finalize(dist, failed != 0);
    return failed ? 1 : 0;
}
