/* spirv_coopmat_khr IN.spv OUT.spv: writes the SPV_KHR_cooperative_matrix translation of an
 * SPV_NV_cooperative_matrix module (spirv_coopmat_khr.h). Run by the build on every tensor-core shader;
 * exits 1 with a message naming the file on any error, leaving OUT absent. */
#include "spirv_coopmat_khr.h"

#include <stdio.h>
#include <stdlib.h>

static uint32_t *read_words(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    uint32_t *w = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            uint32_t *grown = realloc(w, cap * sizeof *w);
            if (!grown)
                break;
            w = grown;
        }
        size_t got = fread(w + len, 1, (cap - len) * sizeof *w, f);
        if (got % sizeof *w) {
            fprintf(stderr, "%s: size is not a whole number of 32-bit words\n", path);
            got = 0;
            len = 0;
            free(w);
            w = NULL;
            break;
        }
        len += got / sizeof *w;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        perror(path);
        free(w);
        w = NULL;
    }
    fclose(f);
    *n = len;
    return w;
}

static int write_words(const char *path, const uint32_t *w, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return -1;
    }
    int bad = fwrite(w, sizeof *w, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad) {
        perror(path);
        remove(path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s NV_MODULE.spv KHR_MODULE.spv\n", argv[0]);
        return 2;
    }
    size_t n = 0;
    uint32_t *in = read_words(argv[1], &n);
    if (!in)
        return 1;
    uint32_t *out = NULL;
    size_t n_out = 0;
    char err[512];
    int rc = spirv_coopmat_nv_to_khr(in, n, &out, &n_out, err, sizeof err);
    free(in);
    if (rc) {
        fprintf(stderr, "%s: %s\n", argv[1], err);
        return 1;
    }
    rc = write_words(argv[2], out, n_out);
    free(out);
    return rc ? 1 : 0;
}
