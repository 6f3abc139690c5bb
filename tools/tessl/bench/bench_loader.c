#include "bench_clock.h"
#include "tsl_bench_data.h"
#include "tsl_loader.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The loader's own batch, waited on until it is in device memory. */
static tsl_status next_delivered(tsl_vk_device *device, tsl_loader *loader, tsl_loader_batch *batch) {
    TSL_TRY(tsl_loader_next(loader, batch));
    return batch->upload_done ? tsl_vk_wait(device, batch->upload_done) : TSL_OK;
}

static tsl_status time_loader(tsl_vk_device *device, tsl_loader *loader, const tsl_bench_data_options *o) {
    tsl_loader_batch batch;
    for (int i = 0; i < 2; i++) /* warm-up: first batches, pipeline filled */
        TSL_TRY(next_delivered(device, loader, &batch));
    uint64_t images = 0, bytes = 0, batches = 0;
    tsl_bench_clock t0 = tsl_bench_clock_now(), elapsed = {0, 0};
    while (batches < 3 || elapsed.wall < o->min_seconds) {
        TSL_TRY(next_delivered(device, loader, &batch));
        images += batch.images;
        bytes += batch.pixels.size;
        batches++;
        elapsed = tsl_bench_clock_since(t0);
    }
    tsl_loader_info info;
    tsl_loader_info_get(loader, &info);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = o->threads > 0 ? o->threads : (int)(cpus > 0 ? cpus : 1);
    printf("loader: %s, %llu samples in %u shards, batch %u images, %d threads, %u buffers of %.1f MiB\n",
           o->data, (unsigned long long)info.samples, info.shards, info.images_per_batch, threads,
           info.staging_buffers, info.staging_bytes / 1048576.0);
    printf("loader: %llu images (%llu batches) in %.3f s (%.3f CPU s): %.1f img/s, %.1f MB/s into device "
           "memory, %.1f img/s per thread, %.1f img per CPU second\n",
           (unsigned long long)images, (unsigned long long)batches, elapsed.wall, elapsed.cpu,
           images / elapsed.wall, bytes / elapsed.wall / 1e6, images / elapsed.wall / threads,
           images / elapsed.cpu);
    return TSL_OK;
}

tsl_status tsl_bench_loader(tsl_vk_device *device, const tsl_bench_data_options *o) {
    char split[4096];
    struct stat sb;
    snprintf(split, sizeof split, "%s/train", o->data);
    tsl_loader_options lo;
    tsl_loader_options_default(&lo);
    lo.dir = stat(split, &sb) == 0 && S_ISDIR(sb.st_mode) ? split : o->data;
    lo.batch_size = (uint32_t)o->batch;
    lo.paired = o->paired;
    lo.threads = o->threads;
    tsl_loader *loader = NULL;
    TSL_TRY(tsl_loader_open(device, &lo, &loader));
    tsl_status st = time_loader(device, loader, o);
    tsl_loader_close(loader);
    return st;
}
