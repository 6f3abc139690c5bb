#include "tsl_loader.h"
#include "tsl_loader_order.h"
#include "tsl_shard_reader.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zstd.h>

enum { MESSAGE_BYTES = 1024, MAX_INFLIGHT = 64, MAX_THREADS = 256 };

/* One batch in flight: its plan (written by the calling thread before it is published to the workers),
 * its buffers, and the workers' progress on it (guarded by the loader's mutex). */
typedef struct {
    tsl_vk_buffer staging; /* [0, pixel_capacity): pixels; then the table (none when direct) */
    tsl_vk_buffer pixels, table;
    uint8_t *host_pixels;         /* where workers write pixels: staging, or `pixels` itself when direct */
    tsl_loader_image *host_table; /* where the table goes: staging, or `table` when direct */
    bool direct;                  /* written in place: no staging, no upload */
    tsl_vk_cmd *cmd;
    uint64_t upload_done; /* timeline value of the last upload from `staging`, 0 if none */
    bool uploaded;        /* this batch's upload has been submitted */

    uint64_t seq, epoch, step;
    uint32_t count, images, bytes_used;
    uint32_t *ids, *labels;
    tsl_loader_image *table_host;
    uint8_t *corrupt; /* per image, set by workers in skip_corrupt mode */

    bool scheduled;
    uint32_t next_item, done_items, corrupt_items;
    tsl_status error;
    char message[MESSAGE_BYTES];
} loader_slot;

typedef struct {
    struct tsl_loader *loader;
    pthread_t thread;
    bool started;
    ZSTD_DCtx *dctx;
    uint8_t *scratch; /* holds the largest stored record */
} loader_worker;

struct tsl_loader {
    tsl_vk_device *device;
    tsl_loader_options opt;
    char *dir;
    tsl_loader_order order;
    uint64_t steps;

    uint32_t n_shards;
    tsl_shard_reader **shards;
    uint32_t *sample_shard, *sample_record; /* per sample id */
    uint32_t max_stored;

    uint32_t *perm;
    uint64_t perm_epoch; /* epoch `perm` holds; UINT64_MAX: none */

    uint32_t max_images;
    uint64_t pixel_capacity, table_bytes;
    /* Device memory may be host-visible (CPU drivers, integrated GPUs): workers then write batches in
     * place, with no staging buffer and no copy, which on lavapipe was a tenth of the loader's CPU time. */
    bool try_direct;
    loader_slot *slots;
    uint32_t n_slots;
    uint64_t next_seq; /* the batch the next tsl_loader_next returns, counted from the start state */
    uint64_t substituted;
    tsl_status failed;
    char failed_message[MESSAGE_BYTES];

    loader_worker *workers;
    uint32_t n_workers;
    pthread_mutex_t mutex;
    pthread_cond_t work_ready, batch_done;
    bool stop;
};

static uint32_t align4(uint64_t bytes) {
    return (uint32_t)((bytes + 3) & ~(uint64_t)3);
}

static const tsl_shard_index_entry *sample_entry(const tsl_loader *l, uint32_t id) {
    return tsl_shard_reader_entry(l->shards[l->sample_shard[id]], l->sample_record[id]);
}

static uint64_t sample_bytes(const tsl_loader *l, uint32_t id) {
    const tsl_shard_index_entry *e = sample_entry(l, id);
    return (uint64_t)e->width * e->height * 3;
}

void tsl_loader_options_default(tsl_loader_options *o) {
    *o = (tsl_loader_options){
        .batch_size = 32, .drop_last = true, .world_size = 1, .threads = 0, .max_inflight = 3};
}

/* ---- opening the shards -------------------------------------------------------------------------- */

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_shard_name(const char *name) {
    size_t n = strlen(name), suffix = strlen(TSL_SHARD_FILE_SUFFIX);
    return strncmp(name, "shard-", 6) == 0 && n > 6 + suffix &&
           strcmp(name + n - suffix, TSL_SHARD_FILE_SUFFIX) == 0;
}

/* The shard file names of `dir`, sorted (fixed-width numbers, so byte order is shard order). */
static tsl_status list_shards(const char *dir, char ***names, uint32_t *count) {
    DIR *d = opendir(dir);
    if (!d)
        return tsl_error(TSL_ERR_NOT_FOUND, "loader: cannot open shard directory %s", dir);
    char **list = NULL;
    uint32_t n = 0, cap = 0;
    tsl_status st = TSL_OK;
    for (struct dirent *e; st == TSL_OK && (e = readdir(d));) {
        if (!is_shard_name(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(list, sizeof *list * cap);
            if (!grown) {
                st = tsl_error(TSL_ERR_NOMEM, "loader: out of memory listing %s", dir);
                break;
            }
            list = grown;
        }
        size_t size = strlen(dir) + strlen(e->d_name) + 2;
        if (!(list[n] = malloc(size)))
            st = tsl_error(TSL_ERR_NOMEM, "loader: out of memory listing %s", dir);
        else
            snprintf(list[n++], size, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (st == TSL_OK && n == 0)
        st = tsl_error(TSL_ERR_INVALID_ARG, "loader: no shard-*.tss files in %s", dir);
    if (st != TSL_OK) {
        for (uint32_t i = 0; i < n; i++)
            free(list[i]);
        free(list);
        return st;
    }
    qsort(list, n, sizeof *list, compare_names);
    *names = list;
    *count = n;
    return TSL_OK;
}

/* Each open shard keeps a file descriptor. ImageNet's train split is ~1250 shards of 1024, above the
 * usual soft limit of 1024 descriptors, so the soft limit is raised towards the hard limit when needed
 * (a process-wide change, harmless: it only allows more files). */
static tsl_status ensure_descriptors(const char *dir, uint32_t shards) {
    enum { HEADROOM = 256 }; /* stdio, the Vulkan driver, checkpoints, ... */
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY ||
        lim.rlim_cur >= shards + HEADROOM)
        return TSL_OK;
    rlim_t want = shards + HEADROOM;
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < want)
        want = lim.rlim_max;
    if (want > lim.rlim_cur) {
        lim.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < shards + 16)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "loader: %s has %u shards but this process may open only %llu files (ulimit -n); "
                         "raise the limit or write larger shards",
                         dir, shards, (unsigned long long)lim.rlim_cur);
    return TSL_OK;
}

static tsl_status open_shards(tsl_loader *l) {
    char **names = NULL;
    TSL_TRY(list_shards(l->dir, &names, &l->n_shards));
    tsl_status st = ensure_descriptors(l->dir, l->n_shards);
    if (st == TSL_OK && !(l->shards = calloc(l->n_shards, sizeof *l->shards)))
        st = tsl_error(TSL_ERR_NOMEM, "loader: out of memory opening %s", l->dir);
    uint64_t samples = 0;
    for (uint32_t i = 0; st == TSL_OK && i < l->n_shards; i++) {
        st = tsl_shard_reader_open(names[i], &l->shards[i]);
        if (st != TSL_OK)
            break;
        const tsl_shard_header *h = tsl_shard_reader_header(l->shards[i]);
        if (h->shard_index != i)
            st = tsl_error(TSL_ERR_FORMAT, "loader: %s has shard_index %u, expected %u (missing shard?)",
                           names[i], h->shard_index, i);
        else if (h->class_count != tsl_shard_reader_header(l->shards[0])->class_count)
            st = tsl_error(TSL_ERR_FORMAT, "loader: %s has %u classes, shard 0 has %u", names[i],
                           h->class_count, tsl_shard_reader_header(l->shards[0])->class_count);
        samples += h->record_count;
    }
    for (uint32_t i = 0; i < l->n_shards; i++)
        free(names[i]);
    free(names);
    if (st == TSL_OK && (samples == 0 || samples > UINT32_MAX))
        st = tsl_error(TSL_ERR_INVALID_ARG, "loader: %s holds %llu samples (need 1 .. 2^32-1)", l->dir,
                       (unsigned long long)samples);
    l->order.samples = samples;
    return st;
}

/* Per-sample shard and record numbers, and the largest stored record (workers' read buffers). */
static tsl_status index_samples(tsl_loader *l) {
    uint64_t n = l->order.samples;
    l->sample_shard = malloc(sizeof(uint32_t) * n);
    l->sample_record = malloc(sizeof(uint32_t) * n);
    l->perm = malloc(sizeof(uint32_t) * n);
    if (!l->sample_shard || !l->sample_record || !l->perm)
        return tsl_error(TSL_ERR_NOMEM, "loader: out of memory indexing %llu samples", (unsigned long long)n);
    uint64_t id = 0;
    for (uint32_t s = 0; s < l->n_shards; s++)
        for (uint32_t r = 0; r < tsl_shard_reader_header(l->shards[s])->record_count; r++, id++) {
            l->sample_shard[id] = s;
            l->sample_record[id] = r;
            uint32_t stored = tsl_shard_reader_entry(l->shards[s], r)->stored_size;
            l->max_stored = stored > l->max_stored ? stored : l->max_stored;
        }
    return TSL_OK;
}

static int compare_desc(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The pixel bytes a batch can need: the sum of the max_images largest aligned images of the split, so
 * any batch of any epoch fits. */
static tsl_status size_buffers(tsl_loader *l) {
    uint64_t n = l->order.samples, total = 0;
    uint32_t *sizes = malloc(sizeof(uint32_t) * n);
    if (!sizes)
        return tsl_error(TSL_ERR_NOMEM, "loader: out of memory sizing buffers");
    for (uint64_t i = 0; i < n; i++)
        sizes[i] = align4(sample_bytes(l, (uint32_t)i));
    qsort(sizes, n, sizeof *sizes, compare_desc);
    for (uint64_t i = 0; i < n && i < l->max_images; i++)
        total += sizes[i];
    free(sizes);
    if (total > UINT32_MAX)
        return tsl_error(
            TSL_ERR_INVALID_ARG,
            "loader: a batch of %u images can need %llu bytes, more than 32-bit offsets address; "
            "use a smaller batch",
            l->max_images, (unsigned long long)total);
    l->pixel_capacity = (total + 15) & ~(uint64_t)15;
    l->table_bytes = sizeof(tsl_loader_image) * l->max_images;
    return TSL_OK;
}

static tsl_status check_options(const tsl_loader_options *o) {
    if (!o->dir)
        return tsl_error(TSL_ERR_INVALID_ARG, "loader: no shard directory given");
    if (o->batch_size < 1 || o->batch_size > (1u << 20))
        return tsl_error(TSL_ERR_INVALID_ARG, "loader: batch size %u out of range 1..2^20", o->batch_size);
    if (o->world_size < 1 || o->rank >= o->world_size)
        return tsl_error(TSL_ERR_INVALID_ARG, "loader: rank %u of %u ranks", o->rank, o->world_size);
    if (o->max_inflight < 2 || o->max_inflight > MAX_INFLIGHT)
        return tsl_error(TSL_ERR_INVALID_ARG, "loader: max_inflight %u out of range 2..%d", o->max_inflight,
                         MAX_INFLIGHT);
    if (o->threads > MAX_THREADS)
        return tsl_error(TSL_ERR_INVALID_ARG, "loader: %d threads, at most %d", o->threads, MAX_THREADS);
    return TSL_OK;
}

/* ---- slots --------------------------------------------------------------------------------------- */

static tsl_status create_slot(tsl_loader *l, loader_slot *s) {
    uint32_t m = l->max_images;
    s->ids = malloc(sizeof(uint32_t) * m);
    s->labels = malloc(sizeof(uint32_t) * m);
    s->table_host = malloc(sizeof(tsl_loader_image) * m);
    s->corrupt = malloc(m);
    if (!s->ids || !s->labels || !s->table_host || !s->corrupt)
        return tsl_error(TSL_ERR_NOMEM, "loader: out of memory for batch tables");
    TSL_TRY(tsl_vk_alloc(l->device, TSL_MEM_DEVICE, l->pixel_capacity, "loader batch pixels", &s->pixels));
    TSL_TRY(tsl_vk_alloc(l->device, TSL_MEM_DEVICE, l->table_bytes, "loader batch table", &s->table));
    s->direct = l->try_direct && s->pixels.host && s->table.host;
    if (s->direct) {
        s->host_pixels = s->pixels.host;
        s->host_table = s->table.host;
    } else {
        TSL_TRY(tsl_vk_alloc(l->device, TSL_MEM_UPLOAD, l->pixel_capacity + l->table_bytes, "loader staging",
                             &s->staging));
        s->host_pixels = s->staging.host;
        s->host_table = (tsl_loader_image *)((uint8_t *)s->staging.host + l->pixel_capacity);
    }
    return tsl_vk_cmd_create(l->device, &s->cmd);
}

static void destroy_slot(tsl_loader *l, loader_slot *s) {
    tsl_vk_cmd_destroy(s->cmd); /* waits for its last upload */
    tsl_vk_free(l->device, &s->staging);
    tsl_vk_free(l->device, &s->pixels);
    tsl_vk_free(l->device, &s->table);
    free(s->ids);
    free(s->labels);
    free(s->table_host);
    free(s->corrupt);
}

static loader_slot *slot_of(tsl_loader *l, uint64_t seq) {
    return &l->slots[seq % l->n_slots];
}

/* Lays out batch `seq` in its slot (ids, labels, packed offsets, the table in staging) and hands it to
 * the workers. The slot's staging buffer must no longer be read by an upload: waits for it. Written in
 * place, the slot's buffers must no longer be read by the caller's work on its previous batch, which is
 * submitted by now (the caller asked for the next batch): waits for everything submitted. */
static tsl_status schedule(tsl_loader *l, uint64_t seq) {
    loader_slot *s = slot_of(l, seq);
    if (s->direct)
        TSL_TRY(tsl_vk_wait(l->device, tsl_vk_last_submitted(l->device)));
    else if (s->upload_done)
        TSL_TRY(tsl_vk_wait(l->device, s->upload_done));
    uint64_t absolute = l->opt.start.epoch * l->steps + l->opt.start.step + seq;
    uint64_t epoch = absolute / l->steps, step = absolute % l->steps;
    if (l->perm_epoch != epoch) {
        tsl_loader_order_permutation(&l->order, epoch, l->perm);
        l->perm_epoch = epoch;
    }
    uint32_t images = tsl_loader_order_batch_ids(&l->order, l->perm, step, s->ids);
    uint64_t offset = 0;
    for (uint32_t j = 0; j < images; j++) {
        const tsl_shard_index_entry *e = sample_entry(l, s->ids[j]);
        s->labels[j] = e->label;
        s->table_host[j] =
            (tsl_loader_image){.offset = (uint32_t)offset, .width = e->width, .height = e->height};
        offset += align4((uint64_t)e->width * e->height * 3);
    }
    tsl_assert(offset <= l->pixel_capacity);
    memset(s->corrupt, 0, images);
    memcpy(s->host_table, s->table_host, sizeof(tsl_loader_image) * images);
    pthread_mutex_lock(&l->mutex);
    s->seq = seq;
    s->epoch = epoch;
    s->step = step;
    s->images = images;
    s->count = l->opt.paired ? images / 2 : images;
    s->bytes_used = (uint32_t)offset;
    s->next_item = s->done_items = s->corrupt_items = 0;
    s->error = TSL_OK;
    s->uploaded = false;
    s->scheduled = true;
    pthread_cond_broadcast(&l->work_ready);
    pthread_mutex_unlock(&l->mutex);
    return TSL_OK;
}

/* ---- workers ------------------------------------------------------------------------------------- */

/* The scheduled slot with the lowest seq that still has images to start (mutex held). */
static loader_slot *next_work(tsl_loader *l) {
    loader_slot *best = NULL;
    for (uint32_t i = 0; i < l->n_slots; i++) {
        loader_slot *s = &l->slots[i];
        if (s->scheduled && s->next_item < s->images && (!best || s->seq < best->seq))
            best = s;
    }
    return best;
}

static void *worker_main(void *arg) {
    loader_worker *w = arg;
    tsl_loader *l = w->loader;
    pthread_mutex_lock(&l->mutex);
    while (!l->stop) {
        loader_slot *s = next_work(l);
        if (!s) {
            pthread_cond_wait(&l->work_ready, &l->mutex);
            continue;
        }
        uint32_t j = s->next_item++, id = s->ids[j];
        uint8_t *dst = s->host_pixels + s->table_host[j].offset;
        pthread_mutex_unlock(&l->mutex);

        tsl_status st =
            tsl_shard_reader_read_pixels_into(l->shards[l->sample_shard[id]], l->sample_record[id], w->dctx,
                                              w->scratch, l->max_stored, dst, (size_t)sample_bytes(l, id));

        pthread_mutex_lock(&l->mutex);
        if (st == TSL_ERR_CORRUPT && l->opt.skip_corrupt) {
            s->corrupt[j] = 1;
            s->corrupt_items++;
        } else if (st != TSL_OK && s->error == TSL_OK) {
            s->error = st;
            snprintf(s->message, sizeof s->message, "%s", tsl_error_message());
        }
        if (++s->done_items == s->images)
            pthread_cond_broadcast(&l->batch_done);
    }
    pthread_mutex_unlock(&l->mutex);
    return NULL;
}

static tsl_status start_workers(tsl_loader *l) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    l->n_workers = l->opt.threads > 0 ? (uint32_t)l->opt.threads : (uint32_t)(cpus > 0 ? cpus : 1);
    if (!(l->workers = calloc(l->n_workers, sizeof *l->workers)))
        return tsl_error(TSL_ERR_NOMEM, "loader: out of memory for workers");
    for (uint32_t i = 0; i < l->n_workers; i++) {
        loader_worker *w = &l->workers[i];
        w->loader = l;
        w->dctx = ZSTD_createDCtx();
        w->scratch = malloc(l->max_stored ? l->max_stored : 1);
        if (!w->dctx || !w->scratch)
            return tsl_error(TSL_ERR_NOMEM, "loader: out of memory for worker buffers");
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            return tsl_error(TSL_ERR_NOMEM, "loader: cannot start worker thread %u", i);
        w->started = true;
    }
    return TSL_OK;
}

static void stop_workers(tsl_loader *l) {
    pthread_mutex_lock(&l->mutex);
    l->stop = true;
    pthread_cond_broadcast(&l->work_ready);
    pthread_mutex_unlock(&l->mutex);
    for (uint32_t i = 0; l->workers && i < l->n_workers; i++) {
        if (l->workers[i].started)
            pthread_join(l->workers[i].thread, NULL);
        ZSTD_freeDCtx(l->workers[i].dctx);
        free(l->workers[i].scratch);
    }
    free(l->workers);
    l->workers = NULL;
}

/* ---- corrupt records (skip_corrupt) ---------------------------------------------------------------- */

/* Reads the first valid record after `id` (in id order, wrapping) whose pixels fit in `room` bytes. */
static tsl_status find_replacement(tsl_loader *l, uint32_t id, uint64_t room, uint32_t *found,
                                   uint8_t **rgb) {
    uint64_t n = l->order.samples;
    for (uint64_t k = 1; k < n; k++) {
        uint32_t candidate = (uint32_t)((id + k) % n);
        if (align4(sample_bytes(l, candidate)) > room)
            continue;
        tsl_status st = tsl_shard_reader_read_pixels(l->shards[l->sample_shard[candidate]],
                                                     l->sample_record[candidate], rgb);
        if (st == TSL_OK) {
            *found = candidate;
            return TSL_OK;
        }
        if (st != TSL_ERR_CORRUPT)
            return st;
    }
    return tsl_error(TSL_ERR_CORRUPT, "loader: no valid record can replace corrupt sample %u", id);
}

/* Replaces the slot's corrupt images by valid ones and repacks the batch (a rare path: allocation is
 * fine here). Each replacement is announced on stderr with the corrupt shard and record. */
static tsl_status replace_corrupt(tsl_loader *l, loader_slot *s) {
    uint8_t *packed = malloc(l->pixel_capacity), *staging = s->host_pixels;
    if (!packed)
        return tsl_error(TSL_ERR_NOMEM, "loader: out of memory replacing corrupt records");
    uint64_t offset = 0, rest = s->bytes_used;
    tsl_status st = TSL_OK;
    for (uint32_t j = 0; st == TSL_OK && j < s->images; j++) {
        uint32_t id = s->ids[j];
        uint64_t planned = align4(sample_bytes(l, id));
        rest -= planned;
        if (!s->corrupt[j]) {
            memcpy(packed + offset, staging + s->table_host[j].offset, (size_t)sample_bytes(l, id));
        } else {
            uint8_t *probe = NULL; /* re-read for the reader's message naming shard and record */
            tsl_status why =
                tsl_shard_reader_read_pixels(l->shards[l->sample_shard[id]], l->sample_record[id], &probe);
            free(probe);
            char message[MESSAGE_BYTES];
            snprintf(message, sizeof message, "%s",
                     why != TSL_OK ? tsl_error_message() : "transient read error");
            uint32_t with = 0;
            uint8_t *rgb = NULL;
            st = find_replacement(l, id, l->pixel_capacity - offset - rest, &with, &rgb);
            if (st != TSL_OK)
                break;
            fprintf(stderr, "tessl loader: warning: skipping corrupt record (%s); replaced by sample %u\n",
                    message, with);
            memcpy(packed + offset, rgb, (size_t)sample_bytes(l, with));
            free(rgb);
            const tsl_shard_index_entry *e = sample_entry(l, with);
            s->ids[j] = with;
            s->labels[j] = e->label;
            s->table_host[j].width = e->width;
            s->table_host[j].height = e->height;
            l->substituted++;
        }
        s->table_host[j].offset = (uint32_t)offset;
        offset += align4(sample_bytes(l, s->ids[j]));
    }
    if (st == TSL_OK) {
        memcpy(staging, packed, (size_t)offset);
        memcpy(s->host_table, s->table_host, sizeof(tsl_loader_image) * s->images);
        s->bytes_used = (uint32_t)offset;
        s->corrupt_items = 0;
        memset(s->corrupt, 0, s->images);
    }
    free(packed);
    return st;
}

/* ---- upload and next ----------------------------------------------------------------------------- */

static tsl_status submit_upload(tsl_loader *l, loader_slot *s) {
    s->uploaded = true;
    if (s->images == 0 || s->direct) /* direct: the batch is in place; the caller's submissions see it */
        return TSL_OK;
    TSL_TRY(tsl_vk_cmd_begin(s->cmd));
    TSL_TRY(tsl_vk_cmd_copy(s->cmd, tsl_vk_subrange(&s->staging, 0, s->bytes_used),
                            tsl_vk_subrange(&s->pixels, 0, s->bytes_used)));
    VkDeviceSize table = sizeof(tsl_loader_image) * s->images;
    TSL_TRY(tsl_vk_cmd_copy(s->cmd, tsl_vk_subrange(&s->staging, l->pixel_capacity, table),
                            tsl_vk_subrange(&s->table, 0, table)));
    return tsl_vk_cmd_submit(s->cmd, &s->upload_done);
}

/* Submits, in order, the uploads of the batches after the current one that the workers have finished,
 * so that they are queued before the caller's next work. Stops at the first one not ready. */
static tsl_status submit_ready_uploads(tsl_loader *l) {
    for (uint64_t q = l->next_seq + 1; q < l->next_seq + l->n_slots; q++) {
        loader_slot *s = slot_of(l, q);
        pthread_mutex_lock(&l->mutex);
        bool ready = s->scheduled && s->seq == q && s->done_items == s->images && s->error == TSL_OK &&
                     s->corrupt_items == 0;
        pthread_mutex_unlock(&l->mutex);
        if (!ready)
            return TSL_OK;
        if (!s->uploaded)
            TSL_TRY(submit_upload(l, s));
    }
    return TSL_OK;
}

static tsl_status fail(tsl_loader *l, tsl_status st) {
    l->failed = st;
    snprintf(l->failed_message, sizeof l->failed_message, "%s", tsl_error_message());
    return st;
}

static tsl_status next_batch(tsl_loader *l, tsl_loader_batch *b) {
    if (l->next_seq > 0) /* the caller is done with the previous batch: its slot takes a new one */
        TSL_TRY(schedule(l, l->next_seq - 1 + l->n_slots));
    loader_slot *s = slot_of(l, l->next_seq);
    pthread_mutex_lock(&l->mutex);
    while (s->done_items < s->images)
        pthread_cond_wait(&l->batch_done, &l->mutex);
    tsl_status error = s->error;
    pthread_mutex_unlock(&l->mutex);
    if (error != TSL_OK)
        return tsl_error(error, "%s", s->message);
    if (s->corrupt_items)
        TSL_TRY(replace_corrupt(l, s));
    if (!s->uploaded)
        TSL_TRY(submit_upload(l, s));
    TSL_TRY(submit_ready_uploads(l));
    *b = (tsl_loader_batch){
        .pixels = tsl_vk_subrange(&s->pixels, 0, s->bytes_used ? s->bytes_used : 4),
        .table = tsl_vk_subrange(&s->table, 0, sizeof(tsl_loader_image) * (s->images ? s->images : 1)),
        .table_host = s->table_host,
        .labels = s->labels,
        .sample_ids = s->ids,
        .count = s->count,
        .images = s->images,
        .epoch = s->epoch,
        .step = s->step,
        .upload_done = s->upload_done,
    };
    if (s->images == 0) /* an empty last batch (drop_last off, more ranks than leftover units) */
        b->pixels.size = b->table.size = 0;
    l->next_seq++;
    return TSL_OK;
}

tsl_status tsl_loader_next(tsl_loader *l, tsl_loader_batch *b) {
    if (l->failed != TSL_OK)
        return tsl_error(l->failed, "%s", l->failed_message);
    tsl_status st = next_batch(l, b);
    return st == TSL_OK ? TSL_OK : fail(l, st);
}

/* ---- open and close ------------------------------------------------------------------------------ */

static tsl_status open_loader(tsl_loader *l) {
    TSL_TRY(check_options(&l->opt));
    TSL_TRY(open_shards(l));
    TSL_TRY(index_samples(l));
    l->order.batch_size = l->opt.batch_size;
    l->order.rank = l->opt.rank;
    l->order.world_size = l->opt.world_size;
    l->order.paired = l->opt.paired;
    l->order.drop_last = l->opt.drop_last;
    l->order.seed = l->opt.seed;
    l->steps = tsl_loader_order_steps(&l->order);
    if (l->steps == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "loader: %s: %llu samples make no batch of %u %s on %u ranks",
                         l->dir, (unsigned long long)l->order.samples, l->opt.batch_size,
                         l->opt.paired ? "pairs" : "images", l->opt.world_size);
    if (l->opt.start.step >= l->steps)
        return tsl_error(TSL_ERR_INVALID_ARG, "loader: start step %llu, but an epoch has %llu steps",
                         (unsigned long long)l->opt.start.step, (unsigned long long)l->steps);
    l->max_images = l->opt.batch_size * (l->opt.paired ? 2 : 1);
    TSL_TRY(size_buffers(l));
    l->n_slots = l->opt.max_inflight;
    l->try_direct = !l->opt.always_stage;
    if (!(l->slots = calloc(l->n_slots, sizeof *l->slots)))
        return tsl_error(TSL_ERR_NOMEM, "loader: out of memory");
    for (uint32_t i = 0; i < l->n_slots; i++)
        TSL_TRY(create_slot(l, &l->slots[i]));
    TSL_TRY(start_workers(l));
    for (uint64_t q = 0; q < l->n_slots; q++)
        TSL_TRY(schedule(l, q));
    return TSL_OK;
}

tsl_status tsl_loader_open(tsl_vk_device *device, const tsl_loader_options *options, tsl_loader **out) {
    tsl_loader *l = calloc(1, sizeof *l);
    if (!l || !(l->dir = strdup(options->dir ? options->dir : ""))) {
        free(l);
        return tsl_error(TSL_ERR_NOMEM, "loader: out of memory");
    }
    l->device = device;
    l->opt = *options;
    l->opt.dir = options->dir ? l->dir : NULL;
    l->perm_epoch = UINT64_MAX;
    pthread_mutex_init(&l->mutex, NULL);
    pthread_cond_init(&l->work_ready, NULL);
    pthread_cond_init(&l->batch_done, NULL);
    tsl_status st = open_loader(l);
    if (st != TSL_OK) {
        tsl_loader_close(l);
        return st;
    }
    *out = l;
    return TSL_OK;
}

void tsl_loader_close(tsl_loader *l) {
    if (!l)
        return;
    stop_workers(l);
    for (uint32_t i = 0; l->slots && i < l->n_slots; i++)
        destroy_slot(l, &l->slots[i]);
    free(l->slots);
    for (uint32_t i = 0; l->shards && i < l->n_shards; i++)
        tsl_shard_reader_close(l->shards[i]);
    free(l->shards);
    free(l->sample_shard);
    free(l->sample_record);
    free(l->perm);
    pthread_mutex_destroy(&l->mutex);
    pthread_cond_destroy(&l->work_ready);
    pthread_cond_destroy(&l->batch_done);
    free(l->dir);
    free(l);
}

tsl_loader_state tsl_loader_state_get(const tsl_loader *l) {
    uint64_t absolute = l->opt.start.epoch * l->steps + l->opt.start.step + l->next_seq;
    return (tsl_loader_state){.epoch = absolute / l->steps, .step = absolute % l->steps};
}

void tsl_loader_info_get(const tsl_loader *l, tsl_loader_info *info) {
    *info = (tsl_loader_info){
        .samples = l->order.samples,
        .steps_per_epoch = l->steps,
        .shards = l->n_shards,
        .classes = tsl_shard_reader_header(l->shards[0])->class_count,
        .images_per_batch = l->max_images,
        .staging_buffers = l->slots[0].direct ? 0 : l->n_slots,
        .staging_bytes = l->pixel_capacity + l->table_bytes,
        .substituted = l->substituted,
    };
}

void tsl_loader_locate(const tsl_loader *l, uint32_t id, uint32_t *shard, uint32_t *record,
                       const char **path) {
    tsl_assert(id < l->order.samples);
    *shard = l->sample_shard[id];
    *record = l->sample_record[id];
    *path = tsl_shard_reader_path(l->shards[*shard]);
}
