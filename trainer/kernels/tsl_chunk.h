/* Splitting NCHW work along the batch so that every binding stays within maxStorageBufferRange. */
#ifndef TSL_CHUNK_H
#define TSL_CHUNK_H

#include "tsl_vk.h"

/* Largest chunk, in bytes, that one binding may cover: a multiple of `granule` and of the offset
 * alignment (tsl_vk_max_binding_bytes), lowered to the test limit when one is set. */
VkDeviceSize tsl_chunk_max_bytes(const tsl_vk_device *device, VkDeviceSize granule);

/* For tests only: caps every chunk at about `bytes` (0 restores the device's limit), so that the
 * splitting of work larger than a binding runs on small tensors. Process-wide, not thread-safe. */
void tsl_chunk_set_test_limit(VkDeviceSize bytes);

/* Whole images per chunk when `n_tensors` batch-major tensors, with bytes_per_image[i] bytes per image
 * each, are split along the batch together: a chunk of every tensor fits one binding, and each chunk
 * start (a multiple of the returned count, in images) is a valid storage-buffer offset for every tensor
 * (given that each tensor's base offset is). Returns 0 when one image of some tensor does not fit a
 * binding. */
uint32_t tsl_batch_chunk_images(const tsl_vk_device *device, const VkDeviceSize *bytes_per_image,
                                uint32_t n_tensors);

/* The chunk [first, first + count) of a batch-major range with `bytes_per_image` bytes per image. */
tsl_vk_range tsl_batch_chunk(tsl_vk_range range, VkDeviceSize bytes_per_image, uint32_t first,
                             uint32_t count);

#endif
