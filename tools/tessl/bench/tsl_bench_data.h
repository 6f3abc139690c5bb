/* Data pipeline benchmarks of `tessl bench`: the streaming loader (images delivered into device memory
 * per second) and shard writing (images per second, beside plain TurboJPEG decoding of the same files). */
#ifndef TSL_BENCH_DATA_H
#define TSL_BENCH_DATA_H

#include "tsl_vk.h"

#include <stdbool.h>

typedef struct {
    const char *data;   /* a shard directory, or the OUT of `tessl shard` (its train/ split is used) */
    int threads;        /* loader / shard writer threads; <= 0: one per CPU */
    int batch;          /* loader batch size (pairs when paired) */
    bool paired;        /* TeSSL pairs */
    double min_seconds; /* loader: time at least this long (and at least 3 batches) */
    int level;          /* shard: as tsl_shard_options.level */
    bool no_filter;     /* shard: raw pixels (compression 1) */
} tsl_bench_data_options;

/* Times tsl_loader_next followed by a wait for each batch's upload (so the images are in device
 * memory, as a trainer that consumes them at once would need) and prints img/s, MB/s, img/s per thread. */
tsl_status tsl_bench_loader(tsl_vk_device *device, const tsl_bench_data_options *o);

/* Times `tessl shard` of the ImageFolder tree o->data into a temporary directory (removed afterwards),
 * and single-threaded TurboJPEG decoding of every file of it to full-size RGB, and prints both. */
tsl_status tsl_bench_shard(const tsl_bench_data_options *o);

#endif
