/* Command-line parsing shared by every `tessl` subcommand: long options (`--name value` and
 * `--name=value`), typed values checked in full (no trailing garbage, range-checked), generated
 * `--help`, and an error naming the command for any unknown or malformed option. */
#ifndef TSL_ARGS_H
#define TSL_ARGS_H

#include "tsl_status.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    TSL_OPT_FLAG,   /* bool *: set to true when present; takes no value */
    TSL_OPT_INT,    /* int64_t * */
    TSL_OPT_DOUBLE, /* double * */
    TSL_OPT_STRING, /* const char **: points into argv */
} tsl_opt_type;

typedef struct {
    const char *name; /* with dashes: "--device" */
    tsl_opt_type type;
    void *value;         /* destination, typed as above; holds the default on entry */
    const char *metavar; /* "N", "PATH"; NULL for flags */
    const char *help;
    int64_t min, max; /* inclusive range for TSL_OPT_INT; ignored when min == max == 0 */
} tsl_opt;

typedef struct {
    const char *name;    /* "tessl devices" */
    const char *args;    /* positional synopsis, "SRC OUT" or "" */
    const char *summary; /* one line */
    const char *details; /* paragraphs after the option list, or NULL */
    const tsl_opt *opts;
    int n_opts;
    int min_positional, max_positional;
} tsl_command_spec;

typedef struct {
    int n_positional;
    char **positional; /* points into argv */
    bool help_shown;   /* --help was given: help was printed, the caller should return success */
} tsl_args_result;

/* Parses argv[1..argc) (argv[0] is the subcommand name) into the spec's destinations. On --help prints
 * help to stdout and sets help_shown. Returns TSL_ERR_INVALID_ARG with a message naming the command and
 * the offending option for unknown options, missing or malformed values, values out of range, and a
 * wrong number of positional arguments. A lone "--" ends option parsing. */
tsl_status tsl_args_parse(const tsl_command_spec *spec, int argc, char **argv, tsl_args_result *out);

/* Prints the usage, summary, options (with defaults) and details of `spec`. */
void tsl_args_print_help(const tsl_command_spec *spec, FILE *f);

#endif
