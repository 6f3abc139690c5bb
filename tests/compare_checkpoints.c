/* compare_checkpoints A B RTOL [PREFIX...]: for every F32 tensor of A (whose name starts with one of
 * the prefixes, when given; "" matches all), B must hold the same name and shape, and every element must
 * satisfy |a - b| <= RTOL * max|b| over that tensor (a tolerance relative to the tensor's scale, since
 * sums taken in another order differ by a multiple of fp32's epsilon times the magnitudes summed, not
 * times the element). Prints the worst tensor and its ratio; exit 0 when all pass, 1 otherwise, 2 on a
 * usage or read error. A test helper for tests/mpi_train_test.sh. */
#include "tsl_safetensors.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool selected(const char *name, int n_prefix, char **prefix) {
    if (n_prefix == 0)
        return true;
    for (int i = 0; i < n_prefix; i++)
        if (strncmp(name, prefix[i], strlen(prefix[i])) == 0)
            return true;
    return false;
}

/* Largest |a - b| / max|b| over the tensor (0 for an all-zero b equal to a; INFINITY when they differ). */
static double worst_ratio(const tsl_st_tensor *a, const tsl_st_tensor *b) {
    double scale = 0.0, diff = 0.0;
    for (uint64_t i = 0; i < a->count; i++) {
        float x, y;
        memcpy(&x, (const char *)a->data + 4 * i, 4);
        memcpy(&y, (const char *)b->data + 4 * i, 4);
        if (!isfinite(x) || !isfinite(y))
            return INFINITY;
        scale = fmax(scale, fabs(y));
        diff = fmax(diff, fabs((double)x - y));
    }
    return diff == 0.0 ? 0.0 : scale == 0.0 ? INFINITY : diff / scale;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: compare_checkpoints A B RTOL [PREFIX...]\n");
        return 2;
    }
    double rtol = atof(argv[3]);
    tsl_safetensors a, b;
    if (tsl_safetensors_read(argv[1], UINT64_C(1) << 34, &a) != TSL_OK ||
        tsl_safetensors_read(argv[2], UINT64_C(1) << 34, &b) != TSL_OK) {
        fprintf(stderr, "compare_checkpoints: %s\n", tsl_error_message());
        return 2;
    }
    int failed = 0, compared = 0;
    double worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < a.n_tensors; i++) {
        const tsl_st_tensor *x = &a.tensors[i];
        if (x->dtype != TSL_DTYPE_F32 || !selected(x->name, argc - 4, argv + 4))
            continue;
        const tsl_st_tensor *y = tsl_safetensors_find(&b, x->name);
        if (!y || y->dtype != TSL_DTYPE_F32 || y->count != x->count) {
            printf("%s: missing or of another shape in %s\n", x->name, argv[2]);
            failed++;
            continue;
        }
        double r = worst_ratio(x, y);
        compared++;
        if (r > worst) {
            worst = r;
            worst_name = x->name;
        }
        if (!(r <= rtol)) {
            printf("%s: max |a - b| / max |b| = %.3g > %.3g\n", x->name, r, rtol);
            failed++;
        }
    }
    printf("compared %d tensors; worst %s at %.3g of its scale (tolerance %.3g)\n", compared, worst_name,
           worst, rtol);
    tsl_safetensors_free(&a);
    tsl_safetensors_free(&b);
    return failed || compared == 0 ? 1 : 0;
}
