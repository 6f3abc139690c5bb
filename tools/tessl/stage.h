/* Long jobs (tessl demo, tessl sweep) run as stages: each stage is this binary run as its own command in
 * its own process, with its command line printed first, so every stage shows its own progress and
 * errors and can be rerun by hand. */
#ifndef TSL_STAGE_H
#define TSL_STAGE_H

#include "tsl_status.h"

#include <stdarg.h>
#include <stdbool.h>

enum { TSL_STAGE_MAX_ARGS = 64, TSL_STAGE_ARG_BYTES = 1024 };

/* A command line being built; zero-initialise, then add arguments ("tessl" first). */
typedef struct {
    char *argv[TSL_STAGE_MAX_ARGS + 1];
    char buf[TSL_STAGE_MAX_ARGS][TSL_STAGE_ARG_BYTES];
    int n;
    bool too_long; /* an argument did not fit: tsl_stage_run refuses the stage */
} tsl_stage;

/* Appends one printf-formatted argument. More than TSL_STAGE_MAX_ARGS is a programmer bug (abort); an
 * argument longer than TSL_STAGE_ARG_BYTES - 1 marks the stage too_long. */
void tsl_stage_arg(tsl_stage *stage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tsl_stage_varg(tsl_stage *stage, const char *fmt, va_list ap);

/* Runs the stage's command with this binary (/proc/self/exe), printing "== TITLE" and the command to
 * stderr first. TSL_ERR_VULKAN when it fails (its own message is above), TSL_ERR_IO when it cannot start. */
tsl_status tsl_stage_run(const char *title, tsl_stage *stage);

/* Runs `tessl report DIR [EXTRA...] --out DIR/report` and prints where the page is. */
tsl_status tsl_stage_report(const char *dir, const char *const *extra, int n_extra);

#endif
