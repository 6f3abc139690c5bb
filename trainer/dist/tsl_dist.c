/* The parts of tsl_dist.h built on the collectives, shared by both implementations. */
#include "tsl_dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t tsl_dist_hash(uint64_t hash, const void *data, size_t bytes) {
    const unsigned char *p = data;
    for (size_t i = 0; i < bytes; i++)
        hash = (hash ^ p[i]) * 0x100000001b3ull;
    return hash;
}

double tsl_dist_timeout_default(void) {
    const char *v = getenv("TESSL_DIST_TIMEOUT");
    char *end = NULL;
    double s = v ? strtod(v, &end) : 0.0;
    return v && end != v && *end == '\0' && s > 0.0 ? s : 300.0;
}

tsl_status tsl_dist_check_same_config(tsl_dist *d, uint64_t config_hash, const char *what) {
    int size = tsl_dist_size(d);
    uint64_t *all = calloc((size_t)size, sizeof *all);
    if (!all)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    tsl_status st = tsl_dist_allgather(d, &config_hash, sizeof config_hash, all, what);
    for (int r = 1; r < size && st == TSL_OK; r++)
        if (all[r] != all[0])
            st = tsl_error(TSL_ERR_INVALID_ARG,
                           "rank %d of %d: rank %d has different %s than rank 0 (hash %016llx vs %016llx); "
                           "every rank must run the same command on the same data",
                           tsl_dist_rank(d), size, r, what, (unsigned long long)all[r],
                           (unsigned long long)all[0]);
    free(all);
    return st;
}

tsl_status tsl_dist_agree(tsl_dist *d, tsl_status local, const char *stage) {
    int size = tsl_dist_size(d);
    if (size == 1)
        return local;
    int32_t mine = (int32_t)local, *all = calloc((size_t)size, sizeof *all);
    if (!all)
        return local != TSL_OK ? local : tsl_error(TSL_ERR_NOMEM, "out of memory");
    /* A failed rank keeps its own message: save it across the collective, which may set another. */
    char message[1024] = "";
    if (local != TSL_OK)
        snprintf(message, sizeof message, "%s", tsl_error_message());
    tsl_status st = tsl_dist_allgather(d, &mine, sizeof mine, all, stage);
    if (local != TSL_OK) {
        free(all);
        return tsl_error(local, "rank %d of %d: %s", tsl_dist_rank(d), size, message);
    }
    if (st != TSL_OK) {
        free(all);
        return st;
    }
    char failed[256] = "";
    size_t used = 0;
    int n_failed = 0;
    for (int r = 0; r < size; r++)
        if (all[r] != TSL_OK && used < sizeof failed - 16) {
            used += (size_t)snprintf(failed + used, sizeof failed - used, "%s%d", n_failed ? ", " : "", r);
            n_failed++;
        }
    free(all);
    if (!n_failed)
        return TSL_OK;
    return tsl_error(TSL_ERR_IO, "rank %d: rank%s %s failed while %s (see %s message); stopping",
                     tsl_dist_rank(d), n_failed > 1 ? "s" : "", failed, stage,
                     n_failed > 1 ? "their" : "its");
}

tsl_status tsl_dist_any(tsl_dist *d, bool flag, bool *any) {
    double v = flag ? 1.0 : 0.0;
    TSL_TRY(tsl_dist_allreduce_sum_f64(d, &v, 1, "a stop flag"));
    *any = v > 0.0;
    return TSL_OK;
}
