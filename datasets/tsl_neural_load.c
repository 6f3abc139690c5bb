#include "tsl_neural_load.h"

#include "tsl_neural_isolate.h"
#include "tsl_neural_netcdf.h"
#include "tsl_neural_simple.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef enum { KIND_NPY, KIND_CLASSIC, KIND_HDF5, KIND_UNKNOWN } file_kind;

static tsl_status sniff(const char *path, file_kind *kind) {
    unsigned char magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return tsl_error(TSL_ERR_IO, "%s: %s", path, strerror(errno));
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (n >= 6 && memcmp(magic, "\x93NUMPY", 6) == 0)
        *kind = KIND_NPY;
    else if (n >= 4 && memcmp(magic, "CDF", 3) == 0 && (magic[3] == 1 || magic[3] == 2 || magic[3] == 5))
        *kind = KIND_CLASSIC;
    else if (n == 8 && memcmp(magic, "\x89HDF\r\n\x1a\n", 8) == 0)
        *kind = KIND_HDF5;
    else
        *kind = KIND_UNKNOWN;
    return TSL_OK;
}

tsl_status tsl_neural_load(const char *responses_path, const char *table_path, const char *region,
                           uint64_t max_values, tsl_neural_data *out) {
    memset(out, 0, sizeof *out);
    file_kind kind = KIND_UNKNOWN;
    TSL_TRY(sniff(responses_path, &kind));
    if (kind == KIND_UNKNOWN)
        return tsl_error(TSL_ERR_FORMAT, "%s: neither a .npy file nor a netCDF (BrainIO) assembly",
                         responses_path);
    if (kind == KIND_NPY) {
        if (!table_path)
            return tsl_error(TSL_ERR_INVALID_ARG,
                             "%s: .npy responses need a stimulus list (stimulus ids in row "
                             "order)",
                             responses_path);
        return tsl_neural_simple_read(table_path, responses_path, out);
    }
    /* netCDF-4 is HDF5, and libhdf5 can crash on a corrupt file: read it in a child process. */
    if (kind == KIND_HDF5)
        TSL_TRY(tsl_neural_read_isolated(responses_path, region, max_values, tsl_neural_netcdf_read, out));
    else
        TSL_TRY(tsl_neural_netcdf_read(responses_path, region, max_values, out));
    if (!table_path)
        return TSL_OK;
    tsl_neural_table table;
    tsl_status st = tsl_neural_table_read(table_path, &table);
    if (st == TSL_OK) {
        st = tsl_neural_attach_filenames(table_path, &table, out);
        tsl_neural_table_free(&table);
    }
    if (st != TSL_OK)
        tsl_neural_data_free(out);
    return st;
}
