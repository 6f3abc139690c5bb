/* tessl analyze's sampling (which image under which parameters) and its feature extraction (batched,
 * one copy of each source per job) on the device. */
#include "tsl_analyze_features.h"
#include "tsl_analysis_factorization.h"
#include "tsl_analyze_sampling.h"
#include "tsl_analyze_subspace.h"
#include "tsl_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool photometric_off(const tsl_augment_sample *s) {
    return !s->jitter && !s->gray && !s->solarize && s->sigma == 0 && s->brightness == 1 &&
           s->contrast == 1 && s->saturation == 1 && s->hue == 0;
}

static bool full_box(const tsl_augment_sample *s) {
    return s->crop_top == 0 && s->crop_left == 0 && s->crop_height == 1 && s->crop_width == 1;
}

START_TEST(families_use_only_their_operations) {
    uint64_t seed = tsl_test_seed("families_use_only_their_operations");
    tsl_augment_config c;
    tsl_augment_config_default(&c);
    int crops = 0, flips = 0, photometric = 0;
    for (uint64_t i = 0; i < 400; i++) {
        tsl_augment_key key = {seed, 2, i, i / 7, (uint32_t)(i % 2)};
        tsl_augment_sample crop, photo, none, all;
        tsl_analyze_draw(&c, TSL_ANALYZE_CROP, key, 50, 37, &crop);
        tsl_analyze_draw(&c, TSL_ANALYZE_PHOTOMETRIC, key, 50, 37, &photo);
        tsl_analyze_draw(&c, TSL_ANALYZE_NONE, key, 50, 37, &none);
        tsl_analyze_draw(&c, TSL_ANALYZE_ALL, key, 50, 37, &all);
        ck_assert_msg(photometric_off(&crop), "crop-only sample %llu has a photometric op",
                      (unsigned long long)i);
        ck_assert_msg(full_box(&photo) && !photo.flip, "photometric-only sample %llu crops or flips",
                      (unsigned long long)i);
        ck_assert(photometric_off(&none) && full_box(&none) && !none.flip);
        crops += !full_box(&crop);
        flips += crop.flip;
        photometric += !photometric_off(&photo);
        if (key.view == TSL_VIEW_T) /* blur p 1 under t */
            ck_assert_msg(!photometric_off(&photo), "photometric-only sample %llu under t is the identity",
                          (unsigned long long)i);
        /* ALL is the trainer's sampler itself */
        tsl_augment_sample want;
        tsl_augment_sample_draw(&c, key, 50, 37, &want);
        ck_assert(memcmp(&all, &want, sizeof want) == 0);
    }
    /* each family still varies: crops and flips (p 0.5); some photometric op in all but ~6% of samples
     * (t: blur p 1; t': all off with p 0.2 * 0.8 * 0.9 * 0.8 = 0.115) */
    ck_assert_int_gt(crops, 390);
    ck_assert_int_gt(flips, 150);
    ck_assert_int_gt(photometric, 350);
}
END_TEST

START_TEST(paired_jobs_share_parameters) {
    uint64_t seed = tsl_test_seed("paired_jobs_share_parameters");
    tsl_augment_config c;
    tsl_augment_config_default(&c);
    enum { M = 6, K = 5 };
    uint32_t w[M] = {40, 64, 33, 33, 90, 41}, h[M] = {36, 48, 70, 33, 45, 41};
    tsl_augment_job jobs[M * K], indep[M * K];
    tsl_analyze_paired_jobs(&c, seed, 0, w, h, M, K, jobs);
    tsl_analyze_independent_jobs(&c, TSL_ANALYZE_ALL, seed, 1, w, h, M, K, indep);
    for (uint32_t p = 0; p < M / 2; p++)
        for (uint32_t a = 0; a < K; a++) {
            const tsl_augment_job *first = &jobs[2 * p * K + a], *second = &jobs[(2 * p + 1) * K + a];
            ck_assert_uint_eq(first->source, 2 * p);
            ck_assert_uint_eq(second->source, 2 * p + 1);
            ck_assert(memcmp(&first->sample, &second->sample, sizeof first->sample) == 0);
            /* drawn on the pair's first image, view alternating with the augmentation index */
            tsl_augment_sample want;
            tsl_augment_sample_draw(&c, (tsl_augment_key){seed, 0, a, p, a % 2}, w[2 * p], h[2 * p], &want);
            ck_assert(memcmp(&first->sample, &want, sizeof want) == 0);
            /* the K augmentations of one image differ */
            if (a > 0)
                ck_assert(memcmp(&first->sample, &jobs[2 * p * K].sample, sizeof want) != 0);
        }
    for (uint32_t i = 0; i + 1 < M; i++) {
        ck_assert_uint_eq(indep[i * K].source, i);
        ck_assert(memcmp(&indep[i * K].sample, &indep[(i + 1) * K].sample, sizeof indep[0].sample) != 0);
    }
    double v[TSL_ANALYZE_PARAMS];
    tsl_analyze_param_values(&jobs[3].sample, v);
    ck_assert(v[0] == jobs[3].sample.crop_top && v[3] == jobs[3].sample.crop_width);
    ck_assert(v[10] == jobs[3].sample.sigma && v[11] == jobs[3].sample.solarize);
    ck_assert_str_eq(tsl_analyze_param_names[10], "blur_sigma");
}
END_TEST

/* The Gram-matrix route equals tsl_analysis_factorization (d x d eigendecomposition) in double: both are
 * exact up to rounding, so 1e-9 absolute on a score in [0, 1]; shapes with n_other < d (the analyses'
 * case), n_other > d, and an anisotropic content set so that the subspace is a strict subset. */
START_TEST(subspace_factorization_matches_library) {
    uint64_t seed = tsl_test_seed("subspace_factorization_matches_library");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    const size_t shapes[][3] = {{13, 6, 5}, {4, 20, 7}, {9, 9, 2}, {31, 12, 16}}; /* d, n_other, n_p */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t d = shapes[s][0], n_o = shapes[s][1], n_p = shapes[s][2];
        double *other = malloc(n_o * d * sizeof *other), *p = malloc(n_p * d * sizeof *p);
        for (size_t i = 0; i < n_o * d; i++)
            other[i] = tsl_test_rng_normal(&rng) * (1.0 + 3.0 * (double)((i % d) < 2)) + 0.5;
        for (size_t i = 0; i < n_p * d; i++)
            p[i] = tsl_test_rng_normal(&rng) * (1.0 + (double)((i % d) == 0)) - 1.0;
        tsl_analysis_factorization_result want;
        TSL_TEST_OK(tsl_analysis_factorization(p, n_p, NULL, other, n_o, NULL, d, 0.9, &want));
        tsl_analyze_subspace sub;
        TSL_TEST_OK(tsl_analyze_subspace_top(other, n_o, d, 0.9, &sub));
        double got;
        TSL_TEST_OK(tsl_analyze_subspace_factorization(&sub, p, n_p, &got));
        ck_assert_msg(sub.k == want.n_components, "shape %zu: %zu components, library %zu (seed %llu)", s,
                      sub.k, want.n_components, (unsigned long long)seed);
        ck_assert_msg(fabs(got - want.factorization) < 1e-9, "shape %zu: %.12g vs %.12g (seed %llu)", s, got,
                      want.factorization, (unsigned long long)seed);
        /* the directions are orthonormal */
        for (size_t a = 0; a < sub.k; a++)
            for (size_t b = 0; b < sub.k; b++) {
                double dot = 0;
                for (size_t j = 0; j < d; j++)
                    dot += sub.u[a * d + j] * sub.u[b * d + j];
                ck_assert(fabs(dot - (a == b)) < 1e-9);
            }
        for (size_t i = 0; i < n_p * d; i++)
            p[i] = 1.0;
        ck_assert_int_eq(tsl_analyze_subspace_factorization(&sub, p, n_p, &got), TSL_ERR_NUMERIC);
        ck_assert_int_eq(tsl_analyze_subspace_factorization(&sub, p, 1, &got), TSL_ERR_INVALID_ARG);
        tsl_analyze_subspace_free(&sub);
        ck_assert_int_eq(tsl_analyze_subspace_top(other, n_o, d, 1.0, &sub), TSL_ERR_INVALID_ARG);
        free(other);
        free(p);
    }
}
END_TEST

/* Batched extraction equals one job at a time: rows follow jobs across batch boundaries, and each job
 * sees its own source. Both paths run the same kernels per image; the tolerance allows fp32 reordering
 * when a kernel tiles a larger batch differently (1e-5 relative, 1e-6 absolute on O(1) features). */
START_TEST(batched_features_follow_jobs) {
    uint64_t seed = tsl_test_seed("batched_features_follow_jobs");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_vk_device *dev = tsl_test_device_open();
    enum { IMAGES = 3, JOBS = 10, RES = 32 };
    tsl_analyze_image img[IMAGES];
    uint32_t sizes[IMAGES][2] = {{40, 36}, {33, 47}, {36, 36}};
    uint64_t max_bytes = 0;
    for (int i = 0; i < IMAGES; i++) {
        img[i] = (tsl_analyze_image){malloc(sizes[i][0] * sizes[i][1] * 3), sizes[i][0], sizes[i][1], i};
        for (uint32_t j = 0; j < sizes[i][0] * sizes[i][1] * 3; j++)
            img[i].rgb[j] = (uint8_t)(tsl_test_rng_u64(&rng) & 255);
        uint64_t b = tsl_analyze_image_bytes(&img[i]);
        max_bytes = b > max_bytes ? b : max_bytes;
    }
    tsl_analyze_images set = {img, IMAGES, 3};
    tsl_augment_config c;
    tsl_augment_config_default(&c);
    tsl_augment_job jobs[JOBS];
    for (uint32_t j = 0; j < JOBS; j++) {
        jobs[j].source = (uint32_t)(tsl_test_rng_u64(&rng) % IMAGES);
        tsl_analyze_draw(&c, TSL_ANALYZE_ALL, (tsl_augment_key){seed, 0, j, 0, j % 2},
                         img[jobs[j].source].width, img[jobs[j].source].height, &jobs[j].sample);
    }
    tsl_model_config mc;
    tsl_model_config_default(&mc, TSL_RESNET18);
    mc.base_width = 4;
    mc.image_h = mc.image_w = RES;
    mc.batch = 2;
    mc.projector = "8";
    mc.lambda = 0;
    tsl_model *model;
    TSL_TEST_OK(tsl_model_create(dev, &mc, &model));
    TSL_TEST_OK(tsl_model_init_random(model, seed));
    size_t d = (size_t)tsl_model_feature_dim(model);
    double *batched = malloc(JOBS * d * sizeof *batched), *single = malloc(JOBS * d * sizeof *single);
    for (size_t i = 0; i < JOBS * d; i++)
        batched[i] = single[i] = NAN;
    tsl_analyze_extractor *ex4, *ex1;
    TSL_TEST_OK(tsl_analyze_extractor_create(dev, model, 4, max_bytes, &ex4));
    TSL_TEST_OK(tsl_analyze_extractor_create(dev, model, 1, max_bytes, &ex1));
    ck_assert_uint_eq(tsl_analyze_extractor_dim(ex4), d);
    TSL_TEST_OK(tsl_analyze_extract(ex4, &set, jobs, JOBS, batched));
    for (size_t j = 0; j < JOBS; j++)
        TSL_TEST_OK(tsl_analyze_extract(ex1, &set, &jobs[j], 1, single + j * d));
    float *got = malloc(JOBS * d * sizeof *got);
    for (size_t i = 0; i < JOBS * d; i++)
        got[i] = (float)batched[i];
    tsl_test_check_close("batched vs single features", seed, got, single, JOBS * d, 1e-5, 1e-6);
    /* two different jobs give different features (the check above is not vacuous) */
    ck_assert(memcmp(single, single + d, d * sizeof *single) != 0);
    tsl_augment_job bad = {IMAGES, jobs[0].sample};
    ck_assert_int_eq(tsl_analyze_extract(ex1, &set, &bad, 1, single), TSL_ERR_INVALID_ARG);
    free(got);
    free(batched);
    free(single);
    tsl_analyze_extractor_destroy(ex4);
    tsl_analyze_extractor_destroy(ex1);
    tsl_model_destroy(model);
    for (int i = 0; i < IMAGES; i++)
        free(img[i].rgb);
    tsl_test_device_close(dev);
}
END_TEST

static Suite *analyze_suite(void) {
    Suite *s = suite_create("analyze");
    TCase *tc = tcase_create("analyze");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, families_use_only_their_operations);
    tcase_add_test(tc, paired_jobs_share_parameters);
    tcase_add_test(tc, subspace_factorization_matches_library);
    tcase_add_test(tc, batched_features_follow_jobs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return tsl_test_main(analyze_suite());
}
