/* The trainer's input: turns a paired loader batch (stored RGB8 images) into the network's input tensor
 * by the TeSSL augmentations on the device, with the parameters drawn for (seed, epoch, step) and kept
 * for the analyses.
 *
 * Output layout (NCHW, docs/METHOD.md), the order the model takes: four quarters of `pairs` images,
 *   [ t0 | p0 | t1 | p1 ] = [ half 1 under t | half 1 under t' | half 2 under t | half 2 under t' ],
 * where row i of half 2 shares every parameter of row i of half 1 (the crop box carried over in
 * relative coordinates). */
enum { TSL_INPUT_T0, TSL_INPUT_P0, TSL_INPUT_T1, TSL_INPUT_P1 }; /* quarter index */
#ifndef TSL_INPUT_H
#define TSL_INPUT_H

#include "tsl_augment.h"
#include "tsl_loader.h"
#include "tsl_vk.h"

typedef struct {
    tsl_augment_config config; /* view probabilities and ranges (tsl_augment_config_default) */
    tsl_augment_output output; /* size, filter, normalisation, fp16 */
    uint64_t seed;             /* augmentation seed (independent of the loader's order seed) */
    uint32_t max_pairs;        /* largest batch that will be given */
    uint64_t first_row;        /* batch row of this process's first pair (data parallelism; else 0) */
} tsl_input_options;

typedef struct tsl_input tsl_input;

tsl_status tsl_input_create(tsl_vk_device *device, const tsl_input_options *options, tsl_input **input);

/* Draws the batch's parameters, uploads them, and records the augmentation of `batch` (paired, at most
 * max_pairs pairs) into `cmd`. `*images` receives the output tensor (4 * pairs images) and `*samples`
 * the parameters, indexed [2 * row + view] (view 0 = t, 1 = t'): both stay valid until the next call.
 * The loader batch must stay valid until `cmd` completes. */
tsl_status tsl_input_record(tsl_input *input, tsl_vk_cmd *cmd, const tsl_loader_batch *batch,
                            tsl_vk_range *images, const tsl_augment_sample **samples);

void tsl_input_destroy(tsl_input *input);

#endif
