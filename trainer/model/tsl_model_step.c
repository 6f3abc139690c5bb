/* A training step (forward, loss, backward in one submission, then the loss terms read back), the LARS
 * step, and evaluation-mode features. */
#include "tsl_model_internal.h"

#include "tsl_optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static tsl_status check_step_inputs(const tsl_model *m, tsl_vk_range images, tsl_vk_range labels) {
    if (m->config.trunk_only)
        return tsl_error(TSL_ERR_INVALID_ARG, "model step: a trunk-only model cannot train");
    uint64_t want = 4ull * m->rows * 3 * m->config.image_h * m->config.image_w;
    if (images.size != want)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "model step: images are %llu bytes, expected %llu (4 x %u x 3 x %d x %d)",
                         (unsigned long long)images.size, (unsigned long long)want, m->config.batch,
                         m->config.image_h, m->config.image_w);
    if (m->config.classes && labels.size != 4ull * m->rows)
        return tsl_error(TSL_ERR_INVALID_ARG, "model step: labels are %llu bytes, expected %u uint32",
                         (unsigned long long)labels.size, m->rows);
    return TSL_OK;
}

static tsl_status record_step(tsl_model *m, tsl_vk_range labels) {
    TSL_TRY(tsl_trunk_forward(m, m->images, m->rows, true));
    for (int h = 0; h < 2; h++)
        if (m->proj[h].present)
            TSL_TRY(tsl_projector_forward(m, &m->proj[h]));
    if (m->config.classes)
        TSL_TRY(tsl_classifier_forward(m));
    TSL_TRY(tsl_tessl_loss_forward_backward(m, labels));
    bool features_written = false;
    for (int h = 0; h < 2; h++)
        if (m->proj[h].present) {
            TSL_TRY(tsl_projector_backward(m, &m->proj[h], features_written));
            features_written = true;
        }
    if (m->config.classes)
        TSL_TRY(tsl_classifier_backward(m));
    return tsl_trunk_backward(m);
}

static tsl_status read_terms(const tsl_model *m, int64_t step, tsl_loss_terms *terms) {
    const float *v = m->loss_values;
    *terms = (tsl_loss_terms){0};
    const char *names[TSL_LOSS_SLOTS] = {"invariant", "equivariant", "online classifier"};
    double *slots[TSL_LOSS_SLOTS] = {&terms->inv, &terms->equi, &terms->ce};
    for (int i = 0; i < TSL_LOSS_SLOTS; i++) {
        bool present = i < 2 ? m->proj[i].present : m->config.classes > 0;
        if (!present)
            continue;
        double raw = v[i * TSL_LOSS_STRIDE_FLOATS];
        if (!isfinite(raw))
            return tsl_error(TSL_ERR_NUMERIC, "step %lld: the %s loss term is %g", (long long)step, names[i],
                             raw);
        *slots[i] = i < 2 ? raw / m->bt[i].weight : raw; /* BT values come weighted from the kernels */
    }
    terms->total = (1.0 - m->config.lambda) * terms->inv + m->config.lambda * terms->equi + terms->ce;
    return TSL_OK;
}

tsl_status tsl_model_forward_backward(tsl_model *m, tsl_vk_range images, tsl_vk_range labels, int64_t step,
                                      tsl_loss_terms *terms) {
    TSL_TRY(check_step_inputs(m, images, labels));
    m->images = images;
    for (int i = 0; i < TSL_LOSS_SLOTS; i++)
        m->loss_values[i * TSL_LOSS_STRIDE_FLOATS] = NAN; /* a term the device fails to write is caught */
    TSL_TRY(tsl_vk_cmd_begin(m->cmd));
    tsl_status s = record_step(m, labels);
    if (s != TSL_OK) {
        tsl_vk_cmd_submit_wait(m->cmd); /* leave the recorder idle; the step's error is what counts */
        return tsl_error_context(s, "step %lld", (long long)step);
    }
    TSL_TRY_CTX(tsl_vk_cmd_submit_wait(m->cmd), "step %lld", (long long)step);
    TSL_TRY(read_terms(m, step, terms));
    return tsl_model_synced(m) ? tsl_model_allreduce_gradients(m, terms) : TSL_OK;
}

/* The LARS groups of Barlow Twins: weights (decayed, trust ratio) or 1-D parameters (neither). */
static uint32_t lars_group(const tsl_model *m, bool exclude, tsl_optim_tensor *out) {
    uint32_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->tensors[i].exclude == exclude)
            out[n++] = (tsl_optim_tensor){tsl_model_param(m, i), tsl_model_grad(m, i),
                                          m->tensors[i + 2 * m->n_params].range, exclude};
    return n;
}

tsl_status tsl_model_optimizer_step(tsl_model *m, const tsl_lars_config *lars) {
    if (m->config.trunk_only)
        return tsl_error(TSL_ERR_INVALID_ARG, "optimizer step: a trunk-only model cannot train");
    tsl_optim_tensor *t = calloc(m->n_params, sizeof *t);
    if (!t)
        return tsl_error(TSL_ERR_NOMEM, "model: out of memory");
    tsl_status s = tsl_vk_cmd_begin(m->cmd);
    for (int g = 0; g < 2 && s == TSL_OK; g++) {
        uint32_t n = lars_group(m, g == 1, t);
        tsl_optim_hparams hp = {g == 0 ? lars->lr_weights : lars->lr_biases, lars->momentum,
                                lars->weight_decay, lars->eta};
        if (n)
            s = tsl_optim_lars_step(m->device, m->cmd, t, n, &hp, m->scratch.range);
    }
    /* Submitted without waiting: the next step's recording (or any transfer) waits for it, so a step
     * costs one host sync, the loss read-back. */
    tsl_status done = s == TSL_OK ? tsl_vk_cmd_submit(m->cmd, NULL) : tsl_vk_cmd_submit_wait(m->cmd);
    free(t);
    return s != TSL_OK ? s : done;
}

tsl_status tsl_model_features(tsl_model *m, tsl_vk_range images, uint32_t n, const char *layer, float *out,
                              uint64_t out_count) {
    int i = tsl_model_layer_index(m, layer);
    if (i < 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "features: unknown layer '%s' (conv1, layer1..layer4, avgpool)",
                         layer);
    if (n < 1 || n > m->rows)
        return tsl_error(TSL_ERR_INVALID_ARG, "features: %u images; the model holds 1..%u", n, m->rows);
    uint64_t per_image = 3ull * m->config.image_h * m->config.image_w;
    if (images.size != 4 * per_image * n || out_count != n * m->layers[i].per_image)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "features: images %llu bytes or output %llu floats do not match %u images",
                         (unsigned long long)images.size, (unsigned long long)out_count, n);
    TSL_TRY(tsl_vk_cmd_begin(m->cmd));
    tsl_status s = tsl_trunk_forward(m, images, n, false);
    tsl_status done = tsl_vk_cmd_submit_wait(m->cmd);
    TSL_TRY(s);
    TSL_TRY(done);
    return tsl_vk_download(m->device, tsl_rows(m->layers[i].out, m->layers[i].per_image, 0, n), out);
}
