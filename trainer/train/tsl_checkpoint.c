#include "tsl_checkpoint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const format_name = "tessl-checkpoint";
static const char *const format_version = "1";

void tsl_checkpoint_meta_set(tsl_checkpoint_meta *meta, const char *key, const char *fmt, ...) {
    int i = 0;
    while (i < meta->count && strcmp(meta->keys[i], key) != 0)
        i++;
    tsl_assert(i < TSL_CHECKPOINT_MAX_META && strlen(key) < sizeof meta->keys[0]);
    snprintf(meta->keys[i], sizeof meta->keys[i], "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(meta->values[i], sizeof meta->values[i], fmt, ap);
    va_end(ap);
    if (i == meta->count)
        meta->count++;
}

static bool saved(tsl_model_tensor_kind kind) {
    return kind != TSL_MT_GRAD;
}

tsl_status tsl_checkpoint_save(tsl_model *model, const tsl_checkpoint_meta *meta, const char *path) {
    int n = 0;
    const tsl_model_tensor *t = tsl_model_tensors(model, &n);
    tsl_tensor_view *views = calloc((size_t)n, sizeof *views);
    float **data = calloc((size_t)n, sizeof *data);
    const char *keys[TSL_CHECKPOINT_MAX_META + 2], *values[TSL_CHECKPOINT_MAX_META + 2];
    tsl_status st = views && data ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "out of memory");
    int n_views = 0;
    for (int i = 0; st == TSL_OK && i < n; i++) {
        if (!saved(t[i].kind))
            continue;
        data[n_views] = malloc(t[i].count * sizeof(float) + 1);
        if (!data[n_views]) {
            st = tsl_error(TSL_ERR_NOMEM, "out of memory saving %s", t[i].name);
            break;
        }
        st = tsl_model_tensor_download(model, &t[i], data[n_views]);
        views[n_views] = (tsl_tensor_view){t[i].name, TSL_DTYPE_F32, t[i].ndim, {0}, data[n_views]};
        memcpy(views[n_views].shape, t[i].shape, sizeof t[i].shape);
        n_views++;
    }
    keys[0] = "format";
    values[0] = format_name;
    keys[1] = "version";
    values[1] = format_version;
    for (int i = 0; i < meta->count; i++) {
        keys[2 + i] = meta->keys[i];
        values[2 + i] = meta->values[i];
    }
    if (st == TSL_OK)
        st = tsl_safetensors_write(path, views, n_views, keys, values, 2 + meta->count);
    for (int i = 0; data && i < n_views; i++)
        free(data[i]);
    free(data);
    free(views);
    return st == TSL_OK ? TSL_OK : tsl_error_context(st, "saving checkpoint %s", path);
}

static tsl_status upload_all(tsl_model *model, const tsl_safetensors *file) {
    int n = 0;
    const tsl_model_tensor *t = tsl_model_tensors(model, &n);
    for (int i = 0; i < n; i++) {
        if (!saved(t[i].kind))
            continue;
        const tsl_st_tensor *s = tsl_safetensors_find(file, t[i].name);
        if (!s)
            return tsl_error(TSL_ERR_FORMAT, "%s: tensor %s is missing (a checkpoint of another model?)",
                             file->path, t[i].name);
        if (s->dtype != TSL_DTYPE_F32 || s->count != t[i].count)
            return tsl_error(TSL_ERR_FORMAT,
                             "%s: tensor %s has %llu elements of %s, the model needs %llu of F32", file->path,
                             t[i].name, (unsigned long long)s->count, tsl_dtype_name(s->dtype),
                             (unsigned long long)t[i].count);
        TSL_TRY(tsl_model_tensor_upload(model, &t[i], s->data));
    }
    return TSL_OK;
}

tsl_status tsl_checkpoint_open(const char *path, tsl_safetensors *file) {
    TSL_TRY(tsl_safetensors_read(path, UINT64_C(1) << 36, file));
    const char *format = tsl_safetensors_meta(file, "format"),
               *version = tsl_safetensors_meta(file, "version");
    tsl_status st = TSL_OK;
    if (!format || strcmp(format, format_name) != 0)
        st = tsl_error(TSL_ERR_FORMAT, "%s: not a tessl checkpoint (no \"format\": \"%s\" in its metadata)",
                       path, format_name);
    else if (!version || strcmp(version, format_version) != 0)
        st = tsl_error(TSL_ERR_FORMAT, "%s: checkpoint version %s; this tessl reads version %s", path,
                       version ? version : "(none)", format_version);
    if (st != TSL_OK)
        tsl_safetensors_free(file);
    return st;
}

tsl_status tsl_checkpoint_upload(tsl_model *model, const tsl_safetensors *file) {
    return upload_all(model, file);
}

const char *tsl_checkpoint_optimizer(const tsl_safetensors *file) {
    const char *name = tsl_safetensors_meta(file, "optimizer");
    return name ? name : "lars"; /* checkpoints from before --optimizer hold LARS state */
}

tsl_status tsl_checkpoint_load(tsl_model *model, const char *path, tsl_safetensors *file) {
    TSL_TRY(tsl_checkpoint_open(path, file));
    tsl_status st = upload_all(model, file);
    if (st != TSL_OK)
        tsl_safetensors_free(file);
    return st;
}
