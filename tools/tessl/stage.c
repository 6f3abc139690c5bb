/* Stages of tessl demo and tessl sweep: this binary run as a child process per command. */
#include "stage.h"

#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

void tsl_stage_varg(tsl_stage *c, const char *fmt, va_list ap) {
    tsl_assert(c->n < TSL_STAGE_MAX_ARGS);
    int len = vsnprintf(c->buf[c->n], sizeof c->buf[0], fmt, ap);
    c->too_long |= len < 0 || len >= (int)sizeof c->buf[0];
    c->argv[c->n] = c->buf[c->n];
    c->argv[++c->n] = NULL;
}

void tsl_stage_arg(tsl_stage *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tsl_stage_varg(c, fmt, ap);
    va_end(ap);
}

tsl_status tsl_stage_run(const char *title, tsl_stage *c) {
    fprintf(stderr, "\n== %s\n$ tessl", title);
    for (int i = 1; i < c->n; i++)
        fprintf(stderr, " %s", c->argv[i]);
    fputc('\n', stderr);
    if (c->too_long)
        return tsl_error(TSL_ERR_INVALID_ARG, "stage '%s': an argument is longer than %d bytes", title,
                         TSL_STAGE_ARG_BYTES - 1);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return tsl_error(TSL_ERR_IO, "cannot find the tessl binary (/proc/self/exe)");
    self[n] = '\0';
    c->argv[0] = self;
    fflush(stdout); /* what this process printed comes before the stage's output */
    pid_t pid;
    if (posix_spawn(&pid, self, NULL, NULL, c->argv, environ) != 0)
        return tsl_error(TSL_ERR_IO, "cannot start %s", self);
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return tsl_error(TSL_ERR_VULKAN, "stage '%s' failed (its message is above)", title);
    return TSL_OK;
}

tsl_status tsl_stage_report(const char *dir, const char *const *extra, int n_extra) {
    tsl_stage c = {0};
    tsl_stage_arg(&c, "tessl");
    tsl_stage_arg(&c, "report");
    tsl_stage_arg(&c, "%s", dir);
    for (int i = 0; i < n_extra; i++)
        tsl_stage_arg(&c, "%s", extra[i]);
    tsl_stage_arg(&c, "--out");
    tsl_stage_arg(&c, "%s/report", dir);
    TSL_TRY(tsl_stage_run("write the report: Figure 1 panels, loss curves, tables (HTML, PNG, SVG)", &c));
    printf("\nreport (open it in a browser): %s/report/report.html\n", dir);
    return TSL_OK;
}
