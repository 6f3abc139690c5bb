/* Data-parallel communication: the small communicator interface the trainer needs, over MPI when tessl
 * is built with it (-Dmpi=enabled, tsl_dist_mpi.c) and as a single-process implementation otherwise
 * (tsl_dist_single.c). Both implement every function below with the same meaning, so callers never
 * test which one they have.
 *
 * A process joins an MPI job only when a launcher started it (mpirun sets OMPI_COMM_WORLD_SIZE, or
 * PMIX_RANK / PMI_SIZE for other launchers): a plain `tessl train` is rank 0 of 1 and never calls MPI. A
 * build without MPI that finds itself started by a launcher with more than one rank refuses to run
 * (each process would otherwise train alone and overwrite the others' checkpoint).
 *
 * Collectives: every rank must call the same collectives in the same order with the same sizes. Each
 * waits at most the timeout (tsl_dist_timeout_default: $TESSL_DIST_TIMEOUT seconds, default 300) and
 * then fails with TSL_ERR_IO naming this rank, the operation and `what`, instead of hanging when another
 * rank has died or is stuck. They are nonblocking MPI operations polled against that deadline. Results
 * are identical on every rank (the reductions run in MPI's fixed order for a given rank count).
 *
 * One thread (the one that called tsl_dist_init) makes every call. */
#ifndef TSL_DIST_H
#define TSL_DIST_H

#include "tsl_status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tsl_dist tsl_dist;

/* Whether this build can run more than one rank (it was built with MPI). */
bool tsl_dist_built_with_mpi(void);

/* Joins the job the process was launched into (initialising MPI), or makes a single-process
 * communicator. Errors: TSL_ERR_UNSUPPORTED for a multi-rank launch of a build without MPI,
 * TSL_ERR_IO when MPI fails to start. */
tsl_status tsl_dist_init(tsl_dist **dist);

/* Leaves the job. With `failed` and more than one rank, aborts the whole job (MPI_Abort) so that no
 * other rank waits for this one; otherwise finalizes MPI cleanly. Accepts NULL. */
void tsl_dist_finalize(tsl_dist *dist, bool failed);

int tsl_dist_rank(const tsl_dist *dist);       /* 0 .. size - 1 */
int tsl_dist_size(const tsl_dist *dist);       /* ranks in the job, >= 1 */
int tsl_dist_local_rank(const tsl_dist *dist); /* rank among the ranks on this node */
int tsl_dist_local_size(const tsl_dist *dist); /* ranks on this node */

/* Seconds a collective may wait (> 0). */
void tsl_dist_set_timeout(tsl_dist *dist, double seconds);
double tsl_dist_timeout_default(void);

/* data[i] = sum over ranks of data[i], in place, identical on every rank. Large buffers go as buckets
 * of TSL_DIST_BUCKET_BYTES, all in flight at once. `what` names the data in a timeout message. */
enum { TSL_DIST_BUCKET_BYTES = 4 << 20 };
tsl_status tsl_dist_allreduce_sum_f32(tsl_dist *dist, float *data, size_t count, const char *what);
tsl_status tsl_dist_allreduce_sum_f64(tsl_dist *dist, double *data, size_t count, const char *what);

/* `bytes` bytes of `data` on rank `root` copied to every rank. */
tsl_status tsl_dist_broadcast(tsl_dist *dist, void *data, size_t bytes, int root, const char *what);

/* recv[r * bytes ...] = rank r's `send` (size * bytes bytes in recv). */
tsl_status tsl_dist_allgather(tsl_dist *dist, const void *send, size_t bytes, void *recv, const char *what);

tsl_status tsl_dist_barrier(tsl_dist *dist, const char *what);

/* ---- built on the collectives (tsl_dist.c) ----------------------------------------------------------- */

/* Every rank passes the hash of its configuration (`what`: "options", "training data"); fails on every
 * rank (TSL_ERR_INVALID_ARG) when any two differ, naming the first rank that differs from rank 0. */
tsl_status tsl_dist_check_same_config(tsl_dist *dist, uint64_t config_hash, const char *what);

/* Every rank passes the outcome of a stage that may fail on some ranks only (opening shards, loading a
 * checkpoint). Returns `local` where it failed (its message prefixed with the rank when there are several);
 * on the other ranks TSL_ERR_IO naming the ranks that failed and `stage`, so that no rank goes on into a
 * collective that a failed one will never join. */
tsl_status tsl_dist_agree(tsl_dist *dist, tsl_status local, const char *stage);

/* Whether `flag` is set on any rank (e.g. an interrupt seen by one rank stops every rank at the same
 * step). */
tsl_status tsl_dist_any(tsl_dist *dist, bool flag, bool *any);

/* FNV-1a 64 of `bytes` bytes, continuing from `hash` (start with TSL_DIST_HASH_INIT). */
#define TSL_DIST_HASH_INIT 0xcbf29ce484222325ull
uint64_t tsl_dist_hash(uint64_t hash, const void *data, size_t bytes);

#endif
