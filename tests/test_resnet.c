/* trainer/model: the ResNet description equals torchvision's structure: state-dict names, order and
 * shapes, and every convolution's output shape at several resolutions (tests/fixtures/resnet_structure.txt,
 * written by tools/make_resnet_fixture.py). */
#include "tsl_model_internal.h"
#include "tsl_resnet.h"
#include "tsl_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TSL_FIXTURE_DIR
#error "TSL_FIXTURE_DIR must name tests/fixtures"
#endif

static FILE *open_fixture(void) {
    FILE *f = fopen(TSL_FIXTURE_DIR "/resnet_structure.txt", "r");
    ck_assert_msg(f != NULL, "cannot open " TSL_FIXTURE_DIR "/resnet_structure.txt");
    return f;
}

static void shape_string(const tsl_param_info *p, char *out, size_t size) {
    if (p->ndim == 0) {
        snprintf(out, size, "-");
        return;
    }
    size_t used = 0;
    for (int i = 0; i < p->ndim; i++)
        used += snprintf(out + used, size - used, i ? "x%lld" : "%lld", (long long)p->shape[i]);
}

static void check_params(tsl_resnet_arch arch) {
    tsl_resnet net;
    TSL_TEST_OK(tsl_resnet_describe(arch, TSL_RESNET_BASE_WIDTH, 224, 224, &net));
    tsl_param_info *params;
    int n;
    TSL_TEST_OK(tsl_resnet_params(&net, &params, &n));
    FILE *f = open_fixture();
    char line[256], kind[16], a[16], name[128], shape[64], ours[64];
    int i = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%15s %15s %127s %63s", kind, a, name, shape) != 4 || strcmp(kind, "param") != 0 ||
            strcmp(a, tsl_resnet_arch_name(arch)) != 0)
            continue;
        ck_assert_msg(i < n, "%s: torchvision has more tensors than ours (%d), next %s", a, n, name);
        ck_assert_msg(strcmp(params[i].name, name) == 0, "%s tensor %d: ours %s, torchvision %s", a, i,
                      params[i].name, name);
        shape_string(&params[i], ours, sizeof ours);
        ck_assert_msg(strcmp(ours, shape) == 0, "%s %s: shape ours %s, torchvision %s", a, name, ours, shape);
        i++;
    }
    fclose(f);
    ck_assert_msg(i == n, "%s: torchvision has %d tensors, ours %d", tsl_resnet_arch_name(arch), i, n);
    free(params);
    tsl_resnet_free(&net);
}

START_TEST(state_dict_matches_torchvision) {
    check_params(TSL_RESNET18);
    check_params(TSL_RESNET34);
    check_params(TSL_RESNET50);
}
END_TEST

static void check_conv_shapes(tsl_resnet_arch arch, int h, int w) {
    tsl_resnet net;
    TSL_TEST_OK(tsl_resnet_describe(arch, TSL_RESNET_BASE_WIDTH, h, w, &net));
    char res[16];
    snprintf(res, sizeof res, "%dx%d", h, w);
    FILE *f = open_fixture();
    char line[256], kind[16], a[16], r[16], name[128], shape[64], ours[64];
    int layer = 0, matched = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%15s %15s %15s %127s %63s", kind, a, r, name, shape) != 5 || strcmp(kind, "conv") ||
            strcmp(a, tsl_resnet_arch_name(arch)) || strcmp(r, res))
            continue;
        while (layer < net.n_layers && net.layers[layer].kind != TSL_LAYER_CONV)
            layer++;
        ck_assert_msg(layer < net.n_layers, "%s at %s: missing conv %s", a, res, name);
        const tsl_layer *l = &net.layers[layer++];
        snprintf(ours, sizeof ours, "%dx%dx%d", l->c_out, l->h_out, l->w_out);
        ck_assert_msg(strcmp(l->name, name) == 0 && strcmp(ours, shape) == 0,
                      "%s at %s: ours %s %s, torchvision %s %s", a, res, l->name, ours, name, shape);
        matched++;
    }
    fclose(f);
    ck_assert_int_gt(matched, 0);
    ck_assert_int_eq(net.feature_dim, arch == TSL_RESNET50 ? 2048 : 512);
    tsl_resnet_free(&net);
}

START_TEST(conv_shapes_match_torchvision) {
    for (int arch = 0; arch < TSL_RESNET_ARCH_COUNT; arch++) {
        check_conv_shapes((tsl_resnet_arch)arch, 224, 224);
        check_conv_shapes((tsl_resnet_arch)arch, 64, 64);
        check_conv_shapes((tsl_resnet_arch)arch, 13, 17);
    }
}
END_TEST

START_TEST(graph_links_and_init_flags) {
    tsl_resnet net;
    TSL_TEST_OK(tsl_resnet_describe(TSL_RESNET50, TSL_RESNET_BASE_WIDTH, 64, 64, &net));
    int adds = 0, zero_init = 0;
    for (int i = 0; i < net.n_layers; i++) {
        const tsl_layer *l = &net.layers[i];
        if (l->kind == TSL_LAYER_ADD) {
            adds++;
            ck_assert(l->input >= 0 && l->input < i && l->skip >= 0 && l->skip < i);
            ck_assert_int_eq(net.layers[l->input].kind, TSL_LAYER_BN);
            ck_assert_int_eq(net.layers[l->input].c_out, net.layers[l->skip].c_out);
        }
        zero_init += l->zero_init;
    }
    ck_assert_int_eq(adds, 16); /* 3 + 4 + 6 + 3 bottlenecks */
    ck_assert_int_eq(zero_init, 16);
    tsl_resnet_arch arch;
    ck_assert_int_eq(tsl_resnet_arch_parse("resnet101", &arch), TSL_ERR_INVALID_ARG);
    ck_assert(strstr(tsl_error_message(), "resnet101"));
    tsl_resnet_free(&net);
}
END_TEST

/* A narrow net scales every width by base_width / 64, as torchvision's width would. */
/* The trunk's output gradients share buffers (tsl_model_gradient_slots). Layer j's gradient is alive
 * from the backward of its last reader (the projectors for the last layer) down to j's own backward,
 * both ends included; two gradients in one slot must never be alive at once. Re-derived here from the
 * graph, independently of the planner. train_step's comparison with PyTorch covers the numbers. */
START_TEST(gradient_slots_never_hold_two_live_gradients) {
    const tsl_resnet_arch archs[] = {TSL_RESNET18, TSL_RESNET34, TSL_RESNET50};
    for (size_t a = 0; a < 3; a++) {
        tsl_resnet net;
        TSL_TEST_OK(tsl_resnet_describe(archs[a], TSL_RESNET_BASE_WIDTH, 224, 224, &net));
        int n = net.n_layers, *slot = malloc(sizeof(int) * n), *last_reader = malloc(sizeof(int) * n);
        ck_assert(slot && last_reader);
        int n_slots = tsl_model_gradient_slots(&net, slot);
        for (int j = 0; j < n; j++)
            last_reader[j] = j == n - 1 ? n : -1;
        for (int i = 0; i < n; i++) {
            const tsl_layer *l = &net.layers[i];
            int src = tsl_layer_source(net.layers, i);
            if (src >= 0)
                last_reader[src] = i > last_reader[src] ? i : last_reader[src];
            if (l->kind == TSL_LAYER_ADD)
                last_reader[l->skip] = i > last_reader[l->skip] ? i : last_reader[l->skip];
        }
        for (int j = 0; j < n; j++) {
            ck_assert(slot[j] >= 0 && slot[j] < n_slots);
            for (int k = j + 1; k < n; k++)
                if (slot[j] == slot[k]) /* [j, last_reader[j]] and [k, last_reader[k]] must be disjoint */
                    ck_assert_msg(last_reader[j] < k, "%s and %s share slot %d while both alive",
                                  net.layers[j].name, net.layers[k].name, slot[j]);
        }
        /* A handful of buffers instead of one per layer (173 for ResNet-50). */
        ck_assert_msg(n_slots <= 4, "%d slots for %d layers", n_slots, n);
        free(slot);
        free(last_reader);
        tsl_resnet_free(&net);
    }
}
END_TEST

/* A layer written in place over its source's output (tsl_model_inplace_source) must be elementwise (ReLU
 * or addition) of the same shape, and the memory it overwrites must be needed by nobody else: the source
 * is a BatchNorm or an addition (whose backward reads no output) and no other layer reads it. Every
 * block's ReLUs and sum qualify: the stem's ReLU plus 3 per basic block, 4 per bottleneck. */
START_TEST(in_place_outputs_overwrite_nothing_needed_later) {
    const tsl_resnet_arch archs[] = {TSL_RESNET18, TSL_RESNET34, TSL_RESNET50};
    const int want[] = {1 + 8 * 3, 1 + 16 * 3, 1 + 16 * 4};
    for (size_t a = 0; a < 3; a++) {
        tsl_resnet net;
        TSL_TEST_OK(tsl_resnet_describe(archs[a], TSL_RESNET_BASE_WIDTH, 224, 224, &net));
        int in_place = 0;
        for (int i = 0; i < net.n_layers; i++) {
            int src = tsl_model_inplace_source(&net, i);
            if (src < 0)
                continue;
            in_place++;
            const tsl_layer *l = &net.layers[i], *s = &net.layers[src];
            ck_assert_msg(l->kind == TSL_LAYER_RELU || l->kind == TSL_LAYER_ADD, "%s is not elementwise",
                          l->name);
            ck_assert_msg(s->kind == TSL_LAYER_BN || s->kind == TSL_LAYER_ADD, "%s over %s", l->name,
                          s->name);
            ck_assert(src == tsl_layer_source(net.layers, i));
            ck_assert(l->c_out == s->c_out && l->h_out == s->h_out && l->w_out == s->w_out);
            for (int k = 0; k < net.n_layers; k++) {
                const tsl_layer *r = &net.layers[k];
                bool reads =
                    tsl_layer_source(net.layers, k) == src || (r->kind == TSL_LAYER_ADD && r->skip == src);
                ck_assert_msg(k == i || !reads, "%s overwrites %s, which %s reads", l->name, s->name,
                              r->name);
            }
        }
        ck_assert_int_eq(in_place, want[a]);
        /* Outputs no backward reads: exactly the downsample BatchNorms (one per stage after the first;
         * ResNet-50's first stage has one too), read only by their block's sum. */
        int forward_only = 0;
        for (int j = 0; j < net.n_layers; j++) {
            int until = tsl_model_forward_only_until(&net, j);
            if (until < 0)
                continue;
            forward_only++;
            ck_assert_msg(strstr(net.layers[j].name, "downsample.1") &&
                              net.layers[until].kind == TSL_LAYER_ADD && net.layers[until].skip == j,
                          "%s is forward-only until %s", net.layers[j].name, net.layers[until].name);
        }
        ck_assert_int_eq(forward_only, a == 2 ? 4 : 3);
        tsl_resnet_free(&net);
    }
}
END_TEST

START_TEST(base_width_scales_every_stage) {
    tsl_resnet net;
    TSL_TEST_OK(tsl_resnet_describe(TSL_RESNET18, 8, 32, 32, &net));
    ck_assert_int_eq(net.feature_dim, 64);
    ck_assert_int_eq(net.layers[0].c_out, 8);
    tsl_resnet_free(&net);
    TSL_TEST_OK(tsl_resnet_describe(TSL_RESNET50, 8, 32, 32, &net));
    ck_assert_int_eq(net.feature_dim, 256);
    tsl_resnet_free(&net);
    ck_assert_int_eq(tsl_resnet_describe(TSL_RESNET18, 0, 32, 32, &net), TSL_ERR_INVALID_ARG);
}
END_TEST

int main(void) {
    Suite *s = suite_create("resnet");
    TCase *tc = tcase_create("resnet");
    tcase_add_test(tc, state_dict_matches_torchvision);
    tcase_add_test(tc, conv_shapes_match_torchvision);
    tcase_add_test(tc, graph_links_and_init_flags);
    tcase_add_test(tc, base_width_scales_every_stage);
    tcase_add_test(tc, gradient_slots_never_hold_two_live_gradients);
    tcase_add_test(tc, in_place_outputs_overwrite_nothing_needed_later);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
