/* trainer/model: the activations split over several allocations when one would exceed the device's
 * maxMemoryAllocationSize (ResNet-50 at 224 px with 8192-wide projectors needs more than lavapipe's
 * 2 GiB). The split must not change what is computed: the same step on a device whose allocation limit is
 * forced small (tsl_vk_options.max_allocation_size) gives the same loss, activations, gradients, momentum
 * and weights as on a device without the limit, bit for bit (same kernels, same inputs, same order of
 * operations: only the buffers the tensors lie in differ), so the tolerance is zero. */
#include "tsl_model.h"
#include "tsl_test.h"
#include "tsl_test_tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROWS = 16, RES = 32, PIXELS = ROWS * 3 * RES * RES };

/* The test device, with the allocation limit forced to `limit` bytes (0: the device's own). */
static tsl_vk_device *open_device(uint64_t limit) {
    tsl_vk_options options;
    tsl_vk_options_default(&options);
    options.validation = true;
    options.max_allocation_size = limit;
    tsl_vk_device *device = NULL;
    tsl_status st = tsl_vk_device_open(&options, &device);
    ck_assert_msg(st == TSL_OK, "opening the test device: %s", tsl_error_message());
    return device;
}

/* A narrow ResNet-18 at RES px over ROWS images with small projectors. */
static tsl_model_config small_config(void) {
    tsl_model_config c;
    tsl_model_config_default(&c, TSL_RESNET18);
    c.base_width = 4;
    c.image_h = c.image_w = RES;
    c.batch = ROWS / 4;
    c.projector = "32-32-16";
    return c;
}

static tsl_model *small_model(tsl_vk_device *dev, tsl_model_config c) {
    c.classes = 5;
    tsl_model *m;
    TSL_TEST_OK(tsl_model_create(dev, &c, &m));
    return m;
}

/* Everything one step leaves behind, in host memory. */
typedef struct {
    tsl_loss_terms terms;
    float *acts[3]; /* h, z, w */
    uint64_t act_count[3];
    float *state; /* every tensor of the table (params, grads, momentum, stats) after the optimiser step */
    float *grads; /* every gradient, before the optimiser step */
    uint64_t state_count, grad_count;
    int allocations, n_params;
    uint64_t activation_bytes, scratch_bytes;
} step_result;

static const char *const act_names[3] = {"h", "z", "w"};

static float *download_tensors(tsl_model *m, bool grads_only, uint64_t *total) {
    int n;
    const tsl_model_tensor *all = tsl_model_tensors(m, &n);
    *total = 0;
    for (int i = 0; i < n; i++)
        if (!grads_only || all[i].kind == TSL_MT_GRAD)
            *total += all[i].count;
    float *data = malloc(4 * *total), *at = data;
    ck_assert(data != NULL);
    for (int i = 0; i < n; i++)
        if (!grads_only || all[i].kind == TSL_MT_GRAD) {
            TSL_TEST_OK(tsl_model_tensor_download(m, &all[i], at));
            at += all[i].count;
        }
    return data;
}

/* One forward-backward and optimiser step of a fresh model (seeded init) on `dev`. */
static void run_step(tsl_vk_device *dev, tsl_model_config c, uint64_t seed, const float *images,
                     const uint32_t *labels, step_result *out) {
    tsl_model *m = small_model(dev, c);
    TSL_TEST_OK(tsl_model_init_random(m, seed));
    out->allocations = tsl_model_activation_allocations(m);
    int n;
    const tsl_model_tensor *all = tsl_model_tensors(m, &n);
    for (out->n_params = 0; out->n_params < n && all[out->n_params].kind == TSL_MT_PARAM;)
        out->n_params++;
    out->activation_bytes = tsl_model_activation_bytes(m);
    out->scratch_bytes = tsl_model_scratch_bytes(m);
    tsl_vk_buffer x = tsl_test_upload_floats(dev, images, PIXELS, "images");
    tsl_vk_buffer y = tsl_test_alloc(dev, TSL_MEM_DEVICE, 4 * ROWS, "labels");
    tsl_test_upload(dev, &y, labels);
    TSL_TEST_OK(tsl_model_forward_backward(m, x.range, y.range, 0, &out->terms));
    for (int i = 0; i < 3; i++) {
        tsl_vk_range r;
        TSL_TEST_OK(tsl_model_activation(m, act_names[i], &r, &out->act_count[i]));
        out->acts[i] = malloc(4 * out->act_count[i]);
        TSL_TEST_OK(tsl_vk_download(dev, r, out->acts[i]));
    }
    out->grads = download_tensors(m, true, &out->grad_count);
    tsl_optimizer_config lars = {
        .lr_weights = 0.5f, .lr_biases = 0.01f, .weight_decay = 1e-6f, .momentum = 0.9f, .eta = 0.001f};
    TSL_TEST_OK(tsl_model_optimizer_step(m, &lars));
    out->state = download_tensors(m, false, &out->state_count);
    tsl_vk_free(dev, &x);
    tsl_vk_free(dev, &y);
    tsl_model_destroy(m);
}

static void free_result(step_result *r) {
    for (int i = 0; i < 3; i++)
        free(r->acts[i]);
    free(r->state);
    free(r->grads);
}

/* Two runs of the same step computed the same loss, activations, gradients and state, bit for bit. */
static void assert_same_step(uint64_t seed, const step_result *whole, const step_result *split) {
    ck_assert_msg(whole->terms.total == split->terms.total && whole->terms.inv == split->terms.inv &&
                      whole->terms.equi == split->terms.equi && whole->terms.ce == split->terms.ce,
                  "seed %llu: loss %.9g (inv %.9g, equi %.9g, ce %.9g) whole, %.9g (%.9g, %.9g, %.9g) split",
                  (unsigned long long)seed, whole->terms.total, whole->terms.inv, whole->terms.equi,
                  whole->terms.ce, split->terms.total, split->terms.inv, split->terms.equi, split->terms.ce);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(whole->act_count[i], split->act_count[i]);
        ck_assert_msg(memcmp(whole->acts[i], split->acts[i], 4 * whole->act_count[i]) == 0,
                      "seed %llu: activation %s differs", (unsigned long long)seed, act_names[i]);
    }
    ck_assert_uint_eq(whole->grad_count, split->grad_count);
    ck_assert_msg(memcmp(whole->grads, split->grads, 4 * whole->grad_count) == 0,
                  "seed %llu: gradients differ", (unsigned long long)seed);
    ck_assert_uint_eq(whole->state_count, split->state_count);
    ck_assert_msg(memcmp(whole->state, split->state, 4 * whole->state_count) == 0,
                  "seed %llu: weights, momentum or running statistics differ after the step",
                  (unsigned long long)seed);
}

START_TEST(split_activations_give_the_same_step_bit_for_bit) {
    uint64_t seed = tsl_test_seed("split_activations");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    float *images = tsl_test_random_floats(&rng, PIXELS, -1, 1);
    uint32_t labels[ROWS];
    for (int i = 0; i < ROWS; i++)
        labels[i] = (uint32_t)(tsl_test_rng_u64(&rng) % 5);

    step_result whole, split;
    tsl_vk_device *dev = open_device(0);
    run_step(dev, small_config(), seed, images, labels, &whole);
    tsl_test_device_close(dev);
    /* The limit: a third of the activations, but no less than the largest other allocation of this
     * small model (its parameters: their floats plus at most 256 bytes of alignment each; or the kernels'
     * scratch, larger on GPUs where it holds conv dw's split-K partial sums). */
    uint64_t params = 4 * whole.grad_count + 256 * (uint64_t)whole.n_params;
    if (params < whole.scratch_bytes)
        params = whole.scratch_bytes;
    uint64_t limit = whole.activation_bytes / 3 > params ? whole.activation_bytes / 3 : params;
    limit = (limit + 255) / 256 * 256;
    dev = open_device(limit);
    run_step(dev, small_config(), seed, images, labels, &split);
    tsl_test_device_close(dev);
    printf("split_activations (seed %llu): %.2f MiB of activations in %d allocation(s) without a limit, in "
           "%d with a limit of %llu bytes\n",
           (unsigned long long)seed, whole.activation_bytes / 1048576.0, whole.allocations, split.allocations,
           (unsigned long long)limit);

    ck_assert_int_eq(whole.allocations, 1);
    ck_assert_int_ge(split.allocations, 3);
    /* Not equal: under the limit no tensor of the trunk's shared area may cross a segment of it (each
     * segment is an allocation), so the plan may leave gaps the unsplit one fills. */
    ck_assert_uint_ge(split.activation_bytes, whole.activation_bytes);
    assert_same_step(seed, &whole, &split);
    free_result(&whole);
    free_result(&split);
    free(images);
}
END_TEST

/* Gradients that are other gradients' memory (tsl_model_plan_trunk: a residual sum's summands, a ReLU's
 * input written in place), the temporaries placed between them, and outputs, gradients and the Barlow
 * term's C sharing one area by lifetime change where numbers lie, not which are computed: the step
 * equals, bit for bit, the same step in the reference layout (config.plain_gradients: every output and
 * every gradient in memory of its own), on a narrow ResNet-50: its ReLUs, identity blocks and
 * downsampling blocks (whose sums pass their gradient to two summands at once) take every kind of
 * alias. (tests/test_resnet.c checks the plans of ResNet-18 and -34 too.) */
START_TEST(gradient_aliases_give_the_same_step_bit_for_bit) {
    uint64_t seed = tsl_test_seed("gradient_aliases");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    float *images = tsl_test_random_floats(&rng, PIXELS, -1, 1);
    uint32_t labels[ROWS];
    for (int i = 0; i < ROWS; i++)
        labels[i] = (uint32_t)(tsl_test_rng_u64(&rng) % 5);
    tsl_vk_device *dev = open_device(0);
    tsl_model_config c = small_config();
    c.arch = TSL_RESNET50;
    c.projector = "32-32-256"; /* a C of 256 KiB, as large as several gradients: the gradients reuse it */
    step_result aliased, plain;
    run_step(dev, c, seed, images, labels, &aliased);
    c.plain_gradients = true;
    run_step(dev, c, seed, images, labels, &plain);
    printf("gradient_aliases (seed %llu): %.3f MiB of activations with aliases, %.3f MiB without\n",
           (unsigned long long)seed, aliased.activation_bytes / 1048576.0,
           plain.activation_bytes / 1048576.0);
    ck_assert_uint_lt(aliased.activation_bytes, plain.activation_bytes);
    assert_same_step(seed, &aliased, &plain);
    free_result(&aliased);
    free_result(&plain);
    tsl_test_device_close(dev);
    free(images);
}
END_TEST

/* A limit below one tensor's size cannot be met by splitting: the model is refused with the device's
 * out-of-memory error naming the allocation, nothing is left allocated. */
START_TEST(a_tensor_above_the_limit_is_refused) {
    tsl_vk_device *dev = open_device(4096);
    tsl_model *m = NULL;
    tsl_model_config c = small_config();
    ck_assert_int_eq(tsl_model_create(dev, &c, &m), TSL_ERR_DEVICE_OOM);
    ck_assert_msg(strstr(tsl_error_message(), "larger than one allocation"), "message: %s",
                  tsl_error_message());
    ck_assert(m == NULL);
    tsl_vk_memory_stats stats;
    tsl_vk_memory_stats_get(dev, &stats);
    ck_assert_uint_eq(stats.live_allocations, 0);
    tsl_test_device_close(dev);
}
END_TEST

int main(void) {
    Suite *s = suite_create("model_memory");
    TCase *tc = tcase_create("model_memory");
    /* Each step compiles lavapipe pipelines afresh, the 32 x 16 CPU-tile GEMMs among them (about 20 CPU
     * seconds each, 45 under ASan). Since the CPU variant's convolutions run through those GEMMs (im2col),
     * a case here compiles up to six of them; under ASan, beside a neighbouring test, one took over 300 s
     * in CI on an Intel Xeon, and over 600 s on an AMD EPYC, where lavapipe compiles about half as fast. */
    tcase_set_timeout(tc, 1500);
    tcase_add_test(tc, split_activations_give_the_same_step_bit_for_bit);
    tcase_add_test(tc, a_tensor_above_the_limit_is_refused);
    tcase_add_test(tc, gradient_aliases_give_the_same_step_bit_for_bit);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
