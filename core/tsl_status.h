/* Errors are values. Every fallible function returns tsl_status; TSL_OK is zero. The message that
 * explains a failure (what failed, on which file/tensor/device, and why) is kept per thread and grows
 * a chain of context as the error is carried up: "while loading checkpoint run/ck: reading run/ck:
 * unexpected end of file". abort() is kept for programmer bugs (tsl_assert). */
#ifndef TSL_STATUS_H
#define TSL_STATUS_H

#include <stdarg.h>

typedef enum {
    TSL_OK = 0,
    TSL_ERR_INVALID_ARG, /* bad flag, bad parameter, shape mismatch */
    TSL_ERR_IO,          /* open/read/write/fsync/rename failed */
    TSL_ERR_FORMAT,      /* input file is malformed or of an unknown version */
    TSL_ERR_CORRUPT,     /* checksum mismatch: data changed on disk */
    TSL_ERR_NOMEM,       /* host allocation failed */
    TSL_ERR_DEVICE_OOM,  /* device allocation failed */
    TSL_ERR_VULKAN,      /* a Vulkan call failed */
    TSL_ERR_DEVICE_LOST, /* VK_ERROR_DEVICE_LOST */
    TSL_ERR_UNSUPPORTED, /* the device or build lacks a needed feature */
    TSL_ERR_NOT_FOUND,   /* named file, device, layer or kernel does not exist */
    TSL_ERR_INTERRUPTED, /* stopped by a signal */
    TSL_ERR_NUMERIC,     /* NaN/Inf where a finite number is required */
    TSL_STATUS_COUNT
} tsl_status;

/* Short stable name of a status code ("io", "format", ...). */
const char *tsl_status_name(tsl_status s);

/* Records a fresh error message (printf-style) for this thread, replacing any earlier one, and returns
 * `code` so a caller can write `return tsl_error(TSL_ERR_IO, "reading %s: %s", path, strerror(errno));`. */
tsl_status tsl_error(tsl_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "context: " to this thread's message and returns `code` unchanged. */
tsl_status tsl_error_context(tsl_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* This thread's last error message ("" when none was recorded). Valid until the next tsl_error call. */
const char *tsl_error_message(void);

/* Forgets this thread's message (tests call it between cases). */
void tsl_error_clear(void);

/* Evaluates `expr` (a tsl_status); on failure returns it from the enclosing function. */
#define TSL_TRY(expr)                                                                                        \
    do {                                                                                                     \
        tsl_status tsl_try_status_ = (expr);                                                                 \
        if (tsl_try_status_ != TSL_OK)                                                                       \
            return tsl_try_status_;                                                                          \
    } while (0)

/* Like TSL_TRY, adding printf-style context to the message first. */
#define TSL_TRY_CTX(expr, ...)                                                                               \
    do {                                                                                                     \
        tsl_status tsl_try_status_ = (expr);                                                                 \
        if (tsl_try_status_ != TSL_OK)                                                                       \
            return tsl_error_context(tsl_try_status_, __VA_ARGS__);                                          \
    } while (0)

/* Programmer-bug check: always on, prints the expression and location, then aborts. */
#define tsl_assert(cond)                                                                                     \
    do {                                                                                                     \
        if (!(cond))                                                                                         \
            tsl_assert_fail_(#cond, __FILE__, __LINE__);                                                     \
    } while (0)

_Noreturn void tsl_assert_fail_(const char *expr, const char *file, int line);

#endif
