#define _POSIX_C_SOURCE 200809L
#include "tsl_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static tsl_status fsync_parent_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    tsl_status st = TSL_OK;
    if (fd < 0 || fsync(fd) != 0)
        st = tsl_error(TSL_ERR_IO, "syncing directory %s: %s", dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(copy);
    return st;
}

tsl_status tsl_atomic_open(tsl_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->final_path = strdup(path);
    af->temp_path = malloc(n);
    if (!af->final_path || !af->temp_path) {
        tsl_atomic_abort(af);
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    }
    snprintf(af->temp_path, n, "%s.tmp.%ld", path, (long)getpid());
    af->file = fopen(af->temp_path, "wb");
    if (!af->file) {
        tsl_status st = tsl_error(TSL_ERR_IO, "creating %s: %s", af->temp_path, strerror(errno));
        tsl_atomic_abort(af);
        return st;
    }
    return TSL_OK;
}

tsl_status tsl_atomic_write(tsl_atomic_file *af, const void *data, size_t size) {
    if (size && fwrite(data, 1, size, af->file) != size)
        return tsl_error(TSL_ERR_IO, "writing %s: %s", af->final_path, strerror(errno));
    return TSL_OK;
}

tsl_status tsl_atomic_commit(tsl_atomic_file *af) {
    tsl_status st = TSL_OK;
    if (fflush(af->file) != 0 || fsync(fileno(af->file)) != 0)
        st = tsl_error(TSL_ERR_IO, "writing %s: %s", af->final_path, strerror(errno));
    if (fclose(af->file) != 0 && st == TSL_OK)
        st = tsl_error(TSL_ERR_IO, "closing %s: %s", af->final_path, strerror(errno));
    af->file = NULL;
    if (st == TSL_OK && rename(af->temp_path, af->final_path) != 0)
        st = tsl_error(TSL_ERR_IO, "renaming %s to %s: %s", af->temp_path, af->final_path, strerror(errno));
    if (st == TSL_OK)
        st = fsync_parent_dir(af->final_path);
    tsl_atomic_abort(af);
    return st;
}

void tsl_atomic_abort(tsl_atomic_file *af) {
    if (af->file)
        fclose(af->file);
    if (af->temp_path)
        unlink(af->temp_path); /* harmless after a successful rename: the name no longer exists */
    free(af->final_path);
    free(af->temp_path);
    memset(af, 0, sizeof *af);
}

/* Is `name` "<prefix>....tmp.<pid>" with the pid of no live process (and not ours)? */
static bool is_stale_temporary(const char *name, const char *prefix) {
    const char *tmp = strstr(name, ".tmp.");
    if (strncmp(name, prefix, strlen(prefix)) != 0 || !tmp)
        return false;
    while (strstr(tmp + 1, ".tmp."))
        tmp = strstr(tmp + 1, ".tmp.");
    const char *digits = tmp + 5;
    char *end;
    errno = 0;
    long pid = strtol(digits, &end, 10);
    if (end == digits || *end || errno || pid <= 0 || pid == (long)getpid())
        return false;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int tsl_atomic_remove_stale(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        if (is_stale_temporary(e->d_name, prefix) &&
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path && unlink(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

tsl_status tsl_write_file_atomic(const char *path, const void *data, size_t size) {
    tsl_atomic_file af;
    TSL_TRY(tsl_atomic_open(&af, path));
    tsl_status st = tsl_atomic_write(&af, data, size);
    if (st != TSL_OK) {
        tsl_atomic_abort(&af);
        return st;
    }
    return tsl_atomic_commit(&af);
}

tsl_status tsl_read_file(const char *path, size_t max_size, void **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return tsl_error(errno == ENOENT ? TSL_ERR_NOT_FOUND : TSL_ERR_IO, "opening %s: %s", path,
                         strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        fclose(f);
        return tsl_error(TSL_ERR_IO, "reading %s: %s", path, strerror(errno));
    }
    if ((uint64_t)sb.st_size > max_size) {
        fclose(f);
        return tsl_error(TSL_ERR_FORMAT, "%s: file is %lld bytes, larger than the %zu allowed", path,
                         (long long)sb.st_size, max_size);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return tsl_error(TSL_ERR_NOMEM, "out of memory reading %s (%zu bytes)", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(buf);
        return tsl_error(TSL_ERR_IO, "reading %s: short read (%zu of %zu bytes)", path, got, n);
    }
    *data = buf;
    *size = n;
    return TSL_OK;
}

tsl_status tsl_mkdirs(const char *path) {
    char *copy = strdup(path);
    if (!copy)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    for (char *p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, 0777) != 0 && errno != EEXIST) {
                tsl_status st = tsl_error(TSL_ERR_IO, "creating directory %s: %s", copy, strerror(errno));
                free(copy);
                return st;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    free(copy);
    return TSL_OK;
}
