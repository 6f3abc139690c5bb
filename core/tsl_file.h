/* Whole-file helpers. Output files are written atomically: data goes to "PATH.tmp.<pid>", is fsync'd,
 * then renamed over PATH and the directory fsync'd, so a crash or a full disk never leaves a
 * half-written PATH and never destroys the previous version. */
#ifndef TSL_FILE_H
#define TSL_FILE_H

#include "tsl_status.h"

#include <stddef.h>
#include <stdio.h>

typedef struct {
    char *final_path;
    char *temp_path;
    FILE *file;
} tsl_atomic_file;

/* Opens a temporary file beside `path` for writing. */
tsl_status tsl_atomic_open(tsl_atomic_file *af, const char *path);

/* Writes `size` bytes; on failure the message names the final path. */
tsl_status tsl_atomic_write(tsl_atomic_file *af, const void *data, size_t size);

/* Flushes, fsyncs and renames the temporary file to the final path. Frees `af` in all cases; on
 * failure the temporary file is removed and the old file at `path` (if any) is untouched. */
tsl_status tsl_atomic_commit(tsl_atomic_file *af);

/* Removes the temporary file and frees `af` (use on any error path before commit). */
void tsl_atomic_abort(tsl_atomic_file *af);

/* Removes the temporaries "DIR/<prefix>....tmp.<pid>" that killed writers left behind: those whose pid
 * is not a live process (a live one may be another process writing that file right now). Returns how
 * many were removed; a directory that cannot be read removes none. */
int tsl_atomic_remove_stale(const char *dir, const char *prefix);

/* Writes a whole buffer to `path` atomically. */
tsl_status tsl_write_file_atomic(const char *path, const void *data, size_t size);

/* Reads a whole file into a malloc'd buffer (caller frees). `max_size` bounds what will be read; a
 * larger file is a TSL_ERR_FORMAT error naming the file. */
tsl_status tsl_read_file(const char *path, size_t max_size, void **data, size_t *size);

/* Creates a directory and its parents (like mkdir -p). */
tsl_status tsl_mkdirs(const char *path);

#endif
