#include "tsl_shard_build.h"
#include "tsl_file.h"
#include "tsl_image_decode.h"
#include "tsl_image_folder.h"
#include "tsl_shard_format.h"
#include "tsl_shard_reader.h"
#include "tsl_shard_writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_INPUT_FILE_BYTES ((size_t)1 << 30)

void tsl_shard_options_default(tsl_shard_options *o) {
    *o = (tsl_shard_options){
        .target = {.short_side = 256}, .level = 0, .filter = true, .threads = 0, .shard_size = 1024};
}

/* ---- the skip report ---------------------------------------------------------------------------- */

typedef struct {
    char *text;
    size_t len, cap;
} report;

static tsl_status report_add(report *r, const char *path, const char *reason) {
    size_t need = strlen(path) + strlen(reason) + 4;
    if (r->len + need + 1 > r->cap) {
        size_t cap = (r->len + need + 1) * 2;
        char *t = realloc(r->text, cap);
        if (!t)
            return tsl_error(TSL_ERR_NOMEM, "out of memory for the report");
        r->text = t;
        r->cap = cap;
    }
    r->len += (size_t)snprintf(r->text + r->len, r->cap - r->len, "%s: %s\n", path, reason);
    return TSL_OK;
}

static uint32_t shard_compression(const tsl_shard_options *o) {
    return o->level == 0 ? TSL_SHARD_RAW : o->filter ? TSL_SHARD_ZSTD_UP : TSL_SHARD_ZSTD;
}

/* ---- one input: read, decode, resize, compress (runs on worker threads) ------------------------- */

typedef struct {
    int done;
    tsl_status status;
    char *reason; /* when status != OK */
    void *stored;
    size_t stored_size;
    uint32_t width, height;
} job_result;

static void process_input(const char *path, const tsl_shard_options *o, tsl_shard_compressor *c,
                          job_result *res) {
    void *data = NULL;
    size_t size = 0;
    tsl_image img = {0};
    tsl_status st = tsl_read_file(path, MAX_INPUT_FILE_BYTES, &data, &size);
    if (st == TSL_OK)
        st = tsl_image_decode(data, size, &o->target, &img);
    free(data);
    if (st == TSL_OK && shard_compression(o) == TSL_SHARD_RAW) {
        /* Stored as they are: the decoded buffer itself becomes the record, no copy. */
        res->stored = img.rgb;
        res->stored_size = (size_t)img.width * img.height * 3;
        img.rgb = NULL;
    } else if (st == TSL_OK) {
        st = tsl_shard_compress(c, img.rgb, (uint32_t)img.width, (uint32_t)img.height, &res->stored,
                                &res->stored_size);
    }
    if (st == TSL_OK) {
        res->width = (uint32_t)img.width;
        res->height = (uint32_t)img.height;
    }
    free(img.rgb);
    res->status = st;
    if (st != TSL_OK)
        res->reason = strdup(tsl_error_message());
}

/* ---- worker pool with ordered hand-over ---------------------------------------------------------- */

typedef struct {
    const tsl_shard_options *options;
    const tsl_image_folder *folder;
    const size_t *jobs; /* item indices, in output order */
    size_t n_jobs;
    job_result *results;
    pthread_mutex_t lock;
    pthread_cond_t result_ready, room;
    size_t next_job, consumed, window;
    int stop;
} pool;

typedef struct {
    pool *pool;
    tsl_shard_compressor *compressor; /* this thread's */
} worker;

static void *worker_main(void *arg) {
    pool *p = ((worker *)arg)->pool;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        /* Stay within `window` jobs of the writer so finished results never pile up in memory. */
        while (!p->stop && p->next_job < p->n_jobs && p->next_job >= p->consumed + p->window)
            pthread_cond_wait(&p->room, &p->lock);
        if (p->stop || p->next_job >= p->n_jobs) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        size_t j = p->next_job++;
        pthread_mutex_unlock(&p->lock);
        job_result res = {0};
        process_input(p->folder->items[p->jobs[j]].path, p->options, ((worker *)arg)->compressor, &res);
        pthread_mutex_lock(&p->lock);
        res.done = 1;
        p->results[j] = res;
        pthread_cond_broadcast(&p->result_ready);
        pthread_mutex_unlock(&p->lock);
    }
}

static job_result pool_take(pool *p, size_t j) {
    pthread_mutex_lock(&p->lock);
    while (!p->results[j].done)
        pthread_cond_wait(&p->result_ready, &p->lock);
    job_result res = p->results[j];
    p->results[j] = (job_result){0};
    p->consumed = j + 1;
    pthread_cond_broadcast(&p->room);
    pthread_mutex_unlock(&p->lock);
    return res;
}

/* ---- progress ------------------------------------------------------------------------------------ */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    const char *label;
    double start, last;
    size_t total;
} progress;

static void progress_show(progress *pr, size_t done, int final) {
    double t = now_seconds();
    if (!final && t - pr->last < 0.5)
        return;
    pr->last = t;
    double rate = done / (t - pr->start > 1e-9 ? t - pr->start : 1e-9);
    double eta = rate > 0 ? (pr->total - done) / rate : 0;
    fprintf(stderr, "\r%s: %zu/%zu images, %.1f img/s, ETA %dm%02ds   %s", pr->label, done, pr->total, rate,
            (int)eta / 60, (int)eta % 60, final ? "\n" : "");
}

/* ---- shards -------------------------------------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

/* What a shard's contents depend on: settings, class names, and its inputs' names and labels. */
static uint64_t shard_source_hash(const tsl_shard_options *o, const tsl_image_folder *f, const char *src,
                                  size_t first, size_t end) {
    int32_t settings[5] = {TSL_SHARD_VERSION, o->target.short_side, o->target.max_side, o->level,
                           (int32_t)shard_compression(o)};
    uint64_t h = fnv1a(0xCBF29CE484222325ull, settings, sizeof settings);
    for (uint32_t k = 0; k < f->n_classes; k++)
        h = fnv1a(h, f->class_names[k], strlen(f->class_names[k]) + 1);
    size_t root = strlen(src);
    for (size_t i = first; i < end; i++) {
        h = fnv1a(h, f->items[i].path + root, strlen(f->items[i].path + root) + 1);
        h = fnv1a(h, &f->items[i].label, sizeof f->items[i].label);
    }
    return h;
}

static void shard_path(char *buf, size_t cap, const char *out, size_t s) {
    snprintf(buf, cap, "%s/shard-%05zu%s", out, s, TSL_SHARD_FILE_SUFFIX);
}

/* Is the shard at `path` complete, intact and made from the same inputs? Returns its record count, or -1. */
static long existing_shard_records(const char *path, uint32_t s, uint32_t n_classes, uint64_t hash) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return -1;
    tsl_shard_reader *r = NULL;
    if (tsl_shard_reader_open(path, &r) != TSL_OK) {
        fprintf(stderr, "shard: rewriting %s: %s\n", path, tsl_error_message());
        return -1;
    }
    const tsl_shard_header *h = tsl_shard_reader_header(r);
    long n = (h->source_hash == hash && h->shard_index == s && h->class_count == n_classes)
                 ? (long)h->record_count
                 : -1;
    /* Complete also means intact: a record that fails its checksum gets the shard rewritten. */
    for (uint32_t i = 0; n >= 0 && i < h->record_count; i++) {
        if (tsl_shard_reader_verify_record(r, i) != TSL_OK) {
            fprintf(stderr, "shard: rewriting %s: %s\n", path, tsl_error_message());
            n = -1;
        }
    }
    tsl_shard_reader_close(r);
    return n;
}

typedef struct {
    const tsl_shard_options *o;
    const char *src, *out, *label;
    const tsl_image_folder *folder;
    tsl_shard_summary *summary;
    report *report;
} split_job;

/* Writes shard s from the pool's results (jobs [*j, ...) belong to it, in order). */
static tsl_status write_shard(split_job *sj, pool *p, size_t s, uint64_t hash, size_t *j, progress *pr) {
    const tsl_image_folder *f = sj->folder;
    size_t first = s * (size_t)sj->o->shard_size, end = first + (size_t)sj->o->shard_size;
    end = end > f->n_items ? f->n_items : end;
    char path[4096];
    shard_path(path, sizeof path, sj->out, s);
    tsl_shard_writer *w = NULL;
    TSL_TRY(tsl_shard_writer_open(path, (uint32_t)s, shard_compression(sj->o), f->n_classes, f->class_names,
                                  hash, &w));
    tsl_status st = TSL_OK;
    for (size_t i = first; i < end; i++, (*j)++) {
        job_result res = pool_take(p, *j);
        if (st == TSL_OK && res.status == TSL_OK) {
            st = tsl_shard_writer_add(w, res.stored, res.stored_size, f->items[i].label, res.width,
                                      res.height);
            sj->summary->written++;
            sj->summary->raw_bytes += (uint64_t)res.width * res.height * 3;
            sj->summary->stored_bytes += res.stored_size;
        } else if (st == TSL_OK) {
            st = report_add(sj->report, f->items[i].path, res.reason ? res.reason : "out of memory");
            sj->summary->skipped++;
        }
        free(res.stored);
        free(res.reason);
        if (sj->o->progress)
            progress_show(pr, *j + 1, 0);
    }
    if (st != TSL_OK) {
        tsl_shard_writer_abort(w);
        return st;
    }
    TSL_TRY(tsl_shard_writer_finish(w));
    sj->summary->shards_written++;
    return TSL_OK;
}

static void workers_free(worker *workers, int n) {
    for (int t = 0; workers && t < n; t++)
        tsl_shard_compressor_destroy(workers[t].compressor);
    free(workers);
}

/* One compressor per thread, made before any thread starts, so a failure is an error, not a skip. */
static tsl_status workers_create(pool *p, int n, worker **out) {
    worker *workers = calloc((size_t)n, sizeof *workers);
    if (!workers)
        return tsl_error(TSL_ERR_NOMEM, "shard: out of memory for %d workers", n);
    for (int t = 0; t < n; t++) {
        workers[t].pool = p;
        tsl_status st = tsl_shard_compressor_create(shard_compression(p->options), p->options->level,
                                                    &workers[t].compressor);
        if (st != TSL_OK) {
            workers_free(workers, t);
            return st;
        }
    }
    *out = workers;
    return TSL_OK;
}

static tsl_status run_pool(split_job *sj, const size_t *shards, size_t n_shards, const uint64_t *hashes,
                           const size_t *jobs, size_t n_jobs) {
    const tsl_shard_options *o = sj->o;
    int threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    threads = threads < 1 ? 1 : threads;
    if ((size_t)threads > n_jobs)
        threads = n_jobs ? (int)n_jobs : 1;
    pool p = {
        .options = o, .folder = sj->folder, .jobs = jobs, .n_jobs = n_jobs, .window = (size_t)threads * 4};
    p.results = calloc(n_jobs ? n_jobs : 1, sizeof *p.results);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    worker *workers = NULL;
    tsl_status made = p.results && tids
                          ? workers_create(&p, threads, &workers)
                          : tsl_error(TSL_ERR_NOMEM, "shard: out of memory for %zu jobs", n_jobs);
    if (made != TSL_OK) {
        free(p.results);
        free(tids);
        return made;
    }
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.result_ready, NULL);
    pthread_cond_init(&p.room, NULL);
    int started = 0;
    tsl_status st = TSL_OK;
    for (; started < threads; started++)
        if (pthread_create(&tids[started], NULL, worker_main, &workers[started]) != 0)
            break;
    if (started == 0)
        st = tsl_error(TSL_ERR_NOMEM, "shard: cannot start worker threads");
    double started_at = now_seconds();
    progress pr = {sj->label, started_at, started_at, n_jobs};
    size_t j = 0;
    for (size_t k = 0; k < n_shards && st == TSL_OK; k++)
        st = write_shard(sj, &p, shards[k], hashes[k], &j, &pr);
    pthread_mutex_lock(&p.lock);
    p.stop = 1;
    pthread_cond_broadcast(&p.room);
    pthread_mutex_unlock(&p.lock);
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    if (o->progress && st == TSL_OK)
        progress_show(&pr, j, 1);
    for (size_t k = 0; k < n_jobs; k++) {
        free(p.results[k].stored);
        free(p.results[k].reason);
    }
    pthread_mutex_destroy(&p.lock);
    pthread_cond_destroy(&p.result_ready);
    pthread_cond_destroy(&p.room);
    free(p.results);
    free(tids);
    workers_free(workers, threads);
    return st;
}

/* Shards one ImageFolder `src` into `out`. */
static tsl_status shard_split(split_job *sj) {
    const tsl_shard_options *o = sj->o;
    const tsl_image_folder *f = sj->folder;
    TSL_TRY(tsl_mkdirs(sj->out));
    tsl_atomic_remove_stale(sj->out, "shard-"); /* left by a killed run */
    size_t n_shards = (f->n_items + (size_t)o->shard_size - 1) / (size_t)o->shard_size;
    size_t *pending = malloc(sizeof(size_t) * (n_shards ? n_shards : 1));
    uint64_t *hashes = malloc(sizeof(uint64_t) * (n_shards ? n_shards : 1));
    size_t *jobs = malloc(sizeof(size_t) * (f->n_items ? f->n_items : 1));
    tsl_status st = TSL_OK;
    if (!pending || !hashes || !jobs)
        st = tsl_error(TSL_ERR_NOMEM, "shard: out of memory planning %zu shards", n_shards);
    size_t n_pending = 0, n_jobs = 0;
    for (size_t s = 0; s < n_shards && st == TSL_OK; s++) {
        size_t first = s * (size_t)o->shard_size, end = first + (size_t)o->shard_size;
        end = end > f->n_items ? f->n_items : end;
        uint64_t hash = shard_source_hash(o, f, sj->src, first, end);
        char path[4096];
        shard_path(path, sizeof path, sj->out, s);
        long kept = existing_shard_records(path, (uint32_t)s, f->n_classes, hash);
        if (kept >= 0) {
            sj->summary->shards_resumed++;
            sj->summary->resumed_records += (uint64_t)kept;
            if ((size_t)kept < end - first) {
                char note[128];
                snprintf(note, sizeof note, "kept from an earlier run, which skipped %zu of its %zu inputs",
                         end - first - (size_t)kept, end - first);
                st = report_add(sj->report, path, note);
            }
            continue;
        }
        pending[n_pending] = s;
        hashes[n_pending++] = hash;
        for (size_t i = first; i < end; i++)
            jobs[n_jobs++] = i;
    }
    if (st == TSL_OK && n_pending > 0)
        st = run_pool(sj, pending, n_pending, hashes, jobs, n_jobs);
    free(pending);
    free(hashes);
    free(jobs);
    return st;
}

static int is_directory(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static tsl_status shard_folder(const tsl_shard_options *o, const char *src, const char *out,
                               const char *label, tsl_shard_summary *summary, report *rep) {
    tsl_image_folder folder;
    TSL_TRY(tsl_image_folder_scan(src, &folder));
    summary->inputs += folder.n_items;
    split_job sj = {o, src, out, label, &folder, summary, rep};
    tsl_status st = shard_split(&sj);
    tsl_image_folder_free(&folder);
    return st;
}

tsl_status tsl_shard_build(const tsl_shard_options *o, tsl_shard_summary *summary) {
    *summary = (tsl_shard_summary){0};
    if ((o->target.short_side > 0) == (o->target.max_side > 0) || o->level < -7 || o->level > 19 ||
        o->shard_size < 1 || o->target.short_side > TSL_DECODE_MAX_SIDE ||
        o->target.max_side > TSL_DECODE_MAX_SIDE)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "shard: give exactly one of short side / max side (1..%d), level "
                         "-7..19 (0: uncompressed), shard size >= 1",
                         TSL_DECODE_MAX_SIDE);
    if (!is_directory(o->src_dir))
        return tsl_error(TSL_ERR_NOT_FOUND, "shard: %s is not a directory", o->src_dir);
    TSL_TRY(tsl_mkdirs(o->out_dir));
    tsl_atomic_remove_stale(o->out_dir, "report.txt");
    report rep = {0};
    tsl_status st = TSL_OK;
    static const char *const splits[2] = {"train", "val"};
    char src[4096], out[4096];
    int any_split = 0;
    for (int i = 0; i < 2 && st == TSL_OK; i++) {
        snprintf(src, sizeof src, "%s/%s", o->src_dir, splits[i]);
        if (!is_directory(src))
            continue;
        any_split = 1;
        snprintf(out, sizeof out, "%s/%s", o->out_dir, splits[i]);
        st = shard_folder(o, src, out, splits[i], summary, &rep);
    }
    if (st == TSL_OK && !any_split)
        st = shard_folder(o, o->src_dir, o->out_dir, "shard", summary, &rep);
    if (st == TSL_OK) {
        snprintf(out, sizeof out, "%s/report.txt", o->out_dir);
        const char *none = "no input was skipped\n";
        st = tsl_write_file_atomic(out, rep.len ? rep.text : none, rep.len ? rep.len : strlen(none));
    }
    free(rep.text);
    return st;
}
