/* Whether a CPU-class kernel reads its big inputs through storage texel buffers. lavapipe turns a
 * storage-buffer load into a loop over the SIMD lanes with a branch per lane and component, and a texel
 * load into straight-line loads and a transpose: 3.5x to 5x faster on memory-bound kernels on an AMD
 * EPYC (docs/PERFORMANCE.md, 2026-11-25, 20:00-21:00 UTC). The texel builds compute the same values bit
 * for bit; only the loads differ. */
#ifndef TSL_TEXEL_H
#define TSL_TEXEL_H

#include "tsl_vk.h"

#include <stdbool.h>

/* True when the device runs the CPU-class kernels and each of the n ranges can be read as a texel view
 * of texel_bytes-byte texels, whole or in the chunks tsl_chunk.h makes of it: its offset a multiple of
 * minTexelBufferOffsetAlignment, which divides the storage-buffer alignment that chunk offsets keep, and
 * at most maxTexelBufferElements texels. */
bool tsl_texel_reads_fit(const tsl_vk_device *device, const tsl_vk_range *reads, uint32_t n,
                         uint32_t texel_bytes);

/* For tests only: false makes tsl_texel_reads_fit answer false, so that the storage-buffer builds run on
 * a CPU driver too (true restores the default). Process-wide, not thread-safe. */
void tsl_texel_reads_set_enabled(bool enabled);

#endif
