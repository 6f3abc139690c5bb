#include "tsl_texel.h"

static bool texel_reads_disabled;

void tsl_texel_reads_set_enabled(bool enabled) {
    texel_reads_disabled = !enabled;
}

bool tsl_texel_reads_fit(const tsl_vk_device *d, const tsl_vk_range *reads, uint32_t n,
                         uint32_t texel_bytes) {
    const tsl_vk_features *f = tsl_vk_device_features(d);
    VkDeviceSize align = f->min_texel_buffer_offset_alignment;
    if (texel_reads_disabled || !f->cpu_kernels || align == 0 ||
        f->min_storage_buffer_offset_alignment % align)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (reads[i].offset % align || reads[i].size / texel_bytes > f->max_texel_buffer_elements)
            return false;
    return true;
}
