/* Synchronous host <-> device copies of any size through fixed staging buffers, in chunks. */
#include "tsl_vk_internal.h"

#include <string.h>

enum { MAX_STAGING_BYTES = 8u << 20 };

/* The staging buffers' size: 8 MiB (large enough that a chunk's submission costs little beside its copy,
 * small beside the model: both buffers stay allocated), or less where one allocation may not be that
 * large. */
static VkDeviceSize staging_bytes(const tsl_vk_device *d) {
    VkDeviceSize limit = d->features.max_allocation_size / 256 * 256;
    return limit < MAX_STAGING_BYTES ? limit : MAX_STAGING_BYTES;
}

static tsl_status ensure_staging(tsl_vk_device *d) {
    if (!d->transfer_cmd)
        TSL_TRY(tsl_vk_cmd_create(d, &d->transfer_cmd));
    if (!d->staging_up.block)
        TSL_TRY(tsl_vk_alloc(d, TSL_MEM_UPLOAD, staging_bytes(d), "upload staging", &d->staging_up));
    if (!d->staging_down.block)
        TSL_TRY(tsl_vk_alloc(d, TSL_MEM_DOWNLOAD, staging_bytes(d), "download staging", &d->staging_down));
    return TSL_OK;
}

static tsl_status upload_locked(tsl_vk_device *d, tsl_vk_range dst, const uint8_t *src) {
    TSL_TRY(ensure_staging(d));
    VkDeviceSize chunk = d->staging_up.range.size;
    for (VkDeviceSize done = 0; done < dst.size; done += chunk) {
        VkDeviceSize n = dst.size - done < chunk ? dst.size - done : chunk;
        memcpy(d->staging_up.host, src + done, n);
        TSL_TRY(tsl_vk_cmd_begin(d->transfer_cmd));
        tsl_status st = tsl_vk_cmd_copy(d->transfer_cmd, tsl_vk_subrange(&d->staging_up, 0, n),
                                        (tsl_vk_range){dst.vk, dst.offset + done, n});
        TSL_TRY(tsl_vk_cmd_submit_wait(d->transfer_cmd)); /* ends the recording even after an error */
        TSL_TRY(st);
    }
    return TSL_OK;
}

static tsl_status download_locked(tsl_vk_device *d, tsl_vk_range src, uint8_t *dst) {
    TSL_TRY(ensure_staging(d));
    VkDeviceSize chunk = d->staging_down.range.size;
    for (VkDeviceSize done = 0; done < src.size; done += chunk) {
        VkDeviceSize n = src.size - done < chunk ? src.size - done : chunk;
        TSL_TRY(tsl_vk_cmd_begin(d->transfer_cmd));
        tsl_status st = tsl_vk_cmd_copy(d->transfer_cmd, (tsl_vk_range){src.vk, src.offset + done, n},
                                        tsl_vk_subrange(&d->staging_down, 0, n));
        TSL_TRY(tsl_vk_cmd_submit_wait(d->transfer_cmd));
        TSL_TRY(st);
        memcpy(dst + done, d->staging_down.host, n);
    }
    return TSL_OK;
}

tsl_status tsl_vk_upload(tsl_vk_device *d, tsl_vk_range dst, const void *src) {
    pthread_mutex_lock(&d->transfer_lock);
    tsl_status st = upload_locked(d, dst, src);
    pthread_mutex_unlock(&d->transfer_lock);
    return st;
}

tsl_status tsl_vk_download(tsl_vk_device *d, tsl_vk_range src, void *dst) {
    pthread_mutex_lock(&d->transfer_lock);
    tsl_status st = download_locked(d, src, dst);
    pthread_mutex_unlock(&d->transfer_lock);
    return st;
}
