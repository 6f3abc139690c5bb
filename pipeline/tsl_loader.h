/* The streaming loader: batches of decoded RGB8 images from a shard directory, delivered into device
 * memory, in a deterministic order (tsl_loader_order.h says which), with resume and rank partition.
 *
 * Pipeline: worker threads read each record (pread), check its CRC32 and zstd-decompress it straight
 * into a host-visible staging buffer (TSL_MEM_UPLOAD), one staging buffer per batch in flight. When a
 * batch is complete the thread calling tsl_loader_next records a copy staging -> device buffers
 * (TSL_MEM_DEVICE) in its own tsl_vk_cmd and submits it. While the caller computes on batch k, the
 * workers fill batches k+1 .. k+max_inflight-1; tsl_loader_next submits the uploads of every batch
 * that is already complete, so they are queued ahead of the caller's next work. Where device memory is
 * host-visible (CPU drivers, integrated GPUs) the workers write into the device buffers themselves and
 * there is no staging buffer and no copy (see always_stage). No allocation per sample: decompression
 * contexts, read buffers, staging and device buffers are made at open.
 *
 * Batch layout (what the augmentation module consumes): `pixels` holds the images one after another,
 * each RGB8 interleaved (HWC uint8, rows top to bottom, no row padding) starting at a 4-byte-aligned
 * byte offset, in batch order; `table` holds one tsl_loader_image {offset, width, height} per image
 * (uint32 each, 12 bytes, std430 array of struct { uint offset, width, height; }). Plain mode: `count`
 * images. Paired (TeSSL) mode: 2*count images; images [0, count) are the first halves and images
 * [count, 2*count) the second halves of the pairs, so row i pairs image i with image count + i.
 *
 * Ordering on the device: every submission on a tessl device waits for all earlier ones, so work the
 * caller submits after tsl_loader_next returns sees the batch's pixels, and the loader's later upload
 * into the same device buffer waits for that work. The caller needs no extra synchronisation.
 *
 * All Vulkan calls are made on the thread that calls tsl_loader_* (one thread at a time). */
#ifndef TSL_LOADER_H
#define TSL_LOADER_H

#include "tsl_status.h"
#include "tsl_vk.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t epoch, step; /* the next batch tsl_loader_next returns */
} tsl_loader_state;

typedef struct {
    const char *dir;       /* a split's shard directory (OUT/train, OUT/val, or OUT): shard-*.tss */
    uint32_t batch_size;   /* units per batch (images, or pairs in paired mode), >= 1 */
    bool paired;           /* TeSSL pairs (see the layout above) */
    bool drop_last;        /* drop the incomplete last batch of each epoch (default true) */
    uint64_t seed;         /* order seed */
    uint32_t rank;         /* this process's rank < world_size */
    uint32_t world_size;   /* data-parallel ranks, >= 1 (default 1) */
    int threads;           /* decoding threads; <= 0: one per online CPU */
    uint32_t max_inflight; /* batches with staging + device buffers, 2..64 (default 3): bounds memory */
    /* A record that fails its checksum or does not decompress: false (default): tsl_loader_next fails
     * with TSL_ERR_CORRUPT naming the shard and record. true: a warning on stderr, and the record is
     * replaced in that batch by the next valid record in id order (wrapping) that fits the batch's
     * buffer; counted in tsl_loader_info.substituted. The replacement repeats a sample, so an epoch with
     * a substitution no longer holds every sample exactly once. */
    bool skip_corrupt;
    /* Always decompress into staging and upload (the tests cover both paths on one device). By default,
     * when device memory is host-visible, workers decompress straight into the device buffers: no
     * staging buffer, no copy; tsl_loader_next then first waits for every submission made so far (the
     * caller's work on the batch that last used those buffers), and upload_done is 0. */
    bool always_stage;
    tsl_loader_state start; /* first batch (resume): exactly the batch an uninterrupted run gives there */
} tsl_loader_options;

/* Defaults: batch 32, plain, drop_last, seed 0, rank 0 of 1, threads = CPUs, 3 in flight, strict. */
void tsl_loader_options_default(tsl_loader_options *o);

typedef struct {
    uint32_t offset, width, height; /* byte offset in `pixels` (a multiple of 4), size in pixels */
} tsl_loader_image;

typedef struct {
    tsl_vk_range pixels;                /* device: the packed images (size = bytes used, a multiple of 4) */
    tsl_vk_range table;                 /* device: `images` tsl_loader_image entries */
    const tsl_loader_image *table_host; /* the same table on the host */
    const uint32_t *labels;             /* per image */
    const uint32_t *sample_ids;         /* per image: id in the split (shard-major record number) */
    uint32_t count;                     /* units: images, or pairs in paired mode */
    uint32_t images;                    /* count, or 2*count in paired mode */
    uint64_t epoch, step;
    uint64_t upload_done; /* timeline value marking the upload's completion (for tsl_vk_wait) */
} tsl_loader_batch;

typedef struct {
    uint64_t samples;         /* N in the split */
    uint64_t steps_per_epoch; /* per rank */
    uint32_t shards, classes;
    uint32_t images_per_batch; /* at most */
    uint32_t staging_buffers;  /* = max_inflight, or 0 when batches are written in place */
    uint64_t staging_bytes;    /* per batch in flight (pixels + table), in staging and on the device */
    uint64_t substituted;      /* corrupt records replaced so far (skip_corrupt) */
} tsl_loader_info;

typedef struct tsl_loader tsl_loader;

/* Opens every shard-*.tss of options->dir (each checked by tsl_shard_reader_open: shard_index must
 * number them 0..n-1, all must agree on class_count), allocates the staging and device buffers, starts
 * the workers and schedules the first batches. Keeps one file descriptor per shard open, raising the
 * process's soft RLIMIT_NOFILE towards the hard limit when the shards need it. Errors: TSL_ERR_INVALID_ARG
 * (bad options, no shards, too few samples for one batch, start state past the epoch), the reader's errors
 * naming the shard, TSL_ERR_DEVICE_OOM / TSL_ERR_NOMEM. */
tsl_status tsl_loader_open(tsl_vk_device *device, const tsl_loader_options *options, tsl_loader **loader);

/* Returns the next batch (epochs follow each other without end; the caller counts them). The batch and
 * its buffers stay valid until the next tsl_loader_next or tsl_loader_close. Errors: TSL_ERR_CORRUPT
 * naming shard and record (strict mode), TSL_ERR_IO, Vulkan errors; after an error every later call
 * fails with the same code. */
tsl_status tsl_loader_next(tsl_loader *loader, tsl_loader_batch *batch);

/* The position of the next batch: pass it as options.start to resume. */
tsl_loader_state tsl_loader_state_get(const tsl_loader *loader);

void tsl_loader_info_get(const tsl_loader *loader, tsl_loader_info *info);

/* Shard number and record number inside it of sample `id` (< samples), and the shard's path. */
void tsl_loader_locate(const tsl_loader *loader, uint32_t id, uint32_t *shard, uint32_t *record,
                       const char **shard_path);

/* Stops the workers, waits for the loader's uploads, frees everything. Accepts NULL. */
void tsl_loader_close(tsl_loader *loader);

#endif
