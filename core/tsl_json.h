/* A strict JSON (RFC 8259) parser into a tree, for headers and configs read from files that tessl does
 * not trust: depth and size are bounded, every error names the source and the byte offset, and numbers
 * that are integers are kept exactly as int64. Plus a string escaper for writers. */
#ifndef TSL_JSON_H
#define TSL_JSON_H

#include "tsl_status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    TSL_JSON_NULL,
    TSL_JSON_BOOL,
    TSL_JSON_NUMBER,
    TSL_JSON_STRING,
    TSL_JSON_ARRAY,
    TSL_JSON_OBJECT
} tsl_json_type;

typedef struct tsl_json tsl_json;
struct tsl_json {
    tsl_json_type type;
    bool boolean;
    double number;
    bool is_integer; /* the literal had no fraction or exponent and fits int64 */
    int64_t integer;
    char *string; /* NUL-terminated UTF-8 (strings with \u0000 are rejected) */
    size_t count; /* elements of an array or members of an object */
    tsl_json *items;
    char **keys; /* object member names, parallel to items */
};

enum { TSL_JSON_MAX_DEPTH = 64 };

/* Parses `len` bytes. `source` (a file name) prefixes error messages: "model.st: JSON header at byte 17:
 * expected ':'". Duplicate object keys are an error. Free the result with tsl_json_free. */
tsl_status tsl_json_parse(const char *text, size_t len, const char *source, tsl_json **out);
void tsl_json_free(tsl_json *value);

/* The member `key` of an object, or NULL (also when `value` is not an object). */
const tsl_json *tsl_json_get(const tsl_json *value, const char *key);

/* Writes `s` as a JSON string literal with quotes and escapes. */
void tsl_json_write_string(FILE *f, const char *s);

#endif
