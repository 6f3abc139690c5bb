/* Fuzz target: tsl_npy_parse_f32 (the input of `tessl features`) on arbitrary bytes returns an array or
 * an error, never crashes, leaks or reads out of bounds; an accepted array's count equals the product of
 * its shape and fits inside the input. */
#include "fuzz_target.h"
#include "tsl_npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tsl_npy_f32 a = {0};
    if (tsl_npy_parse_f32("fuzz", data, size, &a) != TSL_OK)
        return 0;
    uint64_t count = 1;
    for (int i = 0; i < a.ndim; i++)
        count *= (uint64_t)a.shape[i];
    FUZZ_ASSERT(a.ndim >= 0 && a.ndim <= TSL_NPY_MAX_DIMS);
    FUZZ_ASSERT(count == a.count && 4 * a.count <= size);
    float sum = 0;
    for (uint64_t i = 0; i < a.count; i++) /* every element readable (ASan checks the bounds) */
        sum += a.data[i];
    (void)sum;
    tsl_npy_free(&a);
    return 0;
}
