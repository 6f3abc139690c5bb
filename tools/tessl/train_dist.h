/* What `tessl train` needs to run as one rank of an MPI job (docs/DISTRIBUTED.md): the device of this
 * rank and the rank-0-only chores. The communicator itself is trainer/dist/tsl_dist.h. */
#ifndef TSL_TRAIN_DIST_H
#define TSL_TRAIN_DIST_H

#include "tsl_dist.h"
#include "tsl_status.h"

#include <stdint.h>

/* The --device value this rank uses: `requested` when given (>= 0) or when TESSL_DEVICE is set or the
 * job has one rank; otherwise, among the usable devices of the most preferred type (discrete GPU, then
 * integrated, ...; as the single-process choice), the one at this rank's local rank modulo their
 * number: one rank per GPU on each node. Ranks sharing a device (more ranks than devices, e.g. on
 * lavapipe) get a note on stderr from local rank 0. */
tsl_status tsl_train_rank_device(const tsl_dist *dist, int64_t requested, int64_t *device);

#endif
