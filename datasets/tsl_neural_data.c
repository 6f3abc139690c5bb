#include "tsl_neural_data.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void free_strings(char **s, size_t n) {
    if (!s)
        return;
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

void tsl_neural_data_free(tsl_neural_data *d) {
    free_strings(d->stimulus_ids, d->n_stimuli);
    free_strings(d->filenames, d->n_stimuli);
    free_strings(d->label_names, d->n_labels);
    free(d->labels);
    free(d->responses);
    free(d->trials);
    memset(d, 0, sizeof *d);
}

long tsl_neural_find(const tsl_neural_data *d, const char *id) {
    for (size_t i = 0; i < d->n_stimuli; i++)
        if (strcmp(d->stimulus_ids[i], id) == 0)
            return (long)i;
    return -1;
}

/* ---- a string -> index map (open addressing, FNV-1a), so grouping is linear in presentations ---- */

typedef struct {
    const char **keys;
    size_t *values;
    size_t capacity; /* a power of two, at least twice the entries */
} string_map;

static bool map_init(string_map *m, size_t entries) {
    m->capacity = 16;
    while (m->capacity < 2 * entries)
        m->capacity *= 2;
    m->keys = calloc(m->capacity, sizeof *m->keys);
    m->values = calloc(m->capacity, sizeof *m->values);
    return m->keys && m->values;
}

static void map_free(string_map *m) {
    free(m->keys);
    free(m->values);
}

static uint64_t hash_string(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The slot of `key`: its entry, or the empty slot where it belongs. */
static size_t map_slot(const string_map *m, const char *key) {
    size_t i = hash_string(key) & (m->capacity - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->capacity - 1);
    return i;
}

/* Index of `key`, inserting it with index *count (then incremented) when new. `key` must outlive m. */
static size_t map_intern(string_map *m, const char *key, size_t *count, bool *is_new) {
    size_t slot = map_slot(m, key);
    *is_new = !m->keys[slot];
    if (*is_new) {
        m->keys[slot] = key;
        m->values[slot] = (*count)++;
    }
    return m->values[slot];
}

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

tsl_status tsl_neural_set_labels(const char *source, const char *const *labels, size_t n,
                                 tsl_neural_data *out) {
    string_map map;
    tsl_status st = TSL_OK;
    out->labels = malloc((n ? n : 1) * sizeof *out->labels);
    out->label_names = calloc(n ? n : 1, sizeof *out->label_names);
    if (!map_init(&map, n) || !out->labels || !out->label_names)
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu labels", source, n);
    for (size_t i = 0; i < n && st == TSL_OK; i++) {
        if (!labels[i] || !*labels[i]) {
            st = tsl_error(TSL_ERR_FORMAT, "%s: stimulus %zu has an empty object label", source, i);
            break;
        }
        bool is_new;
        size_t k = map_intern(&map, labels[i], &out->n_labels, &is_new);
        out->labels[i] = (int32_t)k;
        if (is_new && !(out->label_names[k] = copy_string(labels[i])))
            st = tsl_error(TSL_ERR_NOMEM, "%s: labels", source);
    }
    map_free(&map);
    return st;
}

/* ---- grouping presentations into stimuli x trials ---- */

static int compare_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Trial index of every presentation: the rank of its repetition among the distinct values, or (reps
 * NULL) how many earlier showings its stimulus had. */
static tsl_status trial_indices(const char *source, const tsl_neural_presentations *p, const size_t *stim,
                                size_t n_stimuli, size_t *trial, size_t *n_trials) {
    size_t n = p->n_presentations;
    *n_trials = 0;
    if (!p->reps) {
        size_t *seen = calloc(n_stimuli, sizeof *seen);
        if (!seen)
            return tsl_error(TSL_ERR_NOMEM, "%s: %zu stimuli", source, n_stimuli);
        for (size_t i = 0; i < n; i++) {
            trial[i] = seen[stim[i]]++;
            *n_trials = trial[i] + 1 > *n_trials ? trial[i] + 1 : *n_trials;
        }
        free(seen);
        return TSL_OK;
    }
    int64_t *sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        return tsl_error(TSL_ERR_NOMEM, "%s: %zu presentations", source, n);
    memcpy(sorted, p->reps, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_i64);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || sorted[i] != sorted[distinct - 1])
            sorted[distinct++] = sorted[i];
    for (size_t i = 0; i < n; i++) {
        const int64_t *at = bsearch(&p->reps[i], sorted, distinct, sizeof *sorted, compare_i64);
        trial[i] = (size_t)(at - sorted);
    }
    free(sorted);
    *n_trials = distinct;
    return TSL_OK;
}

static tsl_status check_presentations(const char *source, const tsl_neural_presentations *p) {
    if (p->n_presentations < 1 || p->n_neuroids < 1)
        return tsl_error(TSL_ERR_FORMAT, "%s: no presentations or no neuroids (%zu x %zu)", source,
                         p->n_presentations, p->n_neuroids);
    for (size_t i = 0; i < p->n_presentations; i++) {
        if (!p->ids[i] || !p->ids[i][0])
            return tsl_error(TSL_ERR_FORMAT, "%s: presentation %zu has an empty stimulus id", source, i);
        if (strlen(p->ids[i]) >= TSL_NEURAL_MAX_ID)
            return tsl_error(TSL_ERR_FORMAT, "%s: presentation %zu: stimulus id longer than %d bytes", source,
                             i, TSL_NEURAL_MAX_ID - 1);
    }
    return TSL_OK;
}

/* Fills out->trials (NaN where missing) and out->responses (means of the recorded trials). */
static tsl_status fill_trials(const char *source, const tsl_neural_presentations *p, const size_t *stim,
                              const size_t *trial, tsl_neural_data *out) {
    size_t k = p->n_neuroids, t = out->n_trials, n = out->n_stimuli;
    for (size_t i = 0; i < n * t * k; i++)
        out->trials[i] = NAN;
    for (size_t i = 0; i < p->n_presentations; i++) {
        double *row = out->trials + (stim[i] * t + trial[i]) * k;
        if (!isnan(row[0]))
            return tsl_error(TSL_ERR_FORMAT, "%s: stimulus '%s' has repetition %zu twice", source, p->ids[i],
                             trial[i]);
        for (size_t j = 0; j < k; j++) {
            double v = p->values[i * k + j];
            if (!isfinite(v))
                return tsl_error(TSL_ERR_FORMAT, "%s: presentation %zu, neuroid %zu: non-finite response",
                                 source, i, j);
            row[j] = v;
        }
    }
    for (size_t s = 0; s < n; s++)
        for (size_t j = 0; j < k; j++) {
            double sum = 0;
            size_t m = 0;
            for (size_t r = 0; r < t; r++) {
                double v = out->trials[(s * t + r) * k + j];
                if (!isnan(v))
                    sum += v, m++;
            }
            out->responses[s * k + j] = sum / (double)m; /* m >= 1: every stimulus was shown */
        }
    return TSL_OK;
}

/* The stimulus of every presentation, and out's ids and labels. */
static tsl_status index_stimuli(const char *source, const tsl_neural_presentations *p, size_t *stim,
                                tsl_neural_data *out, const char ***stim_labels) {
    size_t n = p->n_presentations;
    string_map map;
    tsl_status st = TSL_OK;
    out->stimulus_ids = calloc(n, sizeof *out->stimulus_ids);
    *stim_labels = calloc(n, sizeof **stim_labels);
    if (!map_init(&map, n) || !out->stimulus_ids || !*stim_labels)
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu presentations", source, n);
    for (size_t i = 0; i < n && st == TSL_OK; i++) {
        bool is_new;
        size_t count = out->n_stimuli;
        stim[i] = map_intern(&map, p->ids[i], &count, &is_new);
        if (is_new) {
            out->stimulus_ids[out->n_stimuli++] = copy_string(p->ids[i]);
            if (!out->stimulus_ids[stim[i]])
                st = tsl_error(TSL_ERR_NOMEM, "%s: stimulus ids", source);
            if (p->labels)
                (*stim_labels)[stim[i]] = p->labels[i];
        } else if (p->labels && strcmp((*stim_labels)[stim[i]] ? (*stim_labels)[stim[i]] : "",
                                       p->labels[i] ? p->labels[i] : "") != 0) {
            st = tsl_error(TSL_ERR_FORMAT, "%s: stimulus '%s' has two object labels ('%s', '%s')", source,
                           p->ids[i], (*stim_labels)[stim[i]], p->labels[i]);
        }
    }
    if (st == TSL_OK && out->n_stimuli > TSL_NEURAL_MAX_STIMULI)
        st = tsl_error(TSL_ERR_FORMAT, "%s: %zu stimuli (at most %d)", source, out->n_stimuli,
                       TSL_NEURAL_MAX_STIMULI);
    map_free(&map);
    return st;
}

static tsl_status group(const char *source, const tsl_neural_presentations *p, size_t *stim, size_t *trial,
                        tsl_neural_data *out) {
    const char **stim_labels = NULL;
    tsl_status st = index_stimuli(source, p, stim, out, &stim_labels);
    if (st == TSL_OK && p->labels)
        st = tsl_neural_set_labels(source, stim_labels, out->n_stimuli, out);
    free(stim_labels);
    TSL_TRY(st);
    TSL_TRY(trial_indices(source, p, stim, out->n_stimuli, trial, &out->n_trials));
    size_t n = out->n_stimuli, t = out->n_trials, k = p->n_neuroids;
    if (n * t > 4 * p->n_presentations)
        return tsl_error(TSL_ERR_FORMAT,
                         "%s: %zu presentations of %zu stimuli over %zu distinct repetitions: too sparse to "
                         "align trials",
                         source, p->n_presentations, n, t);
    out->responses = malloc(n * k * sizeof *out->responses);
    out->trials = malloc(n * t * k * sizeof *out->trials);
    if (!out->responses || !out->trials)
        return tsl_error(TSL_ERR_NOMEM, "%s: %zu stimuli x %zu trials x %zu neuroids", source, n, t, k);
    TSL_TRY(fill_trials(source, p, stim, trial, out));
    if (t == 1) { /* averages only: no trial structure to keep */
        free(out->trials);
        out->trials = NULL;
        out->n_trials = 0;
    }
    return TSL_OK;
}

tsl_status tsl_neural_group(const char *source, const tsl_neural_presentations *p, tsl_neural_data *out) {
    memset(out, 0, sizeof *out);
    TSL_TRY(check_presentations(source, p));
    if (p->n_neuroids > SIZE_MAX / 4 / sizeof(double) / p->n_presentations) /* 4: the trial table */
        return tsl_error(TSL_ERR_FORMAT, "%s: %zu x %zu responses overflow", source, p->n_presentations,
                         p->n_neuroids);
    out->n_neuroids = p->n_neuroids;
    size_t *stim = malloc(p->n_presentations * sizeof *stim),
           *trial = malloc(p->n_presentations * sizeof *trial);
    tsl_status st = stim && trial
                        ? group(source, p, stim, trial, out)
                        : tsl_error(TSL_ERR_NOMEM, "%s: %zu presentations", source, p->n_presentations);
    free(stim);
    free(trial);
    if (st != TSL_OK)
        tsl_neural_data_free(out);
    return st;
}
