#include "tsl_chunk.h"

static VkDeviceSize gcd(VkDeviceSize a, VkDeviceSize b) {
    while (b) {
        VkDeviceSize t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static VkDeviceSize test_limit;

void tsl_chunk_set_test_limit(VkDeviceSize bytes) {
    test_limit = bytes;
}

VkDeviceSize tsl_chunk_max_bytes(const tsl_vk_device *d, VkDeviceSize granule) {
    VkDeviceSize max = tsl_vk_max_binding_bytes(d, granule);
    if (test_limit == 0 || test_limit >= max)
        return max;
    /* The granule-and-alignment step of tsl_vk_max_binding_bytes; never less than one step. */
    VkDeviceSize align = tsl_vk_device_features(d)->min_storage_buffer_offset_alignment, step = granule;
    while (step % align)
        step += granule;
    VkDeviceSize capped = test_limit / step * step;
    return capped ? capped : step;
}

uint32_t tsl_batch_chunk_images(const tsl_vk_device *d, const VkDeviceSize *bytes_per_image,
                                uint32_t n_tensors) {
    /* Images per step that keep every tensor's chunk offsets aligned: for each tensor a power of two
     * dividing the (power-of-two) alignment, so the largest is a multiple of all the others. */
    VkDeviceSize align = tsl_vk_device_features(d)->min_storage_buffer_offset_alignment, multiple = 1;
    for (uint32_t i = 0; i < n_tensors; i++) {
        VkDeviceSize step = align / gcd(align, bytes_per_image[i]);
        multiple = step > multiple ? step : multiple;
    }
    VkDeviceSize images = UINT32_MAX;
    for (uint32_t i = 0; i < n_tensors; i++) {
        /* A multiple of `multiple` images (the granule is already aligned). */
        VkDeviceSize fit = tsl_chunk_max_bytes(d, bytes_per_image[i] * multiple) / bytes_per_image[i];
        images = fit < images ? fit : images;
    }
    return (uint32_t)images;
}

tsl_vk_range tsl_batch_chunk(tsl_vk_range r, VkDeviceSize bytes_per_image, uint32_t first, uint32_t count) {
    return (tsl_vk_range){r.vk, r.offset + bytes_per_image * first, bytes_per_image * count};
}
