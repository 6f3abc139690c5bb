/* TESSL_FAULT parsing and the counters that decide when an injected fault fires. */
#include "tsl_vk_fault.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static tsl_status bad_fault(const char *text) {
    return tsl_error(TSL_ERR_INVALID_ARG,
                     "TESSL_FAULT='%s' is not a fault: use device-lost:submit=N or device-oom:block=N "
                     "(N >= 1)",
                     text);
}

static bool parse_ordinal(const char *text, uint64_t *value) {
    if (*text < '1' || *text > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    *value = v;
    return errno == 0 && *end == '\0';
}

tsl_status tsl_vk_fault_parse(const char *text, tsl_vk_fault *fault) {
    memset(fault, 0, sizeof *fault);
    if (!text || !*text)
        return TSL_OK;
    static const struct {
        const char *prefix;
        tsl_vk_fault_kind kind;
    } forms[] = {{"device-lost:submit=", TSL_VK_FAULT_DEVICE_LOST},
                 {"device-oom:block=", TSL_VK_FAULT_DEVICE_OOM}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        size_t n = strlen(forms[i].prefix);
        if (strncmp(text, forms[i].prefix, n) != 0)
            continue;
        if (!parse_ordinal(text + n, &fault->at))
            return bad_fault(text);
        fault->kind = forms[i].kind;
        return TSL_OK;
    }
    return bad_fault(text);
}

/* True from the `at`-th event on (a lost device stays lost). */
static bool fires(tsl_vk_fault *fault, tsl_vk_fault_kind kind) {
    if (fault->kind != kind)
        return false;
    uint64_t seen = __atomic_add_fetch(&fault->count, 1, __ATOMIC_RELAXED);
    return kind == TSL_VK_FAULT_DEVICE_LOST ? seen >= fault->at : seen == fault->at;
}

VkResult tsl_vk_fault_on_submit(tsl_vk_fault *fault) {
    return fires(fault, TSL_VK_FAULT_DEVICE_LOST) ? VK_ERROR_DEVICE_LOST : VK_SUCCESS;
}

VkResult tsl_vk_fault_on_device_block(tsl_vk_fault *fault) {
    return fires(fault, TSL_VK_FAULT_DEVICE_OOM) ? VK_ERROR_OUT_OF_DEVICE_MEMORY : VK_SUCCESS;
}
