/* Compute pipelines from embedded SPIR-V, cached per (shader, specialization constants), with the
 * driver's pipeline cache persisted on disk so that a second run skips shader compilation. */
#define _POSIX_C_SOURCE 200809L
#include "tsl_file.h"
#include "tsl_vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SPIRV_OP_DECORATE = 71, SPIRV_DECORATION_BINDING = 33, SPIRV_HEADER_WORDS = 5 };
enum { MAX_CACHE_FILE_BYTES = 256u << 20 };

/* Storage-buffer bindings of a module: one more than the highest Binding decoration (tessl shaders
 * use set 0, bindings 0..n-1, all storage buffers). */
static tsl_status count_bindings(const tsl_shader_module *m, uint32_t *n) {
    const uint32_t *w = m->words;
    size_t n_words = m->size / 4;
    uint32_t highest = 0;
    bool any = false;
    for (size_t i = SPIRV_HEADER_WORDS; i < n_words;) {
        uint32_t count = w[i] >> 16, opcode = w[i] & 0xffff;
        if (count == 0 || i + count > n_words)
            return tsl_error(TSL_ERR_FORMAT, "shader %s: malformed SPIR-V at word %zu", m->name, i);
        if (opcode == SPIRV_OP_DECORATE && count >= 4 && w[i + 2] == SPIRV_DECORATION_BINDING) {
            any = true;
            highest = w[i + 3] > highest ? w[i + 3] : highest;
        }
        i += count;
    }
    *n = any ? highest + 1 : 0;
    if (*n > TSL_VK_MAX_BINDINGS)
        return tsl_error(TSL_ERR_FORMAT, "shader %s binds %u buffers, more than %d", m->name, *n,
                         TSL_VK_MAX_BINDINGS);
    return TSL_OK;
}

static tsl_status layouts_for(tsl_vk_device *d, uint32_t n) {
    if (d->pipeline_layouts[n])
        return TSL_OK;
    VkDescriptorSetLayoutBinding bindings[TSL_VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < n; i++)
        bindings[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                                     .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                     .descriptorCount = 1,
                                                     .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo set_info = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                                .bindingCount = n,
                                                .pBindings = bindings};
    TSL_TRY(tsl_vk_check(vkCreateDescriptorSetLayout(d->vk, &set_info, NULL, &d->set_layouts[n]),
                         "creating a descriptor set layout"));
    VkPushConstantRange push = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
                                .size = TSL_VK_PUSH_CONSTANT_BYTES};
    VkPipelineLayoutCreateInfo info = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                       .setLayoutCount = 1,
                                       .pSetLayouts = &d->set_layouts[n],
                                       .pushConstantRangeCount = 1,
                                       .pPushConstantRanges = &push};
    return tsl_vk_check(vkCreatePipelineLayout(d->vk, &info, NULL, &d->pipeline_layouts[n]),
                        "creating a pipeline layout");
}

static tsl_status build_pipeline(tsl_vk_device *d, tsl_vk_pipeline *p) {
    const tsl_shader_module *m = &tsl_shader_modules[p->shader];
    TSL_TRY(count_bindings(m, &p->n_bindings));
    TSL_TRY(layouts_for(d, p->n_bindings));
    p->layout = d->pipeline_layouts[p->n_bindings];
    p->set_layout = d->set_layouts[p->n_bindings];
    VkShaderModuleCreateInfo module_info = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = m->size, .pCode = m->words};
    VkShaderModule module;
    TSL_TRY(tsl_vk_check(vkCreateShaderModule(d->vk, &module_info, NULL, &module), m->name));
    VkSpecializationMapEntry entries[TSL_VK_MAX_SPEC_CONSTANTS];
    for (uint32_t i = 0; i < p->n_spec; i++)
        entries[i] = (VkSpecializationMapEntry){.constantID = i, .offset = 4 * i, .size = 4};
    VkSpecializationInfo spec = {
        .mapEntryCount = p->n_spec, .pMapEntries = entries, .dataSize = 4 * p->n_spec, .pData = p->spec};
    VkComputePipelineCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module,
                  .pName = "main",
                  .pSpecializationInfo = p->n_spec ? &spec : NULL},
        .layout = p->layout};
    VkResult r = vkCreateComputePipelines(d->vk, d->pipeline_cache, 1, &info, NULL, &p->vk);
    vkDestroyShaderModule(d->vk, module, NULL);
    TSL_TRY_CTX(tsl_vk_check(r, "vkCreateComputePipelines"), "building shader %s", m->name);
    d->pipeline_cache_dirty = true;
    return TSL_OK;
}

tsl_status tsl_vk_pipeline_get(tsl_vk_device *d, tsl_shader_id shader, const uint32_t *spec, uint32_t n_spec,
                               tsl_vk_pipeline **out) {
    tsl_assert((unsigned)shader < TSL_SHADER_COUNT && n_spec <= TSL_VK_MAX_SPEC_CONSTANTS);
    pthread_mutex_lock(&d->pipeline_lock);
    tsl_vk_pipeline *p = d->pipelines;
    while (p && !(p->shader == shader && p->n_spec == n_spec && memcmp(p->spec, spec, 4 * n_spec) == 0))
        p = p->next;
    tsl_status st = TSL_OK;
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p) {
            st = tsl_error(TSL_ERR_NOMEM, "out of memory");
        } else {
            p->shader = shader;
            p->n_spec = n_spec;
            if (n_spec)
                memcpy(p->spec, spec, 4 * n_spec);
            st = build_pipeline(d, p);
            if (st == TSL_OK) {
                p->next = d->pipelines;
                d->pipelines = p;
            } else {
                free(p);
                p = NULL;
            }
        }
    }
    pthread_mutex_unlock(&d->pipeline_lock);
    *out = p;
    return st;
}

uint32_t tsl_vk_pipeline_binding_count(const tsl_vk_pipeline *p) {
    return p->n_bindings;
}

static char *cache_path(const tsl_vk_device *d) {
    const char *dir = d->options.cache_dir;
    char base[4096];
    if (!dir) {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (xdg && *xdg)
            snprintf(base, sizeof base, "%s/tessl", xdg);
        else if (home && *home)
            snprintf(base, sizeof base, "%s/.cache/tessl", home);
        else
            return NULL;
        dir = base;
    }
    char uuid[2 * VK_UUID_SIZE + 1];
    for (unsigned i = 0; i < VK_UUID_SIZE; i++)
        snprintf(uuid + 2 * i, 3, "%02x", d->features.pipeline_cache_uuid[i]);
    size_t n = strlen(dir) + 128;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/pipelines-%04x-%04x-%s.bin", dir, d->features.vendor_id, d->features.device_id,
                 uuid);
    return path;
}

/* A cache written by another driver version is ignored, not an error: the header names the device and
 * the driver's cache UUID, checked here before the driver sees the data. */
static bool cache_header_matches(const tsl_vk_device *d, const uint8_t *data, size_t size) {
    if (size < 32)
        return false;
    uint32_t length, version, vendor, device;
    memcpy(&length, data, 4);
    memcpy(&version, data + 4, 4);
    memcpy(&vendor, data + 8, 4);
    memcpy(&device, data + 12, 4);
    return length >= 32 && version == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
           vendor == d->features.vendor_id && device == d->features.device_id &&
           memcmp(data + 16, d->features.pipeline_cache_uuid, VK_UUID_SIZE) == 0;
}

tsl_status tsl_vk_pipeline_cache_open(tsl_vk_device *d) {
    d->pipeline_cache_path = cache_path(d);
    void *data = NULL;
    size_t size = 0;
    if (d->pipeline_cache_path) {
        tsl_status st = tsl_read_file(d->pipeline_cache_path, MAX_CACHE_FILE_BYTES, &data, &size);
        if (st != TSL_OK && st != TSL_ERR_NOT_FOUND)
            fprintf(stderr, "tessl: warning: ignoring the pipeline cache: %s\n", tsl_error_message());
        if (st != TSL_OK || !cache_header_matches(d, data, size)) {
            free(data);
            data = NULL;
            size = 0;
        }
    }
    VkPipelineCacheCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO, .initialDataSize = size, .pInitialData = data};
    VkResult r = vkCreatePipelineCache(d->vk, &info, NULL, &d->pipeline_cache);
    free(data);
    return tsl_vk_check(r, "creating the pipeline cache");
}

static void save_pipeline_cache(tsl_vk_device *d) {
    size_t size = 0;
    if (vkGetPipelineCacheData(d->vk, d->pipeline_cache, &size, NULL) != VK_SUCCESS || size == 0)
        return;
    void *data = malloc(size);
    if (!data)
        return;
    tsl_status st = TSL_OK;
    if (vkGetPipelineCacheData(d->vk, d->pipeline_cache, &size, data) != VK_SUCCESS)
        st = tsl_error(TSL_ERR_VULKAN, "reading the pipeline cache from the driver");
    char *dir = strdup(d->pipeline_cache_path);
    if (st == TSL_OK && dir) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        st = tsl_mkdirs(dir);
    }
    free(dir);
    if (st == TSL_OK)
        st = tsl_write_file_atomic(d->pipeline_cache_path, data, size);
    if (st != TSL_OK)
        fprintf(stderr,
                "tessl: warning: pipeline cache not saved (the next start compiles shaders again): %s\n",
                tsl_error_message());
    free(data);
}

void tsl_vk_pipelines_destroy(tsl_vk_device *d) {
    while (d->pipelines) {
        tsl_vk_pipeline *next = d->pipelines->next;
        vkDestroyPipeline(d->vk, d->pipelines->vk, NULL);
        free(d->pipelines);
        d->pipelines = next;
    }
    for (int i = 0; i <= TSL_VK_MAX_BINDINGS; i++) {
        if (d->pipeline_layouts[i])
            vkDestroyPipelineLayout(d->vk, d->pipeline_layouts[i], NULL);
        if (d->set_layouts[i])
            vkDestroyDescriptorSetLayout(d->vk, d->set_layouts[i], NULL);
    }
    if (d->pipeline_cache) {
        if (d->pipeline_cache_dirty && d->pipeline_cache_path)
            save_pipeline_cache(d);
        vkDestroyPipelineCache(d->vk, d->pipeline_cache, NULL);
    }
    free(d->pipeline_cache_path);
}
