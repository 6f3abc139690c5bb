/* results.json and the printed summary of `tessl analyze` (docs/ANALYSES.md "results.json"). */
#include "tsl_analyze.h"

#include "tsl_file.h"
#include "tsl_json.h"
#include "tsl_stats_ci.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef tsl_analyze_summary summary;

tsl_status tsl_analyze_summarise(const double *x, size_t n, summary *s) {
    double *finite = malloc((n ? n : 1) * sizeof *finite);
    if (!finite)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]))
            finite[k++] = x[i];
    *s = (summary){k, k ? finite[0] : NAN, NAN, NAN};
    tsl_stats_ci ci;
    tsl_status st = k >= 2 ? tsl_stats_ci_t(finite, k, 0.95, &ci) : TSL_OK;
    if (k >= 2 && st == TSL_OK)
        *s = (summary){k, ci.mean, ci.lo, ci.hi};
    free(finite);
    return st;
}

static tsl_status summarise_delta(const tsl_analyze_metric *a, const tsl_analyze_metric *b, summary *s) {
    if (a->n != b->n)
        return tsl_error(TSL_ERR_INVALID_ARG, "analyze: %s has %zu units for one network, %zu for the other",
                         a->name, a->n, b->n);
    double *d = malloc((a->n ? a->n : 1) * sizeof *d);
    if (!d)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < a->n; i++)
        d[i] = a->values[i] - b->values[i]; /* NaN when either is undefined */
    tsl_status st = tsl_analyze_summarise(d, a->n, s);
    free(d);
    return st;
}

static void write_number(FILE *f, double x) {
    if (isfinite(x))
        fprintf(f, "%.9g", x);
    else
        fputs("null", f);
}

static void write_summary(FILE *f, const char *name, const summary *s, bool last) {
    fputs("    ", f);
    tsl_json_write_string(f, name);
    fputs(": {\"mean\": ", f);
    write_number(f, s->mean);
    fputs(", \"ci95\": [", f);
    write_number(f, s->lo);
    fputs(", ", f);
    write_number(f, s->hi);
    fprintf(f, "], \"n\": %zu}%s\n", s->n, last ? "" : ",");
}

static void print_line(FILE *out, const char *name, const summary *s, const summary *delta) {
    if (!out)
        return;
    fprintf(out, "  %-42s %9.4f [%9.4f, %9.4f] n=%-5zu", name, s->mean, s->lo, s->hi, s->n);
    if (delta)
        fprintf(out, "  delta %+9.4f [%+9.4f, %+9.4f]", delta->mean, delta->lo, delta->hi);
    fputc('\n', out);
}

/* One network's block: every metric summarised, then the probe's chance level. */
static tsl_status write_block(FILE *f, const char *key, const tsl_analyze_result *r,
                              const tsl_analyze_result *base, FILE *out) {
    fprintf(f, "  \"%s\": {\n", key);
    for (int i = 0; i < r->count; i++) {
        summary s, d;
        TSL_TRY(tsl_analyze_summarise(r->metrics[i].values, r->metrics[i].n, &s));
        if (base)
            TSL_TRY(summarise_delta(&r->metrics[i], &base->metrics[i], &d));
        write_summary(f, r->metrics[i].name, &s, false);
        print_line(out, r->metrics[i].name, &s, base ? &d : NULL);
    }
    fprintf(f, "    \"probe.chance\": {\"value\": %.9g, \"classes\": %u},\n", 1.0 / r->classes, r->classes);
    fprintf(f, "    \"probe.converged\": %s\n  }", r->probe_converged ? "true" : "false");
    if (out)
        fprintf(out, "  %-42s %9.4f (%u classes)\n", "probe.chance", 1.0 / r->classes, r->classes);
    return TSL_OK;
}

static tsl_status write_delta(FILE *f, const tsl_analyze_result *r, const tsl_analyze_result *base) {
    fputs("  \"delta\": {\n", f);
    for (int i = 0; i < r->count; i++) {
        summary d;
        if (base->count != r->count || strcmp(r->metrics[i].name, base->metrics[i].name) != 0)
            return tsl_error(TSL_ERR_INVALID_ARG, "analyze: the two networks' measurements differ");
        TSL_TRY(summarise_delta(&r->metrics[i], &base->metrics[i], &d));
        write_summary(f, r->metrics[i].name, &d, i + 1 == r->count);
    }
    fputs("  }", f);
    return TSL_OK;
}

static void write_header(FILE *f, const tsl_analyze_field *header, int n_header, const tsl_analyze_options *o,
                         const tsl_analyze_result *r) {
    fputs("{\n  \"format\": \"tessl-analyze\",\n  \"version\": 1,\n", f);
    for (int i = 0; i < n_header; i++) {
        if (!header[i].text && !isfinite(header[i].number))
            continue;
        fputs("  ", f);
        tsl_json_write_string(f, header[i].key);
        fputs(": ", f);
        if (header[i].text)
            tsl_json_write_string(f, header[i].text);
        else
            fprintf(f, "%.9g", header[i].number);
        fputs(",\n", f);
    }
    fprintf(f,
            "  \"sampling\": {\"images\": %zu, \"augmentations\": %zu, \"splits\": %zu, \"seed\": %llu, "
            "\"decoding_train_rows\": %zu, \"decoding_test_rows\": %zu, \"probe_train_images\": %zu, "
            "\"feature_dim\": %zu},\n",
            r->images, o->augmentations, o->splits, (unsigned long long)o->seed, r->decode_train_rows,
            r->decode_test_rows, r->probe_train, r->feature_dim);
}

static tsl_status write_all(FILE *f, const tsl_analyze_field *header, int n_header,
                            const tsl_analyze_options *o, const tsl_analyze_result *r,
                            const tsl_analyze_result *base, FILE *out) {
    write_header(f, header, n_header, o, r);
    if (out)
        fprintf(out, "tessl analyze: mean [95%% CI] over units%s\n",
                base ? "; delta = weights - baseline" : "");
    TSL_TRY(write_block(f, "weights", r, base, out));
    if (base) {
        fputs(",\n", f);
        TSL_TRY(write_block(f, "baseline", base, NULL, NULL));
        fputs(",\n", f);
        TSL_TRY(write_delta(f, r, base));
    }
    fputs("\n}\n", f);
    return TSL_OK;
}

tsl_status tsl_analyze_write_report(const char *path, const tsl_analyze_field *header, int n_header,
                                    const tsl_analyze_options *o, const tsl_analyze_result *r,
                                    const tsl_analyze_result *base, FILE *out) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    tsl_status st = write_all(f, header, n_header, o, r, base, out);
    fclose(f);
    if (st == TSL_OK)
        st = tsl_write_file_atomic(path, text, size);
    free(text);
    return st;
}
