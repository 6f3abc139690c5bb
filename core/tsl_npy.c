#include "tsl_npy.h"

#include "tsl_file.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* ---- the header dictionary: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } ---- */

typedef struct {
    const char *at, *end, *source;
} cursor;

static void skip_spaces(cursor *c) {
    while (c->at < c->end && (*c->at == ' ' || *c->at == '\t'))
        c->at++;
}

static bool accept(cursor *c, char ch) {
    skip_spaces(c);
    if (c->at < c->end && *c->at == ch) {
        c->at++;
        return true;
    }
    return false;
}

/* A quoted string (single or double quotes, no escapes) into out. */
static bool parse_string(cursor *c, char *out, size_t size) {
    skip_spaces(c);
    if (c->at >= c->end || (*c->at != '\'' && *c->at != '"'))
        return false;
    char quote = *c->at++;
    size_t n = 0;
    while (c->at < c->end && *c->at != quote) {
        if (n + 1 >= size)
            return false;
        out[n++] = *c->at++;
    }
    out[n] = 0;
    return c->at++ < c->end;
}

static bool parse_word(cursor *c, const char *word) {
    skip_spaces(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->at) < n || memcmp(c->at, word, n) != 0)
        return false;
    c->at += n;
    return true;
}

static bool parse_shape(cursor *c, tsl_npy_f32 *out) {
    if (!accept(c, '('))
        return false;
    out->ndim = 0;
    while (!accept(c, ')')) {
        skip_spaces(c);
        if (out->ndim == TSL_NPY_MAX_DIMS || c->at >= c->end || *c->at < '0' || *c->at > '9')
            return false;
        int64_t v = 0;
        while (c->at < c->end && *c->at >= '0' && *c->at <= '9') {
            if (v > (INT64_C(1) << 40))
                return false; /* no real array has a dimension this large */
            v = v * 10 + (*c->at++ - '0');
        }
        out->shape[out->ndim++] = v;
        if (!accept(c, ',')) {
            if (!accept(c, ')'))
                return false;
            break;
        }
    }
    return true;
}

static tsl_status bad(const cursor *c, const char *what) {
    return tsl_error(TSL_ERR_FORMAT, "%s: .npy header: %s", c->source, what);
}

/* Parses the dictionary into out's shape and *elem_size (4 for '<f4', 8 for '<f8'). */
static tsl_status parse_header(cursor *c, tsl_npy_f32 *out, int *elem_size) {
    bool seen_descr = false, seen_order = false, seen_shape = false;
    if (!accept(c, '{'))
        return bad(c, "does not start with '{'");
    while (!accept(c, '}')) {
        char key[32], value[32];
        if (!parse_string(c, key, sizeof key) || !accept(c, ':'))
            return bad(c, "malformed key");
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            seen_descr = true;
            if (!parse_string(c, value, sizeof value))
                return bad(c, "malformed descr");
            if (strcmp(value, "<f4") != 0 && strcmp(value, "<f8") != 0)
                return tsl_error(TSL_ERR_FORMAT, "%s: dtype '%s' is not float32 little-endian ('<f4')",
                                 c->source, value);
            *elem_size = value[2] == '8' ? 8 : 4;
        } else if (strcmp(key, "fortran_order") == 0 && !seen_order) {
            seen_order = true;
            if (parse_word(c, "True"))
                return tsl_error(TSL_ERR_FORMAT, "%s: Fortran-order arrays are not supported", c->source);
            if (!parse_word(c, "False"))
                return bad(c, "fortran_order is neither True nor False");
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            seen_shape = true;
            if (!parse_shape(c, out))
                return bad(c, "malformed shape");
        } else {
            return tsl_error(TSL_ERR_FORMAT, "%s: .npy header: unexpected or repeated key '%s'", c->source,
                             key);
        }
        if (!accept(c, ',')) {
            if (!accept(c, '}'))
                return bad(c, "expected ',' or '}'");
            break;
        }
    }
    if (!seen_descr || !seen_order || !seen_shape)
        return bad(c, "needs descr, fortran_order and shape");
    skip_spaces(c);
    if (c->at < c->end && *c->at == '\n')
        c->at++;
    skip_spaces(c);
    return c->at == c->end ? TSL_OK : bad(c, "trailing characters after the dictionary");
}

/* Checks the preamble, header and data size; *data points at the elements inside `bytes`. */
static tsl_status parse_layout(const char *source, const void *bytes, size_t size, bool allow_f8,
                               tsl_npy_f32 *out, int *elem_size, const unsigned char **data) {
    memset(out, 0, sizeof *out);
    const unsigned char *b = bytes;
    if (size < 10 || memcmp(b, magic, sizeof magic) != 0)
        return tsl_error(TSL_ERR_FORMAT, "%s: not a .npy file (bad magic)", source);
    if (b[6] < 1 || b[6] > 3 || b[7] != 0)
        return tsl_error(TSL_ERR_FORMAT, "%s: .npy version %u.%u is not 1.0, 2.0 or 3.0", source, b[6], b[7]);
    size_t prefix = b[6] == 1 ? 10 : 12;
    if (size < prefix)
        return tsl_error(TSL_ERR_FORMAT, "%s: truncated .npy preamble", source);
    uint64_t header_len =
        b[6] == 1 ? (uint64_t)b[8] | (uint64_t)b[9] << 8
                  : (uint64_t)b[8] | (uint64_t)b[9] << 8 | (uint64_t)b[10] << 16 | (uint64_t)b[11] << 24;
    if (header_len > size - prefix)
        return tsl_error(TSL_ERR_FORMAT, "%s: .npy header length %llu exceeds the file", source,
                         (unsigned long long)header_len);
    cursor c = {(const char *)b + prefix, (const char *)b + prefix + header_len, source};
    TSL_TRY(parse_header(&c, out, elem_size));
    if (*elem_size == 8 && !allow_f8)
        return tsl_error(TSL_ERR_FORMAT, "%s: dtype '<f8' is not float32 little-endian ('<f4')", source);
    out->count = 1;
    for (int i = 0; i < out->ndim; i++) {
        if (out->shape[i] != 0 && out->count > (UINT64_C(1) << 40) / (uint64_t)out->shape[i])
            return tsl_error(TSL_ERR_FORMAT, "%s: .npy shape too large", source);
        out->count *= (uint64_t)out->shape[i];
    }
    uint64_t data_bytes = size - prefix - header_len;
    if (data_bytes != (uint64_t)*elem_size * out->count)
        return tsl_error(TSL_ERR_FORMAT, "%s: data is %llu bytes, shape needs %llu", source,
                         (unsigned long long)data_bytes, (unsigned long long)(*elem_size * out->count));
    *data = b + prefix + header_len;
    return TSL_OK;
}

tsl_status tsl_npy_parse_f32(const char *source, const void *bytes, size_t size, tsl_npy_f32 *out) {
    int elem_size = 4;
    const unsigned char *data = NULL; /* -O3 cannot see parse_layout set it on success */
    TSL_TRY(parse_layout(source, bytes, size, false, out, &elem_size, &data));
    out->data = malloc(out->count ? 4 * out->count : 1);
    if (!out->data)
        return tsl_error(TSL_ERR_NOMEM, "%s: out of memory", source);
    memcpy(out->data, data, 4 * out->count);
    return TSL_OK;
}

tsl_status tsl_npy_parse_f64(const char *source, const void *bytes, size_t size, tsl_npy_f64 *out) {
    memset(out, 0, sizeof *out);
    int elem_size = 4;
    const unsigned char *data = NULL; /* as above */
    tsl_npy_f32 layout;
    TSL_TRY(parse_layout(source, bytes, size, true, &layout, &elem_size, &data));
    out->ndim = layout.ndim;
    memcpy(out->shape, layout.shape, sizeof out->shape);
    out->count = layout.count;
    out->data = malloc(out->count ? 8 * out->count : 1);
    if (!out->data)
        return tsl_error(TSL_ERR_NOMEM, "%s: out of memory", source);
    for (uint64_t i = 0; i < out->count; i++) {
        if (elem_size == 8) {
            memcpy(&out->data[i], data + 8 * i, 8);
        } else {
            float v;
            memcpy(&v, data + 4 * i, 4);
            out->data[i] = v;
        }
    }
    return TSL_OK;
}

tsl_status tsl_npy_read_f64(const char *path, size_t max_bytes, tsl_npy_f64 *out) {
    void *bytes;
    size_t size;
    memset(out, 0, sizeof *out);
    TSL_TRY(tsl_read_file(path, max_bytes, &bytes, &size));
    tsl_status s = tsl_npy_parse_f64(path, bytes, size, out);
    free(bytes);
    return s;
}

void tsl_npy_free_f64(tsl_npy_f64 *array) {
    free(array->data);
    memset(array, 0, sizeof *array);
}

tsl_status tsl_npy_read_f32(const char *path, size_t max_bytes, tsl_npy_f32 *out) {
    void *bytes;
    size_t size;
    memset(out, 0, sizeof *out);
    TSL_TRY(tsl_read_file(path, max_bytes, &bytes, &size));
    tsl_status s = tsl_npy_parse_f32(path, bytes, size, out);
    free(bytes);
    return s;
}

tsl_status tsl_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > TSL_NPY_MAX_DIMS)
        return tsl_error(TSL_ERR_INVALID_ARG, "npy: %d dimensions (0..%d)", ndim, TSL_NPY_MAX_DIMS);
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        n += snprintf(dict + n, sizeof dict - n,
                      ndim == 1 ? "%lld,"
                      : i       ? ", %lld"
                                : "%lld",
                      (long long)shape[i]);
        count *= (uint64_t)shape[i];
    }
    n += snprintf(dict + n, sizeof dict - n, "), }");
    size_t header_len = ((size_t)n + 1 + 10 + 63) / 64 * 64 - 10; /* dictionary, spaces, '\n' */
    unsigned char *file = malloc(10 + header_len + 4 * count);
    if (!file)
        return tsl_error(TSL_ERR_NOMEM, "npy: out of memory writing %s", path);
    memcpy(file, magic, sizeof magic);
    file[6] = 1;
    file[7] = 0;
    file[8] = (unsigned char)(header_len & 0xff);
    file[9] = (unsigned char)(header_len >> 8);
    memset(file + 10, ' ', header_len);
    memcpy(file + 10, dict, (size_t)n);
    file[10 + header_len - 1] = '\n';
    memcpy(file + 10 + header_len, data, 4 * count);
    tsl_status s = tsl_write_file_atomic(path, file, 10 + header_len + 4 * count);
    free(file);
    return s;
}

void tsl_npy_free(tsl_npy_f32 *array) {
    free(array->data);
    memset(array, 0, sizeof *array);
}
