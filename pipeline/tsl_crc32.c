#include "tsl_crc32.h"

#include <zlib.h>

/* zlib's crc32_z computes exactly this CRC (its braided loop ran 1.7x the slicing-by-4 tables this file
 * had). On x86-64 CPUs with carry-less multiplication, long ranges are folded 64 bytes at a time with
 * PCLMULQDQ instead (Gopal et al., "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ
 * Instruction", Intel 2009, with the reflected-domain constants for this polynomial given there):
 * several times zlib's speed, which matters because the loader checksums every stored byte it reads
 * (docs/PERFORMANCE.md, 2026-11-25). zlib finishes the last size % 16 bytes, and does everything
 * elsewhere. tests/test_shard.c compares both against zlib on every length up to a few kilobytes. */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TSL_CRC32_FOLD 1
#include <emmintrin.h>
#include <wmmintrin.h>

#define FOLD_TARGET __attribute__((target("sse2,pclmul")))

/* Each 128-bit lane x becomes x.lo * k.lo ^ x.hi * k.hi (carry-less): the lane moved `distance` bits
 * on, modulo the polynomial, ready to be xor-ed into the data that far ahead. */
FOLD_TARGET static __m128i fold(__m128i x, __m128i k) {
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

FOLD_TARGET static __m128i load(const uint8_t *p) {
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

/* The raw (pre- and post-inverted) CRC state over `size` bytes, size >= 64 and a multiple of 16. */
FOLD_TARGET static uint32_t fold_crc(uint32_t state, const uint8_t *p, size_t size) {
    const __m128i k_512 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4); /* fold 4 lanes by 512 bits */
    const __m128i k_128 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0); /* fold one lane by 128 bits */
    const __m128i k_64 = _mm_set_epi64x(0, 0x0163cd6124);
    const __m128i barrett = _mm_set_epi64x(0x01f7011641, 0x01db710641); /* mu, P(x) */
    const __m128i low32 = _mm_set_epi32(0, -1, 0, -1);
    __m128i x[4] = {load(p), load(p + 16), load(p + 32), load(p + 48)};
    x[0] = _mm_xor_si128(x[0], _mm_cvtsi32_si128((int)state));
    size_t i = 64;
    for (; i + 64 <= size; i += 64)
        for (int j = 0; j < 4; j++)
            x[j] = _mm_xor_si128(fold(x[j], k_512), load(p + i + 16 * j));
    __m128i acc = x[0];
    for (int j = 1; j < 4; j++)
        acc = _mm_xor_si128(fold(acc, k_128), x[j]);
    for (; i + 16 <= size; i += 16)
        acc = _mm_xor_si128(fold(acc, k_128), load(p + i));
    /* 128 -> 64 bits, then -> 32 bits by Barrett reduction. */
    acc = _mm_xor_si128(_mm_srli_si128(acc, 8), _mm_clmulepi64_si128(acc, k_128, 0x10));
    acc = _mm_xor_si128(_mm_srli_si128(acc, 4), _mm_clmulepi64_si128(_mm_and_si128(acc, low32), k_64, 0x00));
    __m128i t = _mm_clmulepi64_si128(_mm_and_si128(acc, low32), barrett, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), barrett, 0x00);
    acc = _mm_xor_si128(acc, t);
    return (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(acc, 4));
}

static int has_pclmul(void) {
    return __builtin_cpu_supports("pclmul");
}
#endif

uint32_t tsl_crc32(uint32_t crc, const void *data, size_t size) {
    const uint8_t *p = data;
#ifdef TSL_CRC32_FOLD
    if (size >= 64 && has_pclmul()) {
        size_t folded = size & ~(size_t)15;
        crc = ~fold_crc(~crc, p, folded);
        p += folded;
        size -= folded;
    }
#endif
    return (uint32_t)crc32_z(crc, p, size);
}
