/* CRC32 (IEEE 802.3, reflected 0xEDB88320, init and final xor 0xFFFFFFFF): the checksum zlib's crc32()
 * computes, used for every stored byte range of a shard. */
#ifndef TSL_CRC32_H
#define TSL_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues a running CRC: start with crc = 0; tsl_crc32(tsl_crc32(0, a, n), b, m) == CRC of a||b. */
uint32_t tsl_crc32(uint32_t crc, const void *data, size_t size);

#endif
