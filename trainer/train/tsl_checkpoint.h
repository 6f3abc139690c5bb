/* Training checkpoints: one safetensors file holding every parameter, optimiser state tensor (momentum;
 * AdamW's two moments) and BatchNorm running statistic of a model under its names, and, as string metadata,
 * the run's configuration and position (format "tessl-checkpoint", version 1; docs/CHECKPOINT_FORMAT.md).
 * Written atomically, so a crash during a save leaves the previous checkpoint whole. */
#ifndef TSL_CHECKPOINT_H
#define TSL_CHECKPOINT_H

#include "tsl_model.h"

enum { TSL_CHECKPOINT_MAX_META = 48 };

typedef struct {
    int count;
    char keys[TSL_CHECKPOINT_MAX_META][32];
    char values[TSL_CHECKPOINT_MAX_META][256];
} tsl_checkpoint_meta;

/* Adds a key (overwriting an existing one); asserts on overflow (the caller's key set is fixed). */
void tsl_checkpoint_meta_set(tsl_checkpoint_meta *meta, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Downloads the model's PARAM, optimiser-state and running-statistic tensors and writes them with `meta` to
 * `path` atomically. */
tsl_status tsl_checkpoint_save(tsl_model *model, const tsl_checkpoint_meta *meta, const char *path);

/* Reads a checkpoint written by tsl_checkpoint_save: checks its format and version, returns the file
 * (for the metadata: tsl_safetensors_meta) and uploads every tensor into `model`, requiring each one
 * (TSL_ERR_FORMAT names a missing or mismatched tensor). */
tsl_status tsl_checkpoint_load(tsl_model *model, const char *path, tsl_safetensors *file);

/* Reads a checkpoint and checks its format and version, without touching a model (so that its metadata
 * can be checked first). Free the file with tsl_safetensors_free. */
tsl_status tsl_checkpoint_open(const char *path, tsl_safetensors *file);

/* Uploads every tensor of an opened checkpoint into `model`, as tsl_checkpoint_load does. */
tsl_status tsl_checkpoint_upload(tsl_model *model, const tsl_safetensors *file);

/* The optimiser whose state the checkpoint holds ("lars", "sgd", "adamw"; "lars" for checkpoints written
 * before the metadata key existed). */
const char *tsl_checkpoint_optimizer(const tsl_safetensors *file);

#endif
