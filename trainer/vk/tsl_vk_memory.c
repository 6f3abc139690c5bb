/* Pooled device memory. Each block is one VkDeviceMemory with one VkBuffer over all of it; tensors are
 * ranges of that buffer (first fit over a sorted, coalesced free list), so creating a tensor costs no
 * Vulkan call and the number of driver allocations stays small. */
#include "tsl_vk_internal.h"

#include <stdlib.h>
#include <string.h>

enum { DEFAULT_BLOCK_BYTES = 256u << 20 };

static const VkBufferUsageFlags block_usage =
    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_STORAGE_TEXEL_BUFFER_BIT |
    VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;

static const char *const kind_names[TSL_MEM_KIND_COUNT] = {"device", "upload", "download"};

static uint32_t find_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t allowed,
                          VkMemoryPropertyFlags need, VkMemoryPropertyFlags avoid) {
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
        VkMemoryPropertyFlags fl = mp->memoryTypes[i].propertyFlags;
        if ((allowed & (1u << i)) && (fl & need) == need && !(fl & avoid))
            return i;
    }
    return UINT32_MAX;
}

/* Memory types usable by our block buffers, read from a probe buffer's requirements. */
static tsl_status allowed_types(tsl_vk_device *d, uint32_t *bits) {
    VkBufferCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 4096, .usage = block_usage};
    VkBuffer probe;
    TSL_TRY(tsl_vk_check(vkCreateBuffer(d->vk, &info, NULL, &probe), "creating a probe buffer"));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(d->vk, probe, &req);
    vkDestroyBuffer(d->vk, probe, NULL);
    *bits = req.memoryTypeBits;
    return TSL_OK;
}

tsl_status tsl_vk_memory_init(tsl_vk_device *d) {
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(d->physical, &mp);
    uint32_t bits;
    TSL_TRY(allowed_types(d, &bits));
    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags visible =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    const VkMemoryPropertyFlags cached = visible | VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    uint32_t t[TSL_MEM_KIND_COUNT];
    /* Device pool: device-local that is not host-visible first (a discrete card's VRAM, not its small
     * BAR window); on unified-memory devices every type is visible and the first local one is taken. */
    t[TSL_MEM_DEVICE] = find_type(&mp, bits, local, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
    if (t[TSL_MEM_DEVICE] == UINT32_MAX)
        t[TSL_MEM_DEVICE] = find_type(&mp, bits, local, 0);
    if (t[TSL_MEM_DEVICE] == UINT32_MAX)
        t[TSL_MEM_DEVICE] = find_type(&mp, bits, 0, 0);
    t[TSL_MEM_UPLOAD] = find_type(&mp, bits, visible, 0);
    t[TSL_MEM_DOWNLOAD] = find_type(&mp, bits, cached, 0);
    if (t[TSL_MEM_DOWNLOAD] == UINT32_MAX)
        t[TSL_MEM_DOWNLOAD] = t[TSL_MEM_UPLOAD];
    for (int k = 0; k < TSL_MEM_KIND_COUNT; k++) {
        if (t[k] == UINT32_MAX)
            return tsl_error(TSL_ERR_UNSUPPORTED, "%s has no memory type for %s buffers", d->features.name,
                             kind_names[k]);
        d->pools[k].memory_type = t[k];
        d->pools[k].host_visible = mp.memoryTypes[t[k]].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    }
    /* 64 bytes keeps every tensor start aligned for vec4 loads and cache lines, and satisfies every
     * minStorageBufferOffsetAlignment and minTexelBufferOffsetAlignment seen in practice; a larger
     * device limit wins. */
    VkDeviceSize storage = d->features.min_storage_buffer_offset_alignment,
                 texel = d->features.min_texel_buffer_offset_alignment;
    d->alignment = storage > texel ? storage : texel;
    if (d->alignment < 64)
        d->alignment = 64;
    return TSL_OK;
}

static void destroy_block(tsl_vk_device *d, struct tsl_vk_block *b) {
    if (b->mapped)
        vkUnmapMemory(d->vk, b->memory);
    if (b->buffer)
        vkDestroyBuffer(d->vk, b->buffer, NULL);
    if (b->memory)
        vkFreeMemory(d->vk, b->memory, NULL);
    free(b->free);
    free(b);
}

void tsl_vk_memory_destroy(tsl_vk_device *d) {
    for (int k = 0; k < TSL_MEM_KIND_COUNT; k++) {
        struct tsl_vk_block *b = d->pools[k].blocks;
        while (b) {
            struct tsl_vk_block *next = b->next;
            destroy_block(d, b);
            b = next;
        }
        d->pools[k].blocks = NULL;
    }
}

static tsl_status oom_error(tsl_vk_device *d, tsl_mem_kind kind, VkDeviceSize size, const char *name,
                            const char *why) {
    return tsl_error(TSL_ERR_DEVICE_OOM,
                     "allocating '%s' (%.1f MiB of %s memory) on %s: %s (%.1f MiB in use in %u blocks)", name,
                     size / 1048576.0, kind_names[kind], d->features.name, why,
                     d->stats.bytes_in_use[kind] / 1048576.0, d->stats.blocks[kind]);
}

/* The size of a block that must hold `size` bytes: one alignment unit more when the device recompiles
 * shaders for power-of-two buffers (tsl_vk_features.pow2_buffers_recompile) and `size` is one, so all
 * blocks agree (a block at the allocation limit keeps its size: there is no room). */
static VkDeviceSize block_size_for(const tsl_vk_device *d, VkDeviceSize size) {
    bool pow2 = (size & (size - 1)) == 0;
    VkDeviceSize padded = size + d->alignment;
    if (d->features.pow2_buffers_recompile && pow2 && padded <= d->features.max_allocation_size &&
        padded <= d->features.max_buffer_size)
        return padded;
    return size;
}

static tsl_status create_block(tsl_vk_device *d, tsl_mem_kind kind, VkDeviceSize size, const char *name,
                               struct tsl_vk_block **out) {
    size = block_size_for(d, size);
    struct tsl_vk_block *b = calloc(1, sizeof *b);
    if (!b)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    b->kind = kind;
    b->size = size;
    VkBufferCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size, .usage = block_usage};
    VkResult r = vkCreateBuffer(d->vk, &info, NULL, &b->buffer);
    VkMemoryRequirements req = {0};
    if (r == VK_SUCCESS) {
        vkGetBufferMemoryRequirements(d->vk, b->buffer, &req);
        VkMemoryAllocateInfo alloc = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                      .allocationSize = req.size,
                                      .memoryTypeIndex = d->pools[kind].memory_type};
        r = kind == TSL_MEM_DEVICE ? tsl_vk_fault_on_device_block(&d->fault) : VK_SUCCESS;
        if (r == VK_SUCCESS)
            r = vkAllocateMemory(d->vk, &alloc, NULL, &b->memory);
    }
    if (r == VK_SUCCESS)
        r = vkBindBufferMemory(d->vk, b->buffer, b->memory, 0);
    if (r == VK_SUCCESS && d->pools[kind].host_visible)
        r = vkMapMemory(d->vk, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped);
    b->free = malloc(sizeof *b->free);
    if (r != VK_SUCCESS || !b->free) {
        destroy_block(d, b);
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
            return oom_error(d, kind, size, name, "the driver has no memory left");
        return r != VK_SUCCESS ? tsl_vk_check(r, "creating a memory block")
                               : tsl_error(TSL_ERR_NOMEM, "out of memory");
    }
    b->free[0] = (tsl_vk_free_range){0, size};
    b->n_free = b->cap_free = 1;
    *out = b;
    return TSL_OK;
}

/* Takes `size` bytes from the first free range that fits; returns false when none does. */
static bool take_from_block(struct tsl_vk_block *b, VkDeviceSize size, VkDeviceSize *offset) {
    for (uint32_t i = 0; i < b->n_free; i++) {
        if (b->free[i].size < size)
            continue;
        *offset = b->free[i].offset;
        b->free[i].offset += size;
        b->free[i].size -= size;
        if (b->free[i].size == 0) {
            memmove(&b->free[i], &b->free[i + 1], (b->n_free - i - 1) * sizeof *b->free);
            b->n_free--;
        }
        return true;
    }
    return false;
}

static bool give_back_to_block(struct tsl_vk_block *b, VkDeviceSize offset, VkDeviceSize size) {
    uint32_t i = 0;
    while (i < b->n_free && b->free[i].offset < offset)
        i++;
    bool merge_prev = i > 0 && b->free[i - 1].offset + b->free[i - 1].size == offset;
    bool merge_next = i < b->n_free && offset + size == b->free[i].offset;
    if (merge_prev && merge_next) {
        b->free[i - 1].size += size + b->free[i].size;
        memmove(&b->free[i], &b->free[i + 1], (b->n_free - i - 1) * sizeof *b->free);
        b->n_free--;
    } else if (merge_prev) {
        b->free[i - 1].size += size;
    } else if (merge_next) {
        b->free[i].offset = offset;
        b->free[i].size += size;
    } else {
        if (b->n_free == b->cap_free) {
            uint32_t cap = b->cap_free * 2;
            tsl_vk_free_range *grown = realloc(b->free, cap * sizeof *grown);
            if (!grown)
                return false;
            b->free = grown;
            b->cap_free = cap;
        }
        memmove(&b->free[i + 1], &b->free[i], (b->n_free - i) * sizeof *b->free);
        b->free[i] = (tsl_vk_free_range){offset, size};
        b->n_free++;
    }
    return true;
}

static tsl_status alloc_locked(tsl_vk_device *d, tsl_mem_kind kind, VkDeviceSize size, const char *name,
                               tsl_vk_buffer *out) {
    tsl_vk_pool *pool = &d->pools[kind];
    VkDeviceSize offset = 0;
    struct tsl_vk_block *b = pool->blocks;
    while (b && !take_from_block(b, size, &offset))
        b = b->next;
    if (!b) {
        VkDeviceSize block = d->options.block_size ? d->options.block_size : DEFAULT_BLOCK_BYTES;
        if (block < size)
            block = size;
        if (block > d->features.max_allocation_size || block > d->features.max_buffer_size)
            block = size; /* a smaller block still holds this one request */
        if (size > d->features.max_allocation_size || size > d->features.max_buffer_size)
            return oom_error(d, kind, size, name, "larger than one allocation may be on this device");
        TSL_TRY(create_block(d, kind, block, name, &b));
        b->next = pool->blocks;
        pool->blocks = b;
        d->stats.blocks[kind]++;
        d->stats.bytes_reserved[kind] += b->size;
        bool ok = take_from_block(b, size, &offset);
        tsl_assert(ok);
    }
    b->live++;
    d->stats.live_allocations++;
    d->stats.bytes_in_use[kind] += size;
    if (d->stats.bytes_in_use[kind] > d->stats.peak_bytes_in_use[kind])
        d->stats.peak_bytes_in_use[kind] = d->stats.bytes_in_use[kind];
    out->range = (tsl_vk_range){b->buffer, offset, size};
    out->host = b->mapped ? (char *)b->mapped + offset : NULL;
    out->block = b;
    return TSL_OK;
}

tsl_status tsl_vk_alloc(tsl_vk_device *d, tsl_mem_kind kind, VkDeviceSize size, const char *name,
                        tsl_vk_buffer *out) {
    memset(out, 0, sizeof *out);
    if (size == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "allocating '%s': size is zero", name);
    VkDeviceSize aligned = (size + d->alignment - 1) / d->alignment * d->alignment;
    pthread_mutex_lock(&d->memory_lock);
    tsl_status st = alloc_locked(d, kind, aligned, name, out);
    pthread_mutex_unlock(&d->memory_lock);
    out->range.size = size; /* callers see what they asked for; the padding stays reserved */
    return st;
}

static void unlink_block(tsl_vk_pool *pool, struct tsl_vk_block *b) {
    struct tsl_vk_block **p = &pool->blocks;
    while (*p != b)
        p = &(*p)->next;
    *p = b->next;
}

void tsl_vk_free(tsl_vk_device *d, tsl_vk_buffer *buf) {
    struct tsl_vk_block *b = buf->block;
    if (!b)
        return;
    VkDeviceSize aligned = (buf->range.size + d->alignment - 1) / d->alignment * d->alignment;
    pthread_mutex_lock(&d->memory_lock);
    bool ok = give_back_to_block(b, buf->range.offset, aligned);
    tsl_assert(ok); /* only a failed realloc of a few bytes can get here */
    b->live--;
    d->stats.live_allocations--;
    d->stats.bytes_in_use[b->kind] -= aligned;
    if (b->live == 0) {
        unlink_block(&d->pools[b->kind], b);
        d->stats.blocks[b->kind]--;
        d->stats.bytes_reserved[b->kind] -= b->size;
        destroy_block(d, b);
    }
    pthread_mutex_unlock(&d->memory_lock);
    memset(buf, 0, sizeof *buf);
}

tsl_vk_range tsl_vk_subrange(const tsl_vk_buffer *buf, VkDeviceSize offset, VkDeviceSize size) {
    tsl_assert(offset <= buf->range.size && size <= buf->range.size - offset);
    return (tsl_vk_range){buf->range.vk, buf->range.offset + offset, size};
}

tsl_vk_range tsl_vk_range_aligned_down(tsl_vk_range r, VkDeviceSize start, VkDeviceSize size,
                                       VkDeviceSize align, uint32_t element_bytes, uint32_t *first_element) {
    VkDeviceSize first = r.offset + start, bound = first / align * align;
    *first_element = (uint32_t)((first - bound) / element_bytes);
    return (tsl_vk_range){r.vk, bound, first - bound + size};
}

void tsl_vk_memory_stats_get(const tsl_vk_device *d, tsl_vk_memory_stats *stats) {
    pthread_mutex_lock((pthread_mutex_t *)&d->memory_lock);
    *stats = d->stats;
    pthread_mutex_unlock((pthread_mutex_t *)&d->memory_lock);
}
