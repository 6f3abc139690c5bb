/* Fuzz target: tsl_safetensors_parse on arbitrary bytes never crashes, leaks or reads out of bounds, and
 * what it accepts is consistent: every tensor's bytes lie inside the input. */
#include "fuzz_target.h"
#include "tsl_safetensors.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    void *copy = malloc(size ? size : 1);
    FUZZ_ASSERT(copy);
    memcpy(copy, data, size);
    tsl_safetensors st;
    if (tsl_safetensors_parse("fuzz", copy, size, &st) != TSL_OK)
        return 0;
    const uint8_t *begin = st.file, *end = begin + size;
    for (int i = 0; i < st.n_tensors; i++) {
        const tsl_st_tensor *t = &st.tensors[i];
        uint64_t bytes = t->count * tsl_dtype_size(t->dtype);
        FUZZ_ASSERT((const uint8_t *)t->data >= begin && bytes <= (uint64_t)(end - (const uint8_t *)t->data));
        FUZZ_ASSERT(tsl_safetensors_find(&st, t->name) != NULL);
    }
    tsl_safetensors_free(&st);
    return 0;
}
