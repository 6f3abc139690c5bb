/* Test helper for tests/neural_cli_test.sh: writes synthetic neural responses.
 *
 *   neural_plant random N K SEED OUT.npy
 *       N x K standard normal responses (float32).
 *   neural_plant plant FEATURES.npy K TRIALS NOISE SEED PLANTED.npy SHUFFLED.npy
 *       responses planted as a linear function of the features (n x d float32, as tessl neural
 *       --save-features writes them): signal = centred features x W (W standard normal, d x K), scaled to
 *       unit standard deviation per neuroid; each of TRIALS trials adds NOISE x standard normal noise.
 *       PLANTED is n x TRIALS x K; SHUFFLED holds the same rows in a random order of stimuli (so the
 *       ceiling is unchanged but the features no longer predict anything). */
#include "tsl_npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static double uniform(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return ((double)((z ^ (z >> 31)) >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void) {
    return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
}

static int fail(const char *what) {
    fprintf(stderr, "neural_plant: %s: %s\n", what, tsl_error_message());
    return 1;
}

static int write_random(int n, int k, const char *out) {
    float *y = malloc((size_t)n * k * sizeof *y);
    for (size_t i = 0; i < (size_t)n * k; i++)
        y[i] = (float)normal();
    tsl_status st = tsl_npy_write_f32(out, y, 2, (int64_t[]){n, k});
    free(y);
    return st == TSL_OK ? 0 : fail(out);
}

/* signal (n x k): centred features times a random W, each column scaled to unit standard deviation. */
static void plant_signal(const tsl_npy_f32 *f, size_t k, double *signal) {
    size_t n = (size_t)f->shape[0], d = (size_t)f->shape[1];
    double *w = malloc(d * k * sizeof *w), *mean = calloc(d, sizeof *mean);
    for (size_t i = 0; i < d * k; i++)
        w[i] = normal();
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < d; c++)
            mean[c] += f->data[i * d + c] / (double)n;
    for (size_t j = 0; j < k; j++) {
        double ss = 0;
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t c = 0; c < d; c++)
                s += (f->data[i * d + c] - mean[c]) * w[c * k + j];
            signal[i * k + j] = s;
            ss += s * s;
        }
        double sd = sqrt(ss / (double)n);
        for (size_t i = 0; i < n; i++)
            signal[i * k + j] /= sd > 0 ? sd : 1;
    }
    free(w), free(mean);
}

static int write_planted(const char *features, int k, int trials, double noise, const char *planted,
                         const char *shuffled) {
    tsl_npy_f32 f;
    if (tsl_npy_read_f32(features, (size_t)1 << 30, &f) != TSL_OK || f.ndim != 2)
        return fail(features);
    size_t n = (size_t)f.shape[0];
    double *signal = malloc(n * k * sizeof *signal);
    float *y = malloc(n * trials * k * sizeof *y), *z = malloc(n * trials * k * sizeof *z);
    size_t *perm = malloc(n * sizeof *perm);
    plant_signal(&f, (size_t)k, signal);
    for (size_t i = 0; i < n; i++)
        for (int t = 0; t < trials; t++)
            for (int j = 0; j < k; j++)
                y[(i * trials + t) * k + j] = (float)(signal[i * k + j] + noise * normal());
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(uniform() * (double)(i + 1)), tmp = perm[i];
        perm[i] = perm[j], perm[j] = tmp;
    }
    size_t row = (size_t)trials * k;
    for (size_t i = 0; i < n; i++)
        memcpy(z + i * row, y + perm[i] * row, row * sizeof *z);
    int64_t shape[3] = {(int64_t)n, trials, k};
    int rc = tsl_npy_write_f32(planted, y, 3, shape) == TSL_OK ? 0 : fail(planted);
    if (rc == 0)
        rc = tsl_npy_write_f32(shuffled, z, 3, shape) == TSL_OK ? 0 : fail(shuffled);
    free(signal), free(y), free(z), free(perm);
    tsl_npy_free(&f);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 6 && strcmp(argv[1], "random") == 0) {
        rng_state = strtoull(argv[4], NULL, 10);
        return write_random(atoi(argv[2]), atoi(argv[3]), argv[5]);
    }
    if (argc == 9 && strcmp(argv[1], "plant") == 0) {
        rng_state = strtoull(argv[6], NULL, 10);
        return write_planted(argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]), argv[7], argv[8]);
    }
    fprintf(
        stderr,
        "usage: neural_plant random N K SEED OUT | plant FEATURES K TRIALS NOISE SEED PLANTED SHUFFLED\n");
    return 2;
}
