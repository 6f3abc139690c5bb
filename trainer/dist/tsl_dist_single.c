/* tsl_dist.h for a build without MPI: one process, rank 0 of 1; collectives leave the data as it is
 * (a sum over one rank), copy it (allgather) or do nothing. */
#include "tsl_dist.h"

#include <stdlib.h>
#include <string.h>

struct tsl_dist {
    double timeout;
};

bool tsl_dist_built_with_mpi(void) {
    return false;
}

/* Ranks a launcher says the job has (1 when none launched this process). */
static long launched_ranks(void) {
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && atol(v) > 1)
            return atol(v);
    }
    return 1;
}

tsl_status tsl_dist_init(tsl_dist **dist) {
    *dist = NULL;
    long ranks = launched_ranks();
    if (ranks > 1)
        return tsl_error(TSL_ERR_UNSUPPORTED,
                         "started as one of %ld MPI ranks, but this tessl was built without MPI; install "
                         "libopenmpi-dev and rebuild (meson setup -Dmpi=enabled)",
                         ranks);
    tsl_dist *d = calloc(1, sizeof *d);
    if (!d)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    d->timeout = tsl_dist_timeout_default();
    *dist = d;
    return TSL_OK;
}

void tsl_dist_finalize(tsl_dist *dist, bool failed) {
    (void)failed;
    free(dist);
}

int tsl_dist_rank(const tsl_dist *d) {
    (void)d;
    return 0;
}
int tsl_dist_size(const tsl_dist *d) {
    (void)d;
    return 1;
}
int tsl_dist_local_rank(const tsl_dist *d) {
    (void)d;
    return 0;
}
int tsl_dist_local_size(const tsl_dist *d) {
    (void)d;
    return 1;
}

void tsl_dist_set_timeout(tsl_dist *d, double seconds) {
    if (seconds > 0.0)
        d->timeout = seconds;
}

tsl_status tsl_dist_allreduce_sum_f32(tsl_dist *d, float *data, size_t count, const char *what) {
    (void)d, (void)data, (void)count, (void)what;
    return TSL_OK;
}

tsl_status tsl_dist_allreduce_sum_f64(tsl_dist *d, double *data, size_t count, const char *what) {
    (void)d, (void)data, (void)count, (void)what;
    return TSL_OK;
}

tsl_status tsl_dist_broadcast(tsl_dist *d, void *data, size_t bytes, int root, const char *what) {
    (void)d, (void)data, (void)bytes;
    if (root != 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "broadcast of %s: root %d of 1 rank", what, root);
    return TSL_OK;
}

tsl_status tsl_dist_allgather(tsl_dist *d, const void *send, size_t bytes, void *recv, const char *what) {
    (void)d, (void)what;
    memmove(recv, send, bytes);
    return TSL_OK;
}

tsl_status tsl_dist_barrier(tsl_dist *d, const char *what) {
    (void)d, (void)what;
    return TSL_OK;
}
