/* `tessl export`: weights for PyTorch users. Keeps a checkpoint's parameters and BatchNorm running
 * statistics (torchvision's names for the trunk, g_inv.* / g_equi.* / classifier.* for the heads), drops
 * the optimiser state, and adds each BatchNorm's num_batches_tracked, so that
 * torchvision.models.resnet50().load_state_dict(torch-loaded file, strict=False) loads the trunk. */
#include "tsl_cli.h"
#include "tsl_safetensors.h"

#include <stdlib.h>
#include <string.h>

static bool is_optimizer_state(const char *name) {
    return strncmp(name, "mu.", 3) == 0 || strncmp(name, "nu.", 3) == 0 || strncmp(name, "grad.", 5) == 0;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

typedef struct {
    tsl_tensor_view *views;
    char **names; /* owned: the num_batches_tracked names */
    int n, n_names;
    int64_t steps;
} export_list;

/* One num_batches_tracked per trunk BatchNorm (a tensor ending in running_var outside the heads). */
static tsl_status add_batches_tracked(export_list *e, const char *running_var) {
    if (strncmp(running_var, "g_", 2) == 0 || strncmp(running_var, "classifier.", 11) == 0)
        return TSL_OK;
    size_t base = strlen(running_var) - strlen("running_var");
    char *name = malloc(base + sizeof "num_batches_tracked");
    if (!name)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    memcpy(name, running_var, base);
    strcpy(name + base, "num_batches_tracked");
    e->names[e->n_names++] = name;
    e->views[e->n++] = (tsl_tensor_view){name, TSL_DTYPE_I64, 0, {0}, &e->steps};
    return TSL_OK;
}

static tsl_status collect(const tsl_safetensors *ck, export_list *e) {
    e->views = calloc(2 * (size_t)ck->n_tensors + 1, sizeof *e->views);
    e->names = calloc((size_t)ck->n_tensors + 1, sizeof *e->names);
    if (!e->views || !e->names)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < ck->n_tensors; i++) {
        const tsl_st_tensor *t = &ck->tensors[i];
        if (is_optimizer_state(t->name))
            continue;
        e->views[e->n] = (tsl_tensor_view){t->name, t->dtype, t->ndim, {0}, t->data};
        memcpy(e->views[e->n].shape, t->shape, sizeof t->shape);
        e->n++;
        if (ends_with(t->name, ".running_var"))
            TSL_TRY(add_batches_tracked(e, t->name));
    }
    return TSL_OK;
}

static tsl_status export_weights(const char *in, const char *out) {
    tsl_safetensors ck;
    TSL_TRY(tsl_safetensors_read(in, UINT64_C(1) << 36, &ck));
    const char *format = tsl_safetensors_meta(&ck, "format");
    tsl_status st = TSL_OK;
    if (!format || strcmp(format, "tessl-checkpoint") != 0)
        st = tsl_error(TSL_ERR_FORMAT, "%s: not a tessl checkpoint", in);
    export_list e = {0};
    const char *steps = tsl_safetensors_meta(&ck, "next_step");
    e.steps = steps ? strtoll(steps, NULL, 10) : 0;
    if (st == TSL_OK)
        st = collect(&ck, &e);
    const char *keys[] = {"format", "arch", "width", "res", "projector"};
    const char *values[5] = {"pt"};
    for (int i = 1; i < 5; i++) {
        const char *v = tsl_safetensors_meta(&ck, keys[i]);
        values[i] = v ? v : "";
    }
    if (st == TSL_OK)
        st = tsl_safetensors_write(out, e.views, e.n, keys, values, 5);
    if (st == TSL_OK)
        printf(
            "tessl: wrote %s: %d tensors (torchvision names for the trunk; g_inv., g_equi., classifier. for "
            "the heads)\n",
            out, e.n);
    for (int i = 0; i < e.n_names; i++)
        free(e.names[i]);
    free(e.names);
    free(e.views);
    tsl_safetensors_free(&ck);
    return st;
}

int tsl_cmd_export(int argc, char **argv) {
    const char *out = NULL;
    tsl_opt opts[] = {{"-o", TSL_OPT_STRING, &out, "OUT.safetensors", "output file (required)", 0, 0}};
    tsl_command_spec spec = {
        .name = "tessl export",
        .args = "CHECKPOINT",
        .summary = "Writes a checkpoint's weights for PyTorch: parameters and BatchNorm statistics under\n"
                   "torchvision's names, without the optimiser state.",
        .details = "In Python: sd = safetensors.torch.load_file('OUT.safetensors');\n"
                   "torchvision.models.resnet50().load_state_dict(sd, strict=False) loads the trunk.",
        .opts = opts,
        .n_opts = 1,
        .min_positional = 1,
        .max_positional = 1,
    };
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    if (!out)
        return tsl_cli_fail(tsl_error(TSL_ERR_INVALID_ARG, "tessl export: -o OUT.safetensors is required"));
    tsl_status st = export_weights(args.positional[0], out);
    return st == TSL_OK ? TSL_EXIT_OK : tsl_cli_fail(st);
}
