#include "train_dist.h"

#include "tsl_vk.h"

#include <stdio.h>
#include <stdlib.h>

tsl_status tsl_train_rank_device(const tsl_dist *dist, int64_t requested, int64_t *device) {
    *device = requested;
    const char *env = getenv("TESSL_DEVICE");
    if (requested >= 0 || (env && *env) || tsl_dist_size(dist) == 1)
        return TSL_OK;
    tsl_vk_features *all = NULL;
    uint32_t n = 0;
    TSL_TRY(tsl_vk_list_devices(&all, &n));
    int best = 99;
    for (uint32_t i = 0; i < n; i++)
        if (all[i].usable && tsl_vk_device_type_preference(all[i].type) < best)
            best = tsl_vk_device_type_preference(all[i].type);
    uint32_t candidates = 0;
    for (uint32_t i = 0; i < n; i++)
        candidates += all[i].usable && tsl_vk_device_type_preference(all[i].type) == best;
    if (!candidates) {
        free(all);
        return tsl_error(TSL_ERR_UNSUPPORTED, "rank %d: no usable Vulkan device (see 'tessl devices')",
                         tsl_dist_rank(dist));
    }
    uint32_t pick = (uint32_t)tsl_dist_local_rank(dist) % candidates, seen = 0;
    for (uint32_t i = 0; i < n; i++)
        if (all[i].usable && tsl_vk_device_type_preference(all[i].type) == best && seen++ == pick)
            *device = all[i].index;
    if ((uint32_t)tsl_dist_local_size(dist) > candidates && tsl_dist_local_rank(dist) == 0)
        fprintf(stderr, "tessl: %d ranks on this node share %u device%s\n", tsl_dist_local_size(dist),
                candidates, candidates == 1 ? "" : "s");
    free(all);
    return TSL_OK;
}
