/* Reading the inputs of `tessl report`: results.json files (tessl analyze, tessl neural), run folders
 * (log.jsonl, and the lambda from the checkpoint's metadata) and folders of those. */
#include "report.h"
#include "tsl_file.h"
#include "tsl_json.h"
#include "tsl_safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { MAX_RESULTS_BYTES = 64 << 20, MAX_LOG_BYTES = 1 << 30 };

void report_lambda_text(double lambda, char *buf, size_t size) {
    if (isfinite(lambda))
        snprintf(buf, size, "%g", lambda);
    else
        snprintf(buf, size, "?");
}

const report_number *report_find(const report_metric *metrics, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(metrics[i].name, name) == 0)
            return &metrics[i].value;
    return NULL;
}

static bool is_file(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISREG(s.st_mode);
}

static bool is_dir(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

/* Parses a decimal number that fills the whole string. */
static bool parse_double(const char *s, double *v) {
    char *end = NULL;
    errno = 0;
    *v = strtod(s, &end);
    return s && *s && end != s && !*end && errno == 0 && isfinite(*v);
}

tsl_status report_checkpoint_lambda(const char *path, double *lambda) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return tsl_error(TSL_ERR_NOT_FOUND, "%s: cannot open (%s)", path, strerror(errno));
    uint8_t b[8];
    uint64_t len = 0;
    bool ok = fread(b, 1, 8, f) == 8;
    for (int i = 7; ok && i >= 0; i--)
        len = len << 8 | b[i];
    char *header = ok && len > 0 && len <= TSL_SAFETENSORS_MAX_HEADER ? malloc(len) : NULL;
    ok = header && fread(header, 1, len, f) == len;
    fclose(f);
    tsl_json *j = NULL;
    tsl_status st = ok ? tsl_json_parse(header, len, path, &j)
                       : tsl_error(TSL_ERR_FORMAT, "%s: not a safetensors file (bad header)", path);
    free(header);
    TSL_TRY(st);
    const tsl_json *v = tsl_json_get(tsl_json_get(j, "__metadata__"), "lambda");
    if (!v || v->type != TSL_JSON_STRING)
        st = tsl_error(TSL_ERR_NOT_FOUND, "%s: no lambda in its metadata", path);
    else if (!parse_double(v->string, lambda))
        st = tsl_error(TSL_ERR_FORMAT, "%s: metadata lambda '%s' is not a number", path, v->string);
    tsl_json_free(j);
    return st;
}

/* Copies a string of at most size - 1 bytes (paths are below PATH_MAX = REPORT_PATH). */
static void copy(char *dst, size_t size, const char *src) {
    size_t n = src ? strnlen(src, size - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static const char *string_of(const tsl_json *o, const char *key) {
    const tsl_json *v = tsl_json_get(o, key);
    return v && v->type == TSL_JSON_STRING ? v->string : NULL;
}

static double number_of(const tsl_json *v) {
    return v && v->type == TSL_JSON_NUMBER ? v->number : NAN;
}

/* {"mean": m, "ci95": [lo, hi], "n": n}; members may be null. False when `v` is not such an object. */
static bool parse_summary(const tsl_json *v, report_number *out) {
    const tsl_json *mean = tsl_json_get(v, "mean"), *ci = tsl_json_get(v, "ci95"), *n = tsl_json_get(v, "n");
    if (!mean || !ci || ci->type != TSL_JSON_ARRAY || ci->count != 2 || !n)
        return false;
    *out = (report_number){number_of(mean), number_of(&ci->items[0]), number_of(&ci->items[1]),
                           n->type == TSL_JSON_NUMBER && n->is_integer ? n->integer : 0};
    return true;
}

/* Every summary member of a block; other members (probe.chance, probe.converged) are skipped. */
static tsl_status parse_block(const char *path, const tsl_json *block, const char *key, report_metric *m,
                              int *n) {
    *n = 0;
    if (!block)
        return TSL_OK;
    if (block->type != TSL_JSON_OBJECT)
        return tsl_error(TSL_ERR_FORMAT, "%s: \"%s\" is not an object", path, key);
    for (size_t i = 0; i < block->count; i++) {
        report_number v;
        if (!parse_summary(&block->items[i], &v))
            continue;
        if (*n == REPORT_MAX_METRICS)
            return tsl_error(TSL_ERR_FORMAT, "%s: \"%s\" has more than %d measurements", path, key,
                             REPORT_MAX_METRICS);
        copy(m[*n].name, sizeof m[*n].name, block->keys[i]);
        m[(*n)++].value = v;
    }
    return TSL_OK;
}

static tsl_status add_score(report_result *r, const char *benchmark, const tsl_json *entry) {
    report_number v;
    if (!parse_summary(tsl_json_get(entry, "predictivity"), &v))
        return tsl_error(TSL_ERR_FORMAT, "%s: neural \"%s\" has no predictivity {mean, ci95, n}", r->path,
                         benchmark);
    if (r->n_neural == REPORT_MAX_BENCHMARKS)
        return tsl_error(TSL_ERR_FORMAT, "%s: more than %d neural benchmarks", r->path,
                         REPORT_MAX_BENCHMARKS);
    report_neural_score *score = &r->neural[r->n_neural++];
    copy(score->benchmark, sizeof score->benchmark, benchmark);
    score->predictivity = v;
    score->ceiled = number_of(tsl_json_get(entry, "ceiled"));
    return TSL_OK;
}

static tsl_status parse_neural(report_result *r, const tsl_json *neural);

/* The benchmark a `tessl neural` result scores: its responses file's name without folder and extension
 * (BrainIO assemblies are named after their data set), else its region, else "neural". */
static void benchmark_name(const tsl_json *j, char *name, size_t size) {
    const char *responses = string_of(j, "responses"), *region = string_of(j, "region");
    if (!responses || !*responses) {
        copy(name, size, region && *region ? region : "neural");
        return;
    }
    const char *base = strrchr(responses, '/');
    copy(name, size, base ? base + 1 : responses);
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
        *dot = '\0';
}

/* `tessl neural`'s results.json: its top-level "predictivity" (the chosen layer's raw score over
 * splits) and "ceiled", unless it has a "neural" section. */
static tsl_status parse_neural_result(report_result *r, const tsl_json *j) {
    const tsl_json *neural = tsl_json_get(j, "neural");
    if (neural)
        return parse_neural(r, neural);
    if (!tsl_json_get(j, "predictivity"))
        return tsl_error(TSL_ERR_FORMAT, "%s: a tessl-neural result without \"predictivity\" or \"neural\"",
                         r->path);
    char name[64];
    benchmark_name(j, name, sizeof name);
    return add_score(r, name, j);
}

/* "neural": {"predictivity": {...}, "benchmark": NAME} or {NAME: {"predictivity": {...}}, ...}. */
static tsl_status parse_neural(report_result *r, const tsl_json *neural) {
    if (!neural)
        return TSL_OK;
    if (neural->type != TSL_JSON_OBJECT)
        return tsl_error(TSL_ERR_FORMAT, "%s: \"neural\" is not an object", r->path);
    if (tsl_json_get(neural, "predictivity")) {
        const char *name = string_of(neural, "benchmark");
        return add_score(r, name ? name : "neural", neural);
    }
    for (size_t i = 0; i < neural->count; i++)
        TSL_TRY(add_score(r, neural->keys[i], &neural->items[i]));
    return TSL_OK;
}

/* The lambda of the network at `key` ("lambda"), else from the checkpoint at `path_key`'s metadata. */
static tsl_status network_lambda(const report_result *r, const tsl_json *j, const char *key,
                                 const char *weights, double *lambda) {
    *lambda = number_of(tsl_json_get(j, key));
    if (isfinite(*lambda) || !weights[0] || strncmp(weights, "random:", 7) == 0)
        return TSL_OK;
    tsl_status st = report_checkpoint_lambda(weights, lambda);
    if (st == TSL_ERR_NOT_FOUND)
        *lambda = NAN;
    else
        TSL_TRY_CTX(st, "%s", r->path);
    return TSL_OK;
}

static tsl_status parse_result(const char *path, const tsl_json *j, report_result *r) {
    const char *format = string_of(j, "format");
    if (!format || (strcmp(format, "tessl-analyze") != 0 && strcmp(format, "tessl-neural") != 0))
        return tsl_error(TSL_ERR_FORMAT, "%s: \"format\" is not tessl-analyze or tessl-neural", path);
    r->is_analysis = strcmp(format, "tessl-analyze") == 0;
    copy(r->path, sizeof r->path, path);
    /* tessl analyze names the network "weights_path", tessl neural "weights" (a string there). */
    const char *weights_path = string_of(j, "weights_path");
    copy(r->weights_path, sizeof r->weights_path, weights_path ? weights_path : string_of(j, "weights"));
    copy(r->baseline_path, sizeof r->baseline_path, string_of(j, "baseline_path"));
    TSL_TRY(network_lambda(r, j, "lambda", r->weights_path, &r->lambda));
    TSL_TRY(network_lambda(r, j, "baseline_lambda", r->baseline_path, &r->baseline_lambda));
    if (!isfinite(r->lambda))
        return tsl_error(TSL_ERR_FORMAT,
                         "%s: no \"lambda\", and its network '%s' is not a checkpoint with lambda metadata",
                         path, r->weights_path);
    if (!r->is_analysis)
        return parse_neural_result(r, j);
    const tsl_json *weights = tsl_json_get(j, "weights");
    if (!weights || weights->type != TSL_JSON_OBJECT)
        return tsl_error(TSL_ERR_FORMAT, "%s: no \"weights\" block", path);
    TSL_TRY(parse_block(path, weights, "weights", r->weights, &r->n_weights));
    TSL_TRY(parse_block(path, tsl_json_get(j, "delta"), "delta", r->delta, &r->n_delta));
    r->chance = number_of(tsl_json_get(tsl_json_get(weights, "probe.chance"), "value"));
    const tsl_json *s = tsl_json_get(j, "sampling");
    const tsl_json *fields[4] = {tsl_json_get(s, "images"), tsl_json_get(s, "augmentations"),
                                 tsl_json_get(s, "splits"), tsl_json_get(s, "seed")};
    int64_t *dst[4] = {&r->images, &r->augmentations, &r->splits, &r->seed};
    for (int i = 0; i < 4; i++)
        *dst[i] = fields[i] && fields[i]->is_integer ? fields[i]->integer : -1;
    return parse_neural(r, tsl_json_get(j, "neural"));
}

static tsl_status check_new_result(const report_inputs *in, const report_result *r) {
    char l[32];
    report_lambda_text(r->lambda, l, sizeof l);
    for (int i = 0; i < in->n_results; i++) {
        const report_result *o = &in->results[i];
        if (o->lambda != r->lambda)
            continue;
        if (o->is_analysis && r->is_analysis)
            return tsl_error(TSL_ERR_INVALID_ARG, "%s and %s both analyse lambda %s: give one of them",
                             o->path, r->path, l);
        for (int a = 0; a < o->n_neural; a++)
            for (int b = 0; b < r->n_neural; b++)
                if (strcmp(o->neural[a].benchmark, r->neural[b].benchmark) == 0)
                    return tsl_error(TSL_ERR_INVALID_ARG, "%s and %s both score lambda %s on %s", o->path,
                                     r->path, l, r->neural[b].benchmark);
    }
    return TSL_OK;
}

static tsl_status add_result(report_inputs *in, const char *path) {
    if (!in->results && !(in->results = calloc(REPORT_MAX_ITEMS, sizeof *in->results)))
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    if (in->n_results == REPORT_MAX_ITEMS)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: more than %d results", path, REPORT_MAX_ITEMS);
    void *text;
    size_t size;
    TSL_TRY(tsl_read_file(path, MAX_RESULTS_BYTES, &text, &size));
    tsl_json *j;
    tsl_status st = tsl_json_parse(text, size, path, &j);
    free(text);
    TSL_TRY(st);
    report_result *r = &in->results[in->n_results];
    *r = (report_result){0};
    st = parse_result(path, j, r);
    tsl_json_free(j);
    TSL_TRY(st);
    TSL_TRY(check_new_result(in, r));
    in->n_results++;
    return TSL_OK;
}

/* One log line's numbers into run->*[run->n]. */
static void take_step(report_run *run, const tsl_json *j) {
    size_t i = run->n++;
    run->step[i] = number_of(tsl_json_get(j, "step"));
    run->loss[i] = number_of(tsl_json_get(j, "loss"));
    run->inv[i] = number_of(tsl_json_get(j, "inv"));
    run->equi[i] = number_of(tsl_json_get(j, "equi"));
    run->ce[i] = number_of(tsl_json_get(j, "ce"));
}

/* Every line of log.jsonl; a last line without its newline (a run being written) is left out. */
static tsl_status parse_log(const char *path, const char *text, size_t size, report_run *run) {
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += text[i] == '\n';
    double *mem = malloc(5 * lines * sizeof *mem);
    if (!mem)
        return tsl_error(TSL_ERR_NOMEM, "%s: out of memory for %zu lines", path, lines);
    run->step = mem, run->loss = mem + lines, run->inv = mem + 2 * lines, run->equi = mem + 3 * lines;
    run->ce = mem + 4 * lines;
    size_t line_no = 0;
    for (const char *line = text, *end; line < text + size; line = end + 1) {
        line_no++;
        end = memchr(line, '\n', (size_t)(text + size - line));
        if (!end)
            break;
        if (end == line)
            continue;
        tsl_json *j;
        TSL_TRY_CTX(tsl_json_parse(line, (size_t)(end - line), path, &j), "line %zu", line_no);
        take_step(run, j);
        tsl_json_free(j);
        if (!isfinite(run->step[run->n - 1]))
            return tsl_error(TSL_ERR_FORMAT, "%s: line %zu has no step", path, line_no);
    }
    return TSL_OK;
}

static tsl_status add_run(report_inputs *in, const char *dir) {
    if (in->n_runs == REPORT_MAX_ITEMS)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: more than %d runs", dir, REPORT_MAX_ITEMS);
    report_run *run = &in->runs[in->n_runs];
    *run = (report_run){0};
    copy(run->dir, sizeof run->dir, dir);
    char path[REPORT_PATH + 32];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    TSL_TRY_CTX(report_checkpoint_lambda(path, &run->lambda), "run %s (its lambda comes from the checkpoint)",
                dir);
    for (int i = 0; i < in->n_runs; i++)
        if (in->runs[i].lambda == run->lambda)
            return tsl_error(TSL_ERR_INVALID_ARG, "runs %s and %s both have lambda %g: give one of them",
                             in->runs[i].dir, dir, run->lambda);
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    void *text;
    size_t size;
    TSL_TRY(tsl_read_file(path, MAX_LOG_BYTES, &text, &size));
    tsl_status st = parse_log(path, text, size, run);
    free(text);
    if (st == TSL_OK && run->n == 0)
        st = tsl_error(TSL_ERR_FORMAT, "%s: no logged steps", path);
    if (st != TSL_OK) {
        free(run->step);
        return st;
    }
    in->n_runs++;
    return TSL_OK;
}

/* A folder that is itself a run or a result; false when it is neither. */
static tsl_status add_leaf(report_inputs *in, const char *dir, bool *added) {
    char path[REPORT_PATH + 32];
    snprintf(path, sizeof path, "%s/results.json", dir);
    *added = true;
    if (is_file(path))
        return add_result(in, path);
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    if (is_file(path))
        return add_run(in, dir);
    *added = false;
    return TSL_OK;
}

static int not_hidden(const struct dirent *e) {
    return e->d_name[0] != '.';
}

/* A sweep or demo folder: its sub-folders that are runs or results, in name order, and preview.png. */
static tsl_status add_children(report_inputs *in, const char *dir) {
    struct dirent **names;
    int n = scandir(dir, &names, not_hidden, alphasort);
    if (n < 0)
        return tsl_error(TSL_ERR_IO, "%s: cannot list (%s)", dir, strerror(errno));
    tsl_status st = TSL_OK;
    int found = 0;
    for (int i = 0; i < n; i++) {
        char child[REPORT_PATH];
        snprintf(child, sizeof child, "%s/%s", dir, names[i]->d_name);
        bool added = false;
        if (st == TSL_OK && is_dir(child))
            st = add_leaf(in, child, &added);
        found += added;
        free(names[i]);
    }
    free(names);
    TSL_TRY(st);
    if (!found)
        return tsl_error(TSL_ERR_NOT_FOUND,
                         "%s: no results.json or log.jsonl in it or in its sub-folders (give tessl analyze "
                         "outputs, run folders, or a sweep/demo folder)",
                         dir);
    char preview[REPORT_PATH + 16];
    snprintf(preview, sizeof preview, "%s/preview.png", dir);
    if (!in->preview[0] && is_file(preview))
        copy(in->preview, sizeof in->preview, preview);
    return TSL_OK;
}

tsl_status report_inputs_add(report_inputs *in, const char *path) {
    if (is_file(path))
        return add_result(in, path);
    if (!is_dir(path))
        return tsl_error(TSL_ERR_NOT_FOUND, "%s: no such file or folder", path);
    bool added;
    TSL_TRY(add_leaf(in, path, &added));
    return added ? TSL_OK : add_children(in, path);
}

void report_inputs_free(report_inputs *in) {
    for (int i = 0; i < in->n_runs; i++)
        free(in->runs[i].step);
    free(in->results);
    *in = (report_inputs){0};
}

double report_reference_lambda(const report_inputs *in) {
    double ref = NAN;
    for (int i = 0; i < in->n_results; i++)
        if (in->results[i].is_analysis && !(in->results[i].lambda >= ref))
            ref = in->results[i].lambda;
    return ref;
}
