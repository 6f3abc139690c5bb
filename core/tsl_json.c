#include "tsl_json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *text;
    size_t len, pos;
    const char *source;
} parser;

static tsl_status fail(const parser *p, const char *what) {
    return tsl_error(TSL_ERR_FORMAT, "%s: JSON at byte %zu: %s", p->source, p->pos, what);
}

static void skip_space(parser *p) {
    while (p->pos < p->len && (p->text[p->pos] == ' ' || p->text[p->pos] == '\t' || p->text[p->pos] == '\n' ||
                               p->text[p->pos] == '\r'))
        p->pos++;
}

static bool literal(parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0)
        return false;
    p->pos += n;
    return true;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool read_hex4(parser *p, uint32_t *out) {
    if (p->len - p->pos < 4)
        return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p->text[p->pos + i]);
        if (d < 0)
            return false;
        v = v * 16 + (uint32_t)d;
    }
    p->pos += 4;
    *out = v;
    return true;
}

static size_t put_utf8(char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* \uXXXX, with surrogate pairs; \u0000 is refused (strings are NUL-terminated). */
static tsl_status read_unicode_escape(parser *p, char *out, size_t *n) {
    uint32_t cp;
    if (!read_hex4(p, &cp))
        return fail(p, "bad \\u escape");
    if (cp >= 0xd800 && cp < 0xdc00) {
        uint32_t low;
        if (!literal(p, "\\u") || !read_hex4(p, &low) || low < 0xdc00 || low >= 0xe000)
            return fail(p, "unpaired surrogate in \\u escape");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    } else if ((cp >= 0xdc00 && cp < 0xe000) || cp == 0) {
        return fail(p, cp ? "unpaired surrogate in \\u escape" : "\\u0000 in a string");
    }
    *n = put_utf8(out, cp);
    return TSL_OK;
}

static tsl_status parse_string(parser *p, char **out) {
    p->pos++; /* opening quote */
    /* The decoded string is never longer than its source text. */
    size_t start = p->pos;
    while (p->pos < p->len && p->text[p->pos] != '"')
        p->pos += p->text[p->pos] == '\\' ? 2 : 1;
    if (p->pos >= p->len)
        return fail(p, "unterminated string");
    char *s = malloc(p->pos - start + 1);
    if (!s)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    p->pos = start;
    size_t n = 0;
    static const char escapes[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    while (p->text[p->pos] != '"') {
        unsigned char c = (unsigned char)p->text[p->pos++];
        if (c < 0x20) {
            free(s);
            return fail(p, "control character in a string");
        }
        if (c != '\\') {
            s[n++] = (char)c;
            continue;
        }
        char e = p->text[p->pos++];
        const char *hit = NULL;
        for (const char *q = escapes; *q; q += 2)
            if (*q == e) {
                hit = q;
                break;
            }
        if (hit) {
            s[n++] = hit[1];
        } else if (e == 'u') {
            size_t k = 0;
            tsl_status st = read_unicode_escape(p, s + n, &k);
            if (st != TSL_OK) {
                free(s);
                return st;
            }
            n += k;
        } else {
            free(s);
            return fail(p, "bad escape in a string");
        }
    }
    p->pos++;
    s[n] = '\0';
    *out = s;
    return TSL_OK;
}

static tsl_status parse_number(parser *p, tsl_json *v) {
    size_t start = p->pos;
    bool integer = true;
    if (p->pos < p->len && p->text[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len || !(p->text[p->pos] >= '0' && p->text[p->pos] <= '9'))
        return fail(p, "bad number");
    if (p->text[p->pos] == '0' && p->pos + 1 < p->len && p->text[p->pos + 1] >= '0' &&
        p->text[p->pos + 1] <= '9')
        return fail(p, "number with a leading zero");
    while (p->pos < p->len && strchr("0123456789+-.eE", p->text[p->pos])) {
        if (strchr(".eE", p->text[p->pos]))
            integer = false;
        p->pos++;
    }
    char buf[64];
    size_t n = p->pos - start;
    if (n >= sizeof buf)
        return fail(p, "number too long");
    memcpy(buf, p->text + start, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    v->number = strtod(buf, &end);
    if (*end != '\0' || !isfinite(v->number))
        return fail(p, "bad number");
    if (integer) {
        errno = 0;
        long long i = strtoll(buf, &end, 10);
        v->is_integer = errno == 0 && *end == '\0';
        v->integer = i;
    }
    v->type = TSL_JSON_NUMBER;
    return TSL_OK;
}

static tsl_status parse_value(parser *p, tsl_json *v, int depth);

static tsl_status grow(tsl_json *v, size_t *cap, bool with_keys) {
    if (v->count < *cap)
        return TSL_OK;
    size_t n = *cap ? 2 * *cap : 4;
    tsl_json *items = realloc(v->items, n * sizeof *items);
    if (items)
        v->items = items;
    char **keys = with_keys ? realloc(v->keys, n * sizeof *keys) : NULL;
    if (keys)
        v->keys = keys;
    if (!items || (with_keys && !keys))
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    *cap = n;
    return TSL_OK;
}

static tsl_status parse_container(parser *p, tsl_json *v, int depth, bool object) {
    v->type = object ? TSL_JSON_OBJECT : TSL_JSON_ARRAY;
    char close = object ? '}' : ']';
    p->pos++;
    skip_space(p);
    if (p->pos < p->len && p->text[p->pos] == close) {
        p->pos++;
        return TSL_OK;
    }
    size_t cap = 0;
    for (;;) {
        TSL_TRY(grow(v, &cap, object));
        char *key = NULL;
        if (object) {
            skip_space(p);
            if (p->pos >= p->len || p->text[p->pos] != '"')
                return fail(p, "expected a member name");
            TSL_TRY(parse_string(p, &key));
            if (tsl_json_get(v, key)) {
                free(key);
                return fail(p, "duplicate member name");
            }
            skip_space(p);
            if (p->pos >= p->len || p->text[p->pos] != ':') {
                free(key);
                return fail(p, "expected ':'");
            }
            p->pos++;
            v->keys[v->count] = key;
        }
        memset(&v->items[v->count], 0, sizeof v->items[0]);
        v->count++; /* counted before parsing so that a failure frees what was built */
        TSL_TRY(parse_value(p, &v->items[v->count - 1], depth + 1));
        skip_space(p);
        if (p->pos < p->len && p->text[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->text[p->pos] == close) {
            p->pos++;
            return TSL_OK;
        }
        return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static tsl_status parse_value(parser *p, tsl_json *v, int depth) {
    if (depth > TSL_JSON_MAX_DEPTH)
        return fail(p, "nested too deeply");
    skip_space(p);
    if (p->pos >= p->len)
        return fail(p, "unexpected end of input");
    char c = p->text[p->pos];
    if (c == '{' || c == '[')
        return parse_container(p, v, depth, c == '{');
    if (c == '"') {
        v->type = TSL_JSON_STRING;
        return parse_string(p, &v->string);
    }
    if (literal(p, "true") || literal(p, "false")) {
        v->type = TSL_JSON_BOOL;
        v->boolean = c == 't';
        return TSL_OK;
    }
    if (literal(p, "null")) {
        v->type = TSL_JSON_NULL;
        return TSL_OK;
    }
    return parse_number(p, v);
}

tsl_status tsl_json_parse(const char *text, size_t len, const char *source, tsl_json **out) {
    *out = NULL;
    tsl_json *v = calloc(1, sizeof *v);
    if (!v)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    parser p = {text, len, 0, source};
    tsl_status st = parse_value(&p, v, 0);
    if (st == TSL_OK) {
        skip_space(&p);
        if (p.pos != p.len)
            st = fail(&p, "trailing characters after the value");
    }
    if (st != TSL_OK) {
        tsl_json_free(v);
        return st;
    }
    *out = v;
    return TSL_OK;
}

static void free_contents(tsl_json *v) {
    for (size_t i = 0; i < v->count; i++) {
        free_contents(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
}

void tsl_json_free(tsl_json *v) {
    if (!v)
        return;
    free_contents(v);
    free(v);
}

const tsl_json *tsl_json_get(const tsl_json *v, const char *key) {
    if (!v || v->type != TSL_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < v->count; i++)
        if (v->keys[i] && strcmp(v->keys[i], key) == 0)
            return &v->items[i];
    return NULL;
}

void tsl_json_write_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}
