#include "tsl_neural_netcdf.h"

#include "tsl_neural_cdf.h"

#include <errno.h>
#include <math.h>
#include <netcdf.h>
#include <netcdf_mem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    int ncid;
    const char *source;
    uint64_t max_values;
    uint64_t file_size;
    int data_var;
    int dim_pres, dim_neuroid, dim_time; /* dimension ids; dim_time -1 when absent */
    size_t n_pres, n_neuroid, n_time;
} assembly;

static tsl_status nc_fail(const assembly *a, int status, const char *what) {
    return tsl_error(TSL_ERR_FORMAT, "%s: %s: %s", a->source, what, nc_strerror(status));
}

#define NC_TRY(a, call, what)                                                                                \
    do {                                                                                                     \
        int nc_status_ = (call);                                                                             \
        if (nc_status_ != NC_NOERR)                                                                          \
            return nc_fail((a), nc_status_, (what));                                                         \
    } while (0)

static bool is_numeric(nc_type t) {
    return t == NC_BYTE || t == NC_SHORT || t == NC_INT || t == NC_FLOAT || t == NC_DOUBLE || t == NC_UBYTE ||
           t == NC_USHORT || t == NC_UINT || t == NC_INT64 || t == NC_UINT64;
}

/* ---- the data variable and its dimensions ---- */

static tsl_status find_data_var(assembly *a) {
    if (nc_inq_varid(a->ncid, "__xarray_dataarray_variable__", &a->data_var) == NC_NOERR)
        return TSL_OK;
    int nvars, found = 0;
    NC_TRY(a, nc_inq_nvars(a->ncid, &nvars), "listing variables");
    for (int v = 0; v < nvars; v++) {
        int nd;
        nc_type type;
        NC_TRY(a, nc_inq_varndims(a->ncid, v, &nd), "reading a variable");
        NC_TRY(a, nc_inq_vartype(a->ncid, v, &type), "reading a variable");
        if (nd >= 2 && type != NC_CHAR)
            a->data_var = v, found++;
    }
    if (found != 1)
        return tsl_error(
            TSL_ERR_FORMAT,
            "%s: not a BrainIO assembly: %d variables of two or more dimensions (expected one, or "
            "__xarray_dataarray_variable__)",
            a->source, found);
    return TSL_OK;
}

/* Assigns the data variable's dimensions to presentation / neuroid / time_bin; others must be length 1. */
static tsl_status read_dims(assembly *a, int ndims, const int *dimids) {
    a->dim_pres = a->dim_neuroid = a->dim_time = -1;
    a->n_time = 1;
    uint64_t total = 1;
    for (int d = 0; d < ndims; d++) {
        char name[NC_MAX_NAME + 1];
        size_t len;
        NC_TRY(a, nc_inq_dim(a->ncid, dimids[d], name, &len), "reading a dimension");
        if (len == 0)
            return tsl_error(TSL_ERR_FORMAT, "%s: dimension '%s' is empty", a->source, name);
        if (len > a->max_values || total > a->max_values / len)
            return tsl_error(TSL_ERR_FORMAT, "%s: the data has more than %llu values", a->source,
                             (unsigned long long)a->max_values);
        total *= len;
        int *slot = strcmp(name, "presentation") == 0 ? &a->dim_pres
                    : strcmp(name, "neuroid") == 0    ? &a->dim_neuroid
                    : strcmp(name, "time_bin") == 0   ? &a->dim_time
                                                      : NULL;
        if (!slot && len != 1)
            return tsl_error(TSL_ERR_FORMAT, "%s: unexpected data dimension '%s' of length %zu", a->source,
                             name, len);
        if (slot && *slot >= 0)
            return tsl_error(TSL_ERR_FORMAT, "%s: dimension '%s' appears twice", a->source, name);
        if (slot)
            *slot = dimids[d];
        if (slot == &a->dim_pres)
            a->n_pres = len;
        else if (slot == &a->dim_neuroid)
            a->n_neuroid = len;
        else if (slot == &a->dim_time)
            a->n_time = len;
    }
    if (a->dim_pres < 0 || a->dim_neuroid < 0)
        return tsl_error(TSL_ERR_FORMAT, "%s: the data lacks a presentation or a neuroid dimension",
                         a->source);
    return TSL_OK;
}

/* Reads the data as doubles (values equal to _FillValue become NaN); `strides` per dimension. */
static tsl_status read_values(assembly *a, int ndims, const int *dimids, double **values, size_t *strides) {
    nc_type type;
    NC_TRY(a, nc_inq_vartype(a->ncid, a->data_var, &type), "reading the data variable");
    if (!is_numeric(type))
        return tsl_error(TSL_ERR_FORMAT, "%s: the data variable is not numeric", a->source);
    int att;
    if (nc_inq_attid(a->ncid, a->data_var, "scale_factor", &att) == NC_NOERR ||
        nc_inq_attid(a->ncid, a->data_var, "add_offset", &att) == NC_NOERR)
        return tsl_error(TSL_ERR_FORMAT, "%s: packed data (scale_factor, add_offset) is not supported",
                         a->source);
    size_t total = 1;
    for (int d = ndims - 1; d >= 0; d--) {
        size_t len;
        NC_TRY(a, nc_inq_dimlen(a->ncid, dimids[d], &len), "reading a dimension");
        strides[d] = total;
        total *= len; /* bounded by read_dims */
    }
    *values = malloc(total * sizeof **values);
    if (!*values)
        return tsl_error(TSL_ERR_NOMEM, "%s: %zu values", a->source, total);
    NC_TRY(a, nc_get_var_double(a->ncid, a->data_var, *values), "reading the data");
    size_t fill_len;
    nc_type fill_type;
    double fill;
    if (nc_inq_att(a->ncid, a->data_var, "_FillValue", &fill_type, &fill_len) == NC_NOERR && fill_len == 1 &&
        is_numeric(fill_type) && nc_get_att_double(a->ncid, a->data_var, "_FillValue", &fill) == NC_NOERR)
        for (size_t i = 0; i < total; i++)
            if ((*values)[i] == fill)
                (*values)[i] = NAN;
    return TSL_OK;
}

/* ---- coordinates ---- */

static void free_strings(char **s, size_t n) {
    if (!s)
        return;
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

static tsl_status store_string(const assembly *a, const char *name, const char *text, size_t len,
                               char **dst) {
    if (len >= TSL_NEURAL_MAX_ID)
        return tsl_error(TSL_ERR_FORMAT, "%s: coordinate '%s': a value longer than %d bytes", a->source, name,
                         TSL_NEURAL_MAX_ID - 1);
    if (!(*dst = malloc(len + 1)))
        return tsl_error(TSL_ERR_NOMEM, "%s: coordinate '%s'", a->source, name);
    memcpy(*dst, text, len);
    (*dst)[len] = 0;
    return TSL_OK;
}

static tsl_status strings_from_vlen(const assembly *a, int var, const char *name, size_t n, char **out) {
    char **raw = calloc(n, sizeof *raw);
    if (!raw)
        return tsl_error(TSL_ERR_NOMEM, "%s: coordinate '%s'", a->source, name);
    int rc = nc_get_var_string(a->ncid, var, raw);
    tsl_status st = rc == NC_NOERR ? TSL_OK : nc_fail(a, rc, name);
    for (size_t i = 0; i < n && st == TSL_OK; i++)
        st = store_string(a, name, raw[i] ? raw[i] : "", raw[i] ? strlen(raw[i]) : 0, &out[i]);
    if (rc == NC_NOERR)
        nc_free_string(n, raw);
    free(raw);
    return st;
}

static tsl_status strings_from_chars(const assembly *a, int var, const char *name, size_t n, size_t width,
                                     char **out) {
    if (width == 0 || width >= TSL_NEURAL_MAX_ID)
        return tsl_error(TSL_ERR_FORMAT, "%s: coordinate '%s': string width %zu", a->source, name, width);
    char *text = malloc(n * width);
    if (!text)
        return tsl_error(TSL_ERR_NOMEM, "%s: coordinate '%s'", a->source, name);
    int rc = nc_get_var_text(a->ncid, var, text);
    tsl_status st = rc == NC_NOERR ? TSL_OK : nc_fail(a, rc, name);
    for (size_t i = 0; i < n && st == TSL_OK; i++) {
        const char *s = text + i * width, *nul = memchr(s, 0, width);
        st = store_string(a, name, s, nul ? (size_t)(nul - s) : width, &out[i]);
    }
    free(text);
    return st;
}

static tsl_status strings_from_numbers(const assembly *a, int var, const char *name, size_t n, char **out) {
    double *v = malloc(n * sizeof *v);
    if (!v)
        return tsl_error(TSL_ERR_NOMEM, "%s: coordinate '%s'", a->source, name);
    int rc = nc_get_var_double(a->ncid, var, v);
    tsl_status st = rc == NC_NOERR ? TSL_OK : nc_fail(a, rc, name);
    for (size_t i = 0; i < n && st == TSL_OK; i++) {
        char buf[64];
        int len = v[i] == floor(v[i]) && fabs(v[i]) < 9e15 ? snprintf(buf, sizeof buf, "%.0f", v[i])
                                                           : snprintf(buf, sizeof buf, "%.17g", v[i]);
        st = store_string(a, name, buf, (size_t)len, &out[i]);
    }
    free(v);
    return st;
}

/* The coordinate `name` on dimension `dim` (n values) as strings; *out NULL when there is none. */
static tsl_status read_string_coord(const assembly *a, const char *name, int dim, size_t n, char ***out) {
    *out = NULL;
    int var, nd, dimids[NC_MAX_VAR_DIMS];
    nc_type type;
    if (nc_inq_varid(a->ncid, name, &var) != NC_NOERR)
        return TSL_OK;
    NC_TRY(a, nc_inq_var(a->ncid, var, NULL, &type, &nd, NULL, NULL), name);
    if (nd < 1 || nd > 2)
        return tsl_error(TSL_ERR_FORMAT, "%s: coordinate '%s' has %d dimensions", a->source, name, nd);
    NC_TRY(a, nc_inq_vardimid(a->ncid, var, dimids), name);
    size_t width = 0;
    if (nd == 2)
        NC_TRY(a, nc_inq_dimlen(a->ncid, dimids[1], &width), name);
    if (dimids[0] != dim || (nd == 2) != (type == NC_CHAR))
        return tsl_error(TSL_ERR_FORMAT,
                         "%s: coordinate '%s' is not a one-dimensional coordinate of the data", a->source,
                         name);
    if (type != NC_STRING && type != NC_CHAR && !is_numeric(type))
        return tsl_error(TSL_ERR_FORMAT, "%s: coordinate '%s' has an unsupported type", a->source, name);
    char **s = calloc(n, sizeof *s);
    if (!s)
        return tsl_error(TSL_ERR_NOMEM, "%s: coordinate '%s'", a->source, name);
    tsl_status st = type == NC_STRING ? strings_from_vlen(a, var, name, n, s)
                    : type == NC_CHAR ? strings_from_chars(a, var, name, n, width, s)
                                      : strings_from_numbers(a, var, name, n, s);
    if (st != TSL_OK) {
        free_strings(s, n);
        return st;
    }
    *out = s;
    return TSL_OK;
}

/* The integer coordinate `name` on the presentation dimension; *out NULL when there is none. */
static tsl_status read_repetitions(const assembly *a, int64_t **out) {
    *out = NULL;
    int var, nd, dimid;
    nc_type type;
    if (nc_inq_varid(a->ncid, "repetition", &var) != NC_NOERR)
        return TSL_OK;
    NC_TRY(a, nc_inq_var(a->ncid, var, NULL, &type, &nd, NULL, NULL), "repetition");
    if (nd != 1 || !is_numeric(type))
        return tsl_error(TSL_ERR_FORMAT, "%s: coordinate 'repetition' is not one-dimensional and numeric",
                         a->source);
    NC_TRY(a, nc_inq_vardimid(a->ncid, var, &dimid), "repetition");
    if (dimid != a->dim_pres)
        return tsl_error(TSL_ERR_FORMAT, "%s: coordinate 'repetition' is not on the presentation dimension",
                         a->source);
    double *v = malloc(a->n_pres * sizeof *v);
    int64_t *r = malloc(a->n_pres * sizeof *r);
    tsl_status st = v && r ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "%s: repetitions", a->source);
    int rc = st == TSL_OK ? nc_get_var_double(a->ncid, var, v) : NC_NOERR;
    if (rc != NC_NOERR)
        st = nc_fail(a, rc, "repetition");
    for (size_t i = 0; i < a->n_pres && st == TSL_OK; i++) {
        if (!(v[i] == floor(v[i]) && fabs(v[i]) < 9e15))
            st = tsl_error(TSL_ERR_FORMAT, "%s: repetition of presentation %zu is not an integer", a->source,
                           i);
        else
            r[i] = (int64_t)v[i];
    }
    free(v);
    if (st != TSL_OK)
        free(r);
    else
        *out = r;
    return st;
}

/* Classic netCDF (CDF-1, 2, 5) stores variables unpacked after the header, and libnetcdf reads missing
 * bytes of a truncated file as zeros: the variables' sizes must fit in the file. (netCDF-4 files are
 * HDF5, whose reader checks its own offsets.) */
static tsl_status check_classic_size(const assembly *a) {
    int format, nvars;
    NC_TRY(a, nc_inq_format(a->ncid, &format), "reading the format");
    if (format != NC_FORMAT_CLASSIC && format != NC_FORMAT_64BIT_OFFSET && format != NC_FORMAT_CDF5)
        return TSL_OK;
    NC_TRY(a, nc_inq_nvars(a->ncid, &nvars), "listing variables");
    uint64_t need = 0;
    for (int v = 0; v < nvars; v++) {
        int nd, dimids[NC_MAX_VAR_DIMS];
        nc_type type;
        size_t type_size;
        NC_TRY(a, nc_inq_var(a->ncid, v, NULL, &type, &nd, NULL, NULL), "reading a variable");
        if (nd < 0 || nd > NC_MAX_VAR_DIMS)
            return tsl_error(TSL_ERR_FORMAT, "%s: a variable with %d dimensions", a->source, nd);
        NC_TRY(a, nc_inq_vardimid(a->ncid, v, dimids), "reading a variable");
        NC_TRY(a, nc_inq_type(a->ncid, type, NULL, &type_size), "reading a type");
        uint64_t bytes = type_size;
        for (int d = 0; d < nd; d++) {
            size_t len;
            NC_TRY(a, nc_inq_dimlen(a->ncid, dimids[d], &len), "reading a dimension");
            if (len && bytes > a->file_size / len)
                return tsl_error(TSL_ERR_FORMAT,
                                 "%s: truncated: a variable needs more than the file's %llu bytes", a->source,
                                 (unsigned long long)a->file_size);
            bytes *= len;
        }
        need += (bytes + 3) / 4 * 4;
        if (need > a->file_size)
            return tsl_error(TSL_ERR_FORMAT,
                             "%s: truncated: the variables need more than the file's %llu bytes", a->source,
                             (unsigned long long)a->file_size);
    }
    return TSL_OK;
}

/* ---- selection and grouping ---- */

/* Neuroids kept: those of `region` (all when region is NULL or "all"). */
static tsl_status select_neuroids(const assembly *a, const char *region, size_t *keep, size_t *n_keep) {
    *n_keep = 0;
    if (!region || strcmp(region, "all") == 0) {
        for (size_t j = 0; j < a->n_neuroid; j++)
            keep[(*n_keep)++] = j;
        return TSL_OK;
    }
    char **regions;
    TSL_TRY(read_string_coord(a, "region", a->dim_neuroid, a->n_neuroid, &regions));
    if (!regions)
        return tsl_error(
            TSL_ERR_FORMAT,
            "%s: no 'region' coordinate on neuroid to select '%s' (region 'all' keeps every neuroid)",
            a->source, region);
    for (size_t j = 0; j < a->n_neuroid; j++)
        if (strcmp(regions[j], region) == 0)
            keep[(*n_keep)++] = j;
    free_strings(regions, a->n_neuroid);
    if (*n_keep == 0)
        return tsl_error(TSL_ERR_FORMAT, "%s: no neuroid has region '%s'", a->source, region);
    return TSL_OK;
}

/* presentation x kept-neuroid values, averaged over time bins. */
static void gather(const assembly *a, const double *values, const size_t *strides, int pres_axis,
                   int neuroid_axis, int time_axis, const size_t *keep, size_t n_keep, double *out) {
    for (size_t p = 0; p < a->n_pres; p++)
        for (size_t j = 0; j < n_keep; j++) {
            size_t base = p * strides[pres_axis] + keep[j] * strides[neuroid_axis];
            double sum = 0;
            for (size_t t = 0; t < a->n_time; t++)
                sum += values[base + (time_axis >= 0 ? t * strides[time_axis] : 0)];
            out[p * n_keep + j] = sum / (double)a->n_time;
        }
}

static int axis_of(int ndims, const int *dimids, int dim) {
    for (int d = 0; d < ndims; d++)
        if (dimids[d] == dim)
            return d;
    return -1;
}

typedef struct {
    double *values, *selected;
    size_t *keep;
    char **ids, **labels;
    int64_t *reps;
} buffers;

static tsl_status read_assembly(assembly *a, const char *region, buffers *b, tsl_neural_data *out) {
    int ndims, dimids[NC_MAX_VAR_DIMS];
    size_t strides[NC_MAX_VAR_DIMS];
    TSL_TRY(check_classic_size(a));
    TSL_TRY(find_data_var(a));
    NC_TRY(a, nc_inq_varndims(a->ncid, a->data_var, &ndims), "reading the data variable");
    if (ndims < 2 || ndims > NC_MAX_VAR_DIMS)
        return tsl_error(TSL_ERR_FORMAT, "%s: the data variable has %d dimensions", a->source, ndims);
    NC_TRY(a, nc_inq_vardimid(a->ncid, a->data_var, dimids), "reading the data variable");
    TSL_TRY(read_dims(a, ndims, dimids));
    TSL_TRY(read_string_coord(a, "stimulus_id", a->dim_pres, a->n_pres, &b->ids));
    if (!b->ids)
        TSL_TRY(read_string_coord(a, "image_id", a->dim_pres, a->n_pres, &b->ids));
    if (!b->ids)
        return tsl_error(TSL_ERR_FORMAT, "%s: no stimulus_id (or image_id) coordinate on presentation",
                         a->source);
    TSL_TRY(read_string_coord(a, "object_name", a->dim_pres, a->n_pres, &b->labels));
    TSL_TRY(read_repetitions(a, &b->reps));
    if (!(b->keep = malloc(a->n_neuroid * sizeof *b->keep)))
        return tsl_error(TSL_ERR_NOMEM, "%s: neuroids", a->source);
    size_t n_keep;
    TSL_TRY(select_neuroids(a, region, b->keep, &n_keep));
    TSL_TRY(read_values(a, ndims, dimids, &b->values, strides));
    if (!(b->selected = malloc(a->n_pres * n_keep * sizeof *b->selected)))
        return tsl_error(TSL_ERR_NOMEM, "%s: %zu x %zu responses", a->source, a->n_pres, n_keep);
    gather(a, b->values, strides, axis_of(ndims, dimids, a->dim_pres), axis_of(ndims, dimids, a->dim_neuroid),
           a->dim_time >= 0 ? axis_of(ndims, dimids, a->dim_time) : -1, b->keep, n_keep, b->selected);
    tsl_neural_presentations p = {.n_presentations = a->n_pres,
                                  .n_neuroids = n_keep,
                                  .ids = (const char *const *)b->ids,
                                  .reps = b->reps,
                                  .labels = (const char *const *)b->labels,
                                  .values = b->selected};
    return tsl_neural_group(a->source, &p, out);
}

static tsl_status read_open(int ncid, const char *source, uint64_t file_size, const char *region,
                            uint64_t max_values, tsl_neural_data *out) {
    assembly a = {.ncid = ncid, .source = source, .max_values = max_values, .file_size = file_size};
    buffers b = {0};
    tsl_status st = read_assembly(&a, region, &b, out);
    free(b.values), free(b.selected), free(b.keep), free(b.reps);
    free_strings(b.ids, a.n_pres);
    free_strings(b.labels, a.n_pres);
    nc_close(ncid);
    return st;
}

/* A classic file's header is walked before libnetcdf allocates from it (tsl_neural_cdf.h); it must lie in
 * the first 64 MiB. netCDF-4 (HDF5) files pass through. */
static tsl_status check_classic_header(const char *path, uint64_t file_size) {
    enum { HEADER_LIMIT = 64 << 20 };
    size_t n = file_size < HEADER_LIMIT ? (size_t)file_size : HEADER_LIMIT;
    uint8_t *head = malloc(n ? n : 1);
    if (!head)
        return tsl_error(TSL_ERR_NOMEM, "%s: header", path);
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(head, 1, n, f) : 0;
    if (f)
        fclose(f);
    tsl_status st = TSL_OK;
    if (!f || got != n)
        st = tsl_error(TSL_ERR_IO, "%s: cannot read: %s", path, f ? "short read" : strerror(errno));
    else if (tsl_neural_cdf_is_classic(head, n))
        st = tsl_neural_cdf_check(path, head, n);
    free(head);
    return st;
}

tsl_status tsl_neural_netcdf_read(const char *path, const char *region, uint64_t max_values,
                                  tsl_neural_data *out) {
    memset(out, 0, sizeof *out);
    struct stat info;
    if (stat(path, &info) != 0)
        return tsl_error(TSL_ERR_IO, "%s: %s", path, strerror(errno));
    TSL_TRY(check_classic_header(path, (uint64_t)info.st_size));
    int ncid, rc = nc_open(path, NC_NOWRITE, &ncid);
    if (rc != NC_NOERR)
        return tsl_error(rc == NC_ENOTNC || rc == NC_EHDFERR ? TSL_ERR_FORMAT : TSL_ERR_IO,
                         "%s: cannot open as netCDF: %s", path, nc_strerror(rc));
    return read_open(ncid, path, (uint64_t)info.st_size, region, max_values, out);
}

tsl_status tsl_neural_netcdf_parse(const char *source, const void *bytes, size_t size, const char *region,
                                   uint64_t max_values, tsl_neural_data *out) {
    memset(out, 0, sizeof *out);
    if (size == 0)
        return tsl_error(TSL_ERR_FORMAT, "%s: empty file", source);
    if (tsl_neural_cdf_is_classic(bytes, size))
        TSL_TRY(tsl_neural_cdf_check(source, bytes, size));
    void *copy = malloc(size); /* nc_open_mem takes a non-const buffer */
    if (!copy)
        return tsl_error(TSL_ERR_NOMEM, "%s: %zu bytes", source, size);
    memcpy(copy, bytes, size);
    int ncid, rc = nc_open_mem(source, NC_NOWRITE, size, copy, &ncid);
    tsl_status st = rc == NC_NOERR ? read_open(ncid, source, size, region, max_values, out)
                                   : tsl_error(TSL_ERR_FORMAT, "%s: not netCDF: %s", source, nc_strerror(rc));
    free(copy);
    return st;
}
