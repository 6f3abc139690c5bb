/* Per-kernel device times from Vulkan timestamp queries. While profiling is on, every recorder writes a
 * timestamp when it begins and after each command (dispatch, copy, fill), and charges the time between
 * consecutive timestamps to that command's kernel. Results are read when the recorder next waits for its
 * submission (submit_wait, begin, destroy) and summed per kernel on the device. The commands between two
 * barriers may overlap on a GPU, so there a kernel's time is the time its timestamp advanced, not its
 * exclusive cost; a CPU driver (lavapipe) runs them one after another. */
#include "tsl_vk_internal.h"

#include <stdlib.h>
#include <string.h>

enum { FIRST_CAPACITY = 4096, LABEL_COPY = TSL_SHADER_COUNT, LABEL_FILL, N_LABELS };

struct tsl_vk_profile {
    pthread_mutex_t lock;
    uint64_t valid_mask; /* of the queue's timestampValidBits */
    double period_ns;
    double ns[N_LABELS];
    uint64_t count[N_LABELS];
    uint64_t untimed; /* commands past a recording's query capacity */
    uint64_t epoch;   /* counts resets: a submission recorded before the last reset is not summed */
};

tsl_status tsl_vk_profile_enable(tsl_vk_device *d) {
    if (d->profile)
        return TSL_OK;
    if (!d->features.timestamps)
        return tsl_error(TSL_ERR_UNSUPPORTED, "%s: the compute queue has no timestamps; cannot profile",
                         d->features.name);
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(d->physical, &n, NULL);
    VkQueueFamilyProperties *q = calloc(n, sizeof *q);
    tsl_vk_profile *p = calloc(1, sizeof *p);
    if (!q || !p) {
        free(q), free(p);
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    }
    vkGetPhysicalDeviceQueueFamilyProperties(d->physical, &n, q);
    uint32_t bits = q[d->features.compute_queue_family].timestampValidBits;
    free(q);
    p->valid_mask = bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
    p->period_ns = d->features.timestamp_period_ns;
    pthread_mutex_init(&p->lock, NULL);
    d->profile = p;
    return TSL_OK;
}

void tsl_vk_profile_destroy(tsl_vk_device *d) {
    if (!d->profile)
        return;
    pthread_mutex_destroy(&d->profile->lock);
    free(d->profile);
    d->profile = NULL;
}

void tsl_vk_profile_reset(tsl_vk_device *d) {
    tsl_vk_profile *p = d->profile;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    memset(p->ns, 0, sizeof p->ns);
    memset(p->count, 0, sizeof p->count);
    p->untimed = 0;
    p->epoch++;
    pthread_mutex_unlock(&p->lock);
}

static const char *label_name(uint32_t label) {
    return label == LABEL_COPY ? "(copy)" : label == LABEL_FILL ? "(fill)" : tsl_shader_modules[label].name;
}

static int by_time(const void *a, const void *b) {
    double x = ((const tsl_vk_profile_row *)a)->ms, y = ((const tsl_vk_profile_row *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

tsl_status tsl_vk_profile_report(tsl_vk_device *d, tsl_vk_profile_row **rows, uint32_t *n_rows,
                                 uint64_t *untimed) {
    *rows = NULL;
    *n_rows = 0;
    tsl_vk_profile *p = d->profile;
    if (!p)
        return tsl_error(TSL_ERR_INVALID_ARG, "profile report: profiling is not enabled");
    tsl_vk_profile_row *r = calloc(N_LABELS, sizeof *r);
    if (!r)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    uint32_t n = 0;
    pthread_mutex_lock(&p->lock);
    for (uint32_t l = 0; l < N_LABELS; l++)
        if (p->count[l])
            r[n++] = (tsl_vk_profile_row){label_name(l), p->count[l], p->ns[l] * 1e-6};
    if (untimed)
        *untimed = p->untimed;
    pthread_mutex_unlock(&p->lock);
    qsort(r, n, sizeof *r, by_time);
    *rows = r;
    *n_rows = n;
    return TSL_OK;
}

/* ---- per recorder ---- */

static tsl_status grow(tsl_vk_device *d, tsl_vk_cmd_profile *c, uint32_t capacity) {
    if (c->pool)
        vkDestroyQueryPool(d->vk, c->pool, NULL);
    c->pool = VK_NULL_HANDLE;
    uint32_t *labels = realloc(c->labels, capacity * sizeof *labels);
    if (!labels)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    c->labels = labels;
    VkQueryPoolCreateInfo info = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                  .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                  .queryCount = capacity};
    TSL_TRY(tsl_vk_check(vkCreateQueryPool(d->vk, &info, NULL, &c->pool), "creating a timestamp query pool"));
    c->capacity = capacity;
    return TSL_OK;
}

tsl_status tsl_vk_cmd_profile_begin(tsl_vk_device *d, VkCommandBuffer cb, tsl_vk_cmd_profile *c) {
    c->active = false;
    c->used = 0;
    if (!d->profile)
        return TSL_OK;
    /* Room for the last recording's commands and half again, so a repeated step fits after one try. */
    uint32_t want = c->wanted + c->wanted / 2 > FIRST_CAPACITY ? c->wanted + c->wanted / 2 : FIRST_CAPACITY;
    if (c->capacity < want)
        TSL_TRY(grow(d, c, want));
    pthread_mutex_lock(&d->profile->lock);
    c->epoch = d->profile->epoch;
    pthread_mutex_unlock(&d->profile->lock);
    vkCmdResetQueryPool(cb, c->pool, 0, c->capacity);
    vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, c->pool, 0);
    c->labels[0] = 0;
    c->used = 1;
    c->wanted = 1;
    c->active = true;
    return TSL_OK;
}

void tsl_vk_cmd_profile_mark(tsl_vk_device *d, VkCommandBuffer cb, tsl_vk_cmd_profile *c, int shader) {
    if (!c->active)
        return;
    c->wanted++;
    uint32_t label = shader >= 0 ? (uint32_t)shader : shader == TSL_VK_PROFILE_COPY ? LABEL_COPY : LABEL_FILL;
    if (c->used == c->capacity) {
        pthread_mutex_lock(&d->profile->lock);
        d->profile->untimed++;
        pthread_mutex_unlock(&d->profile->lock);
        return;
    }
    vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, c->pool, c->used);
    c->labels[c->used++] = label;
}

tsl_status tsl_vk_cmd_profile_collect(tsl_vk_device *d, tsl_vk_cmd_profile *c) {
    if (!c->submitted)
        return TSL_OK;
    c->submitted = false;
    tsl_vk_profile *p = d->profile;
    if (!p || c->used < 2)
        return TSL_OK;
    uint64_t *ticks = malloc(c->used * sizeof *ticks);
    if (!ticks)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    tsl_status st =
        tsl_vk_check(vkGetQueryPoolResults(d->vk, c->pool, 0, c->used, c->used * sizeof *ticks, ticks,
                                           sizeof *ticks, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
                     "reading timestamps");
    if (st == TSL_OK) {
        pthread_mutex_lock(&p->lock);
        for (uint32_t i = 1; i < c->used && c->epoch == p->epoch; i++) {
            uint64_t delta = (ticks[i] - ticks[i - 1]) & p->valid_mask;
            p->ns[c->labels[i]] += (double)delta * p->period_ns;
            p->count[c->labels[i]]++;
        }
        pthread_mutex_unlock(&p->lock);
    }
    free(ticks);
    return st;
}

void tsl_vk_cmd_profile_destroy(tsl_vk_device *d, tsl_vk_cmd_profile *c) {
    if (c->pool)
        vkDestroyQueryPool(d->vk, c->pool, NULL);
    free(c->labels);
    memset(c, 0, sizeof *c);
}
