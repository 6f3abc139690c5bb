#include "tsl_half.h"

#include <string.h>

/* Rounds m >> shift to nearest, ties to even (shift in 1..31). */
static uint32_t shift_round_even(uint32_t m, uint32_t shift) {
    uint32_t q = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    return q + (rest > half || (rest == half && (q & 1)));
}

uint16_t tsl_half_from_float(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7fffffffu, e = a >> 23;
    if (a > 0x7f800000u) /* NaN */
        return sign | 0x7e00;
    if (a >= 0x477ff000u) /* >= 65520, halfway from 65504 to 65536 (even: rounds up), or inf */
        return sign | 0x7c00;
    if (a >= 0x38800000u) /* normal half: rebias the exponent; a carry may step it, which is right */
        return sign | (uint16_t)shift_round_even(((e - 112) << 23) | (a & 0x7fffff), 13);
    if (e < 102) /* below 2^-25 (half the smallest subnormal): 0, and 2^-25 itself ties to 0 */
        return sign;
    /* Subnormal half: units of 2^-24; the float is (m = 1.mantissa) * 2^(e - 150). */
    return sign | (uint16_t)shift_round_even((a & 0x7fffff) | 0x800000, 126 - e);
}

float tsl_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 31, mant = h & 1023, bits;
    if (exp == 0) { /* zero or subnormal: mant * 2^-24, exact in fp32 */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    bits = sign | (exp == 31 ? 0x7f800000u | (mant << 13) : ((exp + 112) << 23) | (mant << 13));
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
