/* Reading netCDF-4 (HDF5) assemblies in a child process: Debian's libhdf5 crashes on some corrupt files
 * (docs/RELIABILITY.md, fuzzing record), which tessl cannot check around. The child reads the assembly and
 * sends the result (or the error message) through a pipe; a child killed by a signal becomes an error
 * naming the file. The stream is native-endian (same machine, same binary) and still bounds-checked. */
#include "tsl_neural_isolate.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAGIC = 0x6e657572616c3031 }; /* "neural01" */

static bool write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w, n -= (size_t)w;
    }
    return true;
}

static bool read_all(int fd, void *data, size_t n) {
    char *p = data;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r, n -= (size_t)r;
    }
    return true;
}

static bool write_u64(int fd, uint64_t v) {
    return write_all(fd, &v, sizeof v);
}

static bool write_string(int fd, const char *s) {
    uint64_t n = strlen(s);
    return write_u64(fd, n) && write_all(fd, s, n);
}

/* The child's side: status, then (on success) the data. */
static bool send(int fd, tsl_status st, const tsl_neural_data *d) {
    if (!write_u64(fd, MAGIC) || !write_u64(fd, (uint64_t)st))
        return false;
    if (st != TSL_OK)
        return write_string(fd, tsl_error_message());
    size_t n = d->n_stimuli, k = d->n_neuroids, t = d->n_trials;
    bool ok = write_u64(fd, n) && write_u64(fd, k) && write_u64(fd, t) &&
              write_u64(fd, d->labels ? d->n_labels : 0) && write_u64(fd, d->labels != NULL);
    for (size_t i = 0; ok && i < n; i++)
        ok = write_string(fd, d->stimulus_ids[i]);
    for (size_t i = 0; ok && d->labels && i < d->n_labels; i++)
        ok = write_string(fd, d->label_names[i]);
    if (ok && d->labels)
        ok = write_all(fd, d->labels, n * sizeof *d->labels);
    ok = ok && write_all(fd, d->responses, n * k * sizeof *d->responses);
    if (ok && t)
        ok = write_all(fd, d->trials, n * t * k * sizeof *d->trials);
    return ok;
}

static bool read_u64(int fd, uint64_t *v) {
    return read_all(fd, v, sizeof *v);
}

static bool read_string(int fd, char **out) {
    uint64_t n;
    if (!read_u64(fd, &n) || n >= TSL_NEURAL_MAX_ID || !(*out = malloc(n + 1)))
        return false;
    (*out)[n] = 0;
    return read_all(fd, *out, n);
}

static bool receive_data(int fd, tsl_neural_data *d) {
    uint64_t n, k, t, n_labels, has_labels;
    if (!read_u64(fd, &n) || !read_u64(fd, &k) || !read_u64(fd, &t) || !read_u64(fd, &n_labels) ||
        !read_u64(fd, &has_labels) || n < 1 || n > TSL_NEURAL_MAX_STIMULI || k < 1 || n_labels > n ||
        k > SIZE_MAX / sizeof(double) / n / (t ? t : 1))
        return false;
    d->n_stimuli = n, d->n_neuroids = k, d->n_trials = t;
    if (!(d->stimulus_ids = calloc(n, sizeof *d->stimulus_ids)) ||
        !(d->responses = malloc(n * k * sizeof(double))))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!read_string(fd, &d->stimulus_ids[i]))
            return false;
    if (has_labels) {
        d->n_labels = n_labels;
        if (!(d->label_names = calloc(n_labels ? n_labels : 1, sizeof *d->label_names)) ||
            !(d->labels = malloc(n * sizeof *d->labels)))
            return false;
        for (size_t i = 0; i < n_labels; i++)
            if (!read_string(fd, &d->label_names[i]))
                return false;
        if (!read_all(fd, d->labels, n * sizeof *d->labels))
            return false;
        for (size_t i = 0; i < n; i++)
            if (d->labels[i] < 0 || (uint64_t)d->labels[i] >= n_labels)
                return false;
    }
    if (!read_all(fd, d->responses, n * k * sizeof(double)))
        return false;
    if (t && (!(d->trials = malloc(n * t * k * sizeof(double))) ||
              !read_all(fd, d->trials, n * t * k * sizeof(double))))
        return false;
    return true;
}

/* The parent's side: the child's status and message, or its data. */
static tsl_status receive(int fd, const char *path, tsl_neural_data *out) {
    uint64_t magic, status;
    if (!read_u64(fd, &magic) || magic != MAGIC || !read_u64(fd, &status) || status >= TSL_STATUS_COUNT)
        return tsl_error(TSL_ERR_FORMAT, "%s: the reader process ended without a result", path);
    if (status != TSL_OK) {
        char *message = NULL;
        bool ok = read_string(fd, &message);
        tsl_status st = tsl_error((tsl_status)status, "%s", ok ? message : "(no message)");
        free(message);
        return st;
    }
    if (!receive_data(fd, out)) {
        tsl_neural_data_free(out);
        return tsl_error(TSL_ERR_FORMAT, "%s: the reader process sent incomplete data", path);
    }
    return TSL_OK;
}

tsl_status tsl_neural_read_isolated(const char *path, const char *region, uint64_t max_values,
                                    tsl_neural_reader reader, tsl_neural_data *out) {
    memset(out, 0, sizeof *out);
    int fds[2];
    if (pipe(fds) != 0)
        return tsl_error(TSL_ERR_IO, "%s: pipe: %s", path, strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]), close(fds[1]);
        return tsl_error(TSL_ERR_IO, "%s: fork: %s", path, strerror(errno));
    }
    if (pid == 0) { /* the child: read, send, and leave without running the parent's exit handlers */
        close(fds[0]);
        tsl_neural_data d;
        tsl_status st = reader(path, region, max_values, &d);
        bool sent = send(fds[1], st, &d);
        _exit(sent ? 0 : 1);
    }
    close(fds[1]);
    tsl_status st = receive(fds[0], path, out);
    close(fds[0]);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(wstatus)) {
        tsl_neural_data_free(out);
        return tsl_error(TSL_ERR_FORMAT,
                         "%s: the netCDF/HDF5 library crashed reading it (signal %d): a corrupt file", path,
                         WTERMSIG(wstatus));
    }
    return st;
}
