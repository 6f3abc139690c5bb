/* Loads the neural data `tessl neural --responses FILE` names, choosing the reader by content. */
#ifndef TSL_NEURAL_LOAD_H
#define TSL_NEURAL_LOAD_H

#include "tsl_neural_data.h"

#include <stdint.h>

/* FILE starting with netCDF's or HDF5's signature is a BrainIO assembly (tsl_neural_netcdf_read with
 * `region`; netCDF-4 files in a child process, tsl_neural_isolate.h); then `table_path` (may be NULL) is an
 * optional stimulus-set CSV whose filename column maps ids to image files. A .npy FILE is the simple format,
 * and `table_path` (required) its stimulus table. Anything else: TSL_ERR_FORMAT naming FILE. */
tsl_status tsl_neural_load(const char *responses_path, const char *table_path, const char *region,
                           uint64_t max_values, tsl_neural_data *out);

#endif
