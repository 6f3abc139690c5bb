#include "tsl_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TSL_ERROR_MESSAGE_MAX = 4096 };

static _Thread_local char error_message[TSL_ERROR_MESSAGE_MAX];

static const char *const status_names[TSL_STATUS_COUNT] = {
    [TSL_OK] = "ok",
    [TSL_ERR_INVALID_ARG] = "invalid argument",
    [TSL_ERR_IO] = "i/o error",
    [TSL_ERR_FORMAT] = "bad format",
    [TSL_ERR_CORRUPT] = "corrupt data",
    [TSL_ERR_NOMEM] = "out of host memory",
    [TSL_ERR_DEVICE_OOM] = "out of device memory",
    [TSL_ERR_VULKAN] = "vulkan error",
    [TSL_ERR_DEVICE_LOST] = "device lost",
    [TSL_ERR_UNSUPPORTED] = "unsupported",
    [TSL_ERR_NOT_FOUND] = "not found",
    [TSL_ERR_INTERRUPTED] = "interrupted",
    [TSL_ERR_NUMERIC] = "non-finite value",
};

const char *tsl_status_name(tsl_status s) {
    if ((unsigned)s >= TSL_STATUS_COUNT)
        return "unknown status";
    return status_names[s];
}

tsl_status tsl_error(tsl_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return code;
}

tsl_status tsl_error_context(tsl_status code, const char *fmt, ...) {
    char joined[TSL_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(joined, sizeof joined, fmt, ap);
    va_end(ap);
    if (n < 0)
        return code;
    size_t used = strlen(joined);
    if (error_message[0] && used + 2 < sizeof joined) {
        memcpy(joined + used, ": ", 3);
        used += 2;
        size_t rest = strlen(error_message);
        if (rest > sizeof joined - 1 - used) /* keep the front of the chain; the tail is cut */
            rest = sizeof joined - 1 - used;
        memcpy(joined + used, error_message, rest);
        joined[used + rest] = '\0';
    }
    memcpy(error_message, joined, sizeof error_message);
    return code;
}

const char *tsl_error_message(void) {
    return error_message;
}

void tsl_error_clear(void) {
    error_message[0] = '\0';
}

void tsl_assert_fail_(const char *expr, const char *file, int line) {
    fprintf(stderr, "tessl: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
    abort();
}
