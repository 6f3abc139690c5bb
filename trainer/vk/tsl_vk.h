/* tessl's Vulkan runtime: device selection and feature probing, a pooled memory suballocator, compute
 * pipelines built from the SPIR-V embedded at build time (with an on-disk pipeline cache), and a command
 * recorder that batches many dispatches per submission and inserts a barrier only where two commands
 * touch overlapping bytes and at least one writes. Requires Vulkan 1.2 (timeline semaphores).
 *
 * Device quirks and per-device choices live in tsl_vk_features (probed once, in one place) and nowhere
 * else. */
#ifndef TSL_VK_H
#define TSL_VK_H

#include "tsl_status.h"
#include "tsl_shaders.h"

#include <stdbool.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

/* ---- devices and features ------------------------------------------------------------------------- */

/* A cooperative-matrix extension (tensor cores). */
typedef enum { TSL_VK_COOPMAT_NONE, TSL_VK_COOPMAT_NV, TSL_VK_COOPMAT_KHR } tsl_vk_coopmat;

/* What tsl_vk_device_open enables: nothing, the best qualifying extension (KHR, else NV), or only one. */
typedef enum {
    TSL_VK_TENSOR_CORES_OFF,
    TSL_VK_TENSOR_CORES_PREFER_KHR,
    TSL_VK_TENSOR_CORES_NV_ONLY,
    TSL_VK_TENSOR_CORES_KHR_ONLY
} tsl_vk_tensor_cores;

typedef struct {
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    char driver_name[VK_MAX_DRIVER_NAME_SIZE];
    char driver_info[VK_MAX_DRIVER_INFO_SIZE];
    uint32_t index; /* position in vkEnumeratePhysicalDevices: what --device and TESSL_DEVICE take */
    uint32_t vendor_id, device_id, api_version, driver_version;
    VkPhysicalDeviceType type;
    uint8_t pipeline_cache_uuid[VK_UUID_SIZE];
    bool usable;              /* Vulkan >= 1.2 with timeline semaphores and a compute queue */
    char unusable_reason[96]; /* why not, when !usable */

    uint64_t device_local_bytes; /* sum of DEVICE_LOCAL heaps */
    uint64_t host_visible_device_local_bytes;
    bool unified_memory; /* every device-local heap is also host-visible (CPU drivers, most iGPUs) */

    uint32_t subgroup_size, min_subgroup_size, max_subgroup_size;
    bool subgroup_size_control, compute_full_subgroups;
    bool subgroup_arithmetic, subgroup_shuffle, subgroup_ballot; /* in compute shaders */

    bool fp16_arithmetic, fp16_storage; /* shaderFloat16; storageBuffer16BitAccess */
    bool int8_arithmetic, int8_storage; /* shaderInt8; storageBuffer8BitAccess */
    bool int64;
    bool cooperative_matrix_nv, cooperative_matrix_khr; /* extension advertised */
    /* Tensor cores for gemm_coopmat.comp, per extension: advertised, its cooperativeMatrix feature on,
     * compute shaders among its supported stages, the fp16 x fp16 + fp32 -> fp32 16 x 16 x 16
     * subgroup-scope configuration listed, and the vulkanMemoryModel and shaderFloat16 features the shader
     * needs. The device is opened with one of them enabled, KHR when both qualify (coopmat_enabled). */
    bool coopmat_khr_f16, coopmat_nv_f16;
    bool vulkan_memory_model;
    tsl_vk_coopmat coopmat_enabled; /* which extension tsl_vk_device_open enabled (NONE in listings) */

    uint64_t max_storage_buffer_range, max_buffer_size, max_allocation_size;
    uint32_t min_storage_buffer_offset_alignment;
    uint32_t min_texel_buffer_offset_alignment, max_texel_buffer_elements;
    uint32_t max_shared_memory, max_workgroup_invocations, max_workgroup_size[3], max_workgroup_count[3];
    uint32_t max_push_constants_size;

    /* Quirk: Mesa's llvmpipe (lavapipe) stops a shader invocation's loops after 65535 iterations in
     * all, silently (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS), so kernels that loop over a long reduction
     * split it into dispatches below this bound. 0: no such limit. */
    uint32_t max_loop_iterations;

    /* Quirk: llvmpipe (lavapipe) keys every compiled shader variant on whether the VkBuffer behind each
     * bound storage texel buffer has a power-of-two size (gallivm's pot_width), so a pipeline compiles
     * again, for up to a minute at the CPU GEMM's tile, for each mix of such sizes it meets. When set,
     * memory blocks are never a power of two in size (tsl_vk_memory.c): one mix, one compile. */
    bool pow2_buffers_recompile;

    /* Device class for kernel variants: a CPU driver (device type CPU, e.g. lavapipe) runs each shader
     * invocation as one SIMD lane, with slow shared memory and barriers. Kernels with a CPU variant
     * (flat grids that keep every lane busy, register tiles, vec4 loads) take it when this is set. */
    bool cpu_kernels;

    uint32_t compute_queue_family, compute_queue_count;
    bool timestamps; /* compute queue has timestampValidBits > 0 */
    float timestamp_period_ns;
} tsl_vk_features;

/* Human name of a VkPhysicalDeviceType ("discrete GPU", "CPU", ...). */
const char *tsl_vk_device_type_name(VkPhysicalDeviceType type);

/* Lists every physical device with its probed features. `*devices` is malloc'd (caller frees). Fails
 * with a message that says how to install a driver when no Vulkan loader or device is present. */
tsl_status tsl_vk_list_devices(tsl_vk_features **devices, uint32_t *count);

typedef struct {
    /* Which device: >= 0 picks that index; -1 reads TESSL_DEVICE, and if unset prefers a discrete GPU,
     * then an integrated one, then any other usable device (lavapipe on machines without a GPU). */
    int device_index;
    /* Enables VK_LAYER_KHRONOS_validation with synchronisation validation. Every warning or error the
     * layer reports is printed to stderr and counted (tsl_vk_validation_message_count). */
    bool validation;
    /* Loads and saves the pipeline cache under cache_dir (NULL: $XDG_CACHE_HOME/tessl, else
     * $HOME/.cache/tessl). */
    bool pipeline_cache;
    const char *cache_dir;
    /* Bytes per memory block of the suballocator (0: 256 MiB). Larger requests get a block of their own. */
    uint64_t block_size;
    /* When nonzero and below the device's maxMemoryAllocationSize, tessl treats it as that limit
     * (tsl_vk_features.max_allocation_size): tests use it to exercise, at small shapes, the code that
     * splits memory over several allocations. */
    uint64_t max_allocation_size;
    /* Tensor cores: which cooperative-matrix extension to enable when the device qualifies
     * (tsl_vk_features.coopmat_*_f16); the result is tsl_vk_features.coopmat_enabled. Off by default, so
     * a device opened for fp32 work carries no extension a validation layer older than the extension
     * (Debian 12's 1.3.239 predates VK_KHR_cooperative_matrix) would flag. */
    tsl_vk_tensor_cores tensor_cores;
} tsl_vk_options;

void tsl_vk_options_default(tsl_vk_options *options);

typedef struct tsl_vk_device tsl_vk_device;

/* Creates an instance and a logical device with one compute queue. On failure nothing is leaked. */
tsl_status tsl_vk_device_open(const tsl_vk_options *options, tsl_vk_device **device);

/* Waits for the device to go idle, saves the pipeline cache (atomically; a failure is a warning on
 * stderr, never fatal), and frees everything. Accepts NULL. */
void tsl_vk_device_close(tsl_vk_device *device);

/* The order in which devices are preferred when none is named: 0 discrete GPU, 1 integrated, 2 virtual,
 * 3 CPU, 4 other (lower is preferred). */
int tsl_vk_device_type_preference(VkPhysicalDeviceType type);

const tsl_vk_features *tsl_vk_device_features(const tsl_vk_device *device);

/* Number of validation-layer warnings and errors seen since the device was opened. */
uint32_t tsl_vk_validation_message_count(const tsl_vk_device *device);

/* ---- memory ---------------------------------------------------------------------------------------- */

typedef enum {
    TSL_MEM_DEVICE,   /* fast for shaders; may not be host-visible */
    TSL_MEM_UPLOAD,   /* host-visible, coherent: written by the CPU, read by the device */
    TSL_MEM_DOWNLOAD, /* host-visible, coherent, cached when possible: written by the device, read by the CPU
                       */
    TSL_MEM_KIND_COUNT
} tsl_mem_kind;

/* A byte range of a VkBuffer, the unit that dispatches bind and the recorder tracks. */
typedef struct {
    VkBuffer vk;
    VkDeviceSize offset, size;
} tsl_vk_range;

/* A suballocation: a range of one block's buffer, with a host pointer when the memory is mapped. */
typedef struct {
    tsl_vk_range range;
    void *host; /* non-NULL for UPLOAD and DOWNLOAD, and for DEVICE memory that is host-visible */
    struct tsl_vk_block *block;
} tsl_vk_buffer;

/* Suballocates `size` bytes (> 0) of `kind`, aligned for use as a storage buffer at any offset that is a
 * multiple of 16. `name` appears in the error message if the allocation fails (TSL_ERR_DEVICE_OOM names
 * the size requested and what is already in use). */
tsl_status tsl_vk_alloc(tsl_vk_device *device, tsl_mem_kind kind, VkDeviceSize size, const char *name,
                        tsl_vk_buffer *buffer);

/* Returns the range to its block; empty blocks are given back to the driver. Accepts a zeroed buffer. */
void tsl_vk_free(tsl_vk_device *device, tsl_vk_buffer *buffer);

/* The sub-range [offset, offset + size) of `buffer`; asserts it lies inside. */
tsl_vk_range tsl_vk_subrange(const tsl_vk_buffer *buffer, VkDeviceSize offset, VkDeviceSize size);

/* A binding for the `size` bytes at byte `start` of `range` that begins at the nearest offset at or below
 * them that is a multiple of `align` (a device's minimum offset alignment for the binding's kind).
 * *first_element receives the index of their first element inside the binding, in elements of
 * `element_bytes` (exact when range.offset, start and align are multiples of element_bytes). The bytes
 * before `start` belong to the binding too, so the recorder's hazard tracking stays conservative; a
 * shader must neither read nor write them. */
tsl_vk_range tsl_vk_range_aligned_down(tsl_vk_range range, VkDeviceSize start, VkDeviceSize size,
                                       VkDeviceSize align, uint32_t element_bytes, uint32_t *first_element);

typedef struct {
    uint64_t bytes_in_use[TSL_MEM_KIND_COUNT];
    uint64_t bytes_reserved[TSL_MEM_KIND_COUNT]; /* held in blocks */
    uint64_t peak_bytes_in_use[TSL_MEM_KIND_COUNT];
    uint32_t blocks[TSL_MEM_KIND_COUNT];
    uint32_t live_allocations;
} tsl_vk_memory_stats;

void tsl_vk_memory_stats_get(const tsl_vk_device *device, tsl_vk_memory_stats *stats);

/* ---- pipelines ------------------------------------------------------------------------------------- */

typedef struct tsl_vk_pipeline tsl_vk_pipeline;

enum { TSL_VK_MAX_SPEC_CONSTANTS = 16, TSL_VK_MAX_BINDINGS = 16, TSL_VK_PUSH_CONSTANT_BYTES = 128 };

/* Returns the compute pipeline for `shader` with specialization constants 0..n_spec-1 set to `spec`
 * (32-bit values; floats bit-cast). Built on first use, then cached for the device's lifetime. The
 * bindings (set 0, bindings 0..n-1) are read from the SPIR-V: each a storage buffer, or a storage texel
 * buffer (an imageBuffer with a format qualifier: r32f, rgba32f, r16f, rgba16f, rg32f, r32ui), for which
 * tsl_vk_cmd_dispatch makes a view of the bound range in that format (whole texels; the offset a multiple
 * of minTexelBufferOffsetAlignment, at most maxTexelBufferElements texels). */
tsl_status tsl_vk_pipeline_get(tsl_vk_device *device, tsl_shader_id shader, const uint32_t *spec,
                               uint32_t n_spec, tsl_vk_pipeline **pipeline);

/* Number of buffers (storage or texel) the pipeline binds. */
uint32_t tsl_vk_pipeline_binding_count(const tsl_vk_pipeline *pipeline);

/* ---- command recording ------------------------------------------------------------------------------ */

typedef enum { TSL_READ = 1, TSL_WRITE = 2, TSL_READ_WRITE = 3 } tsl_vk_access;

typedef struct {
    tsl_vk_range range;
    tsl_vk_access access;
} tsl_vk_arg;

typedef struct tsl_vk_cmd tsl_vk_cmd;

typedef struct {
    uint32_t dispatches, copies, fills, barriers;
} tsl_vk_cmd_stats;

tsl_status tsl_vk_cmd_create(tsl_vk_device *device, tsl_vk_cmd **cmd);
void tsl_vk_cmd_destroy(tsl_vk_cmd *cmd);

/* Starts recording. Waits first for this recorder's previous submission, if any, to complete. */
tsl_status tsl_vk_cmd_begin(tsl_vk_cmd *cmd);

/* Records a dispatch of `pipeline` with args[i] bound at binding i and `push_size` bytes of push
 * constants. Each range must be at most maxStorageBufferRange bytes and start at a multiple of
 * minStorageBufferOffsetAlignment (texel-buffer bindings: see tsl_vk_pipeline_get); larger work is split
 * by the caller (tsl_vk_split_range helps). */
tsl_status tsl_vk_cmd_dispatch(tsl_vk_cmd *cmd, const tsl_vk_pipeline *pipeline, const tsl_vk_arg *args,
                               uint32_t n_args, const void *push, uint32_t push_size, uint32_t groups_x,
                               uint32_t groups_y, uint32_t groups_z);

/* Records a buffer-to-buffer copy of min(src.size, dst.size) bytes; no size limit. */
tsl_status tsl_vk_cmd_copy(tsl_vk_cmd *cmd, tsl_vk_range src, tsl_vk_range dst);

/* Fills `dst` with a repeated 32-bit pattern (offset and size multiples of 4). */
tsl_status tsl_vk_cmd_fill(tsl_vk_cmd *cmd, tsl_vk_range dst, uint32_t pattern);

/* Ends recording and submits; the submission waits for every earlier one on the device, and its
 * completion makes device writes visible to the host. `*done` (may be NULL) receives the timeline value
 * that marks completion. */
tsl_status tsl_vk_cmd_submit(tsl_vk_cmd *cmd, uint64_t *done);

/* Submits and waits for completion. */
tsl_status tsl_vk_cmd_submit_wait(tsl_vk_cmd *cmd);

/* The timeline value of this recorder's last submission (0 before the first). */
uint64_t tsl_vk_cmd_last_submitted(const tsl_vk_cmd *cmd);

/* What the recorder has recorded since the last begin (for tests of barrier placement). */
tsl_vk_cmd_stats tsl_vk_cmd_stats_get(const tsl_vk_cmd *cmd);

/* Waits until the device's timeline reaches `value`. */
tsl_status tsl_vk_wait(tsl_vk_device *device, uint64_t value);

/* The timeline value of the latest submission so far (0 before the first): waiting for it waits for all
 * work submitted until now, from any thread. */
uint64_t tsl_vk_last_submitted(tsl_vk_device *device);

/* Splits a dispatch over `total` elements into 2-D workgroup counts (x <= the device limit). */
void tsl_vk_grid_1d(const tsl_vk_device *device, uint64_t groups, uint32_t *groups_x, uint32_t *groups_y);

/* Largest chunk, in bytes and a multiple of `granule`, that one binding may cover on this device. */
VkDeviceSize tsl_vk_max_binding_bytes(const tsl_vk_device *device, VkDeviceSize granule);

/* ---- profiling (tsl_vk_profile.c) ------------------------------------------------------------------ */

/* Turns on per-kernel timestamps for every recorder of the device (each writes a timestamp after every
 * command; the time since the previous one is charged to that command's shader). TSL_ERR_UNSUPPORTED when
 * the compute queue has no timestamps (tsl_vk_features.timestamps). Stays on until the device closes. */
tsl_status tsl_vk_profile_enable(tsl_vk_device *device);

/* Forgets the times summed so far (after warm-up steps, say), including those of submissions recorded
 * before the reset and not yet read back. */
void tsl_vk_profile_reset(tsl_vk_device *device);

typedef struct {
    const char *name; /* shader name, or "(copy)" / "(fill)" */
    uint64_t count;   /* commands timed */
    double ms;        /* their summed time */
} tsl_vk_profile_row;

/* The sums per kernel, slowest first (`*rows` malloc'd; caller frees), from the submissions that have
 * completed and been waited for (a recorder's last submission counts once it is waited for, begun again
 * or destroyed). `*untimed` (may be NULL): commands that found a recording's query pool full. */
tsl_status tsl_vk_profile_report(tsl_vk_device *device, tsl_vk_profile_row **rows, uint32_t *n_rows,
                                 uint64_t *untimed);

/* ---- transfers --------------------------------------------------------------------------------------- */

/* Copies host bytes into `dst` (any memory kind, any size) through a staging buffer, and waits. */
tsl_status tsl_vk_upload(tsl_vk_device *device, tsl_vk_range dst, const void *src);

/* Copies `src` (any memory kind, any size) into host memory through a staging buffer, and waits. */
tsl_status tsl_vk_download(tsl_vk_device *device, tsl_vk_range src, void *dst);

/* Message-carrying conversion of a failed VkResult. */
tsl_status tsl_vk_check(VkResult result, const char *what);

#endif
