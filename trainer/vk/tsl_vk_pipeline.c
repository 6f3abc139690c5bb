/* Compute pipelines from embedded SPIR-V, cached per (shader, specialization constants), with the
 * driver's pipeline cache persisted on disk so that a second run skips shader compilation. */
#define _POSIX_C_SOURCE 200809L
#include "tsl_file.h"
#include "tsl_vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    SPIRV_OP_TYPE_IMAGE = 25,
    SPIRV_OP_TYPE_POINTER = 32,
    SPIRV_OP_VARIABLE = 59,
    SPIRV_OP_DECORATE = 71,
    SPIRV_DECORATION_BINDING = 33,
    SPIRV_DIM_BUFFER = 5,
    SPIRV_HEADER_WORDS = 5
};
enum { MAX_CACHE_FILE_BYTES = 256u << 20 };

/* The SPIR-V image format qualifiers tessl's storage texel buffers use: the view's Vulkan format and its
 * bytes per texel (the one table both reflection and the recorder's views read). */
typedef struct {
    uint32_t spirv;
    VkFormat format;
    uint32_t bytes;
} texel_format_info;

static const texel_format_info texel_formats[] = {
    {1, VK_FORMAT_R32G32B32A32_SFLOAT, 16}, /* Rgba32f */
    {2, VK_FORMAT_R16G16B16A16_SFLOAT, 8},  /* Rgba16f */
    {3, VK_FORMAT_R32_SFLOAT, 4},           /* R32f */
    {6, VK_FORMAT_R32G32_SFLOAT, 8},        /* Rg32f */
    {9, VK_FORMAT_R16_SFLOAT, 2},           /* R16f */
    {33, VK_FORMAT_R32_UINT, 4},            /* R32ui */
};

static const texel_format_info *texel_format_of_spirv(uint32_t image_format) {
    for (size_t i = 0; i < sizeof texel_formats / sizeof texel_formats[0]; i++)
        if (texel_formats[i].spirv == image_format)
            return &texel_formats[i];
    return NULL;
}

/* Per result id of a module, what binding reflection needs. */
typedef struct {
    uint32_t binding_plus_1; /* OpDecorate Binding, + 1 (0: none) */
    uint32_t pointee;        /* OpTypePointer: the pointed-to type; OpVariable: its pointer type */
    uint32_t image_format;   /* OpTypeImage of Dim Buffer: its format, + 1 (0: not a buffer image) */
} spirv_id_info;

static tsl_status reflect_instruction(const tsl_shader_module *m, const uint32_t *w, uint32_t count,
                                      spirv_id_info *ids, uint32_t bound) {
    uint32_t opcode = w[0] & 0xffff;
    uint32_t id = opcode == SPIRV_OP_VARIABLE ? (count >= 3 ? w[2] : 0) : (count >= 2 ? w[1] : 0);
    if ((opcode == SPIRV_OP_DECORATE || opcode == SPIRV_OP_TYPE_IMAGE || opcode == SPIRV_OP_TYPE_POINTER ||
         opcode == SPIRV_OP_VARIABLE) &&
        id >= bound)
        return tsl_error(TSL_ERR_FORMAT, "shader %s: SPIR-V id %u beyond the module's bound %u", m->name, id,
                         bound);
    if (opcode == SPIRV_OP_DECORATE && count >= 4 && w[2] == SPIRV_DECORATION_BINDING)
        ids[id].binding_plus_1 = w[3] + 1;
    else if (opcode == SPIRV_OP_TYPE_IMAGE && count >= 9 && w[3] == SPIRV_DIM_BUFFER)
        ids[id].image_format = w[8] + 1;
    else if (opcode == SPIRV_OP_TYPE_POINTER && count >= 4)
        ids[id].pointee = w[3];
    else if (opcode == SPIRV_OP_VARIABLE && count >= 4)
        ids[id].pointee = w[1];
    return TSL_OK;
}

/* Fills the pipeline's bindings from its module: one more than the highest Binding decoration (tessl
 * shaders use set 0, bindings 0..n-1), each a storage buffer, or a storage texel buffer (an imageBuffer
 * with a format qualifier) whose view format is read here. */
static tsl_status reflect_bindings(const tsl_shader_module *m, tsl_vk_pipeline *p) {
    const uint32_t *w = m->words;
    size_t n_words = m->size / 4;
    if (n_words < SPIRV_HEADER_WORDS)
        return tsl_error(TSL_ERR_FORMAT, "shader %s: SPIR-V shorter than its header", m->name);
    uint32_t bound = w[3];
    spirv_id_info *ids = calloc(bound ? bound : 1, sizeof *ids);
    if (!ids)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    tsl_status st = TSL_OK;
    for (size_t i = SPIRV_HEADER_WORDS; i < n_words && st == TSL_OK;) {
        uint32_t count = w[i] >> 16;
        if (count == 0 || i + count > n_words)
            st = tsl_error(TSL_ERR_FORMAT, "shader %s: malformed SPIR-V at word %zu", m->name, i);
        else
            st = reflect_instruction(m, w + i, count, ids, bound);
        i += count ? count : 1;
    }
    p->n_bindings = 0;
    for (uint32_t id = 0; id < bound && st == TSL_OK; id++) {
        uint32_t b = ids[id].binding_plus_1;
        if (!b)
            continue;
        if (b > TSL_VK_MAX_BINDINGS) {
            st = tsl_error(TSL_ERR_FORMAT, "shader %s uses binding %u; at most %d bindings", m->name, b - 1,
                           TSL_VK_MAX_BINDINGS);
            break;
        }
        p->n_bindings = b > p->n_bindings ? b : p->n_bindings;
        uint32_t pointer = ids[id].pointee, type = pointer < bound ? ids[pointer].pointee : 0;
        uint32_t image = type < bound ? ids[type].image_format : 0;
        const texel_format_info *t = image ? texel_format_of_spirv(image - 1) : NULL;
        p->texel_format[b - 1] = t ? t->format : VK_FORMAT_UNDEFINED;
        p->texel_bytes[b - 1] = t ? t->bytes : 0;
        if (image && !t)
            st = tsl_error(TSL_ERR_FORMAT,
                           "shader %s: binding %u is a texel buffer of SPIR-V image format %u, "
                           "which tessl does not map to a Vulkan format",
                           m->name, b - 1, image - 1);
        if (image)
            p->has_texel_bindings = true;
    }
    free(ids);
    return st;
}

static VkDescriptorType descriptor_type_of(VkFormat texel_format) {
    return texel_format == VK_FORMAT_UNDEFINED ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                                               : VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER;
}

static tsl_status create_layouts(tsl_vk_device *d, const tsl_vk_pipeline *p,
                                 VkDescriptorSetLayout *set_layout, VkPipelineLayout *layout) {
    VkDescriptorSetLayoutBinding bindings[TSL_VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < p->n_bindings; i++)
        bindings[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                                     .descriptorType = descriptor_type_of(p->texel_format[i]),
                                                     .descriptorCount = 1,
                                                     .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo set_info = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                                .bindingCount = p->n_bindings,
                                                .pBindings = bindings};
    TSL_TRY(tsl_vk_check(vkCreateDescriptorSetLayout(d->vk, &set_info, NULL, set_layout),
                         "creating a descriptor set layout"));
    VkPushConstantRange push = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
                                .size = TSL_VK_PUSH_CONSTANT_BYTES};
    VkPipelineLayoutCreateInfo info = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                       .setLayoutCount = 1,
                                       .pSetLayouts = set_layout,
                                       .pushConstantRangeCount = 1,
                                       .pPushConstantRanges = &push};
    tsl_status st =
        tsl_vk_check(vkCreatePipelineLayout(d->vk, &info, NULL, layout), "creating a pipeline layout");
    if (st != TSL_OK) {
        vkDestroyDescriptorSetLayout(d->vk, *set_layout, NULL);
        *set_layout = VK_NULL_HANDLE;
    }
    return st;
}

/* Pipelines binding only storage buffers share one layout per binding count; one with texel buffers
 * gets layouts of its own. */
static tsl_status layouts_for(tsl_vk_device *d, tsl_vk_pipeline *p) {
    if (p->has_texel_bindings)
        return create_layouts(d, p, &p->set_layout, &p->layout);
    uint32_t n = p->n_bindings;
    if (!d->pipeline_layouts[n])
        TSL_TRY(create_layouts(d, p, &d->set_layouts[n], &d->pipeline_layouts[n]));
    p->layout = d->pipeline_layouts[n];
    p->set_layout = d->set_layouts[n];
    return TSL_OK;
}

static void destroy_own_layouts(tsl_vk_device *d, tsl_vk_pipeline *p) {
    if (!p->has_texel_bindings)
        return;
    if (p->layout)
        vkDestroyPipelineLayout(d->vk, p->layout, NULL);
    if (p->set_layout)
        vkDestroyDescriptorSetLayout(d->vk, p->set_layout, NULL);
}

static tsl_status build_pipeline(tsl_vk_device *d, tsl_vk_pipeline *p) {
    const tsl_shader_module *m = &tsl_shader_modules[p->shader];
    TSL_TRY(reflect_bindings(m, p));
    TSL_TRY(layouts_for(d, p));
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
                destroy_own_layouts(d, p);
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
        destroy_own_layouts(d, d->pipelines);
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
