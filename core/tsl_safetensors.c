#include "tsl_safetensors.h"

#include "tsl_file.h"
#include "tsl_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtypes[TSL_DTYPE_COUNT] = {
    [TSL_DTYPE_F32] = {"F32", 4}, [TSL_DTYPE_F16] = {"F16", 2}, [TSL_DTYPE_BF16] = {"BF16", 2},
    [TSL_DTYPE_F64] = {"F64", 8}, [TSL_DTYPE_I64] = {"I64", 8}, [TSL_DTYPE_I32] = {"I32", 4},
    [TSL_DTYPE_U8] = {"U8", 1},
};

size_t tsl_dtype_size(tsl_dtype dtype) {
    return dtypes[dtype].size;
}

const char *tsl_dtype_name(tsl_dtype dtype) {
    return dtypes[dtype].name;
}

/* Element count and byte size of a shape, or false on overflow past 2^62 bytes. */
static bool shape_bytes(const int64_t *shape, int ndim, size_t elem, uint64_t *count, uint64_t *bytes) {
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && n > (UINT64_C(1) << 62) / (uint64_t)shape[i]))
            return false;
        n *= (uint64_t)shape[i];
    }
    if (n > (UINT64_C(1) << 62) / elem)
        return false;
    *count = n;
    *bytes = n * elem;
    return true;
}

/* ---- writing ---- */

static tsl_status write_header(FILE *f, const tsl_tensor_view *t, int n, const char *const *mk,
                               const char *const *mv, int n_meta) {
    fputc('{', f);
    if (n_meta > 0) {
        fputs("\"__metadata__\":{", f);
        for (int i = 0; i < n_meta; i++) {
            if (i)
                fputc(',', f);
            tsl_json_write_string(f, mk[i]);
            fputc(':', f);
            tsl_json_write_string(f, mv[i]);
        }
        fputc('}', f);
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        uint64_t count, bytes;
        if (!shape_bytes(t[i].shape, t[i].ndim, tsl_dtype_size(t[i].dtype), &count, &bytes))
            return tsl_error(TSL_ERR_INVALID_ARG, "safetensors: tensor %s has an invalid shape", t[i].name);
        if (i || n_meta > 0)
            fputc(',', f);
        tsl_json_write_string(f, t[i].name);
        fprintf(f, ":{\"dtype\":\"%s\",\"shape\":[", tsl_dtype_name(t[i].dtype));
        for (int d = 0; d < t[i].ndim; d++)
            fprintf(f, d ? ",%lld" : "%lld", (long long)t[i].shape[d]);
        fprintf(f, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    fputc('}', f);
    return ferror(f) ? tsl_error(TSL_ERR_NOMEM, "out of memory building a safetensors header") : TSL_OK;
}

static tsl_status check_names(const tsl_tensor_view *t, int n) {
    for (int i = 0; i < n; i++) {
        if (strcmp(t[i].name, "__metadata__") == 0 || t[i].ndim < 0 || t[i].ndim > TSL_TENSOR_MAX_DIMS)
            return tsl_error(TSL_ERR_INVALID_ARG, "safetensors: invalid tensor '%s'", t[i].name);
        for (int j = 0; j < i; j++)
            if (strcmp(t[i].name, t[j].name) == 0)
                return tsl_error(TSL_ERR_INVALID_ARG, "safetensors: tensor name '%s' given twice", t[i].name);
    }
    return TSL_OK;
}

tsl_status tsl_safetensors_write(const char *path, const tsl_tensor_view *t, int n, const char *const *mk,
                                 const char *const *mv, int n_meta) {
    TSL_TRY(check_names(t, n));
    char *header = NULL;
    size_t header_len = 0;
    FILE *mem = open_memstream(&header, &header_len);
    if (!mem)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    tsl_status st = write_header(mem, t, n, mk, mv, n_meta);
    while (st == TSL_OK && (ftell(mem) + 8) % 8 != 0) /* data starts 8-byte aligned, as the reference pads */
        fputc(' ', mem);
    fclose(mem);
    tsl_atomic_file af;
    if (st == TSL_OK)
        st = tsl_atomic_open(&af, path);
    if (st != TSL_OK) {
        free(header);
        return st;
    }
    uint8_t len_le[8];
    for (int i = 0; i < 8; i++)
        len_le[i] = (uint8_t)((uint64_t)header_len >> (8 * i));
    st = tsl_atomic_write(&af, len_le, 8);
    if (st == TSL_OK)
        st = tsl_atomic_write(&af, header, header_len);
    for (int i = 0; st == TSL_OK && i < n; i++) {
        uint64_t count = 0, bytes = 0;
        shape_bytes(t[i].shape, t[i].ndim, tsl_dtype_size(t[i].dtype), &count, &bytes);
        st = tsl_atomic_write(&af, t[i].data, bytes);
    }
    free(header);
    if (st != TSL_OK) {
        tsl_atomic_abort(&af);
        return st;
    }
    return tsl_atomic_commit(&af);
}

/* ---- reading ---- */

static tsl_status bad(const char *path, const char *what, const char *name) {
    return tsl_error(TSL_ERR_FORMAT, "%s: not a valid safetensors file: %s%s%s", path, what,
                     name ? " for tensor " : "", name ? name : "");
}

static bool parse_dtype(const char *s, tsl_dtype *out) {
    for (int i = 0; i < TSL_DTYPE_COUNT; i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            *out = (tsl_dtype)i;
            return true;
        }
    return false;
}

static bool u64_of(const tsl_json *v, uint64_t *out) {
    if (!v || v->type != TSL_JSON_NUMBER || !v->is_integer || v->integer < 0)
        return false;
    *out = (uint64_t)v->integer;
    return true;
}

static tsl_status read_entry(tsl_safetensors *st, const char *name, const tsl_json *v, uint64_t data_size,
                             uint64_t ranges[][2], int index) {
    const char *path = st->path;
    tsl_st_tensor *t = &st->tensors[index];
    const tsl_json *dtype = tsl_json_get(v, "dtype"), *shape = tsl_json_get(v, "shape"),
                   *offsets = tsl_json_get(v, "data_offsets");
    if (!dtype || dtype->type != TSL_JSON_STRING || !parse_dtype(dtype->string, &t->dtype))
        return bad(path, "missing or unknown dtype", name);
    if (!shape || shape->type != TSL_JSON_ARRAY || shape->count > TSL_TENSOR_MAX_DIMS)
        return bad(path, "missing shape or more than 8 dimensions", name);
    t->ndim = (int)shape->count;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t dim;
        if (!u64_of(&shape->items[d], &dim) || dim > (UINT64_C(1) << 62))
            return bad(path, "a dimension is not a non-negative integer", name);
        t->shape[d] = (int64_t)dim;
    }
    uint64_t begin, end, bytes;
    if (!offsets || offsets->type != TSL_JSON_ARRAY || offsets->count != 2 ||
        !u64_of(&offsets->items[0], &begin) || !u64_of(&offsets->items[1], &end) || begin > end ||
        end > data_size)
        return bad(path, "data_offsets missing or outside the file", name);
    if (!shape_bytes(t->shape, t->ndim, tsl_dtype_size(t->dtype), &t->count, &bytes) || bytes != end - begin)
        return bad(path, "data_offsets disagree with shape and dtype", name);
    t->name = strdup(name);
    if (!t->name)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    ranges[index][0] = begin;
    ranges[index][1] = end;
    return TSL_OK;
}

static int compare_ranges(const void *a, const void *b) {
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Ranges must tile the data section exactly: no overlap (two tensors sharing bytes), no gap. */
static tsl_status check_tiling(const char *path, uint64_t ranges[][2], int n, uint64_t data_size) {
    qsort(ranges, (size_t)n, sizeof ranges[0], compare_ranges);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        if (ranges[i][0] != at)
            return bad(path, ranges[i][0] < at ? "two tensors overlap" : "unused bytes between tensors",
                       NULL);
        at = ranges[i][1];
    }
    if (at != data_size)
        return bad(path, "bytes after the last tensor", NULL);
    return TSL_OK;
}

static tsl_status read_metadata(tsl_safetensors *st, const tsl_json *meta) {
    if (meta->type != TSL_JSON_OBJECT)
        return bad(st->path, "__metadata__ is not an object", NULL);
    st->meta_keys = calloc(meta->count + 1, sizeof *st->meta_keys);
    st->meta_values = calloc(meta->count + 1, sizeof *st->meta_values);
    if (!st->meta_keys || !st->meta_values)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < meta->count; i++) {
        if (meta->items[i].type != TSL_JSON_STRING)
            return bad(st->path, "a __metadata__ value is not a string", NULL);
        st->meta_keys[i] = strdup(meta->keys[i]);
        st->meta_values[i] = strdup(meta->items[i].string);
        st->n_meta++;
        if (!st->meta_keys[i] || !st->meta_values[i])
            return tsl_error(TSL_ERR_NOMEM, "out of memory");
    }
    return TSL_OK;
}

static tsl_status read_header(tsl_safetensors *st, const tsl_json *h, const uint8_t *data,
                              uint64_t data_size) {
    if (h->type != TSL_JSON_OBJECT)
        return bad(st->path, "the header is not a JSON object", NULL);
    st->tensors = calloc(h->count + 1, sizeof *st->tensors);
    uint64_t(*ranges)[2] = calloc(h->count + 1, sizeof *ranges);
    tsl_status status = st->tensors && ranges ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; status == TSL_OK && i < h->count; i++) {
        if (strcmp(h->keys[i], "__metadata__") == 0) {
            status = read_metadata(st, &h->items[i]);
        } else if (h->items[i].type != TSL_JSON_OBJECT) {
            status = bad(st->path, "an entry is not an object", h->keys[i]);
        } else {
            status = read_entry(st, h->keys[i], &h->items[i], data_size, ranges, st->n_tensors);
            if (status == TSL_OK) {
                st->tensors[st->n_tensors].data = data + ranges[st->n_tensors][0];
                st->n_tensors++;
            }
        }
    }
    if (status == TSL_OK)
        status = check_tiling(st->path, ranges, st->n_tensors, data_size);
    free(ranges);
    return status;
}

static tsl_status parse_file(tsl_safetensors *st, size_t size) {
    const uint8_t *bytes = st->file;
    if (size < 8)
        return bad(st->path, "shorter than the 8-byte header length", NULL);
    uint64_t header_len = 0;
    for (int i = 0; i < 8; i++)
        header_len |= (uint64_t)bytes[i] << (8 * i);
    if (header_len > TSL_SAFETENSORS_MAX_HEADER || header_len > size - 8)
        return bad(st->path, "header length larger than the file or than 100 MiB", NULL);
    tsl_json *h;
    TSL_TRY(tsl_json_parse((const char *)bytes + 8, header_len, st->path, &h));
    tsl_status status = read_header(st, h, bytes + 8 + header_len, size - 8 - header_len);
    tsl_json_free(h);
    return status;
}

tsl_status tsl_safetensors_parse(const char *source, void *bytes, size_t size, tsl_safetensors *st) {
    memset(st, 0, sizeof *st);
    st->file = bytes;
    st->path = strdup(source);
    tsl_status status = st->path ? parse_file(st, size) : tsl_error(TSL_ERR_NOMEM, "out of memory");
    if (status != TSL_OK)
        tsl_safetensors_free(st);
    return status;
}

tsl_status tsl_safetensors_read(const char *path, uint64_t max_bytes, tsl_safetensors *st) {
    memset(st, 0, sizeof *st);
    void *bytes;
    size_t size;
    TSL_TRY(tsl_read_file(path, max_bytes, &bytes, &size));
    return tsl_safetensors_parse(path, bytes, size, st);
}

const tsl_st_tensor *tsl_safetensors_find(const tsl_safetensors *st, const char *name) {
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

const char *tsl_safetensors_meta(const tsl_safetensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0)
            return st->meta_values[i];
    return NULL;
}

void tsl_safetensors_free(tsl_safetensors *st) {
    for (int i = 0; st->tensors && i < st->n_tensors; i++)
        free(st->tensors[i].name);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    free(st->tensors);
    free(st->file);
    free(st->path);
    memset(st, 0, sizeof *st);
}
