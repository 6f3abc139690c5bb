/* Instance creation, device selection and logical-device creation. */
#include "tsl_vk_coopmat_khr.h"
#include "tsl_vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const validation_layer = "VK_LAYER_KHRONOS_validation";

static const char *vk_result_name(VkResult r) {
    switch (r) {
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        return "out of host memory";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        return "out of device memory";
    case VK_ERROR_INITIALIZATION_FAILED:
        return "initialization failed";
    case VK_ERROR_DEVICE_LOST:
        return "device lost";
    case VK_ERROR_LAYER_NOT_PRESENT:
        return "layer not present";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
        return "extension not present";
    case VK_ERROR_FEATURE_NOT_PRESENT:
        return "feature not present";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
        return "incompatible driver (no Vulkan driver installed?)";
    case VK_ERROR_TOO_MANY_OBJECTS:
        return "too many objects";
    case VK_TIMEOUT:
        return "timeout";
    default:
        return "error";
    }
}

tsl_status tsl_vk_check(VkResult result, const char *what) {
    if (result == VK_SUCCESS)
        return TSL_OK;
    tsl_status code = TSL_ERR_VULKAN;
    if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY)
        code = TSL_ERR_DEVICE_OOM;
    else if (result == VK_ERROR_OUT_OF_HOST_MEMORY)
        code = TSL_ERR_NOMEM;
    else if (result == VK_ERROR_DEVICE_LOST)
        code = TSL_ERR_DEVICE_LOST;
    return tsl_error(code, "%s: %s (VkResult %d)", what, vk_result_name(result), (int)result);
}

void tsl_vk_options_default(tsl_vk_options *options) {
    memset(options, 0, sizeof *options);
    options->device_index = -1;
    options->pipeline_cache = true;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                            VkDebugUtilsMessageTypeFlagsEXT type,
                                                            const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                            void *user) {
    (void)type;
    tsl_vk_device *device = user;
    __atomic_fetch_add(&device->validation_messages, 1, __ATOMIC_RELAXED);
    fprintf(stderr, "tessl: vulkan validation %s: %s\n",
            (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error" : "warning",
            data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;
}

static bool layer_available(const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS)
        return false;
    VkLayerProperties *layers = calloc(n ? n : 1, sizeof *layers);
    bool found = false;
    if (layers && vkEnumerateInstanceLayerProperties(&n, layers) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            found = found || strcmp(layers[i].layerName, name) == 0;
    free(layers);
    return found;
}

static tsl_status create_instance(bool validation, VkInstance *instance, void *messenger_user,
                                  VkDebugUtilsMessengerCreateInfoEXT *messenger_info) {
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "tessl",
                             .apiVersion = VK_API_VERSION_1_3};
    VkInstanceCreateInfo info = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    const char *extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT features = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                        .enabledValidationFeatureCount = 1,
                                        .pEnabledValidationFeatures = enables};
    if (validation) {
        if (!layer_available(validation_layer))
            return tsl_error(TSL_ERR_UNSUPPORTED,
                             "validation requested but %s is not installed (apt-get install "
                             "vulkan-validationlayers, or run tools/setup)",
                             validation_layer);
        *messenger_info = (VkDebugUtilsMessengerCreateInfoEXT){
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .pNext = &features,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT,
            .pfnUserCallback = on_validation_message,
            .pUserData = messenger_user};
        info.pNext = messenger_info; /* also reports problems in vkCreateInstance itself */
        info.enabledLayerCount = 1;
        info.ppEnabledLayerNames = &validation_layer;
        info.enabledExtensionCount = 1;
        info.ppEnabledExtensionNames = extensions;
    }
    VkResult r = vkCreateInstance(&info, NULL, instance);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return tsl_error(TSL_ERR_NOT_FOUND, "no Vulkan driver found (install one: a GPU vendor's driver, or "
                                            "Mesa's lavapipe with apt-get install mesa-vulkan-drivers)");
    return tsl_vk_check(r, "creating the Vulkan instance");
}

static tsl_status enumerate_physical(VkInstance instance, VkPhysicalDevice **out, uint32_t *count) {
    uint32_t n = 0;
    TSL_TRY(tsl_vk_check(vkEnumeratePhysicalDevices(instance, &n, NULL), "listing Vulkan devices"));
    if (n == 0)
        return tsl_error(TSL_ERR_NOT_FOUND, "no Vulkan device found (install a driver, or Mesa's lavapipe "
                                            "with apt-get install mesa-vulkan-drivers)");
    VkPhysicalDevice *devs = calloc(n, sizeof *devs);
    if (!devs)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    VkResult r = vkEnumeratePhysicalDevices(instance, &n, devs);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(devs);
        return tsl_vk_check(r, "listing Vulkan devices");
    }
    *out = devs;
    *count = n;
    return TSL_OK;
}

tsl_status tsl_vk_list_devices(tsl_vk_features **devices, uint32_t *count) {
    *devices = NULL;
    *count = 0;
    VkInstance instance;
    TSL_TRY(create_instance(false, &instance, NULL, NULL));
    VkPhysicalDevice *phys = NULL;
    uint32_t n = 0;
    tsl_status st = enumerate_physical(instance, &phys, &n);
    if (st == TSL_OK) {
        *devices = calloc(n, sizeof **devices);
        if (!*devices)
            st = tsl_error(TSL_ERR_NOMEM, "out of memory");
        for (uint32_t i = 0; st == TSL_OK && i < n; i++)
            tsl_vk_probe_features(instance, phys[i], i, &(*devices)[i]);
        if (st == TSL_OK)
            *count = n;
    }
    free(phys);
    vkDestroyInstance(instance, NULL);
    return st;
}

int tsl_vk_device_type_preference(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return 3;
    default:
        return 4;
    }
}

static tsl_status requested_index(int option, int *index) {
    *index = option;
    const char *env = getenv("TESSL_DEVICE");
    if (option >= 0 || !env || !*env)
        return TSL_OK;
    char *end = NULL;
    long v = strtol(env, &end, 10);
    if (*end != '\0' || v < 0 || v > 1000)
        return tsl_error(TSL_ERR_INVALID_ARG, "TESSL_DEVICE='%s' is not a device index (see 'tessl devices')",
                         env);
    *index = (int)v;
    return TSL_OK;
}

static tsl_status select_device(tsl_vk_device *d, VkPhysicalDevice *phys, uint32_t n) {
    int want;
    TSL_TRY(requested_index(d->options.device_index, &want));
    tsl_vk_features f;
    if (want >= 0) {
        if ((uint32_t)want >= n)
            return tsl_error(TSL_ERR_NOT_FOUND,
                             "device %d requested but only %u Vulkan device%s found (see "
                             "'tessl devices')",
                             want, n, n == 1 ? "" : "s");
        tsl_vk_probe_features(d->instance, phys[want], (uint32_t)want, &f);
        if (!f.usable)
            return tsl_error(TSL_ERR_UNSUPPORTED, "device %d (%s) cannot run tessl: %s", want, f.name,
                             f.unusable_reason);
        d->physical = phys[want];
        d->features = f;
        return TSL_OK;
    }
    int best_rank = 99;
    for (uint32_t i = 0; i < n; i++) {
        tsl_vk_probe_features(d->instance, phys[i], i, &f);
        if (f.usable && tsl_vk_device_type_preference(f.type) < best_rank) {
            best_rank = tsl_vk_device_type_preference(f.type);
            d->physical = phys[i];
            d->features = f;
        }
    }
    if (best_rank == 99)
        return tsl_error(TSL_ERR_UNSUPPORTED,
                         "none of the %u Vulkan devices can run tessl (it needs "
                         "Vulkan 1.2 with timeline semaphores; see 'tessl devices')",
                         n);
    return TSL_OK;
}

/* The cooperative-matrix extension to enable: the one asked for, when the device qualifies for it. */
static tsl_vk_coopmat coopmat_to_enable(const tsl_vk_features *f, tsl_vk_tensor_cores want) {
    bool khr = f->coopmat_khr_f16 &&
               (want == TSL_VK_TENSOR_CORES_PREFER_KHR || want == TSL_VK_TENSOR_CORES_KHR_ONLY);
    bool nv =
        f->coopmat_nv_f16 && (want == TSL_VK_TENSOR_CORES_PREFER_KHR || want == TSL_VK_TENSOR_CORES_NV_ONLY);
    return khr ? TSL_VK_COOPMAT_KHR : nv ? TSL_VK_COOPMAT_NV : TSL_VK_COOPMAT_NONE;
}

static tsl_status create_logical_device(tsl_vk_device *d) {
    tsl_vk_features *f = &d->features;
    f->coopmat_enabled = coopmat_to_enable(f, d->options.tensor_cores);
    bool coopmat = f->coopmat_enabled != TSL_VK_COOPMAT_NONE;
    float priority = 1.0f;
    VkDeviceQueueCreateInfo queue = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                     .queueFamilyIndex = f->compute_queue_family,
                                     .queueCount = 1,
                                     .pQueuePriorities = &priority};
    VkPhysicalDeviceVulkan13Features f13 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES,
                                            .subgroupSizeControl = f->subgroup_size_control,
                                            .computeFullSubgroups = f->compute_full_subgroups};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                            .timelineSemaphore = VK_TRUE,
                                            .shaderFloat16 = f->fp16_arithmetic,
                                            .shaderInt8 = f->int8_arithmetic,
                                            .storageBuffer8BitAccess = f->int8_storage,
                                            .vulkanMemoryModel = coopmat};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                            .pNext = &f12,
                                            .storageBuffer16BitAccess = f->fp16_storage};
    if (f->api_version >= VK_API_VERSION_1_3)
        f12.pNext = &f13;
    VkPhysicalDeviceCooperativeMatrixFeaturesKHR coop_khr = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR,
        .pNext = &f11,
        .cooperativeMatrix = VK_TRUE};
    VkPhysicalDeviceCooperativeMatrixFeaturesNV coop_nv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
        .pNext = &f11,
        .cooperativeMatrix = VK_TRUE};
    const char *extension = f->coopmat_enabled == TSL_VK_COOPMAT_KHR
                                ? VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME
                                : VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    void *features = f->coopmat_enabled == TSL_VK_COOPMAT_KHR  ? (void *)&coop_khr
                     : f->coopmat_enabled == TSL_VK_COOPMAT_NV ? (void *)&coop_nv
                                                               : (void *)&f11;
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = features};
    f2.features.shaderInt64 = f->int64;
    VkDeviceCreateInfo info = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                               .pNext = &f2,
                               .queueCreateInfoCount = 1,
                               .pQueueCreateInfos = &queue,
                               .enabledExtensionCount = coopmat ? 1 : 0,
                               .ppEnabledExtensionNames = coopmat ? &extension : NULL};
    TSL_TRY_CTX(tsl_vk_check(vkCreateDevice(d->physical, &info, NULL, &d->vk), "vkCreateDevice"),
                "opening %s", f->name);
    vkGetDeviceQueue(d->vk, f->compute_queue_family, 0, &d->queue);
    VkSemaphoreTypeCreateInfo type = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                      .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE};
    VkSemaphoreCreateInfo sem = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &type};
    return tsl_vk_check(vkCreateSemaphore(d->vk, &sem, NULL, &d->timeline), "creating a timeline semaphore");
}

static tsl_status create_messenger(tsl_vk_device *d, const VkDebugUtilsMessengerCreateInfoEXT *info) {
    PFN_vkCreateDebugUtilsMessengerEXT create = (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
        d->instance, "vkCreateDebugUtilsMessengerEXT");
    if (!create)
        return tsl_error(TSL_ERR_UNSUPPORTED, "the validation layer offers no VK_EXT_debug_utils");
    VkDebugUtilsMessengerCreateInfoEXT plain = *info;
    plain.pNext = NULL;
    return tsl_vk_check(create(d->instance, &plain, NULL, &d->messenger),
                        "creating the validation messenger");
}

static tsl_status open_device(tsl_vk_device *d) {
    TSL_TRY(tsl_vk_fault_parse(getenv("TESSL_FAULT"), &d->fault));
    VkDebugUtilsMessengerCreateInfoEXT messenger_info;
    TSL_TRY(create_instance(d->options.validation, &d->instance, d, &messenger_info));
    if (d->options.validation)
        TSL_TRY(create_messenger(d, &messenger_info));
    VkPhysicalDevice *phys = NULL;
    uint32_t n = 0;
    TSL_TRY(enumerate_physical(d->instance, &phys, &n));
    tsl_status st = select_device(d, phys, n);
    free(phys);
    TSL_TRY(st);
    if (d->options.max_allocation_size && d->options.max_allocation_size < d->features.max_allocation_size)
        d->features.max_allocation_size = d->options.max_allocation_size;
    TSL_TRY(create_logical_device(d));
    TSL_TRY(tsl_vk_memory_init(d));
    if (d->options.pipeline_cache)
        TSL_TRY(tsl_vk_pipeline_cache_open(d));
    return TSL_OK;
}

tsl_status tsl_vk_device_open(const tsl_vk_options *options, tsl_vk_device **device) {
    *device = NULL;
    tsl_vk_device *d = calloc(1, sizeof *d);
    if (!d)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    d->options = *options;
    pthread_mutex_init(&d->queue_lock, NULL);
    pthread_mutex_init(&d->memory_lock, NULL);
    pthread_mutex_init(&d->pipeline_lock, NULL);
    pthread_mutex_init(&d->transfer_lock, NULL);
    tsl_status st = open_device(d);
    if (st != TSL_OK) {
        tsl_vk_device_close(d);
        return st;
    }
    *device = d;
    return TSL_OK;
}

void tsl_vk_device_close(tsl_vk_device *d) {
    if (!d)
        return;
    if (d->vk) {
        vkDeviceWaitIdle(d->vk);
        tsl_vk_cmd_destroy(d->transfer_cmd);
        tsl_vk_free(d, &d->staging_up);
        tsl_vk_free(d, &d->staging_down);
        tsl_vk_pipelines_destroy(d);
        tsl_vk_memory_destroy(d);
        tsl_vk_profile_destroy(d);
        if (d->timeline)
            vkDestroySemaphore(d->vk, d->timeline, NULL);
        vkDestroyDevice(d->vk, NULL);
    }
    if (d->messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(d->instance,
                                                                       "vkDestroyDebugUtilsMessengerEXT");
        if (destroy)
            destroy(d->instance, d->messenger, NULL);
    }
    if (d->instance)
        vkDestroyInstance(d->instance, NULL);
    pthread_mutex_destroy(&d->queue_lock);
    pthread_mutex_destroy(&d->memory_lock);
    pthread_mutex_destroy(&d->pipeline_lock);
    pthread_mutex_destroy(&d->transfer_lock);
    free(d);
}

const tsl_vk_features *tsl_vk_device_features(const tsl_vk_device *d) {
    return &d->features;
}

uint32_t tsl_vk_validation_message_count(const tsl_vk_device *d) {
    return __atomic_load_n(&d->validation_messages, __ATOMIC_RELAXED);
}
