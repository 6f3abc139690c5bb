/* Private structures of the Vulkan runtime, shared by its .c files only. */
#ifndef TSL_VK_INTERNAL_H
#define TSL_VK_INTERNAL_H

#include "tsl_vk.h"
#include "tsl_vk_fault.h"

#include <pthread.h>

typedef struct {
    VkDeviceSize offset, size;
} tsl_vk_free_range;

struct tsl_vk_block {
    VkDeviceMemory memory;
    VkBuffer buffer;
    VkDeviceSize size;
    void *mapped;
    tsl_mem_kind kind;
    tsl_vk_free_range *free; /* sorted by offset, coalesced */
    uint32_t n_free, cap_free;
    uint32_t live; /* allocations inside */
    struct tsl_vk_block *next;
};

typedef struct {
    uint32_t memory_type; /* UINT32_MAX: none found */
    bool host_visible;
    struct tsl_vk_block *blocks;
} tsl_vk_pool;

struct tsl_vk_pipeline {
    tsl_shader_id shader;
    uint32_t n_spec;
    uint32_t spec[TSL_VK_MAX_SPEC_CONSTANTS];
    uint32_t n_bindings;
    /* Per binding: VK_FORMAT_UNDEFINED for a storage buffer, else the format of a storage texel buffer
     * (an imageBuffer), whose view the recorder makes per dispatch. */
    VkFormat texel_format[TSL_VK_MAX_BINDINGS];
    uint32_t texel_bytes[TSL_VK_MAX_BINDINGS]; /* bytes per texel of texel_format (0: a storage buffer) */
    bool has_texel_bindings;
    VkPipeline vk;
    VkPipelineLayout layout; /* owned by the device, per binding count; by the pipeline with texel bindings */
    VkDescriptorSetLayout set_layout;
    struct tsl_vk_pipeline *next;
};

typedef struct tsl_vk_profile tsl_vk_profile;

struct tsl_vk_device {
    tsl_vk_options options;
    tsl_vk_features features;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice physical;
    VkDevice vk;
    VkQueue queue;
    pthread_mutex_t queue_lock; /* submissions and the timeline counter */
    VkSemaphore timeline;
    uint64_t timeline_last; /* value of the latest submission */

    pthread_mutex_t memory_lock;
    tsl_vk_pool pools[TSL_MEM_KIND_COUNT];
    tsl_vk_memory_stats stats;
    VkDeviceSize alignment;

    pthread_mutex_t pipeline_lock;
    tsl_vk_pipeline *pipelines;
    VkPipelineCache pipeline_cache;
    bool pipeline_cache_dirty;
    char *pipeline_cache_path;
    VkDescriptorSetLayout set_layouts[TSL_VK_MAX_BINDINGS + 1];
    VkPipelineLayout pipeline_layouts[TSL_VK_MAX_BINDINGS + 1];

    pthread_mutex_t transfer_lock; /* staging buffers and their recorder */
    tsl_vk_buffer staging_up, staging_down;
    tsl_vk_cmd *transfer_cmd;

    uint32_t validation_messages; /* atomic */
    tsl_vk_fault fault;           /* TESSL_FAULT, for the reliability tests */
    bool lost;                    /* a submission or wait reported VK_ERROR_DEVICE_LOST */
    tsl_vk_profile *profile;      /* per-kernel timestamps when on (tsl_vk_profile.c); NULL: off */
};

/* Fills `f` from a physical device (properties, limits, features, queues, memory, cooperative-matrix
 * configurations: the instance gives the extension's query functions). */
void tsl_vk_probe_features(VkInstance instance, VkPhysicalDevice physical, uint32_t index,
                           tsl_vk_features *f);

/* Picks the memory types of the three pools. */
tsl_status tsl_vk_memory_init(tsl_vk_device *device);
/* Frees every block; asserts nothing is still allocated when `check_leaks`. */
void tsl_vk_memory_destroy(tsl_vk_device *device);

tsl_status tsl_vk_pipeline_cache_open(tsl_vk_device *device);
void tsl_vk_pipelines_destroy(tsl_vk_device *device);

/* Submits one recorded command buffer on the device's queue, waiting for the previous submission and
 * signalling the next timeline value, returned in `*value`. */
tsl_status tsl_vk_queue_submit(tsl_vk_device *device, VkCommandBuffer command_buffer, uint64_t *value);

/* ---- timestamp profiling of one recorder (tsl_vk_profile.c) ---- */

typedef struct {
    VkQueryPool pool;
    uint32_t capacity, used, wanted; /* queries: in the pool, written, and asked for by this recording */
    uint32_t *labels;                /* per query: the kernel (shader id, or copy / fill) it ends */
    bool active, submitted;
    uint64_t epoch; /* the device profile's reset count when recording began */
} tsl_vk_cmd_profile;

enum { TSL_VK_PROFILE_COPY = -1, TSL_VK_PROFILE_FILL = -2 };

/* At the start of a recording: resets the pool and writes the first timestamp (nothing when off). */
tsl_status tsl_vk_cmd_profile_begin(tsl_vk_device *device, VkCommandBuffer cb, tsl_vk_cmd_profile *profile);
/* After a command: a timestamp labelled with its shader id (or TSL_VK_PROFILE_COPY / _FILL). */
void tsl_vk_cmd_profile_mark(tsl_vk_device *device, VkCommandBuffer cb, tsl_vk_cmd_profile *profile,
                             int shader);
/* After the submission completed: adds its times to the device's sums (once per submission). */
tsl_status tsl_vk_cmd_profile_collect(tsl_vk_device *device, tsl_vk_cmd_profile *profile);
void tsl_vk_cmd_profile_destroy(tsl_vk_device *device, tsl_vk_cmd_profile *profile);
void tsl_vk_profile_destroy(tsl_vk_device *device);

#endif
