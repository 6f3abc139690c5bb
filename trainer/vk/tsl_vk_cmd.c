/* Command recording. Many dispatches go into one command buffer; the recorder remembers which byte
 * ranges were read and written since the last barrier and emits one global memory barrier only when
 * the next command reads what was written (RAW), or writes what was read or written (WAR, WAW). */
#include "tsl_vk_internal.h"

#include <stdlib.h>
#include <string.h>

enum { SETS_PER_POOL = 256 };

typedef struct {
    tsl_vk_range range;
    bool write;
} tsl_vk_pending;

struct tsl_vk_cmd {
    tsl_vk_device *device;
    VkCommandPool pool;
    VkCommandBuffer cb;
    bool recording;
    uint64_t last_submit; /* timeline value of this recorder's last submission, 0 if none */
    VkDescriptorPool *descriptor_pools;
    uint32_t n_descriptor_pools, used_descriptor_pools, cap_descriptor_pools;
    VkBufferView *views; /* texel-buffer views of this recording, destroyed once it has run */
    uint32_t n_views, cap_views;
    tsl_vk_pending *pending;
    uint32_t n_pending, cap_pending;
    VkPipelineStageFlags pending_stages;
    VkAccessFlags pending_writes;
    tsl_vk_cmd_stats stats;
    tsl_vk_cmd_profile profile; /* timestamps, when the device profiles */
};

tsl_status tsl_vk_cmd_create(tsl_vk_device *d, tsl_vk_cmd **out) {
    *out = NULL;
    tsl_vk_cmd *c = calloc(1, sizeof *c);
    if (!c)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    c->device = d;
    VkCommandPoolCreateInfo pool = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                    .queueFamilyIndex = d->features.compute_queue_family};
    tsl_status st =
        tsl_vk_check(vkCreateCommandPool(d->vk, &pool, NULL, &c->pool), "creating a command pool");
    if (st == TSL_OK) {
        VkCommandBufferAllocateInfo info = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                            .commandPool = c->pool,
                                            .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                            .commandBufferCount = 1};
        st = tsl_vk_check(vkAllocateCommandBuffers(d->vk, &info, &c->cb), "allocating a command buffer");
    }
    if (st != TSL_OK) {
        tsl_vk_cmd_destroy(c);
        return st;
    }
    *out = c;
    return TSL_OK;
}

/* Only once the recording's submission has completed (or it was never submitted). */
static void destroy_views(tsl_vk_cmd *c) {
    for (uint32_t i = 0; i < c->n_views; i++)
        vkDestroyBufferView(c->device->vk, c->views[i], NULL);
    c->n_views = 0;
}

void tsl_vk_cmd_destroy(tsl_vk_cmd *c) {
    if (!c)
        return;
    tsl_vk_device *d = c->device;
    if (c->last_submit && tsl_vk_wait(d, c->last_submit) == TSL_OK)
        tsl_vk_cmd_profile_collect(d, &c->profile);
    tsl_vk_cmd_profile_destroy(d, &c->profile);
    for (uint32_t i = 0; i < c->n_descriptor_pools; i++)
        vkDestroyDescriptorPool(d->vk, c->descriptor_pools[i], NULL);
    destroy_views(c);
    free(c->views);
    if (c->pool)
        vkDestroyCommandPool(d->vk, c->pool, NULL);
    free(c->descriptor_pools);
    free(c->pending);
    free(c);
}

tsl_status tsl_vk_cmd_begin(tsl_vk_cmd *c) {
    tsl_assert(!c->recording);
    if (c->last_submit)
        TSL_TRY(tsl_vk_wait(c->device, c->last_submit));
    TSL_TRY(tsl_vk_cmd_profile_collect(c->device, &c->profile));
    for (uint32_t i = 0; i < c->used_descriptor_pools; i++)
        TSL_TRY(tsl_vk_check(vkResetDescriptorPool(c->device->vk, c->descriptor_pools[i], 0),
                             "resetting a descriptor pool"));
    c->used_descriptor_pools = 0;
    destroy_views(c);
    c->n_pending = 0;
    c->pending_stages = 0;
    c->pending_writes = 0;
    memset(&c->stats, 0, sizeof c->stats);
    TSL_TRY(tsl_vk_check(vkResetCommandBuffer(c->cb, 0), "resetting a command buffer"));
    VkCommandBufferBeginInfo info = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                     .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    TSL_TRY(tsl_vk_check(vkBeginCommandBuffer(c->cb, &info), "beginning a command buffer"));
    c->recording = true;
    return tsl_vk_cmd_profile_begin(c->device, c->cb, &c->profile);
}

static bool overlaps(tsl_vk_range a, tsl_vk_range b) {
    return a.vk == b.vk && a.offset < b.offset + b.size && b.offset < a.offset + a.size;
}

static bool conflicts(const tsl_vk_cmd *c, tsl_vk_range range, bool write) {
    for (uint32_t i = 0; i < c->n_pending; i++)
        if ((write || c->pending[i].write) && overlaps(c->pending[i].range, range))
            return true;
    return false;
}

static void emit_barrier(tsl_vk_cmd *c, VkPipelineStageFlags dst_stage, VkAccessFlags dst_access) {
    VkMemoryBarrier barrier = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                               .srcAccessMask = c->pending_writes,
                               .dstAccessMask = dst_access};
    vkCmdPipelineBarrier(c->cb, c->pending_stages, dst_stage, 0, 1, &barrier, 0, NULL, 0, NULL);
    c->stats.barriers++;
    c->n_pending = 0;
    c->pending_stages = 0;
    c->pending_writes = 0;
}

/* `items` (`count` used of *cap) with room for one more: the same block, or one twice as large (`first`
 * elements the first time), or NULL when out of memory (`items` then stays valid). */
static void *room_for_one(void *items, uint32_t count, uint32_t *cap, size_t elem_bytes, uint32_t first) {
    if (count < *cap)
        return items;
    uint32_t grown_cap = *cap ? 2 * *cap : first;
    void *grown = realloc(items, grown_cap * elem_bytes);
    if (grown)
        *cap = grown_cap;
    return grown;
}

static tsl_status remember(tsl_vk_cmd *c, tsl_vk_range range, bool write, VkPipelineStageFlags stage) {
    tsl_vk_pending *pending = room_for_one(c->pending, c->n_pending, &c->cap_pending, sizeof *pending, 64);
    if (!pending)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    c->pending = pending;
    c->pending[c->n_pending++] = (tsl_vk_pending){range, write};
    c->pending_stages |= stage;
    if (write)
        c->pending_writes |= stage == VK_PIPELINE_STAGE_TRANSFER_BIT ? VK_ACCESS_TRANSFER_WRITE_BIT
                                                                     : VK_ACCESS_SHADER_WRITE_BIT;
    return TSL_OK;
}

/* Makes the upcoming command (its ranges and access) safe against what is pending, then records it as
 * pending. */
static tsl_status track(tsl_vk_cmd *c, const tsl_vk_range *ranges, const bool *writes, uint32_t n,
                        VkPipelineStageFlags stage) {
    bool hazard = false;
    for (uint32_t i = 0; i < n && !hazard; i++)
        hazard = conflicts(c, ranges[i], writes[i]);
    if (hazard) {
        /* The barrier forgets every pending access, so it must cover every later command, not only this
         * one: writes become visible to both stages tessl records (a compute write, a compute read, then
         * a copy of the same bytes would otherwise race). */
        emit_barrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                     VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                         VK_ACCESS_TRANSFER_WRITE_BIT);
    }
    for (uint32_t i = 0; i < n; i++)
        TSL_TRY(remember(c, ranges[i], writes[i], stage));
    return TSL_OK;
}

static tsl_status add_descriptor_pool(tsl_vk_cmd *c) {
    VkDescriptorPool *pools =
        room_for_one(c->descriptor_pools, c->n_descriptor_pools, &c->cap_descriptor_pools, sizeof *pools, 4);
    if (!pools)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    c->descriptor_pools = pools;
    VkDescriptorPoolSize sizes[2] = {
        {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, SETS_PER_POOL * TSL_VK_MAX_BINDINGS},
        {VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER, SETS_PER_POOL * TSL_VK_MAX_BINDINGS}};
    VkDescriptorPoolCreateInfo info = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                       .maxSets = SETS_PER_POOL,
                                       .poolSizeCount = 2,
                                       .pPoolSizes = sizes};
    TSL_TRY(tsl_vk_check(
        vkCreateDescriptorPool(c->device->vk, &info, NULL, &c->descriptor_pools[c->n_descriptor_pools]),
        "creating a descriptor pool"));
    c->n_descriptor_pools++;
    return TSL_OK;
}

/* Allocates from the newest pool in use; when it is full, moves on to a pool kept from an earlier
 * recording, or creates one. */
static tsl_status allocate_set(tsl_vk_cmd *c, VkDescriptorSetLayout layout, VkDescriptorSet *set) {
    for (;;) {
        if (c->used_descriptor_pools > 0) {
            VkDescriptorSetAllocateInfo info = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                                .descriptorPool =
                                                    c->descriptor_pools[c->used_descriptor_pools - 1],
                                                .descriptorSetCount = 1,
                                                .pSetLayouts = &layout};
            VkResult r = vkAllocateDescriptorSets(c->device->vk, &info, set);
            if (r == VK_SUCCESS)
                return TSL_OK;
            if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
                return tsl_vk_check(r, "allocating a descriptor set");
        }
        if (c->used_descriptor_pools == c->n_descriptor_pools)
            TSL_TRY(add_descriptor_pool(c));
        c->used_descriptor_pools++;
    }
}

static tsl_status check_texel_range(const tsl_vk_features *f, const char *name, uint32_t binding,
                                    uint32_t texel_bytes, VkDeviceSize size) {
    uint64_t texels = size / texel_bytes;
    if (texels == 0 || texels > f->max_texel_buffer_elements)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "dispatch of %s: texel-buffer binding %u covers %llu texels of %u bytes; a view "
                         "holds 1 to %u (maxTexelBufferElements): split the work",
                         name, binding, (unsigned long long)texels, texel_bytes,
                         f->max_texel_buffer_elements);
    return TSL_OK;
}

/* A view of `range` as `format` texels (whole texels only), kept until the recording has run. */
static tsl_status make_view(tsl_vk_cmd *c, tsl_vk_range range, VkFormat format, uint32_t bytes,
                            VkBufferView *view) {
    VkBufferView *views = room_for_one(c->views, c->n_views, &c->cap_views, sizeof *views, 64);
    if (!views)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    c->views = views;
    VkBufferViewCreateInfo info = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
                                   .buffer = range.vk,
                                   .format = format,
                                   .offset = range.offset,
                                   .range = range.size / bytes * bytes};
    TSL_TRY(
        tsl_vk_check(vkCreateBufferView(c->device->vk, &info, NULL, view), "creating a texel-buffer view"));
    c->views[c->n_views++] = *view;
    return TSL_OK;
}

static tsl_status check_args(const tsl_vk_cmd *c, const tsl_vk_pipeline *p, const tsl_vk_arg *args,
                             uint32_t n) {
    const tsl_vk_features *f = &c->device->features;
    const char *name = tsl_shader_modules[p->shader].name;
    if (n != p->n_bindings)
        return tsl_error(TSL_ERR_INVALID_ARG, "dispatch of %s: %u buffers given, the shader binds %u", name,
                         n, p->n_bindings);
    for (uint32_t i = 0; i < n; i++) {
        if (args[i].range.size == 0 || args[i].range.size > f->max_storage_buffer_range)
            return tsl_error(
                TSL_ERR_INVALID_ARG,
                "dispatch of %s: binding %u covers %llu bytes; a binding must be 1 to %llu bytes "
                "(maxStorageBufferRange): split the work",
                name, i, (unsigned long long)args[i].range.size,
                (unsigned long long)f->max_storage_buffer_range);
        bool texel = p->texel_format[i] != VK_FORMAT_UNDEFINED;
        uint32_t align =
            texel ? f->min_texel_buffer_offset_alignment : f->min_storage_buffer_offset_alignment;
        if (args[i].range.offset % align)
            return tsl_error(TSL_ERR_INVALID_ARG,
                             "dispatch of %s: binding %u starts at offset %llu, not a "
                             "multiple of %u",
                             name, i, (unsigned long long)args[i].range.offset, align);
        if (texel)
            TSL_TRY(check_texel_range(f, name, i, p->texel_bytes[i], args[i].range.size));
    }
    return TSL_OK;
}

tsl_status tsl_vk_cmd_dispatch(tsl_vk_cmd *c, const tsl_vk_pipeline *p, const tsl_vk_arg *args,
                               uint32_t n_args, const void *push, uint32_t push_size, uint32_t gx,
                               uint32_t gy, uint32_t gz) {
    tsl_assert(c->recording && push_size <= TSL_VK_PUSH_CONSTANT_BYTES);
    TSL_TRY(check_args(c, p, args, n_args));
    const tsl_vk_features *f = &c->device->features;
    if (gx == 0 || gy == 0 || gz == 0)
        return TSL_OK; /* nothing to do: an empty tensor */
    if (gx > f->max_workgroup_count[0] || gy > f->max_workgroup_count[1] || gz > f->max_workgroup_count[2])
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "dispatch of %s: %u x %u x %u workgroups exceeds the device limit",
                         tsl_shader_modules[p->shader].name, gx, gy, gz);
    VkDescriptorSet set;
    TSL_TRY(allocate_set(c, p->set_layout, &set));
    VkDescriptorBufferInfo infos[TSL_VK_MAX_BINDINGS];
    VkBufferView views[TSL_VK_MAX_BINDINGS];
    VkWriteDescriptorSet writes[TSL_VK_MAX_BINDINGS];
    tsl_vk_range ranges[TSL_VK_MAX_BINDINGS];
    bool is_write[TSL_VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < n_args; i++) {
        infos[i] = (VkDescriptorBufferInfo){args[i].range.vk, args[i].range.offset, args[i].range.size};
        writes[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                           .dstSet = set,
                                           .dstBinding = i,
                                           .descriptorCount = 1,
                                           .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                           .pBufferInfo = &infos[i]};
        if (p->texel_format[i] != VK_FORMAT_UNDEFINED) {
            TSL_TRY(make_view(c, args[i].range, p->texel_format[i], p->texel_bytes[i], &views[i]));
            writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER;
            writes[i].pBufferInfo = NULL;
            writes[i].pTexelBufferView = &views[i];
        }
        ranges[i] = args[i].range;
        is_write[i] = args[i].access & TSL_WRITE;
    }
    vkUpdateDescriptorSets(c->device->vk, n_args, writes, 0, NULL);
    TSL_TRY(track(c, ranges, is_write, n_args, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT));
    vkCmdBindPipeline(c->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->vk);
    vkCmdBindDescriptorSets(c->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    if (push_size)
        vkCmdPushConstants(c->cb, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
    vkCmdDispatch(c->cb, gx, gy, gz);
    tsl_vk_cmd_profile_mark(c->device, c->cb, &c->profile, (int)p->shader);
    c->stats.dispatches++;
    return TSL_OK;
}

tsl_status tsl_vk_cmd_copy(tsl_vk_cmd *c, tsl_vk_range src, tsl_vk_range dst) {
    tsl_assert(c->recording);
    VkDeviceSize n = src.size < dst.size ? src.size : dst.size;
    if (n == 0)
        return TSL_OK;
    src.size = dst.size = n;
    tsl_vk_range ranges[2] = {src, dst};
    bool writes[2] = {false, true};
    TSL_TRY(track(c, ranges, writes, 2, VK_PIPELINE_STAGE_TRANSFER_BIT));
    VkBufferCopy region = {src.offset, dst.offset, n};
    vkCmdCopyBuffer(c->cb, src.vk, dst.vk, 1, &region);
    tsl_vk_cmd_profile_mark(c->device, c->cb, &c->profile, TSL_VK_PROFILE_COPY);
    c->stats.copies++;
    return TSL_OK;
}

tsl_status tsl_vk_cmd_fill(tsl_vk_cmd *c, tsl_vk_range dst, uint32_t pattern) {
    tsl_assert(c->recording);
    if (dst.offset % 4 || dst.size % 4)
        return tsl_error(TSL_ERR_INVALID_ARG, "fill: offset %llu and size %llu must be multiples of 4",
                         (unsigned long long)dst.offset, (unsigned long long)dst.size);
    if (dst.size == 0)
        return TSL_OK;
    bool write = true;
    TSL_TRY(track(c, &dst, &write, 1, VK_PIPELINE_STAGE_TRANSFER_BIT));
    vkCmdFillBuffer(c->cb, dst.vk, dst.offset, dst.size, pattern);
    tsl_vk_cmd_profile_mark(c->device, c->cb, &c->profile, TSL_VK_PROFILE_FILL);
    c->stats.fills++;
    return TSL_OK;
}

tsl_status tsl_vk_cmd_submit(tsl_vk_cmd *c, uint64_t *done) {
    tsl_assert(c->recording);
    c->recording = false;
    if (c->pending_writes) {
        /* Device writes become visible to host reads once the submission completes. */
        emit_barrier(c, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    }
    TSL_TRY(tsl_vk_check(vkEndCommandBuffer(c->cb), "ending a command buffer"));
    uint64_t value;
    TSL_TRY(tsl_vk_queue_submit(c->device, c->cb, &value));
    c->last_submit = value;
    c->profile.submitted = c->profile.active;
    if (done)
        *done = value;
    return TSL_OK;
}

tsl_status tsl_vk_cmd_submit_wait(tsl_vk_cmd *c) {
    uint64_t value;
    TSL_TRY(tsl_vk_cmd_submit(c, &value));
    TSL_TRY(tsl_vk_wait(c->device, value));
    return tsl_vk_cmd_profile_collect(c->device, &c->profile);
}

uint64_t tsl_vk_cmd_last_submitted(const tsl_vk_cmd *c) {
    return c->last_submit;
}

tsl_vk_cmd_stats tsl_vk_cmd_stats_get(const tsl_vk_cmd *c) {
    return c->stats;
}

tsl_status tsl_vk_queue_submit(tsl_vk_device *d, VkCommandBuffer cb, uint64_t *value) {
    pthread_mutex_lock(&d->queue_lock);
    /* Each submission waits for the previous one, which orders their memory accesses: the semaphore
     * signal makes earlier writes available and the wait makes them visible to every later command. */
    uint64_t wait_value = d->timeline_last, signal_value = d->timeline_last + 1;
    VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
    VkTimelineSemaphoreSubmitInfo timeline = {.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
                                              .waitSemaphoreValueCount = wait_value ? 1 : 0,
                                              .pWaitSemaphoreValues = &wait_value,
                                              .signalSemaphoreValueCount = 1,
                                              .pSignalSemaphoreValues = &signal_value};
    VkSubmitInfo info = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                         .pNext = &timeline,
                         .waitSemaphoreCount = wait_value ? 1 : 0,
                         .pWaitSemaphores = &d->timeline,
                         .pWaitDstStageMask = &wait_stage,
                         .commandBufferCount = 1,
                         .pCommandBuffers = &cb,
                         .signalSemaphoreCount = 1,
                         .pSignalSemaphores = &d->timeline};
    VkResult r = __atomic_load_n(&d->lost, __ATOMIC_RELAXED) ? VK_ERROR_DEVICE_LOST
                                                             : tsl_vk_fault_on_submit(&d->fault);
    if (r == VK_SUCCESS)
        r = vkQueueSubmit(d->queue, 1, &info, VK_NULL_HANDLE);
    if (r == VK_SUCCESS)
        __atomic_store_n(&d->timeline_last, signal_value, __ATOMIC_RELEASE); /* read by tsl_vk_wait */
    if (r == VK_ERROR_DEVICE_LOST) /* a lost device stays lost: later waits fail at once */
        __atomic_store_n(&d->lost, true, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&d->queue_lock);
    *value = signal_value;
    return tsl_vk_check(r, "submitting work to the device");
}

tsl_status tsl_vk_wait(tsl_vk_device *d, uint64_t value) {
    VkSemaphoreWaitInfo info = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                                .semaphoreCount = 1,
                                .pSemaphores = &d->timeline,
                                .pValues = &value};
    /* Only values really submitted are waited for: a failed submission's value is never signalled. Work
     * already submitted is drained even after an injected loss, so that destroying objects afterwards
     * never races the queue (a really lost device returns at once). */
    VkResult r = VK_SUCCESS;
    if (value <= __atomic_load_n(&d->timeline_last, __ATOMIC_ACQUIRE))
        r = vkWaitSemaphores(d->vk, &info, UINT64_MAX);
    if (r == VK_SUCCESS && __atomic_load_n(&d->lost, __ATOMIC_RELAXED))
        r = VK_ERROR_DEVICE_LOST;
    if (r == VK_ERROR_DEVICE_LOST)
        __atomic_store_n(&d->lost, true, __ATOMIC_RELAXED);
    return tsl_vk_check(r, "waiting for the device");
}

uint64_t tsl_vk_last_submitted(tsl_vk_device *d) {
    return __atomic_load_n(&d->timeline_last, __ATOMIC_ACQUIRE);
}

void tsl_vk_grid_1d(const tsl_vk_device *d, uint64_t groups, uint32_t *gx, uint32_t *gy) {
    uint64_t max_x = d->features.max_workgroup_count[0];
    if (groups <= max_x) {
        *gx = (uint32_t)groups;
        *gy = groups ? 1 : 0;
        return;
    }
    uint64_t y = (groups + max_x - 1) / max_x;
    *gx = (uint32_t)((groups + y - 1) / y);
    *gy = (uint32_t)y;
}

VkDeviceSize tsl_vk_max_binding_bytes(const tsl_vk_device *d, VkDeviceSize granule) {
    VkDeviceSize limit = d->features.max_storage_buffer_range;
    VkDeviceSize align = d->alignment;
    /* A multiple of both the granule and the offset alignment, so consecutive chunks stay bindable. */
    VkDeviceSize step = granule;
    while (step % align)
        step += granule;
    return limit / step * step;
}
