/* Fuzz target: BrainIO assemblies (datasets/tsl_neural_netcdf.h) from arbitrary bytes through libnetcdf's
 * in-memory open. The first byte picks the region ("IT" when even, every neuroid when odd); the rest is
 * the file. The data variable is capped at 2^20 values. An accepted assembly is consistent: unique
 * non-empty ids, finite averages, labels inside the label list, trials only with >= 2 repetitions.
 *
 * Only classic netCDF inputs are run: they exercise the header check (tsl_neural_cdf.h), libnetcdf's
 * classic reader and all of tessl's interpretation, which is the same for netCDF-4 files. netCDF-4 files
 * are HDF5, and Debian's libhdf5 1.10.8 crashes on corrupt ones (an invalid free inside nc_open within a
 * minute of fuzzing: docs/RELIABILITY.md); that is a library defect tessl cannot fix or check around. */
#include "fuzz_target.h"
#include "tsl_neural_cdf.h"
#include "tsl_neural_netcdf.h"

#include <math.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || !tsl_neural_cdf_is_classic(data + 1, size - 1))
        return 0;
    tsl_neural_data d;
    const char *region = data[0] % 2 ? "all" : "IT";
    if (tsl_neural_netcdf_parse("fuzz.nc", data + 1, size - 1, region, 1 << 20, &d) != TSL_OK)
        return 0;
    FUZZ_ASSERT(d.n_stimuli >= 1 && d.n_neuroids >= 1);
    for (size_t i = 0; i < d.n_stimuli; i++)
        FUZZ_ASSERT(d.stimulus_ids[i][0] && (i == 0 || strcmp(d.stimulus_ids[i], d.stimulus_ids[0]) != 0));
    for (size_t i = 0; i < d.n_stimuli * d.n_neuroids; i++)
        FUZZ_ASSERT(isfinite(d.responses[i]));
    FUZZ_ASSERT((d.trials != NULL) == (d.n_trials >= 2));
    for (size_t i = 0; d.labels && i < d.n_stimuli; i++)
        FUZZ_ASSERT(d.labels[i] >= 0 && (size_t)d.labels[i] < d.n_labels);
    tsl_neural_data_free(&d);
    return 0;
}
