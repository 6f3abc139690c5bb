/* results.json and the printed summary of `tessl neural` (docs/ANALYSES.md "Neural predictivity"). */
#include "tsl_file.h"
#include "tsl_json.h"
#include "tsl_neural_score.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void number(FILE *f, double x) {
    if (isfinite(x))
        fprintf(f, "%.9g", x);
    else
        fputs("null", f);
}

/* {"mean": m, "ci95": [lo, hi], "n": n, "splits": [...]} */
static void summary(FILE *f, const tsl_stats_ci *ci, const double *values) {
    fputs("{\"mean\": ", f);
    number(f, ci->mean);
    fputs(", \"ci95\": [", f);
    number(f, ci->lo);
    fputs(", ", f);
    number(f, ci->hi);
    fprintf(f, "], \"n\": %zu, \"splits\": [", ci->n);
    for (size_t i = 0; i < ci->n; i++) {
        if (i)
            fputs(", ", f);
        number(f, values[i]);
    }
    fputs("]}", f);
}

static void write_header(FILE *f, const char *const (*header)[2], int n_header, const tsl_neural_data *d,
                         const tsl_neural_options *o) {
    fputs("{\n  \"format\": \"tessl-neural\",\n  \"version\": 1,\n", f);
    for (int i = 0; i < n_header; i++) {
        fputs("  ", f);
        tsl_json_write_string(f, header[i][0]);
        fputs(": ", f);
        tsl_json_write_string(f, header[i][1]);
        fputs(",\n", f);
    }
    fprintf(f,
            "  \"data\": {\"stimuli\": %zu, \"neuroids\": %zu, \"trials\": %zu, \"object_labels\": %zu},\n",
            d->n_stimuli, d->n_neuroids, d->n_trials, d->labels ? d->n_labels : 0);
    fprintf(f,
            "  \"options\": {\"image_size\": %d, \"stimulus_degrees\": %g, \"model_degrees\": %g, "
            "\"splits\": %zu, "
            "\"test_fraction\": %g, \"pls_components\": %zu, \"stratified\": %s, \"seed\": %llu, "
            "\"ceiling_splits\": %zu, \"ceiled_rule\": \"%s\"},\n",
            o->view.size, o->view.stimulus_degrees, o->view.model_degrees, o->predictivity.n_splits,
            o->predictivity.test_fraction, o->predictivity.n_components, d->labels ? "true" : "false",
            (unsigned long long)o->predictivity.seed, o->ceiling_splits,
            o->rule == TSL_ANALYSIS_CEILED_R2_OVER_CEILING ? "r^2/ceiling" : "(r/ceiling)^2");
}

static void write_all(FILE *f, const char *const (*header)[2], int n_header, const tsl_neural_data *d,
                      const tsl_neural_options *o, const tsl_neural_result *r, FILE *out) {
    write_header(f, header, n_header, d, o);
    fputs("  \"ceiling\": ", f);
    if (r->has_ceiling)
        summary(f, &r->ceiling, r->ceiling_splits);
    else
        fputs("null", f);
    fputs(",\n  \"layers\": {\n", f);
    if (out) {
        fprintf(out, "tessl neural: %zu stimuli, %zu neuroids, %zu trials; mean [95%% CI] over %zu splits\n",
                d->n_stimuli, d->n_neuroids, d->n_trials, r->n_splits);
        if (r->has_ceiling)
            fprintf(out, "  %-10s %9.4f [%9.4f, %9.4f]\n", "ceiling", r->ceiling.mean, r->ceiling.lo,
                    r->ceiling.hi);
    }
    for (size_t i = 0; i < r->n_layers; i++) {
        const tsl_neural_layer_score *l = &r->layers[i];
        fputs("    ", f);
        tsl_json_write_string(f, l->layer);
        fprintf(f, ": {\"feature_dim\": %zu, \"predictivity\": ", l->feature_dim);
        summary(f, &l->ci, l->split_scores);
        fputs(", \"ceiled\": ", f);
        number(f, l->ceiled);
        fprintf(f, "}%s\n", i + 1 < r->n_layers ? "," : "");
        if (out)
            fprintf(out, "  %-10s %9.4f [%9.4f, %9.4f] ceiled %7.4f  (%zu features)%s\n", l->layer,
                    l->ci.mean, l->ci.lo, l->ci.hi, l->ceiled, l->feature_dim,
                    r->n_layers > 1 && i == r->best ? "  best" : "");
    }
    const tsl_neural_layer_score *best = &r->layers[r->best];
    fputs("  },\n  \"best_layer\": ", f);
    tsl_json_write_string(f, best->layer);
    fputs(",\n  \"predictivity\": ", f);
    summary(f, &best->ci, best->split_scores);
    fputs(",\n  \"ceiled\": ", f);
    number(f, best->ceiled);
    fputs("\n}\n", f);
}

tsl_status tsl_neural_write_report(const char *path, const char *const (*header)[2], int n_header,
                                   const tsl_neural_data *d, const tsl_neural_options *o,
                                   const tsl_neural_result *r, FILE *out) {
    if (r->n_layers < 1)
        return tsl_error(TSL_ERR_INVALID_ARG, "neural: no layer was scored");
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    write_all(f, header, n_header, d, o, r, out);
    fclose(f);
    tsl_status st = tsl_write_file_atomic(path, text, size);
    free(text);
    return st;
}
