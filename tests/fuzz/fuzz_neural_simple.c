/* Fuzz target: the simple neural-data format (datasets/tsl_neural_simple.h) on arbitrary bytes. The first
 * two bytes (little-endian) give the length of the stimulus table (CSV or text list), the rest is the
 * .npy of responses. Either side is refused with an error or the data is consistent: one response row
 * per stimulus, finite averages, labels inside the label list, trials with n_trials >= 2. */
#include "fuzz_target.h"
#include "tsl_neural_simple.h"

#include <math.h>

static void check(const tsl_neural_table *t, const tsl_neural_data *d) {
    FUZZ_ASSERT(d->n_stimuli == t->n && d->n_neuroids >= 1);
    for (size_t i = 0; i < d->n_stimuli * d->n_neuroids; i++)
        FUZZ_ASSERT(isfinite(d->responses[i]));
    FUZZ_ASSERT((d->trials != NULL) == (d->n_trials >= 2));
    for (size_t i = 0; d->trials && i < d->n_stimuli * d->n_trials * d->n_neuroids; i++)
        FUZZ_ASSERT(!isinf(d->trials[i]));
    for (size_t i = 0; d->labels && i < d->n_stimuli; i++)
        FUZZ_ASSERT(d->labels[i] >= 0 && (size_t)d->labels[i] < d->n_labels && d->label_names[d->labels[i]]);
    for (size_t i = 0; d->filenames && i < d->n_stimuli; i++)
        FUZZ_ASSERT(d->filenames[i][0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2)
        return 0;
    size_t table_len = (size_t)data[0] | (size_t)data[1] << 8;
    if (table_len > size - 2)
        table_len = size - 2;
    tsl_neural_table t;
    if (tsl_neural_table_parse("fuzz.csv", (const char *)data + 2, table_len, &t) != TSL_OK)
        return 0;
    for (size_t i = 0; i < t.n; i++)
        FUZZ_ASSERT(t.ids[i][0]);
    tsl_neural_data d;
    if (tsl_neural_simple_parse(&t, "fuzz.npy", data + 2 + table_len, size - 2 - table_len, &d) == TSL_OK) {
        check(&t, &d);
        tsl_neural_data_free(&d);
    }
    tsl_neural_table_free(&t);
    return 0;
}
