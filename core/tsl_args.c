#include "tsl_args.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const tsl_opt *find_option(const tsl_command_spec *spec, const char *name, size_t name_len) {
    for (int i = 0; i < spec->n_opts; i++) {
        const tsl_opt *o = &spec->opts[i];
        if (strlen(o->name) == name_len && strncmp(o->name, name, name_len) == 0)
            return o;
    }
    return NULL;
}

static tsl_status parse_int_value(const tsl_command_spec *spec, const tsl_opt *o, const char *text) {
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: option %s expects an integer, got '%s'", spec->name,
                         o->name, text);
    if ((o->min != 0 || o->max != 0) && (v < o->min || v > o->max))
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "%s: option %s must be between %" PRId64 " and %" PRId64 ", got %lld", spec->name,
                         o->name, o->min, o->max, v);
    *(int64_t *)o->value = v;
    return TSL_OK;
}

static tsl_status parse_double_value(const tsl_command_spec *spec, const tsl_opt *o, const char *text) {
    errno = 0;
    char *end = NULL;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(v))
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: option %s expects a finite number, got '%s'", spec->name,
                         o->name, text);
    *(double *)o->value = v;
    return TSL_OK;
}

static tsl_status store_value(const tsl_command_spec *spec, const tsl_opt *o, const char *text) {
    switch (o->type) {
    case TSL_OPT_INT:
        return parse_int_value(spec, o, text);
    case TSL_OPT_DOUBLE:
        return parse_double_value(spec, o, text);
    case TSL_OPT_STRING:
        *(const char **)o->value = text;
        return TSL_OK;
    case TSL_OPT_FLAG:
        break;
    }
    tsl_assert(!"flag options take no value");
}

/* Handles argv[*i], an option; advances *i past a separate value if it consumes one. */
static tsl_status parse_option(const tsl_command_spec *spec, int argc, char **argv, int *i) {
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
    const tsl_opt *o = find_option(spec, arg, name_len);
    if (!o)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: unknown option '%.*s' (see '%s --help')", spec->name,
                         (int)name_len, arg, spec->name);
    if (o->type == TSL_OPT_FLAG) {
        if (eq)
            return tsl_error(TSL_ERR_INVALID_ARG, "%s: option %s takes no value", spec->name, o->name);
        *(bool *)o->value = true;
        return TSL_OK;
    }
    if (eq)
        return store_value(spec, o, eq + 1);
    if (*i + 1 >= argc)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: option %s needs a value (%s)", spec->name, o->name,
                         o->metavar ? o->metavar : "VALUE");
    *i += 1;
    return store_value(spec, o, argv[*i]);
}

static bool is_help(const char *arg) {
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

tsl_status tsl_args_parse(const tsl_command_spec *spec, int argc, char **argv, tsl_args_result *out) {
    memset(out, 0, sizeof *out);
    /* Positionals are compacted to the front of argv[1..]; options never move after their use. */
    char **positional = argv + 1;
    int n_positional = 0;
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i];
        if (!options_done && is_help(arg)) {
            tsl_args_print_help(spec, stdout);
            out->help_shown = true;
            return TSL_OK;
        }
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
        } else if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            TSL_TRY(parse_option(spec, argc, argv, &i));
        } else {
            positional[n_positional++] = arg;
        }
    }
    if (n_positional < spec->min_positional || n_positional > spec->max_positional) {
        if (spec->max_positional == 0)
            return tsl_error(TSL_ERR_INVALID_ARG, "%s: unexpected argument '%s' (see '%s --help')",
                             spec->name, positional[0], spec->name);
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: expected %s, got %d argument%s (see '%s --help')",
                         spec->name, spec->args, n_positional, n_positional == 1 ? "" : "s", spec->name);
    }
    out->n_positional = n_positional;
    out->positional = positional;
    return TSL_OK;
}

static void print_default(const tsl_opt *o, FILE *f) {
    switch (o->type) {
    case TSL_OPT_INT:
        fprintf(f, " (default %" PRId64 ")", *(const int64_t *)o->value);
        break;
    case TSL_OPT_DOUBLE: /* NaN: a default that depends on other options, which the help text gives */
        if (!isnan(*(const double *)o->value))
            fprintf(f, " (default %g)", *(const double *)o->value);
        break;
    case TSL_OPT_STRING:
        if (*(const char *const *)o->value)
            fprintf(f, " (default %s)", *(const char *const *)o->value);
        break;
    case TSL_OPT_FLAG:
        break;
    }
}

void tsl_args_print_help(const tsl_command_spec *spec, FILE *f) {
    fprintf(f, "usage: %s [options]%s%s\n\n%s\n", spec->name, spec->args[0] ? " " : "", spec->args,
            spec->summary);
    fprintf(f, "\noptions:\n");
    for (int i = 0; i < spec->n_opts; i++) {
        const tsl_opt *o = &spec->opts[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(f, "  %-24s %s", left, o->help);
        print_default(o, f);
        fputc('\n', f);
    }
    fprintf(f, "  %-24s %s\n", "-h, --help", "show this help and exit");
    if (spec->details)
        fprintf(f, "\n%s\n", spec->details);
}
