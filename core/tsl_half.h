/* IEEE binary16 ("half") <-> binary32 on the host, in plain C (no _Float16: clang 14 lacks it on
 * x86-64). For uploading and reading back the fp16-storage tensors of the kernels. */
#ifndef TSL_HALF_H
#define TSL_HALF_H

#include <stdint.h>

/* The half nearest to f, ties to even (as a GPU's conversion rounds): beyond 65504 by half an ulp or
 * more, +-inf; below 2^-14, a subnormal half (or +-0); NaN stays a quiet NaN with f's sign. */
uint16_t tsl_half_from_float(float f);

/* The value of half h (exact: every half is a float). */
float tsl_half_to_float(uint16_t h);

/* f rounded to the nearest half, as a float. */
static inline float tsl_half_round(float f) {
    return tsl_half_to_float(tsl_half_from_float(f));
}

#endif
