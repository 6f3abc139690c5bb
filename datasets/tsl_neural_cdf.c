/* A structural check of classic netCDF headers (CDF-1, CDF-2, CDF-5; the "Classic Format Specification" of
 * the netCDF users' guide) before libnetcdf parses them: libnetcdf allocates arrays sized by the header's
 * element counts without comparing them with the file (a 16-byte file can ask for gigabytes). Walking the
 * header once, every count is bounded by the bytes left, every name and attribute value must fit, and
 * every variable's dimension ids must exist. */
#include "tsl_neural_cdf.h"

#include <stdbool.h>
#include <string.h>

enum { TAG_DIMENSION = 10, TAG_VARIABLE = 11, TAG_ATTRIBUTE = 12, MAX_VAR_DIMS = 1024 };

typedef struct {
    const uint8_t *at, *end;
    int version; /* 1, 2 or 5 */
    uint64_t n_dims;
} walker;

static bool take(walker *w, size_t n, uint64_t *out) {
    if ((size_t)(w->end - w->at) < n)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | w->at[i]; /* big-endian */
    w->at += n;
    *out = v;
    return true;
}

static bool u32(walker *w, uint64_t *out) {
    return take(w, 4, out);
}

/* NON_NEG counts: 8 bytes in CDF-5, else 4. */
static bool count(walker *w, uint64_t *out) {
    return take(w, w->version == 5 ? 8 : 4, out);
}

static bool skip(walker *w, uint64_t n) {
    if (n > (uint64_t)(w->end - w->at))
        return false;
    w->at += n;
    return true;
}

static uint64_t padded(uint64_t n) {
    return (n + 3) / 4 * 4;
}

static bool name(walker *w) {
    uint64_t len;
    return count(w, &len) && len >= 1 && len <= 256 && skip(w, padded(len));
}

/* The bytes of one value of an external type, or 0 for an unknown type. */
static uint64_t type_size(uint64_t type, int version) {
    switch (type) {
    case 1:
    case 2:
        return 1; /* byte, char */
    case 3:
        return 2; /* short */
    case 4:
    case 5:
        return 4; /* int, float */
    case 6:
        return 8; /* double */
    default:
        if (version != 5)
            return 0;
        return type == 7 ? 1 : type == 8 ? 2 : type == 9 ? 4 : type == 10 || type == 11 ? 8 : 0;
    }
}

/* A list header: ABSENT (two zeros) or TAG followed by its element count, each element >= `min_bytes`. */
static bool list(walker *w, uint64_t tag, uint64_t min_bytes, uint64_t *n) {
    uint64_t t;
    if (!u32(w, &t) || !count(w, n))
        return false;
    if (t == 0)
        return *n == 0;
    return t == tag && *n <= (uint64_t)(w->end - w->at) / min_bytes;
}

static bool attributes(walker *w) {
    uint64_t n;
    if (!list(w, TAG_ATTRIBUTE, 12, &n))
        return false;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t type, len, size;
        if (!name(w) || !u32(w, &type) || !count(w, &len) || !(size = type_size(type, w->version)) ||
            len > (uint64_t)(w->end - w->at) / size || !skip(w, padded(len * size)))
            return false;
    }
    return true;
}

static bool dimensions(walker *w) {
    uint64_t n, len;
    if (!list(w, TAG_DIMENSION, 8, &n))
        return false;
    w->n_dims = n;
    for (uint64_t i = 0; i < n; i++)
        if (!name(w) || !count(w, &len))
            return false;
    return true;
}

static bool variables(walker *w) {
    uint64_t n;
    if (!list(w, TAG_VARIABLE, 24, &n))
        return false;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t ndims, dimid, type, vsize, begin;
        if (!name(w) || !count(w, &ndims) || ndims > MAX_VAR_DIMS || ndims > (uint64_t)(w->end - w->at) / 4)
            return false;
        for (uint64_t d = 0; d < ndims; d++)
            if (!count(w, &dimid) || dimid >= w->n_dims)
                return false;
        if (!attributes(w) || !u32(w, &type) || !type_size(type, w->version) || !count(w, &vsize) ||
            !take(w, w->version == 1 ? 4 : 8, &begin))
            return false;
    }
    return true;
}

bool tsl_neural_cdf_is_classic(const void *bytes, size_t size) {
    const uint8_t *b = bytes;
    return size >= 4 && memcmp(b, "CDF", 3) == 0 && (b[3] == 1 || b[3] == 2 || b[3] == 5);
}

tsl_status tsl_neural_cdf_check(const char *source, const void *bytes, size_t size) {
    if (!tsl_neural_cdf_is_classic(bytes, size))
        return tsl_error(TSL_ERR_FORMAT, "%s: not a classic netCDF file", source);
    walker w = {(const uint8_t *)bytes + 4, (const uint8_t *)bytes + size, ((const uint8_t *)bytes)[3], 0};
    uint64_t numrecs;
    if (!count(&w, &numrecs) || !dimensions(&w) || !attributes(&w) || !variables(&w))
        return tsl_error(TSL_ERR_FORMAT,
                         "%s: malformed or truncated netCDF header (a count, name or value beyond the file)",
                         source);
    return TSL_OK;
}
