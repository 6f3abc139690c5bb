#include "bench_clock.h"
#include "tsl_bench_data.h"
#include "tsl_file.h"
#include "tsl_image_folder.h"
#include "tsl_shard_build.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

/* Reads and decodes every file to full-size RGB8 with TurboJPEG on one thread (files that are not JPEG
 * are counted as failed and left out of the rate). */
static tsl_status time_turbojpeg(const tsl_image_folder *f, uint64_t *decoded, tsl_bench_clock *seconds) {
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return tsl_error(TSL_ERR_NOMEM, "bench shard: cannot create a TurboJPEG decoder");
    uint8_t *rgb = NULL;
    size_t rgb_size = 0;
    tsl_status st = TSL_OK;
    *decoded = 0;
    tsl_bench_clock t0 = tsl_bench_clock_now();
    for (size_t i = 0; i < f->n_items && st == TSL_OK; i++) {
        void *data = NULL;
        size_t size = 0;
        st = tsl_read_file(f->items[i].path, (size_t)1 << 28, &data, &size);
        int w = 0, h = 0, subsamp = 0, colorspace = 0;
        if (st == TSL_OK &&
            tjDecompressHeader3(tj, data, (unsigned long)size, &w, &h, &subsamp, &colorspace) == 0) {
            size_t need = (size_t)w * h * 3;
            if (need > rgb_size) {
                free(rgb);
                rgb_size = need;
                if (!(rgb = malloc(rgb_size)))
                    st = tsl_error(TSL_ERR_NOMEM, "bench shard: out of memory");
            }
            if (st == TSL_OK && tjDecompress2(tj, data, (unsigned long)size, rgb, w, 0, h, TJPF_RGB, 0) == 0)
                (*decoded)++;
        }
        free(data);
    }
    *seconds = tsl_bench_clock_since(t0);
    free(rgb);
    tjDestroy(tj);
    return st;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static tsl_status time_shard_build(const tsl_bench_data_options *o, tsl_shard_summary *s,
                                   tsl_bench_clock *seconds, int *level) {
    const char *tmp = getenv("TMPDIR");
    char out[4096];
    snprintf(out, sizeof out, "%s/tessl_bench_shard_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(out))
        return tsl_error(TSL_ERR_IO, "bench shard: cannot create a temporary directory in %s",
                         tmp && *tmp ? tmp : "/tmp");
    tsl_shard_options so;
    tsl_shard_options_default(&so);
    so.src_dir = o->data;
    so.out_dir = out;
    so.threads = o->threads;
    so.level = o->level;
    so.filter = !o->no_filter;
    *level = so.level;
    tsl_bench_clock t0 = tsl_bench_clock_now();
    tsl_status st = tsl_shard_build(&so, s);
    *seconds = tsl_bench_clock_since(t0);
    nftw(out, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return st;
}

tsl_status tsl_bench_shard(const tsl_bench_data_options *o) {
    char train[4096];
    struct stat sb;
    snprintf(train, sizeof train, "%s/train", o->data);
    bool split = stat(train, &sb) == 0 && S_ISDIR(sb.st_mode);
    tsl_image_folder folder;
    TSL_TRY(tsl_image_folder_scan(split ? train : o->data, &folder));
    uint64_t decoded = 0;
    tsl_bench_clock decode_seconds = {0, 0};
    tsl_status st = time_turbojpeg(&folder, &decoded, &decode_seconds);
    tsl_image_folder_free(&folder);
    TSL_TRY(st);
    tsl_shard_summary s;
    tsl_bench_clock shard_seconds = {0, 0};
    int level = 0;
    TSL_TRY(time_shard_build(o, &s, &shard_seconds, &level));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = o->threads > 0 ? o->threads : (int)(cpus > 0 ? cpus : 1);
    double decode_per_cpu = decoded / decode_seconds.cpu, shard_per_cpu = s.written / shard_seconds.cpu;
    printf("turbojpeg decode (%s, full size, 1 thread): %llu images in %.3f s (%.3f CPU s): %.1f img/s, "
           "%.1f img per CPU second\n",
           split ? train : o->data, (unsigned long long)decoded, decode_seconds.wall, decode_seconds.cpu,
           decoded / decode_seconds.wall, decode_per_cpu);
    printf(
        "shard writing (%s, decode + resize + zstd + write, %d threads): %llu images in %.3f s (%.3f CPU s): "
        "%.1f img/s, %.1f img/s per thread, %.1f img per CPU second\n",
        o->data, threads, (unsigned long long)s.written, shard_seconds.wall, shard_seconds.cpu,
        s.written / shard_seconds.wall, s.written / shard_seconds.wall / threads, shard_per_cpu);
    printf("shard writing costs %.2fx the CPU time of decoding alone (goal: <= 1.5x); level %d, %s, "
           "compression %.2f:1\n",
           decode_per_cpu / shard_per_cpu, level,
           level == 0     ? "uncompressed"
           : o->no_filter ? "raw pixels"
                          : "up filter",
           (double)s.raw_bytes / (double)(s.stored_bytes ? s.stored_bytes : 1));
    return TSL_OK;
}
