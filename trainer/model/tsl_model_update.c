/* The optimiser's updates (LARS, SGD or AdamW over Barlow Twins' parameter groups), each group's
 * gradient norms taken just before it: after the whole backward pass (tsl_model_optimizer_step), or
 * inside it (config.update_in_backward), where each weight is updated once its last reader has run and
 * its gradient lives in a shared slot only until then.
 *
 * Both ways record the same kernels on the same values, and every kernel (norms, trust ratio, update)
 * treats each tensor on its own, so grouping the weights differently changes no number: the two give
 * the same step bit for bit (test update_in_backward: updates_in_backward_match_the_separate_step). */
#include "tsl_model_internal.h"

#include "tsl_optim.h"

#include <stdlib.h>

enum { NORM_RUN_ALIGN = TSL_MODEL_ALIGN / 4 }; /* floats: each group's norms start at a bindable offset */

uint64_t tsl_model_grad_norms_floats(const tsl_model *m) {
    /* A group of n norms takes fewer than n + NORM_RUN_ALIGN floats, and there are at most n_params + 1
     * groups (every weight on its own, then the 1-D parameters). */
    return (uint64_t)NORM_RUN_ALIGN * ((uint64_t)m->n_params + 2);
}

static tsl_status record_optimizer(tsl_model *m, const tsl_optim_tensor *t, uint32_t n, bool exclude,
                                   const tsl_optimizer_config *c) {
    float lr = exclude ? c->lr_biases : c->lr_weights;
    switch (m->config.optimizer) {
    case TSL_OPTIMIZER_LARS: {
        tsl_optim_hparams hp = {lr, c->momentum, c->weight_decay, c->eta};
        return tsl_optim_lars_step(m->device, m->cmd, t, n, &hp, m->scratch.range);
    }
    case TSL_OPTIMIZER_SGD: {
        tsl_optim_hparams hp = {lr, c->momentum, c->weight_decay, 0.0f};
        return tsl_optim_sgd_step(m->device, m->cmd, t, n, &hp);
    }
    case TSL_OPTIMIZER_ADAMW: {
        tsl_optim_adamw_hparams hp = {lr, c->beta1, c->beta2, c->eps, c->weight_decay, c->step};
        return tsl_optim_adamw_step(m->device, m->cmd, t, n, &hp);
    }
    }
    return tsl_error(TSL_ERR_INVALID_ARG, "optimizer step: unknown optimizer %d", (int)m->config.optimizer);
}

/* The gradient norms of params[0..n) (gradients at grads[k]) into the next aligned run of grad_norms,
 * then their update: all in one parameter group (`exclude`). */
static tsl_status record_group(tsl_model *m, const int *params, const tsl_vk_range *grads, uint32_t n,
                               bool exclude, const tsl_optimizer_config *c) {
    uint64_t first = tsl_model_align_up(4 * m->norms_used) / 4;
    tsl_assert(first + n <= tsl_model_grad_norms_floats(m));
    tsl_optim_tensor *t = calloc(n, sizeof *t);
    if (!t)
        return tsl_error(TSL_ERR_NOMEM, "model: out of memory");
    for (uint32_t k = 0; k < n; k++) {
        int i = params[k];
        t[k] = (tsl_optim_tensor){
            .param = tsl_model_param(m, i),
            .grad = grads[k],
            .momentum = m->tensors[i + 2 * m->n_params].range,
            .exclude = exclude,
            .second = m->n_state == 4 ? m->tensors[i + 3 * m->n_params].range : (tsl_vk_range){0},
        };
        m->norm_at[i] = (uint32_t)(first + k);
    }
    m->norms_used = first + n;
    tsl_status s = tsl_l2_norms(m->device, m->cmd, grads, n, m->scratch.range,
                                tsl_vk_subrange(&m->grad_norms, 4 * first, 4ull * n));
    if (s == TSL_OK)
        s = record_optimizer(m, t, n, exclude, c);
    free(t);
    return s;
}

/* Every parameter of one group, gradients in their GRAD tensors. */
static tsl_status record_whole_group(tsl_model *m, bool exclude, const tsl_optimizer_config *c) {
    int *params = calloc(m->n_params, sizeof *params);
    tsl_vk_range *grads = calloc(m->n_params, sizeof *grads);
    uint32_t n = 0;
    tsl_status s = params && grads ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "model: out of memory");
    for (int i = 0; s == TSL_OK && i < m->n_params; i++)
        if (m->tensors[i].exclude == exclude) {
            params[n] = i;
            grads[n++] = tsl_model_grad(m, i);
        }
    if (s == TSL_OK && n)
        s = record_group(m, params, grads, n, exclude, c);
    free(params);
    free(grads);
    return s;
}

static tsl_status apply_pending(tsl_model *m) {
    tsl_status s = TSL_OK;
    if (m->n_pending)
        s = record_group(m, m->pending, m->pending_grad, (uint32_t)m->n_pending, false, m->step_config);
    m->n_pending = 0;
    m->slot_used = 0;
    return s;
}

tsl_status tsl_model_weight_grad(tsl_model *m, int t, tsl_vk_range *grad) {
    if (!m->config.update_in_backward) {
        *grad = tsl_model_grad(m, t);
        return TSL_OK;
    }
    tsl_assert(!m->tensors[t].exclude && m->step_config);
    uint64_t bytes = 4 * m->tensors[t].count;
    if (m->slot_used + bytes > m->grad_slot.range.size)
        TSL_TRY(apply_pending(m));
    tsl_assert(bytes <= m->grad_slot.range.size && m->n_pending < m->n_params);
    *grad = tsl_vk_subrange(&m->grad_slot, m->slot_used, bytes);
    m->pending[m->n_pending] = t;
    m->pending_grad[m->n_pending++] = *grad;
    m->slot_used += tsl_model_align_up(bytes);
    return TSL_OK;
}

tsl_status tsl_model_record_updates(tsl_model *m, const tsl_optimizer_config *c) {
    if (m->config.update_in_backward)
        TSL_TRY(apply_pending(m));
    else
        TSL_TRY(record_whole_group(m, false, c));
    return record_whole_group(m, true, c);
}

tsl_status tsl_model_optimizer_step(tsl_model *m, const tsl_optimizer_config *c) {
    if (m->config.trunk_only)
        return tsl_error(TSL_ERR_INVALID_ARG, "optimizer step: a trunk-only model cannot train");
    if (m->config.update_in_backward)
        return tsl_error(TSL_ERR_INVALID_ARG, "optimizer step: this model updates its weights inside the "
                                              "backward pass (update_in_backward): use tsl_model_train_step");
    TSL_TRY(tsl_vk_cmd_begin(m->cmd));
    m->norms_used = 0;
    tsl_status s = tsl_model_record_updates(m, c);
    /* Submitted without waiting: the next step's recording (or any transfer) waits for it, so a step
     * costs one host sync, the loss read-back. */
    uint64_t done_value = 0;
    tsl_status done = s == TSL_OK ? tsl_vk_cmd_submit(m->cmd, &done_value) : tsl_vk_cmd_submit_wait(m->cmd);
    m->grad_norms_done = s == TSL_OK && done == TSL_OK ? done_value : 0;
    return s != TSL_OK ? s : done;
}

tsl_status tsl_model_grad_norms(tsl_model *m, float *norms) {
    if (!m->grad_norms_done)
        return tsl_error(TSL_ERR_INVALID_ARG, "gradient norms: no optimizer step has run");
    TSL_TRY(tsl_vk_wait(m->device, m->grad_norms_done));
    const float *host = m->grad_norms.host;
    for (int i = 0; i < m->n_params; i++)
        norms[i] = host[m->norm_at[i]];
    return TSL_OK;
}
