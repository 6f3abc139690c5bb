/* The simple neural-data format (docs/NEURAL_DATA.md) and stimulus tables.
 *
 * A stimulus table is either a CSV file (RFC 4180: a header row, quoted fields with "" escapes, CRLF or LF)
 * with a column stimulus_id (or image_id) and optionally filename (or image_file_name) and object_name
 * (or label); other columns are ignored, so a BrainIO stimulus-set CSV is one. Or a text file with one
 * stimulus id per line (a file whose first line has no such column). Ids are unique and non-empty.
 *
 * The simple format is a stimulus table whose row i is row i of a .npy array of responses: float32 or
 * float64, stimuli x neuroids (averages) or stimuli x trials x neuroids (NaN: trial not recorded; every
 * stimulus needs one recorded trial). */
#ifndef TSL_NEURAL_SIMPLE_H
#define TSL_NEURAL_SIMPLE_H

#include "tsl_neural_data.h"

typedef struct {
    size_t n;
    char **ids;       /* n */
    char **filenames; /* n, or NULL without a filename column */
    char **labels;    /* n, or NULL without an object_name / label column */
} tsl_neural_table;

/* Parses `len` bytes of a stimulus table; `source` names it in errors (with the line number). */
tsl_status tsl_neural_table_parse(const char *source, const char *text, size_t len, tsl_neural_table *out);
tsl_status tsl_neural_table_read(const char *path, tsl_neural_table *out);
void tsl_neural_table_free(tsl_neural_table *table);

/* The simple format from a parsed table and the bytes of the .npy file (named npy_source). */
tsl_status tsl_neural_simple_parse(const tsl_neural_table *table, const char *npy_source, const void *npy,
                                   size_t npy_size, tsl_neural_data *out);
tsl_status tsl_neural_simple_read(const char *table_path, const char *npy_path, tsl_neural_data *out);

/* Sets data->filenames from the table's filename column (matching by stimulus id). Every stimulus of
 * `data` must be in the table; a table without filenames leaves data->filenames NULL. */
tsl_status tsl_neural_attach_filenames(const char *source, const tsl_neural_table *table,
                                       tsl_neural_data *data);

#endif
