/* BrainIO data assemblies (netCDF, as Brain-Score users download them, e.g. MajajHong2015.public), read
 * through libnetcdf. docs/NEURAL_DATA.md has the layout:
 *
 * - the data is the variable __xarray_dataarray_variable__, else the only variable of two or more
 *   dimensions; its dimensions are presentation, neuroid and optionally time_bin (any order; other
 *   dimensions must have length 1). Integer or floating-point values; values equal to _FillValue are
 *   missing, and packed data (scale_factor, add_offset) is refused.
 * - coordinates are one-dimensional variables on those dimensions (strings as netCDF-4 strings or as
 *   character arrays with a trailing string-length dimension, or integers): on presentation,
 *   stimulus_id (or image_id; required), repetition (optional) and object_name (optional); on neuroid,
 *   region (required when a region is selected).
 *
 * As Brain-Score's public IT benchmark does, the neuroids of one region are kept, time bins are averaged
 * (a single bin is the usual case: MajajHong2015 has 70-170 ms), and presentations are grouped by
 * stimulus (tsl_neural_group: repetition-averaged responses, the trials for the ceiling). */
#ifndef TSL_NEURAL_NETCDF_H
#define TSL_NEURAL_NETCDF_H

#include "tsl_neural_data.h"

#include <stdint.h>

/* `region`: keep the neuroids whose region coordinate is this (e.g. "IT"); NULL or "all" keeps all.
 * `max_values` bounds the data variable's element count (checked before anything is allocated). */
tsl_status tsl_neural_netcdf_read(const char *path, const char *region, uint64_t max_values,
                                  tsl_neural_data *out);

/* The same from a file image in memory (`source` names it in errors). */
tsl_status tsl_neural_netcdf_parse(const char *source, const void *bytes, size_t size, const char *region,
                                   uint64_t max_values, tsl_neural_data *out);

#endif
