#include "tsl_augment_manual.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static tsl_status parse_double(const char *key, const char *value, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end || errno || !(v >= lo && v <= hi))
        return tsl_error(TSL_ERR_INVALID_ARG, "--params: %s='%s' is not a number in [%g, %g]", key, value, lo,
                         hi);
    *out = v;
    return TSL_OK;
}

static tsl_status parse_bool(const char *key, const char *value, uint8_t *out) {
    if (strcmp(value, "0") && strcmp(value, "1"))
        return tsl_error(TSL_ERR_INVALID_ARG, "--params: %s='%s' must be 0 or 1", key, value);
    *out = value[0] == '1';
    return TSL_OK;
}

/* Comma-separated integers into out[0..n); exactly n of them. */
static tsl_status parse_ints(const char *key, const char *value, int64_t *out, int n) {
    const char *p = value;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || (i < n - 1 ? *end != ',' : *end != '\0'))
            return tsl_error(TSL_ERR_INVALID_ARG,
                             "--params: %s='%s' must be %d comma-separated integers >= 0", key, value, n);
        out[i] = v;
        p = end + 1;
    }
    return TSL_OK;
}

static tsl_status parse_order(const char *value, uint8_t order[4]) {
    int64_t ops[4];
    TSL_TRY(parse_ints("order", value, ops, 4));
    unsigned seen = 0;
    for (int i = 0; i < 4; i++) {
        if (ops[i] > 3 || (seen & (1u << ops[i])))
            return tsl_error(TSL_ERR_INVALID_ARG,
                             "--params: order='%s' must be a permutation of 0,1,2,3 (b=0 c=1 s=2 h=3)",
                             value);
        seen |= 1u << ops[i];
        order[i] = (uint8_t)ops[i];
    }
    return TSL_OK;
}

static tsl_status parse_pair(tsl_augment_manual *p, const char *key, const char *value) {
    tsl_augment_sample *s = &p->sample;
    double v = 0; /* set by parse_double on success; -O3 cannot see that */
    if (strcmp(key, "crop") == 0) {
        p->has_crop = true;
        return parse_ints(key, value, p->crop, 4);
    }
    if (strcmp(key, "flip") == 0)
        return parse_bool(key, value, &s->flip);
    if (strcmp(key, "gray") == 0)
        return parse_bool(key, value, &s->gray);
    if (strcmp(key, "solarize") == 0)
        return parse_bool(key, value, &s->solarize);
    if (strcmp(key, "order") == 0)
        return parse_order(value, s->order);
    if (strcmp(key, "blur") == 0) {
        TSL_TRY(parse_double(key, value, 0, 100, &v));
        s->sigma = (float)v;
        return TSL_OK;
    }
    float *factor = strcmp(key, "brightness") == 0   ? &s->brightness
                    : strcmp(key, "contrast") == 0   ? &s->contrast
                    : strcmp(key, "saturation") == 0 ? &s->saturation
                    : strcmp(key, "hue") == 0        ? &s->hue
                                                     : NULL;
    if (!factor)
        return tsl_error(
            TSL_ERR_INVALID_ARG,
            "--params: unknown key '%s' (keys: crop flip brightness contrast saturation hue order "
            "gray blur solarize)",
            key);
    bool hue = factor == &s->hue;
    TSL_TRY(parse_double(key, value, hue ? -0.5 : 0, hue ? 0.5 : 100, &v));
    *factor = (float)v;
    s->jitter = 1;
    return TSL_OK;
}

tsl_status tsl_augment_manual_parse(const char *text, tsl_augment_manual *p) {
    *p = (tsl_augment_manual){
        .sample = {.order = {0, 1, 2, 3}, .brightness = 1, .contrast = 1, .saturation = 1}};
    char *copy = strdup(text);
    if (!copy)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    tsl_status st = TSL_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, " \t\n", &save); tok && st == TSL_OK;
         tok = strtok_r(NULL, " \t\n", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1])
            st = tsl_error(TSL_ERR_INVALID_ARG, "--params: '%s' is not key=value", tok);
        else {
            *eq = '\0';
            st = parse_pair(p, tok, eq + 1);
        }
    }
    free(copy);
    return st;
}

tsl_status tsl_augment_manual_place_crop(tsl_augment_manual *p, uint32_t width, uint32_t height) {
    if (!p->has_crop) {
        p->sample.crop_height = p->sample.crop_width = 1;
        return TSL_OK;
    }
    int64_t top = p->crop[0], left = p->crop[1], h = p->crop[2], w = p->crop[3];
    /* Compared without adding: the fields come from the text and may be near INT64_MAX. */
    if (h < 1 || w < 1 || h > height || w > width || top > (int64_t)height - h || left > (int64_t)width - w)
        return tsl_error(TSL_ERR_INVALID_ARG, "--params: crop=%lld,%lld,%lld,%lld leaves the %ux%u image",
                         (long long)top, (long long)left, (long long)h, (long long)w, width, height);
    p->sample.crop_top = (double)top / height;
    p->sample.crop_left = (double)left / width;
    p->sample.crop_height = (double)h / height;
    p->sample.crop_width = (double)w / width;
    return TSL_OK;
}
