/* A training step (forward, loss, backward, and with update_in_backward the optimiser's updates, in one
 * submission, then the loss terms read back) and evaluation-mode features. The optimiser's updates are
 * tsl_model_update.c's. */
#include "tsl_model_internal.h"

#include <math.h>

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

/* The step's commands; with `updates` the optimiser's too (update_in_backward). */
static tsl_status record_step(tsl_model *m, tsl_vk_range labels, const tsl_optimizer_config *updates) {
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
    TSL_TRY(tsl_trunk_backward(m));
    return updates ? tsl_model_record_updates(m, updates) : TSL_OK;
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

/* One submission: the step (and with `updates` the optimiser's updates), then the loss terms. */
static tsl_status run_step(tsl_model *m, tsl_vk_range images, tsl_vk_range labels, int64_t step,
                           const tsl_optimizer_config *updates, tsl_loss_terms *terms) {
    TSL_TRY(check_step_inputs(m, images, labels));
    m->images = images;
    for (int i = 0; i < TSL_LOSS_SLOTS; i++)
        m->loss_values[i * TSL_LOSS_STRIDE_FLOATS] = NAN; /* a term the device fails to write is caught */
    m->step_config = updates;
    if (updates) /* the norms' places change as the step records */
        m->grad_norms_done = 0;
    m->n_pending = 0;
    m->slot_used = 0;
    m->norms_used = 0;
    TSL_TRY(tsl_vk_cmd_begin(m->cmd));
    tsl_status s = record_step(m, labels, updates);
    m->step_config = NULL;
    if (s != TSL_OK) {
        tsl_vk_cmd_submit_wait(m->cmd); /* leave the recorder idle; the step's error is what counts */
        return tsl_error_context(s, "step %lld", (long long)step);
    }
    TSL_TRY_CTX(tsl_vk_cmd_submit_wait(m->cmd), "step %lld", (long long)step);
    if (updates)
        m->grad_norms_done = tsl_vk_cmd_last_submitted(m->cmd);
    return read_terms(m, step, terms);
}

tsl_status tsl_model_forward_backward(tsl_model *m, tsl_vk_range images, tsl_vk_range labels, int64_t step,
                                      tsl_loss_terms *terms) {
    if (m->config.update_in_backward)
        return tsl_error(TSL_ERR_INVALID_ARG, "model step: this model updates its weights inside the "
                                              "backward pass (update_in_backward): use tsl_model_train_step");
    TSL_TRY(run_step(m, images, labels, step, NULL, terms));
    return tsl_model_synced(m) ? tsl_model_allreduce_gradients(m, terms) : TSL_OK;
}

tsl_status tsl_model_train_step(tsl_model *m, tsl_vk_range images, tsl_vk_range labels, int64_t step,
                                const tsl_optimizer_config *c, tsl_loss_terms *terms) {
    if (!m->config.update_in_backward) {
        TSL_TRY(tsl_model_forward_backward(m, images, labels, step, terms));
        return tsl_model_optimizer_step(m, c);
    }
    return run_step(m, images, labels, step, c, terms);
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
