/* Device-feature probing: the one place that reads properties, limits and features of a device. */
#include "tsl_vk_coopmat_khr.h"
#include "tsl_vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tsl_vk_device_type_name(VkPhysicalDeviceType type) {
    switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return "CPU";
    default:
        return "other";
    }
}

static bool has_extension(const VkExtensionProperties *exts, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(exts[i].extensionName, name) == 0)
            return true;
    return false;
}

static void probe_extensions(VkPhysicalDevice physical, tsl_vk_features *f) {
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(physical, NULL, &n, NULL) != VK_SUCCESS || n == 0)
        return;
    VkExtensionProperties *exts = calloc(n, sizeof *exts);
    if (!exts)
        return;
    if (vkEnumerateDeviceExtensionProperties(physical, NULL, &n, exts) == VK_SUCCESS) {
        f->cooperative_matrix_nv = has_extension(exts, n, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
        /* The KHR extension postdates the 1.3.239 headers Debian 12 ships: tsl_vk_coopmat_khr.h. */
        f->cooperative_matrix_khr = has_extension(exts, n, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
    }
    free(exts);
}

static void probe_memory(VkPhysicalDevice physical, tsl_vk_features *f) {
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(physical, &mp);
    bool all_visible = true;
    for (uint32_t h = 0; h < mp.memoryHeapCount; h++) {
        if (!(mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT))
            continue;
        bool visible = false;
        for (uint32_t t = 0; t < mp.memoryTypeCount; t++)
            if (mp.memoryTypes[t].heapIndex == h &&
                (mp.memoryTypes[t].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
                visible = true;
        f->device_local_bytes += mp.memoryHeaps[h].size;
        if (visible)
            f->host_visible_device_local_bytes += mp.memoryHeaps[h].size;
        all_visible = all_visible && visible;
    }
    f->unified_memory = all_visible && f->device_local_bytes > 0;
}

static void probe_queues(VkPhysicalDevice physical, tsl_vk_features *f) {
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &n, NULL);
    VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof *q);
    f->compute_queue_family = UINT32_MAX;
    if (!q)
        return;
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &n, q);
    /* Prefer a family with graphics+compute (the "main" queue, fastest on most drivers); any compute one
     * otherwise. */
    for (uint32_t i = 0; i < n && f->compute_queue_family == UINT32_MAX; i++)
        if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && (q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
            f->compute_queue_family = i;
    for (uint32_t i = 0; i < n && f->compute_queue_family == UINT32_MAX; i++)
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
            f->compute_queue_family = i;
    if (f->compute_queue_family != UINT32_MAX) {
        f->compute_queue_count = q[f->compute_queue_family].queueCount;
        f->timestamps = q[f->compute_queue_family].timestampValidBits > 0;
    }
    free(q);
}

static void probe_properties(VkPhysicalDevice physical, tsl_vk_features *f) {
    VkPhysicalDeviceMaintenance4Properties m4 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlProperties ssc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &drv};
    drv.pNext = &sg;
    sg.pNext = &m3;
    bool v13 = f->api_version >= VK_API_VERSION_1_3;
    if (v13) {
        m3.pNext = &ssc;
        ssc.pNext = &m4;
    }
    vkGetPhysicalDeviceProperties2(physical, &p2);
    const VkPhysicalDeviceLimits *lim = &p2.properties.limits;
    snprintf(f->driver_name, sizeof f->driver_name, "%s", drv.driverName);
    f->max_loop_iterations = drv.driverID == VK_DRIVER_ID_MESA_LLVMPIPE ? 65535 : 0;
    f->pow2_buffers_recompile = drv.driverID == VK_DRIVER_ID_MESA_LLVMPIPE;
    snprintf(f->driver_info, sizeof f->driver_info, "%s", drv.driverInfo);
    f->subgroup_size = sg.subgroupSize;
    f->min_subgroup_size = f->max_subgroup_size = sg.subgroupSize;
    bool compute = sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT;
    f->subgroup_arithmetic = compute && (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    f->subgroup_shuffle = compute && (sg.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    f->subgroup_ballot = compute && (sg.supportedOperations & VK_SUBGROUP_FEATURE_BALLOT_BIT);
    if (v13) {
        f->min_subgroup_size = ssc.minSubgroupSize;
        f->max_subgroup_size = ssc.maxSubgroupSize;
        f->max_buffer_size = m4.maxBufferSize;
    }
    f->max_allocation_size = m3.maxMemoryAllocationSize;
    if (!f->max_buffer_size) /* before 1.3 no limit is reported; allocations bound buffers anyway */
        f->max_buffer_size = f->max_allocation_size;
    f->max_storage_buffer_range = lim->maxStorageBufferRange;
    f->min_storage_buffer_offset_alignment = (uint32_t)lim->minStorageBufferOffsetAlignment;
    f->min_texel_buffer_offset_alignment = (uint32_t)lim->minTexelBufferOffsetAlignment;
    f->max_texel_buffer_elements = lim->maxTexelBufferElements;
    f->max_shared_memory = lim->maxComputeSharedMemorySize;
    f->max_workgroup_invocations = lim->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) {
        f->max_workgroup_size[i] = lim->maxComputeWorkGroupSize[i];
        f->max_workgroup_count[i] = lim->maxComputeWorkGroupCount[i];
    }
    f->max_push_constants_size = lim->maxPushConstantsSize;
    f->timestamp_period_ns = lim->timestampPeriod;
    f->timestamps = f->timestamps && lim->timestampComputeAndGraphics;
}

/* The cooperativeMatrix feature bits of the advertised extensions (chained only when advertised: an
 * unknown structure in pNext is invalid usage). */
typedef struct {
    VkPhysicalDeviceCooperativeMatrixFeaturesKHR khr;
    VkPhysicalDeviceCooperativeMatrixFeaturesNV nv;
} coopmat_feature_bits;

static void *chain_coopmat_features(const tsl_vk_features *f, coopmat_feature_bits *c, void *next) {
    c->khr = (VkPhysicalDeviceCooperativeMatrixFeaturesKHR){
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
    c->nv = (VkPhysicalDeviceCooperativeMatrixFeaturesNV){
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    if (f->cooperative_matrix_khr) {
        c->khr.pNext = next;
        next = &c->khr;
    }
    if (f->cooperative_matrix_nv) {
        c->nv.pNext = next;
        next = &c->nv;
    }
    return next;
}

static void probe_feature_bits(VkPhysicalDevice physical, tsl_vk_features *f, coopmat_feature_bits *coop) {
    VkPhysicalDeviceVulkan13Features f13 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                            .pNext = &f12};
    if (f->api_version >= VK_API_VERSION_1_3)
        f12.pNext = &f13;
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = chain_coopmat_features(f, coop, &f11)};
    vkGetPhysicalDeviceFeatures2(physical, &f2);
    f->vulkan_memory_model = f12.vulkanMemoryModel;
    f->fp16_arithmetic = f12.shaderFloat16;
    f->fp16_storage = f11.storageBuffer16BitAccess;
    f->int8_arithmetic = f12.shaderInt8;
    f->int8_storage = f12.storageBuffer8BitAccess;
    f->int64 = f2.features.shaderInt64;
    f->subgroup_size_control = f13.subgroupSizeControl;
    f->compute_full_subgroups = f13.computeFullSubgroups;
    if (!f12.timelineSemaphore)
        snprintf(f->unusable_reason, sizeof f->unusable_reason, "no timeline semaphores");
}

/* Whether the fp16 x fp16 + fp32 -> fp32, 16 x 16 x 16, subgroup-scope configuration gemm_coopmat.comp
 * uses is listed (component types and scopes have the same values in NV and KHR). */
static bool lists_f16_16x16x16(uint32_t m, uint32_t n, uint32_t k, uint32_t a, uint32_t b, uint32_t c,
                               uint32_t result, uint32_t scope) {
    return m == 16 && n == 16 && k == 16 && a == VK_COMPONENT_TYPE_FLOAT16_KHR &&
           b == VK_COMPONENT_TYPE_FLOAT16_KHR && c == VK_COMPONENT_TYPE_FLOAT32_KHR &&
           result == VK_COMPONENT_TYPE_FLOAT32_KHR && scope == VK_SCOPE_SUBGROUP_KHR;
}

static bool khr_lists_config(VkInstance instance, VkPhysicalDevice physical) {
    PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR get =
        (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR)vkGetInstanceProcAddr(
            instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
    uint32_t n = 0;
    if (!get || get(physical, &n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkCooperativeMatrixPropertiesKHR *p = calloc(n, sizeof *p);
    bool found = false;
    if (!p)
        return false;
    for (uint32_t i = 0; i < n; i++)
        p[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR;
    if (get(physical, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = lists_f16_16x16x16(p[i].MSize, p[i].NSize, p[i].KSize, p[i].AType, p[i].BType, p[i].CType,
                                       p[i].ResultType, p[i].scope) &&
                    !p[i].saturatingAccumulation;
    free(p);
    return found;
}

static bool nv_lists_config(VkInstance instance, VkPhysicalDevice physical) {
    PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV get =
        (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)vkGetInstanceProcAddr(
            instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
    uint32_t n = 0;
    if (!get || get(physical, &n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkCooperativeMatrixPropertiesNV *p = calloc(n, sizeof *p);
    bool found = false;
    if (!p)
        return false;
    for (uint32_t i = 0; i < n; i++)
        p[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
    if (get(physical, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = lists_f16_16x16x16(p[i].MSize, p[i].NSize, p[i].KSize, p[i].AType, p[i].BType, p[i].CType,
                                       p[i].DType, p[i].scope);
    free(p);
    return found;
}

/* The supported stages (VkPhysicalDeviceCooperativeMatrixProperties{KHR,NV}) are not queried: both
 * extensions promise the compute stage on any device with a compute queue, which tessl requires anyway,
 * and chaining the KHR struct into vkGetPhysicalDeviceProperties2 made validation layers older than
 * 1.3.255 (Debian 12's) report an unknown structure on every device open (seen on an H100, 2026-11-25). */
static void probe_coopmat(VkInstance instance, VkPhysicalDevice physical, tsl_vk_features *f,
                          const coopmat_feature_bits *bits) {
    bool shader_needs = f->vulkan_memory_model && f->fp16_arithmetic;
    f->coopmat_khr_f16 = shader_needs && f->cooperative_matrix_khr && bits->khr.cooperativeMatrix &&
                         khr_lists_config(instance, physical);
    f->coopmat_nv_f16 = shader_needs && f->cooperative_matrix_nv && bits->nv.cooperativeMatrix &&
                        nv_lists_config(instance, physical);
}

void tsl_vk_probe_features(VkInstance instance, VkPhysicalDevice physical, uint32_t index,
                           tsl_vk_features *f) {
    memset(f, 0, sizeof *f);
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(physical, &p);
    snprintf(f->name, sizeof f->name, "%s", p.deviceName);
    f->index = index;
    f->vendor_id = p.vendorID;
    f->device_id = p.deviceID;
    f->api_version = p.apiVersion;
    f->driver_version = p.driverVersion;
    f->type = p.deviceType;
    f->cpu_kernels = p.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    memcpy(f->pipeline_cache_uuid, p.pipelineCacheUUID, VK_UUID_SIZE);
    if (p.apiVersion < VK_API_VERSION_1_2) {
        snprintf(f->unusable_reason, sizeof f->unusable_reason, "Vulkan %u.%u < 1.2",
                 VK_API_VERSION_MAJOR(p.apiVersion), VK_API_VERSION_MINOR(p.apiVersion));
        return;
    }
    probe_properties(physical, f);
    probe_extensions(physical, f);
    coopmat_feature_bits coop;
    probe_feature_bits(physical, f, &coop);
    probe_coopmat(instance, physical, f, &coop);
    probe_memory(physical, f);
    probe_queues(physical, f);
    if (f->compute_queue_family == UINT32_MAX && !f->unusable_reason[0])
        snprintf(f->unusable_reason, sizeof f->unusable_reason, "no compute queue");
    f->usable = f->unusable_reason[0] == '\0';
}
