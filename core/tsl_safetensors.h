/* safetensors files (Hugging Face's format: an 8-byte little-endian header length, a JSON header mapping
 * tensor names to {dtype, shape, data_offsets}, then the bytes), the format of `tessl export` and
 * `--init`, readable by PyTorch and torchvision users. The reader trusts nothing in the file: the header
 * length, every shape and every byte range are checked against the file size and against each other
 * before anything is allocated or read. */
#ifndef TSL_SAFETENSORS_H
#define TSL_SAFETENSORS_H

#include "tsl_status.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TSL_DTYPE_F32,
    TSL_DTYPE_F16,
    TSL_DTYPE_BF16,
    TSL_DTYPE_F64,
    TSL_DTYPE_I64,
    TSL_DTYPE_I32,
    TSL_DTYPE_U8,
    TSL_DTYPE_COUNT
} tsl_dtype;

/* Bytes per element, and the safetensors spelling ("F32", "I64", ...). */
size_t tsl_dtype_size(tsl_dtype dtype);
const char *tsl_dtype_name(tsl_dtype dtype);

enum { TSL_TENSOR_MAX_DIMS = 8 };

typedef struct {
    const char *name;
    tsl_dtype dtype;
    int ndim; /* 0 for a scalar */
    int64_t shape[TSL_TENSOR_MAX_DIMS];
    const void *data; /* product(shape) * tsl_dtype_size(dtype) bytes, little-endian */
} tsl_tensor_view;

/* Writes the tensors, in the given order, and optional string metadata (n_meta key/value pairs)
 * atomically to `path`. Names must be unique and not "__metadata__". */
tsl_status tsl_safetensors_write(const char *path, const tsl_tensor_view *tensors, int n_tensors,
                                 const char *const *meta_keys, const char *const *meta_values, int n_meta);

typedef struct {
    char *name;
    tsl_dtype dtype;
    int ndim;
    int64_t shape[TSL_TENSOR_MAX_DIMS];
    uint64_t count;   /* elements */
    const void *data; /* inside the file image: safetensors guarantees no alignment, so copy (memcpy) rather
                         than load elements wider than a byte in place */
} tsl_st_tensor;

typedef struct {
    char *path;
    void *file; /* the whole file */
    int n_tensors;
    tsl_st_tensor *tensors; /* in header order */
    int n_meta;
    char **meta_keys, **meta_values;
} tsl_safetensors;

enum { TSL_SAFETENSORS_MAX_HEADER = 100 << 20 };

/* Reads and checks a whole file (at most `max_bytes`). Errors name the file and the first problem
 * (TSL_ERR_FORMAT), or the I/O failure. */
tsl_status tsl_safetensors_read(const char *path, uint64_t max_bytes, tsl_safetensors *st);

/* Parses a file image already in memory; takes ownership of `bytes` (malloc'd), freed by
 * tsl_safetensors_free or on failure. `source` names the data in error messages. */
tsl_status tsl_safetensors_parse(const char *source, void *bytes, size_t size, tsl_safetensors *st);

/* The tensor called `name`, or NULL. */
const tsl_st_tensor *tsl_safetensors_find(const tsl_safetensors *st, const char *name);

/* The metadata value for `key`, or NULL. */
const char *tsl_safetensors_meta(const tsl_safetensors *st, const char *key);

void tsl_safetensors_free(tsl_safetensors *st);

#endif
