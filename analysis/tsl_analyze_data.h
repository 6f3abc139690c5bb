/* Images for `tessl analyze`: a random subset of one split's shards, decoded to RGB8 on the host. */
#ifndef TSL_ANALYZE_DATA_H
#define TSL_ANALYZE_DATA_H

#include "tsl_status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *rgb; /* height x width x 3, interleaved (as stored in the shard) */
    uint32_t width, height;
    int32_t label;
} tsl_analyze_image;

typedef struct {
    tsl_analyze_image *images;
    size_t count;
    uint32_t classes; /* the shards' class count */
} tsl_analyze_images;

/* Reads min(max_images, records) images of the split in `dir` (shard-*.tss): the first max_images of the
 * records (shard-major numbering over the shards in name order) shuffled by splitmix64(seed), in that
 * shuffled order. Errors: TSL_ERR_INVALID_ARG for a folder without shards, the shard reader's errors. */
tsl_status tsl_analyze_images_load(const char *dir, size_t max_images, uint64_t seed,
                                   tsl_analyze_images *out);

void tsl_analyze_images_free(tsl_analyze_images *images);

#endif
