/* tsl_dist.h over MPI (Open MPI from Debian). A process that no launcher started is rank 0 of 1 and
 * never initialises MPI, so a plain `tessl train` costs nothing and needs no MPI runtime.
 *
 * Every collective is the nonblocking MPI call (MPI_Iallreduce, MPI_Ibcast, MPI_Iallgather,
 * MPI_Ibarrier) polled with MPI_Testall until done or until the deadline. Polling sleeps between tests
 * (starting at 20 us, growing to 1 ms) so that a waiting rank leaves the CPU to the others: ranks on a
 * CPU device share cores with the device's threads. A timed-out request is left incomplete; the caller
 * fails and tsl_dist_finalize(.., true) aborts the job. */
#include "tsl_dist.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tsl_dist {
    bool mpi; /* MPI initialised (launched with more than one rank or by a launcher) */
    int rank, size, local_rank, local_size;
    double timeout;
};

bool tsl_dist_built_with_mpi(void) {
    return true;
}

static bool launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

static tsl_status mpi_error(int code, const char *what) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, text, &len);
    return tsl_error(TSL_ERR_IO, "MPI: %s: %s", what, text);
}

/* Rank and size among the ranks that share this node's memory. */
static tsl_status node_ranks(tsl_dist *d) {
    MPI_Comm node;
    int rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node);
    if (rc != MPI_SUCCESS)
        return mpi_error(rc, "splitting the ranks by node");
    MPI_Comm_rank(node, &d->local_rank);
    MPI_Comm_size(node, &d->local_size);
    MPI_Comm_free(&node);
    return TSL_OK;
}

tsl_status tsl_dist_init(tsl_dist **dist) {
    *dist = NULL;
    tsl_dist *d = calloc(1, sizeof *d);
    if (!d)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    *d = (tsl_dist){false, 0, 1, 0, 1, tsl_dist_timeout_default()};
    if (launched()) {
        int provided = 0;
        /* Only the main thread calls MPI (the loader's workers never do). */
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            free(d);
            return tsl_error(TSL_ERR_IO, "MPI_Init_thread failed (code %d)", rc);
        }
        d->mpi = true;
        /* Errors come back as codes, turned into messages here, instead of aborting inside MPI. */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
        MPI_Comm_size(MPI_COMM_WORLD, &d->size);
        tsl_status st = node_ranks(d);
        if (st != TSL_OK) {
            tsl_dist_finalize(d, true);
            return st;
        }
    }
    *dist = d;
    return TSL_OK;
}

void tsl_dist_finalize(tsl_dist *d, bool failed) {
    if (!d)
        return;
    if (d->mpi) {
        if (failed && d->size > 1)
            MPI_Abort(MPI_COMM_WORLD, 1);
        MPI_Finalize();
    }
    free(d);
}

int tsl_dist_rank(const tsl_dist *d) {
    return d->rank;
}
int tsl_dist_size(const tsl_dist *d) {
    return d->size;
}
int tsl_dist_local_rank(const tsl_dist *d) {
    return d->local_rank;
}
int tsl_dist_local_size(const tsl_dist *d) {
    return d->local_size;
}

void tsl_dist_set_timeout(tsl_dist *d, double seconds) {
    if (seconds > 0.0)
        d->timeout = seconds;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Waits for `n` requests until the timeout; the error names this rank, `op` and `what`. */
static tsl_status wait_all(tsl_dist *d, MPI_Request *req, int n, const char *op, const char *what) {
    double deadline = now_seconds() + d->timeout;
    long sleep_ns = 20000;
    for (;;) {
        int done = 0;
        int rc = MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS)
            return tsl_error_context(mpi_error(rc, op), "rank %d of %d, %s", d->rank, d->size, what);
        if (done)
            return TSL_OK;
        if (now_seconds() > deadline)
            return tsl_error(TSL_ERR_IO,
                             "rank %d of %d: %s of %s timed out after %.0f s (another rank failed, stopped "
                             "or runs a different step; TESSL_DIST_TIMEOUT sets the limit)",
                             d->rank, d->size, op, what, d->timeout);
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
        sleep_ns = sleep_ns < 1000000 ? sleep_ns * 2 : 1000000;
    }
}

/* Sums in place, in buckets of TSL_DIST_BUCKET_BYTES all started before waiting. */
static tsl_status allreduce_sum(tsl_dist *d, void *data, size_t count, size_t elem, MPI_Datatype type,
                                const char *what) {
    if (d->size == 1 || count == 0)
        return TSL_OK;
    size_t per_bucket = TSL_DIST_BUCKET_BYTES / elem, buckets = (count + per_bucket - 1) / per_bucket;
    MPI_Request *req = calloc(buckets, sizeof *req);
    if (!req)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    tsl_status st = TSL_OK;
    size_t started = 0;
    for (; started < buckets; started++) {
        size_t first = started * per_bucket, n = count - first < per_bucket ? count - first : per_bucket;
        int rc = MPI_Iallreduce(MPI_IN_PLACE, (char *)data + first * elem, (int)n, type, MPI_SUM,
                                MPI_COMM_WORLD, &req[started]);
        if (rc != MPI_SUCCESS) {
            st = tsl_error_context(mpi_error(rc, "MPI_Iallreduce"), "rank %d, %s", d->rank, what);
            break;
        }
    }
    tsl_status waited = started ? wait_all(d, req, (int)started, "allreduce", what) : TSL_OK;
    free(req);
    return st != TSL_OK ? st : waited;
}

tsl_status tsl_dist_allreduce_sum_f32(tsl_dist *d, float *data, size_t count, const char *what) {
    return allreduce_sum(d, data, count, sizeof *data, MPI_FLOAT, what);
}

tsl_status tsl_dist_allreduce_sum_f64(tsl_dist *d, double *data, size_t count, const char *what) {
    return allreduce_sum(d, data, count, sizeof *data, MPI_DOUBLE, what);
}

tsl_status tsl_dist_broadcast(tsl_dist *d, void *data, size_t bytes, int root, const char *what) {
    if (root < 0 || root >= d->size)
        return tsl_error(TSL_ERR_INVALID_ARG, "broadcast of %s: root %d of %d ranks", what, root, d->size);
    if (d->size == 1 || bytes == 0)
        return TSL_OK;
    if (bytes > (size_t)INT32_MAX)
        return tsl_error(TSL_ERR_INVALID_ARG, "broadcast of %s: %zu bytes is too large", what, bytes);
    MPI_Request req;
    int rc = MPI_Ibcast(data, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD, &req);
    if (rc != MPI_SUCCESS)
        return tsl_error_context(mpi_error(rc, "MPI_Ibcast"), "rank %d, %s", d->rank, what);
    return wait_all(d, &req, 1, "broadcast", what);
}

tsl_status tsl_dist_allgather(tsl_dist *d, const void *send, size_t bytes, void *recv, const char *what) {
    if (d->size == 1) {
        memmove(recv, send, bytes);
        return TSL_OK;
    }
    if (bytes > (size_t)INT32_MAX)
        return tsl_error(TSL_ERR_INVALID_ARG, "allgather of %s: %zu bytes is too large", what, bytes);
    MPI_Request req;
    int rc = MPI_Iallgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, MPI_COMM_WORLD, &req);
    if (rc != MPI_SUCCESS)
        return tsl_error_context(mpi_error(rc, "MPI_Iallgather"), "rank %d, %s", d->rank, what);
    return wait_all(d, &req, 1, "allgather", what);
}

tsl_status tsl_dist_barrier(tsl_dist *d, const char *what) {
    if (d->size == 1)
        return TSL_OK;
    MPI_Request req;
    int rc = MPI_Ibarrier(MPI_COMM_WORLD, &req);
    if (rc != MPI_SUCCESS)
        return tsl_error_context(mpi_error(rc, "MPI_Ibarrier"), "rank %d, %s", d->rank, what);
    return wait_all(d, &req, 1, "barrier", what);
}
