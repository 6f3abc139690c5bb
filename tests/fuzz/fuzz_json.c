/* Fuzz target: tsl_json_parse on arbitrary bytes must return a value or an error, never crash, leak or
 * read out of bounds; a parsed value's strings are NUL-terminated and its counts are consistent. */
#include "fuzz_target.h"
#include "tsl_json.h"

#include <string.h>

static void walk(const tsl_json *v, int depth) {
    FUZZ_ASSERT(depth <= TSL_JSON_MAX_DEPTH + 1);
    if (v->type == TSL_JSON_STRING)
        FUZZ_ASSERT(strlen(v->string) < 1u << 30);
    for (size_t i = 0; i < v->count; i++) {
        if (v->type == TSL_JSON_OBJECT)
            FUZZ_ASSERT(tsl_json_get(v, v->keys[i]) == &v->items[i]); /* keys are unique */
        walk(&v->items[i], depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tsl_json *v = NULL;
    if (tsl_json_parse((const char *)data, size, "fuzz", &v) == TSL_OK)
        walk(v, 0);
    else
        FUZZ_ASSERT(v == NULL);
    tsl_json_free(v);
    return 0;
}
