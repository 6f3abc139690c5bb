#include "tsl_analyze_data.h"

#include "tsl_shard_reader.h"
#include "tsl_stats_basic.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_shard_name(const char *name) {
    size_t n = strlen(name);
    return strncmp(name, "shard-", 6) == 0 && n > 10 && strcmp(name + n - 4, ".tss") == 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct {
    tsl_shard_reader **readers;
    size_t n;
} shard_set;

static void shards_close(shard_set *s) {
    for (size_t i = 0; i < s->n; i++)
        tsl_shard_reader_close(s->readers[i]);
    free(s->readers);
}

static tsl_status shards_open(const char *dir, shard_set *s) {
    *s = (shard_set){0};
    DIR *d = opendir(dir);
    if (!d)
        return tsl_error(TSL_ERR_NOT_FOUND, "analyze: cannot open shard folder %s", dir);
    char **names = NULL;
    size_t n = 0;
    bool out_of_memory = false;
    for (struct dirent *e; !out_of_memory && (e = readdir(d));)
        if (is_shard_name(e->d_name)) {
            char **grown = realloc(names, (n + 1) * sizeof *names);
            if (grown)
                names = grown;
            out_of_memory = !grown || !(names[n] = strdup(e->d_name));
            n += !out_of_memory;
        }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, compare_names);
    tsl_status st = out_of_memory ? tsl_error(TSL_ERR_NOMEM, "out of memory listing %s", dir)
                    : n           ? TSL_OK
                        : tsl_error(TSL_ERR_INVALID_ARG, "analyze: no shard-*.tss files in %s", dir);
    if (st == TSL_OK && !(s->readers = calloc(n, sizeof *s->readers)))
        st = tsl_error(TSL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n && st == TSL_OK; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        st = tsl_shard_reader_open(path, &s->readers[i]);
        s->n += st == TSL_OK;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (st != TSL_OK)
        shards_close(s);
    return st;
}

static tsl_status read_record(shard_set *s, size_t id, tsl_analyze_image *img) {
    size_t shard = 0;
    while (id >= tsl_shard_reader_header(s->readers[shard])->record_count)
        id -= tsl_shard_reader_header(s->readers[shard++])->record_count;
    const tsl_shard_index_entry *e = tsl_shard_reader_entry(s->readers[shard], (uint32_t)id);
    img->width = e->width;
    img->height = e->height;
    img->label = (int32_t)e->label;
    return tsl_shard_reader_read_pixels(s->readers[shard], (uint32_t)id, &img->rgb);
}

tsl_status tsl_analyze_images_load(const char *dir, size_t max_images, uint64_t seed,
                                   tsl_analyze_images *out) {
    *out = (tsl_analyze_images){0};
    shard_set s;
    TSL_TRY(shards_open(dir, &s));
    size_t total = 0;
    for (size_t i = 0; i < s.n; i++) {
        total += tsl_shard_reader_header(s.readers[i])->record_count;
        uint32_t c = tsl_shard_reader_header(s.readers[i])->class_count;
        out->classes = c > out->classes ? c : out->classes;
    }
    size_t n = total < max_images ? total : max_images;
    size_t *ids = malloc((total ? total : 1) * sizeof *ids);
    out->images = calloc(n ? n : 1, sizeof *out->images);
    tsl_status st = ids && out->images ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "out of memory");
    if (st == TSL_OK) {
        for (size_t i = 0; i < total; i++)
            ids[i] = i;
        tsl_stats_rng rng = tsl_stats_rng_new(seed);
        tsl_stats_shuffle(&rng, ids, total);
    }
    for (size_t i = 0; i < n && st == TSL_OK; i++) {
        st = read_record(&s, ids[i], &out->images[i]);
        out->count += st == TSL_OK;
    }
    free(ids);
    shards_close(&s);
    if (st != TSL_OK)
        tsl_analyze_images_free(out);
    return st;
}

void tsl_analyze_images_free(tsl_analyze_images *images) {
    for (size_t i = 0; i < images->count; i++)
        free(images->images[i].rgb);
    free(images->images);
    *images = (tsl_analyze_images){0};
}
