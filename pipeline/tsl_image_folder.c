#include "tsl_image_folder.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char **v;
    size_t n, cap;
} string_list;

static tsl_status list_push(string_list *l, char *s) {
    if (!s)
        return tsl_error(TSL_ERR_NOMEM, "out of memory listing files");
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            free(s);
            return tsl_error(TSL_ERR_NOMEM, "out of memory listing files");
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return TSL_OK;
}

static void list_free(string_list *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (string_list){0};
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", dir, name);
    return s;
}

/* Appends the names of `dir`'s visible entries that are directories (want_dirs) or regular files. */
static tsl_status list_entries(const char *dir, int want_dirs, string_list *out) {
    DIR *d = opendir(dir);
    if (!d)
        return tsl_error(errno == ENOENT ? TSL_ERR_NOT_FOUND : TSL_ERR_IO, "reading directory %s: %s", dir,
                         strerror(errno));
    tsl_status st = TSL_OK;
    struct dirent *e;
    while (st == TSL_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *full = join(dir, e->d_name);
        struct stat sb;
        /* A file that cannot be stat'ed is listed, so that reading it reports why. */
        int ok = full && stat(full, &sb) == 0;
        int is_dir = ok && S_ISDIR(sb.st_mode), is_file = !ok || S_ISREG(sb.st_mode);
        free(full);
        if ((want_dirs && is_dir) || (!want_dirs && is_file && !is_dir))
            st = list_push(out, strdup(e->d_name));
    }
    closedir(d);
    return st;
}

/* Appends `dir` and every directory below it (full paths) to `dirs`. */
static tsl_status collect_dirs(const char *dir, string_list *dirs) {
    TSL_TRY(list_push(dirs, strdup(dir)));
    string_list subdirs = {0};
    tsl_status st = list_entries(dir, 1, &subdirs);
    for (size_t i = 0; i < subdirs.n && st == TSL_OK; i++) {
        char *sub = join(dir, subdirs.v[i]);
        st = sub ? collect_dirs(sub, dirs) : tsl_error(TSL_ERR_NOMEM, "out of memory listing files");
        free(sub);
    }
    list_free(&subdirs);
    return st;
}

/* Appends every file under `dir` to `files` (full paths) in sorted(os.walk()) order: directories by
 * full path string ("a" < "a-b" < "a/c"), files within a directory by name. */
static tsl_status walk_class(const char *dir, string_list *files) {
    string_list dirs = {0};
    tsl_status st = collect_dirs(dir, &dirs);
    if (st == TSL_OK)
        qsort(dirs.v, dirs.n, sizeof(char *), compare_strings);
    for (size_t d = 0; d < dirs.n && st == TSL_OK; d++) {
        string_list names = {0};
        st = list_entries(dirs.v[d], 0, &names);
        if (st == TSL_OK)
            qsort(names.v, names.n, sizeof(char *), compare_strings);
        for (size_t i = 0; i < names.n && st == TSL_OK; i++)
            st = list_push(files, join(dirs.v[d], names.v[i]));
        list_free(&names);
    }
    list_free(&dirs);
    return st;
}

tsl_status tsl_image_folder_scan(const char *root, tsl_image_folder *out) {
    *out = (tsl_image_folder){0};
    string_list classes = {0};
    TSL_TRY(list_entries(root, 1, &classes));
    if (classes.n == 0) {
        list_free(&classes);
        return tsl_error(TSL_ERR_FORMAT, "%s has no class folders (expected ROOT/<class>/<image>)", root);
    }
    qsort(classes.v, classes.n, sizeof(char *), compare_strings);
    out->n_classes = (uint32_t)classes.n;
    out->class_names = classes.v;
    tsl_status st = TSL_OK;
    size_t cap = 0;
    for (uint32_t k = 0; k < out->n_classes && st == TSL_OK; k++) {
        string_list files = {0};
        char *dir = join(root, out->class_names[k]);
        st = dir ? walk_class(dir, &files) : tsl_error(TSL_ERR_NOMEM, "out of memory listing files");
        free(dir);
        if (st == TSL_OK && out->n_items + files.n > cap) {
            size_t new_cap = (out->n_items + files.n) * 2;
            tsl_folder_item *items = realloc(out->items, new_cap * sizeof *items);
            if (!items)
                st = tsl_error(TSL_ERR_NOMEM, "out of memory listing files");
            else {
                out->items = items;
                cap = new_cap;
            }
        }
        for (size_t i = 0; st == TSL_OK && i < files.n; i++) {
            out->items[out->n_items++] = (tsl_folder_item){files.v[i], k};
            files.v[i] = NULL;
        }
        list_free(&files);
    }
    if (st != TSL_OK)
        tsl_image_folder_free(out);
    return st;
}

void tsl_image_folder_free(tsl_image_folder *f) {
    for (uint32_t k = 0; k < f->n_classes; k++)
        free(f->class_names[k]);
    free(f->class_names);
    for (size_t i = 0; i < f->n_items; i++)
        free(f->items[i].path);
    free(f->items);
    *f = (tsl_image_folder){0};
}
