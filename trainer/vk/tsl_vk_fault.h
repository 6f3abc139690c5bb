/* Fault injection for the reliability tests (docs/RELIABILITY.md): TESSL_FAULT makes the runtime fail
 * the way a real device does at a chosen moment, so that the paths handling a lost device or exhausted
 * device memory run in tests on any machine (lavapipe can provoke neither).
 *
 *   TESSL_FAULT=device-lost:submit=N   the N-th queue submission (1-based) and every later submission
 *                                      and wait fail with VK_ERROR_DEVICE_LOST, as after a GPU reset
 *   TESSL_FAULT=device-oom:block=N     the N-th creation of a DEVICE-memory block fails with
 *                                      VK_ERROR_OUT_OF_DEVICE_MEMORY, as vkAllocateMemory does
 *
 * Unset or empty: no fault. Anything else is refused when the device opens. */
#ifndef TSL_VK_FAULT_H
#define TSL_VK_FAULT_H

#include "tsl_status.h"

#include <stdint.h>
#include <vulkan/vulkan.h>

typedef enum { TSL_VK_FAULT_NONE, TSL_VK_FAULT_DEVICE_LOST, TSL_VK_FAULT_DEVICE_OOM } tsl_vk_fault_kind;

typedef struct {
    tsl_vk_fault_kind kind;
    uint64_t at;    /* the ordinal of the event that fails */
    uint64_t count; /* events seen so far (atomic) */
} tsl_vk_fault;

/* Parses a TESSL_FAULT value (NULL or "" is no fault). */
tsl_status tsl_vk_fault_parse(const char *text, tsl_vk_fault *fault);

/* Counts one queue submission; returns the VkResult the submission must report instead of submitting,
 * or VK_SUCCESS to go on. */
VkResult tsl_vk_fault_on_submit(tsl_vk_fault *fault);

/* Counts one creation of a DEVICE-memory block; VK_SUCCESS or the injected failure. */
VkResult tsl_vk_fault_on_device_block(tsl_vk_fault *fault);

#endif
