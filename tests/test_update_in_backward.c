/* trainer/model: the optimiser's updates inside the backward pass (config.update_in_backward).
 *
 * Such a model computes the same step as forward_backward then optimizer_step, bit for bit: the same
 * kernels run on the same values, and each treats every tensor on its own, so only the grouping of the
 * weights into updates differs. The tests therefore compare with exact equality, not a tolerance; the
 * separate path itself is compared with PyTorch in train_step (step_matches_pytorch). */
#include "tsl_model.h"
#include "tsl_test.h"
#include "tsl_test_tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { IMAGES = 16, PIXELS = IMAGES * 3 * 32 * 32 };

/* ResNet-18 of width 8 at 32 px, four quarters of 4 images, projectors 64-64-32, a 5-class classifier:
 * small, with every kind of parameter, and weights enough that they take the slot in several turns. */
static tsl_model *small_model(tsl_vk_device *dev, tsl_optimizer_kind optimizer, bool update_in_backward) {
    tsl_model_config c;
    tsl_model_config_default(&c, TSL_RESNET18);
    c.base_width = 8;
    c.image_h = c.image_w = 32;
    c.batch = 4;
    c.projector = "64-64-32";
    c.classes = 5;
    c.optimizer = optimizer;
    c.update_in_backward = update_in_backward;
    tsl_model *m;
    TSL_TEST_OK(tsl_model_create(dev, &c, &m));
    return m;
}

typedef struct {
    tsl_vk_buffer images, labels;
} batch;

static batch random_batch(tsl_vk_device *dev, uint64_t seed) {
    tsl_test_rng rng = tsl_test_rng_new(seed);
    float *x = tsl_test_random_floats(&rng, PIXELS, -1, 1);
    batch b = {tsl_test_upload_floats(dev, x, PIXELS, "images"),
               tsl_test_alloc(dev, TSL_MEM_DEVICE, 4 * IMAGES, "labels")};
    uint32_t labels[IMAGES];
    for (int i = 0; i < IMAGES; i++)
        labels[i] = (uint32_t)(tsl_test_rng_u64(&rng) % 5);
    tsl_test_upload(dev, &b.labels, labels);
    free(x);
    return b;
}

/* Every tensor of `a` but the gradients equals b's, bit for bit (parameters, momentum, AdamW's second
 * moments, running statistics). */
static void assert_same_state(tsl_model *a, tsl_model *b, const char *what) {
    int n, n_b;
    const tsl_model_tensor *ta = tsl_model_tensors(a, &n), *tb = tsl_model_tensors(b, &n_b);
    ck_assert_int_eq(n, n_b);
    for (int i = 0; i < n; i++) {
        if (ta[i].kind == TSL_MT_GRAD)
            continue;
        ck_assert_str_eq(ta[i].name, tb[i].name);
        float *x = malloc(4 * ta[i].count), *y = malloc(4 * ta[i].count);
        TSL_TEST_OK(tsl_model_tensor_download(a, &ta[i], x));
        TSL_TEST_OK(tsl_model_tensor_download(b, &tb[i], y));
        ck_assert_msg(memcmp(x, y, 4 * ta[i].count) == 0, "%s: %s differs", what, ta[i].name);
        free(x);
        free(y);
    }
}

/* Three steps with each optimiser: loss terms, gradient norms and the whole state after every step are
 * equal between a model that updates after the backward pass and one that updates inside it. */
START_TEST(updates_in_backward_match_the_separate_step) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("updates_in_backward_match");
    batch in = random_batch(dev, seed);
    tsl_optimizer_kind kinds[] = {TSL_OPTIMIZER_LARS, TSL_OPTIMIZER_SGD, TSL_OPTIMIZER_ADAMW};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        tsl_model *a = small_model(dev, kinds[k], false), *b = small_model(dev, kinds[k], true);
        TSL_TEST_OK(tsl_model_init_random(a, seed));
        TSL_TEST_OK(tsl_model_init_random(b, seed));
        int n_params = 0, n;
        const tsl_model_tensor *all = tsl_model_tensors(a, &n);
        for (int i = 0; i < n; i++)
            n_params += all[i].kind == TSL_MT_PARAM;
        float *norms_a = malloc(4ull * n_params), *norms_b = malloc(4ull * n_params);
        for (int step = 0; step < 3; step++) {
            /* Learning rates far above Barlow Twins' so that the steps move the weights visibly. */
            tsl_optimizer_config c = {.lr_weights = 0.5f,
                                      .lr_biases = 0.01f,
                                      .weight_decay = 1e-4f,
                                      .momentum = 0.9f,
                                      .eta = 0.001f,
                                      .beta1 = 0.9,
                                      .beta2 = 0.999,
                                      .eps = 1e-8,
                                      .step = (uint64_t)step + 1};
            tsl_loss_terms ta, tb;
            TSL_TEST_OK(tsl_model_train_step(a, in.images.range, in.labels.range, step, &c, &ta));
            TSL_TEST_OK(tsl_model_train_step(b, in.images.range, in.labels.range, step, &c, &tb));
            ck_assert_msg(ta.total == tb.total && ta.inv == tb.inv && ta.equi == tb.equi && ta.ce == tb.ce,
                          "%s step %d: loss %.9g separate, %.9g in the backward pass",
                          tsl_optimizer_name(kinds[k]), step, ta.total, tb.total);
            TSL_TEST_OK(tsl_model_grad_norms(a, norms_a));
            TSL_TEST_OK(tsl_model_grad_norms(b, norms_b));
            int moved = 0; /* zero_init_residual: a block's branch has no gradient until its gamma moves */
            for (int i = 0; i < n_params; i++) {
                moved += norms_b[i] > 0;
                ck_assert_msg(norms_a[i] == norms_b[i],
                              "%s step %d: gradient norm of %s %.9g separate, %.9g in the backward pass",
                              tsl_optimizer_name(kinds[k]), step, all[i].name, norms_a[i], norms_b[i]);
            }
            ck_assert_msg(moved > n_params / 2, "%s step %d: only %d of %d gradients are not zero",
                          tsl_optimizer_name(kinds[k]), step, moved, n_params);
            char what[64];
            snprintf(what, sizeof what, "%s after step %d", tsl_optimizer_name(kinds[k]), step);
            assert_same_state(a, b, what);
            printf("update_in_backward: %s step %d: loss %.6f, same state\n", tsl_optimizer_name(kinds[k]),
                   step, tb.total);
        }
        free(norms_a);
        free(norms_b);
        tsl_model_destroy(a);
        tsl_model_destroy(b);
    }
    tsl_vk_free(dev, &in.images);
    tsl_vk_free(dev, &in.labels);
    tsl_test_device_close(dev);
}
END_TEST

/* Only the 1-D parameters keep gradients of their own: the weights' take turns in one slot the size of
 * the largest, and the device holds that much less (TSL_MODEL_ALIGN = 256-byte rounding per tensor). */
START_TEST(weight_gradients_share_one_slot) {
    tsl_vk_device *dev = tsl_test_device_open();
    tsl_vk_memory_stats s0, s1, s2;
    tsl_vk_memory_stats_get(dev, &s0);
    tsl_model *a = small_model(dev, TSL_OPTIMIZER_LARS, false);
    tsl_vk_memory_stats_get(dev, &s1);
    tsl_model *b = small_model(dev, TSL_OPTIMIZER_LARS, true);
    tsl_vk_memory_stats_get(dev, &s2);
    int n;
    const tsl_model_tensor *all = tsl_model_tensors(a, &n);
    uint64_t weights = 0, largest = 0;
    for (int i = 0; i < n; i++)
        if (all[i].kind == TSL_MT_GRAD && !all[i].exclude) {
            uint64_t bytes = (4 * all[i].count + 255) / 256 * 256;
            weights += bytes;
            largest = bytes > largest ? bytes : largest;
        }
    uint64_t saved = weights - largest;
    ck_assert_uint_eq(tsl_model_state_bytes(a) - tsl_model_state_bytes(b), saved);
    uint64_t used_a = s1.bytes_in_use[TSL_MEM_DEVICE] - s0.bytes_in_use[TSL_MEM_DEVICE];
    uint64_t used_b = s2.bytes_in_use[TSL_MEM_DEVICE] - s1.bytes_in_use[TSL_MEM_DEVICE];
    printf("update_in_backward: weight gradients %llu bytes, slot %llu; device memory %llu -> %llu bytes\n",
           (unsigned long long)weights, (unsigned long long)largest, (unsigned long long)used_a,
           (unsigned long long)used_b);
    ck_assert_uint_eq(used_a - used_b, saved);
    tsl_model_destroy(a);
    tsl_model_destroy(b);
    tsl_test_device_close(dev);
}
END_TEST

/* What such a model cannot do is refused with a message, and leaves it usable. */
START_TEST(what_it_cannot_do_is_refused) {
    tsl_vk_device *dev = tsl_test_device_open();
    batch in = random_batch(dev, 7);
    tsl_model *m = small_model(dev, TSL_OPTIMIZER_LARS, true);
    TSL_TEST_OK(tsl_model_init_random(m, 7));
    tsl_loss_terms t;
    tsl_optimizer_config c = {.lr_weights = 0.2f, .lr_biases = 0.005f, .momentum = 0.9f, .eta = 0.001f};
    ck_assert_int_eq(tsl_model_forward_backward(m, in.images.range, in.labels.range, 0, &t),
                     TSL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(tsl_error_message(), "tsl_model_train_step"));
    ck_assert_int_eq(tsl_model_optimizer_step(m, &c), TSL_ERR_INVALID_ARG);
    float norms[1];
    ck_assert_int_eq(tsl_model_grad_norms(m, norms), TSL_ERR_INVALID_ARG); /* no step yet */
    const tsl_model_tensor *g = tsl_model_find_tensor(m, "grad.conv1.weight");
    ck_assert_ptr_nonnull(g);
    float *x = malloc(4 * g->count);
    ck_assert_int_eq(tsl_model_tensor_download(m, g, x), TSL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(tsl_error_message(), "grad.conv1.weight"));
    free(x);
    const tsl_model_tensor *bias = tsl_model_find_tensor(m, "grad.bn1.weight"); /* 1-D: kept */
    ck_assert_ptr_nonnull(bias);
    x = malloc(4 * bias->count);
    TSL_TEST_OK(tsl_model_train_step(m, in.images.range, in.labels.range, 0, &c, &t));
    TSL_TEST_OK(tsl_model_tensor_download(m, bias, x));
    free(x);

    tsl_model_config trunk;
    tsl_model_config_default(&trunk, TSL_RESNET18);
    trunk.base_width = 8;
    trunk.image_h = trunk.image_w = 32;
    trunk.batch = 2;
    trunk.trunk_only = true;
    trunk.update_in_backward = true;
    tsl_model *none;
    ck_assert_int_eq(tsl_model_create(dev, &trunk, &none), TSL_ERR_INVALID_ARG);
    ck_assert_ptr_null(none);
    tsl_model_destroy(m);
    tsl_vk_free(dev, &in.images);
    tsl_vk_free(dev, &in.labels);
    tsl_test_device_close(dev);
}
END_TEST

int main(void) {
    Suite *s = suite_create("update_in_backward");
    TCase *tc = tcase_create("update_in_backward");
    tcase_set_timeout(tc, 300); /* a case that compiles the 32 x 16 GEMM pipelines: ~45 s each under ASan */
    tcase_add_test(tc, updates_in_backward_match_the_separate_step);
    tcase_add_test(tc, weight_gradients_share_one_slot);
    tcase_add_test(tc, what_it_cannot_do_is_refused);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
