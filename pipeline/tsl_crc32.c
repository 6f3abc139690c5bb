#include "tsl_crc32.h"
#include "tsl_shard_format.h"

#include <pthread.h>
#include <string.h>

/* Slicing-by-4 tables, built once (thread-safe through pthread_once). */
static uint32_t crc_table[4][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 4; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

uint32_t tsl_crc32(uint32_t crc, const void *data, size_t size) {
    pthread_once(&crc_once, build_tables);
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (size >= 4) {
        c ^= tsl_le_get_u32(p);
        c = crc_table[3][c & 0xFF] ^ crc_table[2][(c >> 8) & 0xFF] ^ crc_table[1][(c >> 16) & 0xFF] ^
            crc_table[0][c >> 24];
        p += 4;
        size -= 4;
    }
    while (size--)
        c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}
