/* Neural responses to a set of stimuli, as `tessl neural` scores them (docs/NEURAL_DATA.md): one row per
 * stimulus (its id, optional object label, the trial-averaged response of every neuroid) and, when the
 * source has them, the single trials behind the averages (for the split-half ceiling).
 *
 * Two readers fill it: the simple format (a stimulus list plus a .npy of responses; tsl_neural_simple.c)
 * and BrainIO netCDF assemblies as Brain-Score distributes them (tsl_neural_netcdf.c). Both trust nothing:
 * every size is checked before use and errors name the file and the problem. */
#ifndef TSL_NEURAL_DATA_H
#define TSL_NEURAL_DATA_H

#include "tsl_status.h"

#include <stddef.h>
#include <stdint.h>

enum {
    TSL_NEURAL_MAX_ID = 512,          /* bytes in a stimulus id, label or file name */
    TSL_NEURAL_MAX_STIMULI = 1 << 22, /* stimuli in one data set */
};

typedef struct {
    size_t n_stimuli, n_neuroids;
    size_t n_trials;     /* trials per stimulus in `trials`; 0 when the source has only averages */
    char **stimulus_ids; /* n_stimuli, unique, non-empty */
    char **filenames;    /* n_stimuli image paths relative to the stimulus folder, or NULL (by id) */
    int32_t *labels;     /* n_stimuli indices into label_names, or NULL (no object labels) */
    char **label_names;  /* n_labels */
    size_t n_labels;
    double *responses; /* n_stimuli x n_neuroids: each the mean of its recorded trials; finite */
    double *trials;    /* n_stimuli x n_trials x n_neuroids, NaN where a trial was not recorded; or NULL */
} tsl_neural_data;

void tsl_neural_data_free(tsl_neural_data *data);

/* Trial-level observations of one source before grouping: presentation p shows stimulus ids[p] (a
 * stimulus may be shown several times), in repetition reps[p] (NULL: the order of its showings), with
 * object label labels[p] (NULL: none); its responses are values[p * n_neuroids ...]. */
typedef struct {
    size_t n_presentations, n_neuroids;
    const char *const *ids;
    const int64_t *reps;
    const char *const *labels;
    const double *values;
} tsl_neural_presentations;

/* Groups presentations by stimulus id (stimuli in order of first appearance): the trial axis is the
 * sorted set of distinct repetition values (Brain-Score splits trials by their repetition coordinate),
 * so trial r of every stimulus is the same repetition; a response is the mean of the stimulus's
 * recorded trials. When every stimulus is shown once, no trials are kept. `source` names the input in
 * errors: a repeated (stimulus, repetition) pair, a stimulus with two different labels, non-finite
 * values, empty ids, or a trial table more than 4x larger than the presentations (repetitions too sparse
 * to align). */
tsl_status tsl_neural_group(const char *source, const tsl_neural_presentations *p, tsl_neural_data *out);

/* Turns per-stimulus label strings (n of them, NULL entries not allowed) into out->labels and
 * out->label_names (labels numbered in order of first appearance). */
tsl_status tsl_neural_set_labels(const char *source, const char *const *labels, size_t n,
                                 tsl_neural_data *out);

/* Index of `id` among out->stimulus_ids, or -1 (linear; call sites are per stimulus, not per pair). */
long tsl_neural_find(const tsl_neural_data *data, const char *id);

#endif
