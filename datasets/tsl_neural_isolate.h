/* Runs a neural-data reader in a child process, so that a crash inside a system library (libhdf5 on a
 * corrupt netCDF-4 file) becomes an error naming the file instead of killing tessl. */
#ifndef TSL_NEURAL_ISOLATE_H
#define TSL_NEURAL_ISOLATE_H

#include "tsl_neural_data.h"

#include <stdint.h>

typedef tsl_status (*tsl_neural_reader)(const char *path, const char *region, uint64_t max_values,
                                        tsl_neural_data *out);

/* Calls reader(path, region, max_values, ...) in a forked child and returns its result (stimulus ids,
 * labels, responses, trials; file names are not carried) or its error message. A child killed by a
 * signal gives TSL_ERR_FORMAT. Call before opening devices or starting threads. */
tsl_status tsl_neural_read_isolated(const char *path, const char *region, uint64_t max_values,
                                    tsl_neural_reader reader, tsl_neural_data *out);

#endif
