/* Shared by the fuzz targets: the libFuzzer entry point, and an assertion that is on in every build. */
#ifndef TSL_FUZZ_TARGET_H
#define TSL_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                                    \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "fuzz assertion failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);               \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

#endif
