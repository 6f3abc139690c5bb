#include "tsl_chunk.h"

static VkDeviceSize gcd(VkDeviceSize a, VkDeviceSize b) {
    while (b) {
        VkDeviceSize t = a % b;
        a = b;
        b = t;
    }
    return a;
}

uint32_t tsl_batch_chunk_images(const tsl_vk_device *d, const VkDeviceSize *bytes_per_image,
                                uint32_t n_tensors) {
    VkDeviceSize align = tsl_vk_device_features(d)->min_storage_buffer_offset_alignment;
    VkDeviceSize images = UINT32_MAX, multiple = 1;
    for (uint32_t i = 0; i < n_tensors; i++) {
        VkDeviceSize fit = tsl_vk_max_binding_bytes(d, bytes_per_image[i]) / bytes_per_image[i];
        images = fit < images ? fit : images;
        /* Images per step that keep this tensor's chunk offsets aligned; a power of two dividing the
         * (power-of-two) alignment, so the largest over tensors is a multiple of all the others. */
        VkDeviceSize step = align / gcd(align, bytes_per_image[i]);
        multiple = step > multiple ? step : multiple;
    }
    return (uint32_t)(images / multiple * multiple);
}

tsl_vk_range tsl_batch_chunk(tsl_vk_range r, VkDeviceSize bytes_per_image, uint32_t first, uint32_t count) {
    return (tsl_vk_range){r.vk, r.offset + bytes_per_image * first, bytes_per_image * count};
}
