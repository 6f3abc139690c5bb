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
/* The gradients' memory of a trunk (tsl_model_plan_trunk), checked independently of the planner:
 * the backward pass is run over symbolic memory. Each gradient lies at its offset with its size; the
 * planner's aliases share one gradient's memory and hold the same values (a residual sum's) or the next
 * (a ReLU's, in place). Layer t's backward must find its own gradient intact; every write (a gradient
 * written first, a ReLU's backward in place, a later path's gradient formed in t's temporary and added
 * into one already there) may destroy only gradients whose backward has run already (numbered above t).
 * Returns the number of aliases. */
typedef struct {
    const tsl_resnet *net;
    const tsl_trunk_plan *plan;
    bool *holds, *written; /* per layer: its gradient is intact in memory; it was written */
    int n;
} grad_sim;

static uint64_t floats_of(const tsl_resnet *net, int j) {
    const tsl_layer *l = &net->layers[j];
    return (uint64_t)l->c_out * l->h_out * l->w_out;
}

/* A write of [at, at + floats) by layer t's backward, which leaves `keep`'s gradient valid. */
static void sim_overwrite(grad_sim *s, uint64_t at, uint64_t floats, int keep, int t) {
    ck_assert(at + floats <= s->plan->area_floats);
    for (int m = 0; m < s->n; m++) {
        uint64_t from = s->plan->offset[m], to = from + floats_of(s->net, m);
        if (!s->holds[m] || m == keep || to <= at || from >= at + floats)
            continue;
        ck_assert_msg(m > t, "%s (layer %d) destroys %s's gradient, still to be read", s->net->layers[t].name,
                      t, s->net->layers[m].name);
        s->holds[m] = false;
    }
}

/* Layer t's backward produces (part of) layer j's gradient. */
static int sim_write(grad_sim *s, int t, int j) {
    const tsl_layer *l = &s->net->layers[t];
    const tsl_trunk_plan *p = s->plan;
    uint64_t fj = floats_of(s->net, j);
    if (s->written[j]) { /* a later path: formed in t's temporary (a sum's: dy), added into j's */
        ck_assert_msg(s->holds[j], "%s's gradient was lost before %s adds to it", s->net->layers[j].name,
                      l->name);
        ck_assert_msg(p->alias_of[j] != t, "%s: alias of a gradient written already", l->name);
        if (l->kind != TSL_LAYER_ADD) {
            ck_assert_msg(p->temp_offset[t] != UINT64_MAX, "%s has no temporary", l->name);
            sim_overwrite(s, p->temp_offset[t], fj, -1, t);
            ck_assert_msg(s->holds[t] && s->holds[j], "%s's temporary overlaps its gradients", l->name);
        }
        sim_overwrite(s, p->offset[j], fj, j, t);
        return 0;
    }
    s->written[j] = true;
    if (p->alias_of[j] == t) { /* j's gradient is t's memory */
        ck_assert_uint_eq(p->offset[j], p->offset[t]);
        ck_assert_uint_eq(fj, floats_of(s->net, t));
        ck_assert(l->kind == TSL_LAYER_ADD || l->kind == TSL_LAYER_RELU);
        if (l->kind == TSL_LAYER_RELU) { /* dx = dy * mask over dy */
            sim_overwrite(s, p->offset[j], fj, t, t);
            s->holds[t] = false;
        }
        s->holds[j] = true; /* a sum's: the same values as t's */
        return 1;
    }
    ck_assert_msg(p->alias_of[j] == -1, "%s's alias is not its first writer", s->net->layers[j].name);
    sim_overwrite(s, p->offset[j], fj, -1, t);
    ck_assert_msg(s->holds[t], "%s writes %s's gradient over the one it reads", l->name,
                  s->net->layers[j].name);
    s->holds[j] = true;
    return 0;
}

static int simulate_gradients(const tsl_resnet *net, const tsl_trunk_plan *plan) {
    int n = net->n_layers, aliases = 0;
    grad_sim s = {net, plan, calloc(n, sizeof(bool)), calloc(n, sizeof(bool)), n};
    ck_assert(s.holds && s.written);
    for (int j = 0; j < n; j++)
        ck_assert(plan->offset[j] % 64 == 0 && plan->offset[j] + floats_of(net, j) <= plan->area_floats);
    s.written[n - 1] = s.holds[n - 1] = true; /* by the projectors */
    for (int t = n - 1; t >= 0; t--) {
        const tsl_layer *l = &net->layers[t];
        ck_assert_msg(s.written[t] && s.holds[t], "%s (layer %d) finds no gradient", l->name, t);
        int src = tsl_layer_source(net->layers, t);
        if (src >= 0)
            aliases += sim_write(&s, t, src);
        if (l->kind == TSL_LAYER_ADD)
            aliases += sim_write(&s, t, l->skip);
        s.holds[t] = false; /* read for the last time */
    }
    free(s.holds);
    free(s.written);
    return aliases;
}

/* Without aliases every gradient has memory of its own while alive; with them, the main path's gradient
 * stays in one place through a stage and every residual sum passes its gradient on with no copy. That
 * never costs memory, and in ResNet-50 the gradients need 2 1/2 of its largest gradient (64 x 112 x 112
 * = 256 x 56 x 56 floats per image) instead of 3; the layout before the planner placed temporaries and
 * followed aliases (slots as large as their largest gradient, a temporary as large as the largest) took
 * 4. */
START_TEST(gradient_slots_never_hold_two_live_gradients) {
    const tsl_resnet_arch archs[] = {TSL_RESNET18, TSL_RESNET34, TSL_RESNET50};
    const int adds[] = {8, 16, 16};
    for (size_t a = 0; a < 3; a++) {
        tsl_resnet net;
        TSL_TEST_OK(tsl_resnet_describe(archs[a], TSL_RESNET_BASE_WIDTH, 224, 224, &net));
        tsl_trunk_plan *plan = malloc(sizeof *plan);
        ck_assert(plan);
        tsl_trunk_plan_options o = {.rows = 1};
        TSL_TEST_OK(tsl_model_plan_trunk(&net, &o, plan));
        for (int j = 0; j < net.n_layers; j++)
            ck_assert_int_eq(plan->alias_of[j], -1);
        ck_assert_int_eq(simulate_gradients(&net, plan), 0);
        uint64_t plain = plan->area_floats;
        o.aliases = true;
        TSL_TEST_OK(tsl_model_plan_trunk(&net, &o, plan));
        int aliases = simulate_gradients(&net, plan);
        /* the ReLU after every sum and the stem's, the sum's first summand and its skip */
        ck_assert_int_ge(aliases, 1 + 3 * adds[a]);
        uint64_t largest = 64 * 112 * 112; /* per image, = 256 x 56 x 56 */
        ck_assert_msg(plan->area_floats <= plain, "%llu floats per image with aliases, %llu without",
                      (unsigned long long)plan->area_floats, (unsigned long long)plain);
        if (archs[a] == TSL_RESNET50)
            ck_assert_uint_le(2 * plan->area_floats, 5 * largest);
        printf(
            "%s: gradients in %.2f MB per image (%.2f of the largest), %d aliases; %.2f MB without aliases\n",
            tsl_resnet_arch_name(archs[a]), 4e-6 * plan->area_floats, (double)plan->area_floats / largest,
            aliases, 4e-6 * plain);
        free(plan);
        tsl_resnet_free(&net);
    }
}
END_TEST

/* The model's own layout (tsl_model_plan_trunk with outputs): outputs, gradients and a loss buffer in one
 * area, checked by running the step over symbolic memory, independently of the planner's lifetimes.
 * The forward writes each output (an in-place one over its source) and must find its inputs intact;
 * the loss writes its buffer; the backward of layer t must find what it reads intact (a convolution's or
 * BatchNorm's input, a ReLU's own output) and its gradient writes (the plan's offsets of the gradients
 * it writes and of its temporary) destroy outputs; the features must survive the step. The gradients
 * among themselves are checked by simulate_gradients. */
typedef struct {
    const tsl_resnet *net;
    const tsl_trunk_plan *plan;
    bool *intact; /* per layer: its output is intact in memory */
} output_sim;

static void output_overwrite(output_sim *s, uint64_t at, uint64_t floats, int writer) {
    ck_assert(at + floats <= s->plan->area_floats);
    ck_assert_msg(at / s->plan->segment_floats == (at + floats - 1) / s->plan->segment_floats,
                  "a write by layer %d crosses a segment", writer);
    for (int m = 0; m < s->net->n_layers; m++) {
        uint64_t from = s->plan->out_offset[m], to = from + floats_of(s->net, m);
        if (m != writer && to > at && from < at + floats)
            s->intact[m] = false;
    }
}

static void output_read(const output_sim *s, int j, const char *by) {
    ck_assert_msg(s->intact[j], "%s finds %s's output overwritten", by, s->net->layers[j].name);
}

static void simulate_outputs(const tsl_resnet *net, const tsl_trunk_plan *plan, uint64_t loss_floats) {
    int n = net->n_layers;
    output_sim s = {net, plan, calloc(n, sizeof(bool))};
    ck_assert(s.intact);
    for (int i = 0; i < n; i++) { /* forward */
        const tsl_layer *l = &net->layers[i];
        int src = tsl_layer_source(net->layers, i);
        if (src >= 0)
            output_read(&s, src, l->name);
        if (l->kind == TSL_LAYER_ADD)
            output_read(&s, l->skip, l->name);
        output_overwrite(&s, plan->out_offset[i], floats_of(net, i), i);
        s.intact[i] = true;
    }
    output_read(&s, n - 1, "the projectors");
    ck_assert(plan->loss_offset[0] != UINT64_MAX && plan->loss_offset[0] % 64 == 0);
    output_overwrite(&s, plan->loss_offset[0], loss_floats, -1);
    output_overwrite(&s, plan->offset[n - 1], floats_of(net, n - 1), -1); /* the projectors' backward */
    output_read(&s, n - 1, "the projectors' backward");
    for (int t = n - 1; t >= 0; t--) {
        const tsl_layer *l = &net->layers[t];
        int src = tsl_layer_source(net->layers, t);
        if ((l->kind == TSL_LAYER_CONV || l->kind == TSL_LAYER_BN) && src >= 0)
            output_read(&s, src, l->name);
        if (l->kind == TSL_LAYER_RELU)
            output_read(&s, t, l->name);
        if (src >= 0)
            output_overwrite(&s, plan->offset[src], floats_of(net, src), -1);
        if (l->kind == TSL_LAYER_ADD)
            output_overwrite(&s, plan->offset[l->skip], floats_of(net, l->skip), -1);
        if (plan->temp_offset[t] != UINT64_MAX)
            output_overwrite(&s, plan->temp_offset[t], floats_of(net, src), -1);
    }
    output_read(&s, n - 1, "the step's caller");
    free(s.intact);
}

/* In ResNet-50 at 224 px the gradients then cost little beyond the outputs: the whole area stays within
 * the outputs' memory (each layer's own, in-place ones not counted) plus the loss buffer plus half the
 * largest gradient, where the gradients alone took 2 1/2 times the largest (see above). The segment
 * limit is honoured at a size that forces several segments. */
START_TEST(outputs_gradients_and_loss_share_one_area) {
    const tsl_resnet_arch archs[] = {TSL_RESNET18, TSL_RESNET34, TSL_RESNET50};
    for (size_t a = 0; a < 3; a++) {
        tsl_resnet net;
        TSL_TEST_OK(tsl_resnet_describe(archs[a], TSL_RESNET_BASE_WIDTH, 224, 224, &net));
        tsl_trunk_plan *plan = malloc(sizeof *plan);
        ck_assert(plan);
        uint64_t loss = 2048 * 2048, largest = 64 * 112 * 112, outputs = 0;
        for (int j = 0; j < net.n_layers; j++)
            if (tsl_model_inplace_source(&net, j) < 0)
                outputs += (floats_of(&net, j) + 63) / 64 * 64;
        for (int segmented = 0; segmented < 2; segmented++) {
            tsl_trunk_plan_options o = {.rows = 1, .aliases = true, .outputs = true, .loss_floats = {loss}};
            o.segment_floats = segmented ? outputs / 4 : 0;
            TSL_TEST_OK(tsl_model_plan_trunk(&net, &o, plan));
            simulate_gradients(&net, plan);
            simulate_outputs(&net, plan, loss);
            if (segmented) /* the requested size, or the largest item when that is larger (the loss's) */
                ck_assert(plan->segment_floats >= outputs / 4 / 64 * 64 && plan->segment_floats >= loss &&
                          plan->area_floats > 2 * plan->segment_floats);
            printf("%s%s: outputs, gradients and C in %.2f MB per image (outputs alone %.2f MB)\n",
                   tsl_resnet_arch_name(archs[a]), segmented ? " (segments)" : "", 4e-6 * plan->area_floats,
                   4e-6 * outputs);
            if (archs[a] == TSL_RESNET50 && !segmented)
                ck_assert_uint_le(plan->area_floats, outputs + loss + largest / 2);
        }
        free(plan);
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
    tcase_add_test(tc, outputs_gradients_and_loss_share_one_area);
    tcase_add_test(tc, in_place_outputs_overwrite_nothing_needed_later);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
