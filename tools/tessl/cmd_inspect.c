/* `tessl inspect`: what a shard directory holds; --verify checks every record's checksum. */
#include "tsl_cli.h"
#include "tsl_shard_reader.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t shards, n_classes;
    uint64_t records, stored_bytes, raw_bytes, sum_w, sum_h;
    uint32_t min_w, min_h, max_w, max_h;
    uint64_t *per_class;
    char **class_names;
    uint64_t errors;
} split_stats;

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the shard files in `dir` (malloc'd array of malloc'd strings). */
static size_t list_shards(const char *dir, char ***names) {
    *names = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name), suffix = strlen(TSL_SHARD_FILE_SUFFIX);
        if (strncmp(e->d_name, "shard-", 6) != 0 || len <= suffix ||
            strcmp(e->d_name + len - suffix, TSL_SHARD_FILE_SUFFIX) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **v = realloc(*names, cap * sizeof *v);
            if (!v)
                break;
            *names = v;
        }
        (*names)[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(*names, n, sizeof(char *), compare_strings);
    return n;
}

static void add_classes(split_stats *s, tsl_shard_reader *r) {
    uint32_t k = tsl_shard_reader_header(r)->class_count;
    if (s->class_names)
        return;
    s->n_classes = k;
    s->per_class = calloc(k ? k : 1, sizeof *s->per_class);
    s->class_names = calloc(k ? k : 1, sizeof *s->class_names);
    for (uint32_t i = 0; i < k && s->class_names; i++)
        s->class_names[i] = strdup(tsl_shard_reader_class_name(r, i));
}

static void add_shard(split_stats *s, tsl_shard_reader *r, bool verify) {
    const tsl_shard_header *h = tsl_shard_reader_header(r);
    add_classes(s, r);
    s->shards++;
    for (uint32_t i = 0; i < h->record_count; i++) {
        const tsl_shard_index_entry *e = tsl_shard_reader_entry(r, i);
        s->records++;
        s->stored_bytes += e->stored_size;
        s->raw_bytes += (uint64_t)e->width * e->height * 3;
        s->sum_w += e->width;
        s->sum_h += e->height;
        s->min_w = s->min_w && s->min_w < e->width ? s->min_w : e->width;
        s->min_h = s->min_h && s->min_h < e->height ? s->min_h : e->height;
        s->max_w = s->max_w > e->width ? s->max_w : e->width;
        s->max_h = s->max_h > e->height ? s->max_h : e->height;
        if (s->per_class && e->label < s->n_classes && h->class_count == s->n_classes)
            s->per_class[e->label]++;
        if (verify && tsl_shard_reader_verify_record(r, i) != TSL_OK) {
            fprintf(stderr, "tessl inspect: %s\n", tsl_error_message());
            s->errors++;
        }
    }
}

static void print_split(const char *dir, const split_stats *s) {
    printf("%s: %u shards, %llu records, %u classes\n", dir, s->shards, (unsigned long long)s->records,
           s->n_classes);
    if (s->records) {
        printf("  image size: width %u..%u (mean %.1f), height %u..%u (mean %.1f)\n", s->min_w, s->max_w,
               (double)s->sum_w / s->records, s->min_h, s->max_h, (double)s->sum_h / s->records);
        printf("  pixels: %.2f MB stored in %.2f MB (compression %.2f:1)\n", s->raw_bytes / 1e6,
               s->stored_bytes / 1e6, s->stored_bytes ? (double)s->raw_bytes / s->stored_bytes : 0.0);
    }
    for (uint32_t k = 0; k < s->n_classes && s->per_class && s->class_names; k++)
        printf("  class %3u %-24s %llu\n", k, s->class_names[k] ? s->class_names[k] : "?",
               (unsigned long long)s->per_class[k]);
}

/* Inspects the shards directly in `dir`; returns the number of problems found (0 when all is well). */
static uint64_t inspect_dir(const char *dir, bool verify, int *found) {
    char **names = NULL;
    size_t n = list_shards(dir, &names);
    if (n == 0)
        return 0;
    *found = 1;
    split_stats s = {0};
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        tsl_shard_reader *r = NULL;
        if (tsl_shard_reader_open(path, &r) != TSL_OK) {
            fprintf(stderr, "tessl inspect: %s\n", tsl_error_message());
            s.errors++;
        } else {
            add_shard(&s, r, verify);
            tsl_shard_reader_close(r);
        }
        free(names[i]);
    }
    free(names);
    print_split(dir, &s);
    for (uint32_t k = 0; k < s.n_classes && s.class_names; k++)
        free(s.class_names[k]);
    free(s.class_names);
    free(s.per_class);
    return s.errors;
}

int tsl_cmd_inspect(int argc, char **argv) {
    bool verify = false;
    tsl_opt opts[] = {
        {"--verify", TSL_OPT_FLAG, &verify, NULL, "check every record's checksum", 0, 0},
    };
    tsl_command_spec spec = {
        .name = "tessl inspect",
        .args = "OUT",
        .summary =
            "Summarises the shards written by 'tessl shard' in OUT (and OUT/train, OUT/val): records per\n"
            "class, image sizes, compression ratio. --verify reads every record and checks its CRC32,\n"
            "naming the shard and record of any corruption (exit status 1).",
        .opts = opts,
        .n_opts = 1,
        .min_positional = 1,
        .max_positional = 1,
    };
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    const char *out = args.positional[0];
    int found = 0;
    uint64_t errors = inspect_dir(out, verify, &found);
    static const char *const splits[2] = {"train", "val"};
    for (int i = 0; i < 2; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", out, splits[i]);
        errors += inspect_dir(dir, verify, &found);
    }
    if (!found)
        return tsl_cli_fail(tsl_error(TSL_ERR_NOT_FOUND, "tessl inspect: no shard-*.tss files in %s", out));
    if (errors) {
        fprintf(stderr, "tessl inspect: %llu problems found\n", (unsigned long long)errors);
        return TSL_EXIT_FAILURE;
    }
    if (verify)
        printf("verify: every checksum matches\n");
    return TSL_EXIT_OK;
}
