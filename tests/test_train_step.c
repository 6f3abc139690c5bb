/* trainer/model: one TeSSL training step against PyTorch, tensor by tensor.
 *
 * tests/fixtures/tessl_step.safetensors (tools/make_train_fixture.py) holds a narrow ResNet-18 (width 8,
 * 32x32 inputs, 4 quarters of N = 4 images), projectors 32-32-32, a 5-class online classifier, and one
 * step of the authors' procedure in PyTorch: activations, loss terms, every gradient, LARS momentum,
 * weights and running statistics after the step. The model loads the initial weights by torchvision
 * names and runs the same step; every tensor is compared.
 *
 * Tolerances (fp32 on both sides, different summation orders; errors are measured against the tensor's
 * own magnitude, max|want|, because elements near zero carry the absolute error of their larger
 * neighbours' sums): a tensor passes when every element satisfies
 *   |got - want| <= rel * |want| + rel * max|want|.
 * - Forward activations: each conv/linear sums K <= 4608 products with relative rounding ~6e-8 * sqrt(K)
 *   (random signs), i.e. ~4e-6 per layer; BatchNorm over a quarter renormalises (it does not grow the
 *   relative error beyond its 1/std factor for cancelling sums, ~2x with m = 4 values per channel in
 *   layer4). Over ~20 layers that is ~1e-4 in the worst case: rel 1e-4 (measured, printed per tensor:
 *   at most 2.5e-5 of the magnitude, in Z after the projector's 4-row BatchNorms).
 * - Loss terms: sums of squares of the activations' errors: rel 1e-4.
 * - Gradients: the backward runs the same depth again through the transposed ops, and BatchNorm's
 *   backward subtracts two means of the same size (dy - mean(dy) - xhat mean(dy xhat)), cancelling up
 *   to ~10x in the 4-value quarters: rel 1e-3 of the tensor's magnitude (measured: at most 1.3e-4).
 * - Momentum after one LARS step is q (g + wd p) with q from two norms (rel 1e-6 each): the gradient's
 *   tolerance, 1e-3. Weights after the step are p - lr mu with lr mu ~ lr * eta |p| ~ 3e-4 |p|: rel 1e-5
 *   (the update's own error is 1e-3 of a 3e-4 relative change); 1-D parameters move by lr_b g
 *   without a trust ratio, so they carry the gradient's error: 1e-3.
 * - Running statistics: (1 - 0.1)^4 of the old value plus batch means and variances of the
 *   activations: rel 1e-4. */
#include "tsl_model.h"
#include "tsl_test.h"
#include "tsl_test_tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TSL_FIXTURE_DIR
#error "TSL_FIXTURE_DIR must name tests/fixtures"
#endif

#define FIXTURE TSL_FIXTURE_DIR "/tessl_step.safetensors"

/* The training test's learning rates: far above Barlow Twins' 0.2 x batch/256 (which would barely move
 * a 16-image model in 20 steps); and the fall it requires: to half the first step's loss (seen: to about
 * a tenth, over several seeds). */
#define TRAIN_LR_WEIGHTS 2.0f
#define TRAIN_LR_BIASES  0.05f
#define TRAIN_FALL       0.5

enum { HP_LAMBDA, HP_LAMBD, HP_SCALE, HP_LR_W, HP_LR_B, HP_WD, HP_MOMENTUM, HP_ETA };

static const tsl_st_tensor *fixture_tensor(const tsl_safetensors *st, const char *name) {
    const tsl_st_tensor *t = tsl_safetensors_find(st, name);
    ck_assert_msg(t != NULL, "fixture has no tensor %s", name);
    return t;
}

/* Compares n floats; prints the tensor's max error (relative to its magnitude) and returns false, after
 * printing the first bad index, when some element is outside rel * (|want| + max|want|). */
static bool compare(const char *what, const float *got, const float *want, uint64_t n, double rel) {
    double scale = 0, worst = 0;
    for (uint64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    uint64_t bad = 0, first = 0;
    for (uint64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        if (!(err <= rel * (fabs(want[i]) + scale)) && bad++ == 0)
            first = i;
        if (!(err <= worst))
            worst = err;
    }
    printf("  %-44s n %7llu  max|want| %.3e  max err %.3e (%.2e of max)%s\n", what, (unsigned long long)n,
           scale, worst, scale > 0 ? worst / scale : worst, bad ? "  FAIL" : "");
    if (bad)
        printf("    %llu bad; first at %llu: got %.9g want %.9g (tolerance rel %.0e)\n",
               (unsigned long long)bad, (unsigned long long)first, got[first], want[first], rel);
    return bad == 0;
}

typedef struct {
    tsl_vk_device *dev;
    tsl_safetensors st;
    tsl_model *model;
    tsl_vk_buffer images, labels;
    const float *hp;
    int failures;
} step_fixture;

static void compare_model_tensor(step_fixture *f, const char *model_name, const char *fixture_name,
                                 double rel) {
    const tsl_model_tensor *t = tsl_model_find_tensor(f->model, model_name);
    ck_assert_msg(t != NULL, "model has no tensor %s", model_name);
    const tsl_st_tensor *w = fixture_tensor(&f->st, fixture_name);
    ck_assert_uint_eq(w->count, t->count);
    float *got = malloc(4 * t->count);
    TSL_TEST_OK(tsl_model_tensor_download(f->model, t, got));
    f->failures += !compare(fixture_name, got, w->data, t->count, rel);
    free(got);
}

static void compare_activation(step_fixture *f, const char *name, const char *fixture_name) {
    tsl_vk_range r;
    uint64_t count;
    TSL_TEST_OK(tsl_model_activation(f->model, name, &r, &count));
    const tsl_st_tensor *w = fixture_tensor(&f->st, fixture_name);
    ck_assert_msg(w->count == count, "%s: %llu values, fixture %llu", name, (unsigned long long)count,
                  (unsigned long long)w->count);
    float *got = malloc(4 * count);
    TSL_TEST_OK(tsl_vk_download(f->dev, r, got));
    f->failures += !compare(fixture_name, got, w->data, count, 1e-4);
    free(got);
}

/* The fixture's model, in the model's own memory layout or in the reference one (config.plain_gradients:
 * every trunk output keeps its memory through the step, so all can be read after it). */
static void open_step_fixture(step_fixture *f, bool reference_layout) {
    memset(f, 0, sizeof *f);
    f->dev = tsl_test_device_open();
    TSL_TEST_OK(tsl_safetensors_read(FIXTURE, 64u << 20, &f->st));
    f->hp = fixture_tensor(&f->st, "hparams")->data;
    tsl_model_config c;
    tsl_model_config_default(&c, TSL_RESNET18);
    c.base_width = 8;
    c.image_h = c.image_w = 32;
    c.batch = 4;
    c.projector = "32-32-32";
    c.classes = 5;
    c.lambda = f->hp[HP_LAMBDA];
    c.lambd = f->hp[HP_LAMBD];
    c.loss_scale = f->hp[HP_SCALE];
    c.plain_gradients = reference_layout;
    TSL_TEST_OK(tsl_model_create(f->dev, &c, &f->model));
    int loaded, n_tensors;
    TSL_TEST_OK(tsl_model_load_safetensors(f->model, &f->st, true, &loaded));
    const tsl_model_tensor *all = tsl_model_tensors(f->model, &n_tensors);
    int expected = 0;
    for (int i = 0; i < n_tensors; i++)
        expected += all[i].kind != TSL_MT_GRAD && all[i].kind != TSL_MT_MOMENTUM;
    ck_assert_int_eq(loaded, expected);

    const tsl_st_tensor *x = fixture_tensor(&f->st, "input"), *y = fixture_tensor(&f->st, "labels");
    ck_assert_uint_eq(x->count, 16 * 3 * 32 * 32);
    ck_assert_uint_eq(y->count, 16);
    f->images = tsl_test_upload_floats(f->dev, x->data, x->count, "images");
    uint32_t labels[16];
    for (int i = 0; i < 16; i++) { /* safetensors aligns nothing: copy, never load an int64_t in place */
        int64_t label;
        memcpy(&label, (const char *)y->data + 8 * i, sizeof label);
        labels[i] = (uint32_t)label;
    }
    f->labels = tsl_test_alloc(f->dev, TSL_MEM_DEVICE, sizeof labels, "labels");
    tsl_test_upload(f->dev, &f->labels, labels);
}

static void close_step_fixture(step_fixture *f) {
    tsl_model_destroy(f->model);
    tsl_vk_free(f->dev, &f->images);
    tsl_vk_free(f->dev, &f->labels);
    tsl_safetensors_free(&f->st);
    tsl_test_device_close(f->dev);
}

static void compare_loss(step_fixture *f, const char *name, double got) {
    float g = (float)got;
    f->failures += !compare(name, &g, fixture_tensor(&f->st, name)->data, 1, 1e-4);
}

START_TEST(step_matches_pytorch) {
    step_fixture f;
    open_step_fixture(&f, false);
    printf("train_step: one TeSSL step vs PyTorch (" FIXTURE ")\n");
    printf("  activations: %llu bytes on the device for 4 x 4 images\n",
           (unsigned long long)tsl_model_activation_bytes(f.model));
    tsl_loss_terms terms;
    TSL_TEST_OK(tsl_model_forward_backward(f.model, f.images.range, f.labels.range, 0, &terms));
    compare_loss(&f, "loss.inv", terms.inv);
    compare_loss(&f, "loss.equi", terms.equi);
    compare_loss(&f, "loss.ce", terms.ce);
    compare_loss(&f, "loss.total", terms.total);
    /* The trunk's other outputs may hold gradients by now (trunk_outputs_match_pytorch checks them). */
    const char *acts[][2] = {{"h", "act.h"}, {"z", "act.z"}, {"w", "act.w"}};
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++)
        compare_activation(&f, acts[i][0], acts[i][1]);

    int n;
    const tsl_model_tensor *all = tsl_model_tensors(f.model, &n);
    for (int i = 0; i < n; i++)
        if (all[i].kind == TSL_MT_GRAD)
            compare_model_tensor(&f, all[i].name, all[i].name, 1e-3);
    char name[128];
    for (int i = 0; i < n; i++)
        if (all[i].kind == TSL_MT_RUNNING_MEAN || all[i].kind == TSL_MT_RUNNING_VAR) {
            snprintf(name, sizeof name, "after.%s", all[i].name);
            compare_model_tensor(&f, all[i].name, name, 1e-4);
        }

    tsl_optimizer_config lars = {.lr_weights = f.hp[HP_LR_W],
                                 .lr_biases = f.hp[HP_LR_B],
                                 .weight_decay = f.hp[HP_WD],
                                 .momentum = f.hp[HP_MOMENTUM],
                                 .eta = f.hp[HP_ETA]};
    TSL_TEST_OK(tsl_model_optimizer_step(f.model, &lars));
    for (int i = 0; i < n; i++) {
        if (all[i].kind == TSL_MT_MOMENTUM) {
            snprintf(name, sizeof name, "after.%s", all[i].name);
            compare_model_tensor(&f, all[i].name, name, 1e-3);
        }
        if (all[i].kind == TSL_MT_PARAM) {
            snprintf(name, sizeof name, "after.%s", all[i].name);
            compare_model_tensor(&f, all[i].name, name, all[i].exclude ? 1e-3 : 1e-5);
        }
    }
    ck_assert_msg(f.failures == 0, "%d tensors differ from PyTorch (see the table above)", f.failures);
    close_step_fixture(&f);
}
END_TEST

/* The trunk's outputs of the same step, read after it in the reference layout, where each keeps its
 * memory (in the model's own layout gradients take the memory of outputs whose readers have run;
 * model_memory shows the two layouts compute the same step bit for bit). */
START_TEST(trunk_outputs_match_pytorch) {
    step_fixture f;
    open_step_fixture(&f, true);
    tsl_loss_terms terms;
    TSL_TEST_OK(tsl_model_forward_backward(f.model, f.images.range, f.labels.range, 0, &terms));
    compare_loss(&f, "loss.total", terms.total);
    const char *acts[][2] = {{"conv1", "act.conv1"},   {"layer1", "act.layer1"}, {"layer2", "act.layer2"},
                             {"layer3", "act.layer3"}, {"layer4", "act.layer4"}, {"h", "act.h"}};
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++)
        compare_activation(&f, acts[i][0], acts[i][1]);
    ck_assert_msg(f.failures == 0, "%d tensors differ from PyTorch (see the table above)", f.failures);
    close_step_fixture(&f);
}
END_TEST

/* A NaN weight in g_inv's last linear turns Z and so the invariant term into NaN: the step reports it by
 * step number and term. (A NaN in the images would not do: the stem's ReLU maps NaN to 0.) */
START_TEST(non_finite_loss_is_reported) {
    step_fixture f;
    open_step_fixture(&f, false);
    const tsl_model_tensor *w = tsl_model_find_tensor(f.model, "g_inv.6.weight");
    ck_assert(w != NULL);
    float *nan = malloc(4 * w->count);
    for (uint64_t i = 0; i < w->count; i++)
        nan[i] = NAN;
    TSL_TEST_OK(tsl_model_tensor_upload(f.model, w, nan));
    free(nan);
    tsl_loss_terms terms;
    ck_assert_int_eq(tsl_model_forward_backward(f.model, f.images.range, f.labels.range, 41, &terms),
                     TSL_ERR_NUMERIC);
    ck_assert_msg(strstr(tsl_error_message(), "step 41") && strstr(tsl_error_message(), "invariant"),
                  "message: %s", tsl_error_message());
    close_step_fixture(&f);
}
END_TEST

/* A small model for the tests that do not use the fixture. */
static tsl_model *small_model(tsl_vk_device *dev) {
    tsl_model_config c;
    tsl_model_config_default(&c, TSL_RESNET18);
    c.base_width = 8;
    c.image_h = c.image_w = 32;
    c.batch = 4;
    c.projector = "64-64-32";
    c.classes = 5;
    tsl_model *m;
    TSL_TEST_OK(tsl_model_create(dev, &c, &m));
    return m;
}

/* Every parameter and running statistic, concatenated, in table order. */
static float *download_state(tsl_model *m, uint64_t *total) {
    int n;
    const tsl_model_tensor *all = tsl_model_tensors(m, &n);
    *total = 0;
    for (int i = 0; i < n; i++)
        *total += all[i].count;
    float *data = malloc(4 * *total), *at = data;
    for (int i = 0; i < n; i++) {
        TSL_TEST_OK(tsl_model_tensor_download(m, &all[i], at));
        at += all[i].count;
    }
    return data;
}

static bool is_zero_init_gamma(const tsl_model *m, const char *name) {
    const tsl_resnet *net = tsl_model_resnet(m);
    char want[96];
    for (int i = 0; i < net->n_layers; i++) {
        snprintf(want, sizeof want, "%s.weight", net->layers[i].name);
        if (net->layers[i].zero_init && strcmp(want, name) == 0)
            return true;
    }
    return false;
}

/* Sample mean and standard deviation. */
static void moments(const float *x, uint64_t n, double *mean, double *std) {
    double s = 0, ss = 0;
    for (uint64_t i = 0; i < n; i++)
        s += x[i];
    *mean = s / n;
    for (uint64_t i = 0; i < n; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *std = sqrt(ss / n);
}

/* A conv weight is N(0, 2 / fan_out): its sample std is within 5 standard errors (std / sqrt(2n)) and
 * its mean within 5 std / sqrt(n). A linear's is U(-b, b), b = 1/sqrt(in): within the bound, std b/sqrt(3)
 * within 5 standard errors (sqrt(0.8 / n) / 2 relative, for a uniform). */
static void check_init_statistics(const tsl_model_tensor *t, const float *x, bool zero_gamma,
                                  int feature_dim) {
    double mean, std;
    moments(x, t->count, &mean, &std);
    double n = (double)t->count;
    if (t->kind == TSL_MT_PARAM && t->ndim == 4) {
        double want = sqrt(2.0 / (double)(t->shape[0] * t->shape[2] * t->shape[3]));
        ck_assert_msg(fabs(std / want - 1) < 5 / sqrt(2 * n) && fabs(mean) < 5 * want / sqrt(n),
                      "%s: mean %g std %g, kaiming fan_out wants std %g", t->name, mean, std, want);
    } else if (t->kind == TSL_MT_PARAM && (t->ndim == 2 || strcmp(t->name, "classifier.bias") == 0)) {
        double b = 1.0 / sqrt((double)(t->ndim == 2 ? t->shape[1] : feature_dim)); /* bias: its weight's */
        for (uint64_t i = 0; i < t->count; i++)
            ck_assert_msg(fabs(x[i]) <= b, "%s[%llu] = %g outside +-%g", t->name, (unsigned long long)i, x[i],
                          b);
        if (t->count >= 1000)
            ck_assert_msg(fabs(std / (b / sqrt(3.0)) - 1) < 5 * sqrt(0.8 / n) / 2,
                          "%s: std %g, U(-%g, %g) wants %g", t->name, std, b, b, b / sqrt(3.0));
    } else {
        bool var = t->kind == TSL_MT_RUNNING_VAR || (t->kind == TSL_MT_PARAM && strstr(t->name, ".weight"));
        float want = var && !zero_gamma ? 1.0f : 0.0f;
        for (uint64_t i = 0; i < t->count; i++)
            ck_assert_msg(x[i] == want, "%s[%llu] = %g, want %g", t->name, (unsigned long long)i, x[i], want);
    }
}

START_TEST(init_is_deterministic_with_torchvision_statistics) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("init_is_deterministic");
    tsl_model *m = small_model(dev);
    uint64_t n1, n2, n3;
    TSL_TEST_OK(tsl_model_init_random(m, seed));
    float *a = download_state(m, &n1);
    TSL_TEST_OK(tsl_model_init_random(m, seed));
    float *b = download_state(m, &n2);
    ck_assert_msg(n1 == n2 && memcmp(a, b, 4 * n1) == 0, "seed %llu: two inits differ",
                  (unsigned long long)seed);
    TSL_TEST_OK(tsl_model_init_random(m, seed + 1));
    float *c = download_state(m, &n3);
    ck_assert_msg(memcmp(a, c, 4 * n1) != 0, "seeds %llu and %llu give the same weights",
                  (unsigned long long)seed, (unsigned long long)seed + 1);

    int n, zero_gammas = 0;
    const tsl_model_tensor *all = tsl_model_tensors(m, &n);
    const float *at = a;
    for (int i = 0; i < n; i++) {
        bool zero_gamma = all[i].kind == TSL_MT_PARAM && is_zero_init_gamma(m, all[i].name);
        zero_gammas += zero_gamma;
        if (all[i].kind == TSL_MT_GRAD)
            ; /* not initialised: written by every step */
        else if (all[i].kind == TSL_MT_MOMENTUM)
            for (uint64_t j = 0; j < all[i].count; j++)
                ck_assert_msg(at[j] == 0.0f, "%s not zero", all[i].name);
        else
            check_init_statistics(&all[i], at, zero_gamma, tsl_model_feature_dim(m));
        at += all[i].count;
    }
    ck_assert_int_eq(zero_gammas, 8); /* ResNet-18: the second BN of each of its 8 blocks */
    free(a);
    free(b);
    free(c);
    tsl_model_destroy(m);
    tsl_test_device_close(dev);
}
END_TEST

/* 20 LARS steps on one fixed random batch from torchvision's init: the loss must fall. */
START_TEST(training_on_a_fixed_batch_lowers_the_loss) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("training_lowers_the_loss");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_model *m = small_model(dev);
    TSL_TEST_OK(tsl_model_init_random(m, seed));
    size_t n_pixels = 16 * 3 * 32 * 32;
    float *x = malloc(4 * n_pixels);
    for (size_t i = 0; i < n_pixels; i++)
        x[i] = (float)tsl_test_rng_normal(&rng);
    tsl_vk_buffer images = tsl_test_upload_floats(dev, x, n_pixels, "images");
    uint32_t labels[16];
    for (int i = 0; i < 16; i++)
        labels[i] = (uint32_t)(tsl_test_rng_u64(&rng) % 5);
    tsl_vk_buffer lb = tsl_test_alloc(dev, TSL_MEM_DEVICE, sizeof labels, "labels");
    tsl_test_upload(dev, &lb, labels);
    tsl_optimizer_config lars = {.lr_weights = TRAIN_LR_WEIGHTS,
                                 .lr_biases = TRAIN_LR_BIASES,
                                 .weight_decay = 1e-6f,
                                 .momentum = 0.9f,
                                 .eta = 0.001f};
    tsl_loss_terms first = {0}, t = {0};
    for (int step = 0; step < 20; step++) {
        TSL_TEST_OK(tsl_model_forward_backward(m, images.range, lb.range, step, &t));
        TSL_TEST_OK(tsl_model_optimizer_step(m, &lars));
        printf("  step %2d: loss %.4f (inv %.4f, equi %.4f, ce %.4f)\n", step, t.total, t.inv, t.equi, t.ce);
        if (step == 0)
            first = t;
    }
    ck_assert_msg(t.total < TRAIN_FALL * first.total, "seed %llu: loss %g after 20 steps, %g at the first",
                  (unsigned long long)seed, t.total, first.total);
    free(x);
    tsl_vk_free(dev, &images);
    tsl_vk_free(dev, &lb);
    tsl_model_destroy(m);
    tsl_test_device_close(dev);
}
END_TEST

/* Every state tensor (parameters, momentum, running statistics) written with tsl_safetensors_write under
 * its tsl_model_tensors name and loaded into a fresh model gives the same state and the same next step,
 * bit for bit: what `tessl train` checkpoints and resume rely on. */
START_TEST(state_round_trips_through_safetensors) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("state_round_trips");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    tsl_model *a = small_model(dev), *b = small_model(dev);
    TSL_TEST_OK(tsl_model_init_random(a, seed));
    float *x = tsl_test_random_floats(&rng, 16 * 3 * 32 * 32, -1, 1);
    tsl_vk_buffer images = tsl_test_upload_floats(dev, x, 16 * 3 * 32 * 32, "images");
    uint32_t labels[16] = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0};
    tsl_vk_buffer lb = tsl_test_alloc(dev, TSL_MEM_DEVICE, sizeof labels, "labels");
    tsl_test_upload(dev, &lb, labels);
    tsl_optimizer_config lars = {
        .lr_weights = 0.5f, .lr_biases = 0.01f, .weight_decay = 1e-6f, .momentum = 0.9f, .eta = 0.001f};
    tsl_loss_terms ta, tb;
    TSL_TEST_OK(tsl_model_forward_backward(a, images.range, lb.range, 0, &ta));
    TSL_TEST_OK(tsl_model_optimizer_step(a, &lars));

    int n, saved = 0;
    const tsl_model_tensor *all = tsl_model_tensors(a, &n);
    tsl_tensor_view *views = calloc(n, sizeof *views);
    float **data = calloc(n, sizeof *data);
    for (int i = 0; i < n; i++) {
        if (all[i].kind == TSL_MT_GRAD)
            continue;
        data[saved] = malloc(4 * all[i].count);
        TSL_TEST_OK(tsl_model_tensor_download(a, &all[i], data[saved]));
        views[saved] = (tsl_tensor_view){all[i].name, TSL_DTYPE_F32, all[i].ndim, {0}, data[saved]};
        memcpy(views[saved].shape, all[i].shape, sizeof all[i].shape);
        saved++;
    }
    char *dir = tsl_test_temp_dir("state");
    char path[512];
    snprintf(path, sizeof path, "%s/state.safetensors", dir);
    TSL_TEST_OK(tsl_safetensors_write(path, views, saved, NULL, NULL, 0));
    tsl_safetensors st;
    TSL_TEST_OK(tsl_safetensors_read(path, 64u << 20, &st));
    int loaded;
    TSL_TEST_OK(tsl_model_load_safetensors(b, &st, true, &loaded));
    ck_assert_int_eq(loaded, saved);
    uint64_t na, nb;
    float *sa = download_state(a, &na), *sb = download_state(b, &nb);
    ck_assert(na == nb);
    int n_b;
    const tsl_model_tensor *all_b = tsl_model_tensors(b, &n_b);
    uint64_t at = 0;
    for (int i = 0; i < n_b; i++) { /* gradients are not state */
        if (all_b[i].kind != TSL_MT_GRAD)
            ck_assert_msg(memcmp(sa + at, sb + at, 4 * all_b[i].count) == 0, "%s differs after loading",
                          all_b[i].name);
        at += all_b[i].count;
    }
    TSL_TEST_OK(tsl_model_forward_backward(a, images.range, lb.range, 1, &ta));
    TSL_TEST_OK(tsl_model_forward_backward(b, images.range, lb.range, 1, &tb));
    ck_assert_msg(ta.total == tb.total && ta.inv == tb.inv && ta.equi == tb.equi && ta.ce == tb.ce,
                  "next step: %.9g vs %.9g", ta.total, tb.total);
    for (int i = 0; i < saved; i++)
        free(data[i]);
    free(data);
    free(views);
    free(sa);
    free(sb);
    free(x);
    tsl_safetensors_free(&st);
    tsl_test_remove_tree(dir);
    free(dir);
    tsl_vk_free(dev, &images);
    tsl_vk_free(dev, &lb);
    tsl_model_destroy(a);
    tsl_model_destroy(b);
    tsl_test_device_close(dev);
}
END_TEST

/* lambda = 0 builds no equivariant projector (no g_equi tensors, no W) and reports equi = 0; lambda = 1
 * builds no invariant one. A step still runs and trains the rest. */
START_TEST(a_zero_weight_skips_its_projector) {
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("zero_weight_skips_projector");
    for (int h = 0; h < 2; h++) {
        tsl_model_config c;
        tsl_model_config_default(&c, TSL_RESNET18);
        c.base_width = 8;
        c.image_h = c.image_w = 32;
        c.batch = 2;
        c.projector = "16-16";
        c.lambda = (float)h;
        tsl_model *m;
        TSL_TEST_OK(tsl_model_create(dev, &c, &m));
        TSL_TEST_OK(tsl_model_init_random(m, seed));
        ck_assert(tsl_model_find_tensor(m, h ? "g_inv.0.weight" : "g_equi.0.weight") == NULL);
        ck_assert(tsl_model_find_tensor(m, h ? "g_equi.3.weight" : "g_inv.3.weight") != NULL);
        tsl_vk_range r;
        uint64_t count;
        ck_assert_int_eq(tsl_model_activation(m, h ? "z" : "w", &r, &count), TSL_ERR_NOT_FOUND);
        tsl_test_rng rng = tsl_test_rng_new(seed);
        float *x = tsl_test_random_floats(&rng, 8 * 3 * 32 * 32, -1, 1);
        tsl_vk_buffer images = tsl_test_upload_floats(dev, x, 8 * 3 * 32 * 32, "images");
        tsl_loss_terms t;
        TSL_TEST_OK(tsl_model_forward_backward(m, images.range, (tsl_vk_range){0}, 0, &t));
        ck_assert_msg(h ? t.inv == 0 && t.equi > 0 && t.total == t.equi
                        : t.equi == 0 && t.inv > 0 && t.total == t.inv,
                      "lambda %d: inv %g equi %g total %g", h, t.inv, t.equi, t.total);
        free(x);
        tsl_vk_free(dev, &images);
        tsl_model_destroy(m);
    }
    tsl_test_device_close(dev);
}
END_TEST

/* Bad configurations are refused with a message naming the problem. */
START_TEST(bad_configurations_are_refused) {
    tsl_vk_device *dev = tsl_test_device_open();
    tsl_model_config c;
    tsl_model_config_default(&c, TSL_RESNET18);
    c.base_width = 8;
    c.image_h = c.image_w = 32;
    c.batch = 4;
    tsl_model *m;
    const char *bad_projectors[] = {"", "32-", "-32", "32-x", "0-32", "70000"};
    for (size_t i = 0; i < sizeof bad_projectors / sizeof *bad_projectors; i++) {
        c.projector = bad_projectors[i];
        ck_assert_int_eq(tsl_model_create(dev, &c, &m), TSL_ERR_INVALID_ARG);
        ck_assert_msg(strstr(tsl_error_message(), "projector"), "%s", tsl_error_message());
    }
    c.projector = "32-32";
    c.batch = 1;
    ck_assert_int_eq(tsl_model_create(dev, &c, &m), TSL_ERR_INVALID_ARG);
    c.batch = 4;
    c.lambda = 1.5f;
    ck_assert_int_eq(tsl_model_create(dev, &c, &m), TSL_ERR_INVALID_ARG);
    tsl_test_device_close(dev);
}
END_TEST

int main(void) {
    Suite *s = suite_create("train_step");
    TCase *tc = tcase_create("train_step");
    tcase_set_timeout(tc, 300); /* a case that compiles the 32 x 16 GEMM pipelines: ~45 s each under ASan */
    tcase_add_test(tc, step_matches_pytorch);
    tcase_add_test(tc, trunk_outputs_match_pytorch);
    tcase_add_test(tc, non_finite_loss_is_reported);
    tcase_add_test(tc, init_is_deterministic_with_torchvision_statistics);
    tcase_add_test(tc, training_on_a_fixed_batch_lowers_the_loss);
    tcase_add_test(tc, state_round_trips_through_safetensors);
    tcase_add_test(tc, a_zero_weight_skips_its_projector);
    tcase_add_test(tc, bad_configurations_are_refused);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
