/* `tessl report`: Figure 1's panels against lambda, loss curves and every number with its CI, from the
 * results.json files of tessl analyze (and tessl neural) and the runs' logs, as one HTML page plus PNG
 * and SVG figures (docs/ANALYSES.md "tessl report"). */
#include "report.h"
#include "tsl_cli.h"
#include "tsl_file.h"

#include <stdio.h>
#include <stdlib.h>

static const char details[] =
    "Each INPUT is a results.json (tessl analyze, or tessl neural: panel 1), a folder holding one, a\n"
    "run folder (log.jsonl; its lambda from checkpoint.safetensors), or a folder whose\n"
    "sub-folders are those (the output of tessl sweep or tessl demo, whose preview.png is embedded).\n"
    "Networks are placed by the lambda in results.json (else their checkpoint's metadata). Panels 2, 4, 5\n"
    "are paired differences from the smallest lambda analysed, from analyses run with it as --baseline.\n"
    "Writes DIR/report.html (self-contained), DIR/figure1.{png,svg} and DIR/loss.{png,svg}.";

int tsl_cmd_report(int argc, char **argv) {
    const char *out = NULL, *preview = NULL;
    tsl_opt opts[] = {
        {"--out", TSL_OPT_STRING, &out, "DIR", "folder for report.html and the figures (required)", 0, 0},
        {"--preview", TSL_OPT_STRING, &preview, "PNG", "an augmented batch (tessl preview) to embed", 0, 0},
    };
    tsl_command_spec spec = {
        .name = "tessl report",
        .args = "INPUT...",
        .summary = "Draws the paper's Figure 1 panels against lambda and the loss curves, with every number\n"
                   "and its 95% CI in tables, as an HTML page with PNG and SVG figures.",
        .details = details,
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
        .min_positional = 1,
        .max_positional = REPORT_MAX_ITEMS,
    };
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    if (!out)
        return tsl_cli_fail(tsl_error(TSL_ERR_INVALID_ARG, "tessl report: --out DIR is required"));
    report_inputs *in = calloc(1, sizeof *in);
    if (!in)
        return tsl_cli_fail(tsl_error(TSL_ERR_NOMEM, "out of memory"));
    tsl_status st = TSL_OK;
    for (int i = 0; i < args.n_positional && st == TSL_OK; i++)
        st = report_inputs_add(in, args.positional[i]);
    if (st == TSL_OK && preview)
        snprintf(in->preview, sizeof in->preview, "%s", preview);
    char *fig1 = NULL, *loss = NULL;
    if (st == TSL_OK)
        st = tsl_mkdirs(out);
    if (st == TSL_OK)
        st = report_write_figures(in, out, &fig1, &loss);
    if (st == TSL_OK)
        st = report_write_html(in, out, fig1, loss);
    if (st == TSL_OK)
        printf("tessl: wrote %s/report.html (%d results, %d runs; figures figure1.png/svg%s)\n", out,
               in->n_results, in->n_runs, loss ? ", loss.png/svg" : "");
    free(fig1);
    free(loss);
    report_inputs_free(in);
    free(in);
    return st == TSL_OK ? TSL_EXIT_OK : tsl_cli_fail(st);
}
