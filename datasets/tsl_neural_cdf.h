/* Classic netCDF (CDF-1, CDF-2, CDF-5) header checks run before libnetcdf sees a file. */
#ifndef TSL_NEURAL_CDF_H
#define TSL_NEURAL_CDF_H

#include "tsl_status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The file starts with a classic netCDF signature ("CDF" and version 1, 2 or 5). */
bool tsl_neural_cdf_is_classic(const void *bytes, size_t size);

/* Walks the header of a classic file image (`size` bytes; may be just a prefix holding the whole header):
 * every element count must fit in the bytes that remain, names (1..256 bytes) and attribute values inside
 * the bytes, variables' dimension ids must name declared dimensions (at most 1024 per variable), types
 * must be valid. TSL_ERR_FORMAT naming `source` otherwise. */
tsl_status tsl_neural_cdf_check(const char *source, const void *bytes, size_t size);

#endif
