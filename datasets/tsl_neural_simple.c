#include "tsl_neural_simple.h"

#include "tsl_file.h"
#include "tsl_npy.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TABLE_BYTES = 1 << 30, MAX_COLUMNS = 4096 };

/* ---- CSV records ---- */

typedef struct {
    const char *at, *end, *source;
    size_t line;
} reader;

typedef struct {
    char **fields;
    size_t count, capacity;
} record;

static void record_clear(record *r) {
    for (size_t i = 0; i < r->count; i++)
        free(r->fields[i]);
    r->count = 0;
}

static tsl_status record_push(reader *rd, record *r, const char *text, size_t len) {
    if (len >= TSL_NEURAL_MAX_ID)
        return tsl_error(TSL_ERR_FORMAT, "%s: line %zu: a field longer than %d bytes", rd->source, rd->line,
                         TSL_NEURAL_MAX_ID - 1);
    if (r->count == MAX_COLUMNS)
        return tsl_error(TSL_ERR_FORMAT, "%s: line %zu: more than %d columns", rd->source, rd->line,
                         MAX_COLUMNS);
    if (r->count == r->capacity) {
        size_t cap = r->capacity ? 2 * r->capacity : 16;
        char **f = realloc(r->fields, cap * sizeof *f);
        if (!f)
            return tsl_error(TSL_ERR_NOMEM, "%s: out of memory", rd->source);
        r->fields = f, r->capacity = cap;
    }
    char *s = malloc(len + 1);
    if (!s)
        return tsl_error(TSL_ERR_NOMEM, "%s: out of memory", rd->source);
    memcpy(s, text, len);
    s[len] = 0;
    r->fields[r->count++] = s;
    return TSL_OK;
}

/* One quoted field starting at the opening quote: "" is a quote, anything else (newlines too) literal. */
static tsl_status read_quoted(reader *rd, record *r) {
    char buf[TSL_NEURAL_MAX_ID];
    size_t n = 0;
    size_t start_line = rd->line;
    rd->at++;
    for (;;) {
        if (rd->at >= rd->end)
            return tsl_error(TSL_ERR_FORMAT, "%s: line %zu: unterminated quoted field", rd->source,
                             start_line);
        char c = *rd->at++;
        if (c == '"') {
            if (rd->at < rd->end && *rd->at == '"')
                rd->at++;
            else
                break;
        }
        if (c == '\n')
            rd->line++;
        if (c == 0)
            return tsl_error(TSL_ERR_FORMAT, "%s: line %zu: a NUL byte in a field", rd->source, rd->line);
        if (n + 1 >= sizeof buf)
            return tsl_error(TSL_ERR_FORMAT, "%s: line %zu: a field longer than %d bytes", rd->source,
                             start_line, TSL_NEURAL_MAX_ID - 1);
        buf[n++] = c;
    }
    if (rd->at < rd->end && *rd->at != ',' && *rd->at != '\n' && *rd->at != '\r')
        return tsl_error(TSL_ERR_FORMAT, "%s: line %zu: text after a closing quote", rd->source, rd->line);
    return record_push(rd, r, buf, n);
}

/* Reads one record (up to and including its line end). */
static tsl_status read_record(reader *rd, record *r) {
    record_clear(r);
    for (;;) {
        if (rd->at < rd->end && *rd->at == '"') {
            TSL_TRY(read_quoted(rd, r));
        } else {
            const char *start = rd->at;
            while (rd->at < rd->end && *rd->at != ',' && *rd->at != '\n' && *rd->at != '\r') {
                if (*rd->at == '"' || *rd->at == 0)
                    return tsl_error(TSL_ERR_FORMAT, "%s: line %zu: a quote or NUL inside an unquoted field",
                                     rd->source, rd->line);
                rd->at++;
            }
            TSL_TRY(record_push(rd, r, start, (size_t)(rd->at - start)));
        }
        if (rd->at < rd->end && *rd->at == ',') {
            rd->at++;
            continue;
        }
        if (rd->at < rd->end && *rd->at == '\r')
            rd->at++;
        if (rd->at < rd->end) {
            if (*rd->at != '\n')
                return tsl_error(TSL_ERR_FORMAT, "%s: line %zu: a carriage return inside a record",
                                 rd->source, rd->line);
            rd->at++;
        }
        rd->line++;
        return TSL_OK;
    }
}

static long column(const record *header, const char *a, const char *b) {
    for (size_t i = 0; i < header->count; i++)
        if (strcmp(header->fields[i], a) == 0 || strcmp(header->fields[i], b) == 0)
            return (long)i;
    return -1;
}

/* ---- tables ---- */

void tsl_neural_table_free(tsl_neural_table *t) {
    for (size_t i = 0; i < t->n; i++) {
        free(t->ids[i]);
        if (t->filenames)
            free(t->filenames[i]);
        if (t->labels)
            free(t->labels[i]);
    }
    free(t->ids), free(t->filenames), free(t->labels);
    memset(t, 0, sizeof *t);
}

/* Moves field `col` of `r` into slot i of `dst` (when the column exists). */
static void take(record *r, long col, char **dst, size_t i) {
    if (col < 0 || !dst)
        return;
    dst[i] = r->fields[col];
    r->fields[col] = NULL;
}

static tsl_status grow_table(const char *source, tsl_neural_table *t, size_t *capacity) {
    if (t->n < *capacity)
        return TSL_OK;
    if (t->n >= TSL_NEURAL_MAX_STIMULI)
        return tsl_error(TSL_ERR_FORMAT, "%s: more than %d stimuli", source, TSL_NEURAL_MAX_STIMULI);
    size_t cap = *capacity ? 2 * *capacity : 64;
    char **ids = realloc(t->ids, cap * sizeof *ids);
    if (ids)
        t->ids = ids;
    char **fn = t->filenames ? realloc(t->filenames, cap * sizeof *fn) : NULL;
    if (fn)
        t->filenames = fn;
    char **lb = t->labels ? realloc(t->labels, cap * sizeof *lb) : NULL;
    if (lb)
        t->labels = lb;
    if (!ids || (t->filenames && !fn) || (t->labels && !lb))
        return tsl_error(TSL_ERR_NOMEM, "%s: out of memory", source);
    *capacity = cap;
    return TSL_OK;
}

static bool blank_record(const record *r) {
    return r->count == 1 && r->fields[0][0] == 0;
}

/* Rows after the header; ids required, the other columns optional. */
static tsl_status read_rows(reader *rd, const record *header, long id_col, long file_col, long label_col,
                            tsl_neural_table *t) {
    record r = {0};
    size_t capacity = 0;
    tsl_status st = TSL_OK;
    t->filenames = file_col >= 0 ? malloc(sizeof(char *)) : NULL;
    t->labels = label_col >= 0 ? malloc(sizeof(char *)) : NULL;
    if ((file_col >= 0 && !t->filenames) || (label_col >= 0 && !t->labels))
        st = tsl_error(TSL_ERR_NOMEM, "%s: out of memory", rd->source);
    while (st == TSL_OK && rd->at < rd->end) {
        size_t line = rd->line;
        st = read_record(rd, &r);
        if (st != TSL_OK)
            break;
        if (blank_record(&r) && rd->at >= rd->end)
            break; /* a final empty line */
        if (r.count != header->count) {
            st = tsl_error(TSL_ERR_FORMAT, "%s: line %zu has %zu fields, the header %zu", rd->source, line,
                           r.count, header->count);
            break;
        }
        if ((st = grow_table(rd->source, t, &capacity)) != TSL_OK)
            break;
        take(&r, id_col, t->ids, t->n);
        take(&r, file_col, t->filenames, t->n);
        take(&r, label_col, t->labels, t->n);
        t->n++;
    }
    record_clear(&r);
    free(r.fields);
    return st;
}

/* A text list: every line one id (a trailing '\r' dropped); only the final line may be empty. */
static tsl_status read_lines(reader *rd, tsl_neural_table *t) {
    size_t capacity = 0;
    while (rd->at < rd->end) {
        const char *start = rd->at, *nl = memchr(rd->at, '\n', (size_t)(rd->end - rd->at));
        const char *stop = nl ? nl : rd->end;
        rd->at = nl ? nl + 1 : rd->end;
        size_t len = (size_t)(stop - start);
        if (len && start[len - 1] == '\r')
            len--;
        if (len == 0 && rd->at >= rd->end)
            break;
        if (len == 0 || len >= TSL_NEURAL_MAX_ID || memchr(start, 0, len))
            return tsl_error(TSL_ERR_FORMAT, "%s: line %zu: an empty, over-long or NUL-holding stimulus id",
                             rd->source, rd->line);
        TSL_TRY(grow_table(rd->source, t, &capacity));
        if (!(t->ids[t->n] = malloc(len + 1)))
            return tsl_error(TSL_ERR_NOMEM, "%s: out of memory", rd->source);
        memcpy(t->ids[t->n], start, len);
        t->ids[t->n++][len] = 0;
        rd->line++;
    }
    return TSL_OK;
}

static tsl_status check_ids(const char *source, const tsl_neural_table *t) {
    if (t->n == 0)
        return tsl_error(TSL_ERR_FORMAT, "%s: no stimuli", source);
    tsl_neural_presentations p = {
        .n_presentations = t->n, .n_neuroids = 1, .ids = (const char *const *)t->ids};
    for (size_t i = 0; i < t->n; i++)
        if (!t->ids[i][0])
            return tsl_error(TSL_ERR_FORMAT, "%s: row %zu has an empty stimulus id", source, i + 1);
    /* Uniqueness through the grouping map: as many stimuli as rows. */
    double *zeros = calloc(t->n, sizeof *zeros);
    if (!zeros)
        return tsl_error(TSL_ERR_NOMEM, "%s: out of memory", source);
    p.values = zeros;
    tsl_neural_data d;
    tsl_status st = tsl_neural_group(source, &p, &d);
    if (st == TSL_OK) {
        size_t distinct = d.n_stimuli;
        tsl_neural_data_free(&d);
        if (distinct != t->n)
            st = tsl_error(TSL_ERR_FORMAT, "%s: stimulus ids are not unique (%zu rows, %zu distinct ids)",
                           source, t->n, distinct);
    }
    free(zeros);
    return st;
}

tsl_status tsl_neural_table_parse(const char *source, const char *text, size_t len, tsl_neural_table *out) {
    memset(out, 0, sizeof *out);
    reader rd = {text, text + len, source, 1};
    record header = {0};
    tsl_status st = read_record(&rd, &header);
    long id_col = st == TSL_OK ? column(&header, "stimulus_id", "image_id") : -1;
    if (st == TSL_OK && id_col >= 0) {
        st = read_rows(&rd, &header, id_col, column(&header, "filename", "image_file_name"),
                       column(&header, "object_name", "label"), out);
    } else if (st == TSL_OK && header.count > 1) {
        st = tsl_error(TSL_ERR_FORMAT, "%s: a CSV header without a stimulus_id (or image_id) column", source);
    } else if (st == TSL_OK) {
        rd = (reader){text, text + len, source, 1}; /* no id column: a plain list of ids */
        st = read_lines(&rd, out);
    }
    record_clear(&header);
    free(header.fields);
    if (st == TSL_OK)
        st = check_ids(source, out);
    if (st != TSL_OK)
        tsl_neural_table_free(out);
    return st;
}

tsl_status tsl_neural_table_read(const char *path, tsl_neural_table *out) {
    void *bytes;
    size_t size;
    memset(out, 0, sizeof *out);
    TSL_TRY(tsl_read_file(path, MAX_TABLE_BYTES, &bytes, &size));
    tsl_status st = tsl_neural_table_parse(path, bytes, size, out);
    free(bytes);
    return st;
}

/* ---- the simple format ---- */

static tsl_status copy_table(const tsl_neural_table *t, const char *source, tsl_neural_data *out) {
    out->n_stimuli = t->n;
    out->stimulus_ids = calloc(t->n, sizeof *out->stimulus_ids);
    if (!out->stimulus_ids)
        return tsl_error(TSL_ERR_NOMEM, "%s: out of memory", source);
    for (size_t i = 0; i < t->n; i++)
        if (!(out->stimulus_ids[i] = strdup(t->ids[i])))
            return tsl_error(TSL_ERR_NOMEM, "%s: out of memory", source);
    if (t->labels)
        TSL_TRY(tsl_neural_set_labels(source, (const char *const *)t->labels, t->n, out));
    return TSL_OK;
}

/* Trial means; every stimulus and neuroid needs a recorded (non-NaN) trial, and no value is infinite. */
static tsl_status average_trials(const char *source, tsl_neural_data *d) {
    size_t t = d->n_trials, k = d->n_neuroids;
    for (size_t s = 0; s < d->n_stimuli; s++)
        for (size_t j = 0; j < k; j++) {
            double sum = 0;
            size_t m = 0;
            for (size_t r = 0; r < t; r++) {
                double v = d->trials[(s * t + r) * k + j];
                if (isinf(v))
                    return tsl_error(TSL_ERR_FORMAT, "%s: stimulus %zu, trial %zu, neuroid %zu is infinite",
                                     source, s, r, j);
                if (!isnan(v))
                    sum += v, m++;
            }
            if (m == 0)
                return tsl_error(TSL_ERR_FORMAT, "%s: stimulus %zu, neuroid %zu has no recorded trial",
                                 source, s, j);
            d->responses[s * k + j] = sum / (double)m;
        }
    return TSL_OK;
}

static tsl_status take_responses(const char *source, tsl_npy_f64 *a, tsl_neural_data *out) {
    if (a->ndim != 2 && a->ndim != 3)
        return tsl_error(TSL_ERR_FORMAT,
                         "%s: responses have %d dimensions; expected stimuli x neuroids or "
                         "stimuli x trials x neuroids",
                         source, a->ndim);
    if ((size_t)a->shape[0] != out->n_stimuli)
        return tsl_error(TSL_ERR_FORMAT, "%s: %lld rows of responses for %zu stimuli in the list", source,
                         (long long)a->shape[0], out->n_stimuli);
    out->n_neuroids = (size_t)a->shape[a->ndim - 1];
    if (out->n_neuroids == 0 || (a->ndim == 3 && a->shape[1] == 0))
        return tsl_error(TSL_ERR_FORMAT, "%s: no neuroids or no trials", source);
    if (a->ndim == 2) {
        for (uint64_t i = 0; i < a->count; i++)
            if (!isfinite(a->data[i]))
                return tsl_error(TSL_ERR_FORMAT, "%s: response %llu is not finite", source,
                                 (unsigned long long)i);
        out->responses = a->data;
        a->data = NULL;
        return TSL_OK;
    }
    out->n_trials = (size_t)a->shape[1];
    out->trials = a->data;
    a->data = NULL;
    out->responses = malloc(out->n_stimuli * out->n_neuroids * sizeof *out->responses);
    if (!out->responses)
        return tsl_error(TSL_ERR_NOMEM, "%s: out of memory", source);
    TSL_TRY(average_trials(source, out));
    if (out->n_trials == 1) {
        free(out->trials);
        out->trials = NULL;
        out->n_trials = 0;
    }
    return TSL_OK;
}

tsl_status tsl_neural_simple_parse(const tsl_neural_table *table, const char *npy_source, const void *npy,
                                   size_t npy_size, tsl_neural_data *out) {
    memset(out, 0, sizeof *out);
    tsl_npy_f64 a;
    TSL_TRY(tsl_npy_parse_f64(npy_source, npy, npy_size, &a));
    tsl_status st = copy_table(table, npy_source, out);
    if (st == TSL_OK)
        st = take_responses(npy_source, &a, out);
    if (st == TSL_OK)
        st = tsl_neural_attach_filenames(npy_source, table, out);
    tsl_npy_free_f64(&a);
    if (st != TSL_OK)
        tsl_neural_data_free(out);
    return st;
}

tsl_status tsl_neural_simple_read(const char *table_path, const char *npy_path, tsl_neural_data *out) {
    memset(out, 0, sizeof *out);
    tsl_neural_table t;
    TSL_TRY(tsl_neural_table_read(table_path, &t));
    void *bytes;
    size_t size;
    tsl_status st = tsl_read_file(npy_path, (size_t)1 << 36, &bytes, &size);
    if (st == TSL_OK) {
        st = tsl_neural_simple_parse(&t, npy_path, bytes, size, out);
        free(bytes);
    }
    tsl_neural_table_free(&t);
    return st;
}

tsl_status tsl_neural_attach_filenames(const char *source, const tsl_neural_table *t, tsl_neural_data *d) {
    if (!t->filenames)
        return TSL_OK;
    tsl_neural_data index = {.n_stimuli = t->n, .stimulus_ids = t->ids};
    d->filenames = calloc(d->n_stimuli ? d->n_stimuli : 1, sizeof *d->filenames);
    if (!d->filenames)
        return tsl_error(TSL_ERR_NOMEM, "%s: out of memory", source);
    for (size_t i = 0; i < d->n_stimuli; i++) {
        long row = tsl_neural_find(&index, d->stimulus_ids[i]);
        if (row < 0)
            return tsl_error(TSL_ERR_FORMAT, "%s: stimulus '%s' is not in the stimulus table", source,
                             d->stimulus_ids[i]);
        if (!t->filenames[row][0] || !(d->filenames[i] = strdup(t->filenames[row])))
            return tsl_error(t->filenames[row][0] ? TSL_ERR_NOMEM : TSL_ERR_FORMAT,
                             "%s: stimulus '%s': empty file name or out of memory", source,
                             d->stimulus_ids[i]);
    }
    return TSL_OK;
}
