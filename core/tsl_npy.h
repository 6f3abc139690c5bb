/* NumPy .npy files of float32 arrays (the `tessl features` input and output; float64 too for reading
 * neural responses): format versions 1.0, 2.0 and 3.0, little-endian '<f4' (or '<f8'), C order. The reader
 * trusts nothing: magic, version, header length, the header dictionary (exactly the keys descr,
 * fortran_order, shape, each once), every dimension and the data size (exactly what the shape implies, no
 * trailing bytes) are checked before data is used. */
#ifndef TSL_NPY_H
#define TSL_NPY_H

#include "tsl_status.h"

#include <stddef.h>
#include <stdint.h>

enum { TSL_NPY_MAX_DIMS = 8 };

typedef struct {
    int ndim; /* 0 for a scalar */
    int64_t shape[TSL_NPY_MAX_DIMS];
    uint64_t count; /* elements: the product of shape */
    float *data;    /* malloc'd */
} tsl_npy_f32;

/* Parses a file image. `source` names it in error messages (TSL_ERR_FORMAT naming the first problem:
 * "not a .npy file", "dtype '<f8' is not '<f4'", "Fortran order", "data is 12 bytes, shape needs 16").
 * `data` is copied. */
tsl_status tsl_npy_parse_f32(const char *source, const void *bytes, size_t size, tsl_npy_f32 *out);

/* Reads a whole file (at most max_bytes) and parses it. */
tsl_status tsl_npy_read_f32(const char *path, size_t max_bytes, tsl_npy_f32 *out);

/* The same arrays as doubles: '<f4' (converted exactly) or '<f8' data, for the neural-data readers. */
typedef struct {
    int ndim;
    int64_t shape[TSL_NPY_MAX_DIMS];
    uint64_t count;
    double *data; /* malloc'd */
} tsl_npy_f64;

/* Parses a '<f4' or '<f8' file image with every check of tsl_npy_parse_f32. */
tsl_status tsl_npy_parse_f64(const char *source, const void *bytes, size_t size, tsl_npy_f64 *out);
tsl_status tsl_npy_read_f64(const char *path, size_t max_bytes, tsl_npy_f64 *out);
void tsl_npy_free_f64(tsl_npy_f64 *array);

/* Writes a version 1.0 '<f4' C-order file atomically (header padded to 64 bytes, as NumPy does). */
tsl_status tsl_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape);

void tsl_npy_free(tsl_npy_f32 *array);

#endif
