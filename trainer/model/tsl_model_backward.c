/* Backward passes in training mode: projectors (from the gradients of Z and W to the features h), the
 * online classifier (its parameters only: it sees detached features) and the trunk (from h to the first
 * convolution). Every parameter gradient is overwritten; a weight's goes where tsl_model_weight_grad
 * says (with update_in_backward, a place in the slot its update reads soon after). A BatchNorm's gamma
 * and beta gradients are the sums of its four per-quarter gradients, as autograd sums them over the
 * four passes. */
#include "tsl_model_internal.h"

#include "tsl_batchnorm.h"
#include "tsl_elementwise.h"
#include "tsl_linear.h"
#include "tsl_pointwise.h"
#include "tsl_pool.h"

#include <stdlib.h>

/* dst = q[0] + q[1] + q[2] + q[3]. */
static tsl_status sum_quarters(tsl_model *m, const tsl_vk_range *q, tsl_vk_range dst) {
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, q[0], dst));
    for (int i = 1; i < 4; i++)
        TSL_TRY(tsl_add_inplace(m->device, m->cmd, q[i], dst));
    return TSL_OK;
}

/* The four quarters' backward, each with its own statistics (one process). */
static tsl_status bn_backward_local(tsl_model *m, tsl_batchnorm_shape quarter, int gamma, tsl_vk_range x,
                                    tsl_vk_range dy, tsl_vk_range dx, const tsl_vk_range *save_mean,
                                    const tsl_vk_range *save_invstd, const tsl_vk_range *dgamma_q,
                                    const tsl_vk_range *dbeta_q) {
    uint64_t per_row = (uint64_t)quarter.c * quarter.hw;
    for (uint32_t q = 0; q < 4; q++) {
        uint64_t first = (uint64_t)q * quarter.n;
        TSL_TRY(tsl_batchnorm_backward(
            m->device, m->cmd, quarter, tsl_model_param(m, gamma), tsl_rows(x, per_row, first, quarter.n),
            tsl_rows(dy, per_row, first, quarter.n), save_mean[q], save_invstd[q],
            tsl_rows(dx, per_row, first, quarter.n), dgamma_q[q], dbeta_q[q], m->scratch.range));
    }
    return TSL_OK;
}

/* Training-mode BatchNorm backward per quarter, then the parameter gradients summed over quarters. */
static tsl_status bn_backward_quarters(tsl_model *m, tsl_batchnorm_shape quarter, int gamma, int beta,
                                       tsl_vk_range x, tsl_vk_range dy, tsl_vk_range dx,
                                       const tsl_vk_range *save_mean, const tsl_vk_range *save_invstd,
                                       const tsl_vk_range *dgamma_q, const tsl_vk_range *dbeta_q) {
    if (tsl_model_synced(m)) /* sums over every rank's rows of the quarter */
        TSL_TRY(tsl_sync_bn_backward(m, quarter, 4, tsl_model_param(m, gamma), x, dy, dx, save_mean,
                                     save_invstd, dgamma_q, dbeta_q));
    else
        TSL_TRY(bn_backward_local(m, quarter, gamma, x, dy, dx, save_mean, save_invstd, dgamma_q, dbeta_q));
    TSL_TRY(sum_quarters(m, dgamma_q, tsl_model_grad(m, gamma)));
    return sum_quarters(m, dbeta_q, tsl_model_grad(m, beta));
}

tsl_status tsl_projector_backward(tsl_model *m, tsl_projector *p, bool accumulate_features) {
    for (int k = p->n_linear - 1; k >= 0; k--) {
        tsl_linear_shape s = {m->rows, (uint32_t)p->dims[k], (uint32_t)p->dims[k + 1]};
        tsl_vk_range x = k ? p->relu[k - 1] : m->features;
        tsl_vk_range dx = k ? p->d_relu[k - 1] : accumulate_features ? m->features_accum : m->d_features;
        tsl_vk_range dw;
        TSL_TRY(tsl_model_weight_grad(m, p->weight[k], &dw));
        TSL_TRY_CTX(tsl_linear_backward(m->device, m->cmd, s, x, tsl_model_param(m, p->weight[k]),
                                        p->d_lin[k], &dx, dw, NULL),
                    "%s linear %d backward", p->name, k);
        if (k == 0)
            break;
        int j = k - 1;
        TSL_TRY(tsl_relu_backward(m->device, m->cmd, p->relu[j], p->d_relu[j], p->d_bn[j]));
        TSL_TRY_CTX(bn_backward_quarters(m, tsl_batchnorm_shape_1d(m->config.batch, (uint32_t)p->dims[k]),
                                         p->gamma[j], p->beta[j], p->lin[j], p->d_bn[j], p->d_lin[j],
                                         p->save_mean[j], p->save_invstd[j], p->dgamma_q[j], p->dbeta_q[j]),
                    "%s batch norm %d backward", p->name, j);
    }
    if (accumulate_features)
        TSL_TRY(tsl_add_inplace(m->device, m->cmd, m->features_accum, m->d_features));
    return TSL_OK;
}

tsl_status tsl_classifier_backward(tsl_model *m) {
    tsl_linear_shape s = {m->rows, (uint32_t)m->net.feature_dim, m->config.classes};
    tsl_vk_range dbias = tsl_model_grad(m, m->cls_bias), dw;
    TSL_TRY(tsl_model_weight_grad(m, m->cls_weight, &dw));
    return tsl_linear_backward(m->device, m->cmd, s, m->features, tsl_model_param(m, m->cls_weight),
                               m->dlogits, NULL, dw, &dbias);
}

/* ---- trunk ---- */

/* Where layer i's backward writes the gradient for the output of layer j: straight into j's gradient
 * buffer when it is the first to arrive (for an alias, that is i's own: a ReLU's backward then works in
 * place), else into i's temporary, to be added by finish_gradient (a block's input feeds two paths). */
typedef struct {
    int layer;
    bool add;
    tsl_vk_range range;
} grad_target;

static grad_target target_for(tsl_model *m, bool *ready, int i, int j) {
    grad_target t = {j, ready[j], ready[j] ? m->layers[i].temp : m->layers[j].grad};
    tsl_assert(!t.add || t.range.size == m->layers[j].grad.size);
    ready[j] = true;
    return t;
}

static tsl_status finish_gradient(tsl_model *m, grad_target t) {
    return t.add ? tsl_add_inplace(m->device, m->cmd, t.range, m->layers[t.layer].grad) : TSL_OK;
}

/* A summand's gradient is the sum's: added to what reached the summand already, else copied, or
 * nothing at all when the summand's gradient is the sum's very buffer (an alias). */
static tsl_status add_backward(tsl_model *m, bool *ready, int sum, int j, tsl_vk_range dy) {
    if (ready[j])
        return tsl_add_inplace(m->device, m->cmd, dy, m->layers[j].grad);
    ready[j] = true;
    if (m->plan->alias_of[j] == sum)
        return TSL_OK;
    return tsl_vk_cmd_copy(m->cmd, dy, m->layers[j].grad);
}

static tsl_status trunk_layer_backward(tsl_model *m, bool *ready, int i) {
    const tsl_layer *l = &m->net.layers[i];
    tsl_trunk_layer *L = &m->layers[i];
    int src = tsl_layer_source(m->net.layers, i);
    tsl_vk_range dy = L->grad;
    if (l->kind == TSL_LAYER_ADD) { /* dy flows unchanged to both summands */
        TSL_TRY(add_backward(m, ready, i, l->input, dy));
        return add_backward(m, ready, i, l->skip, dy);
    }
    if (l->kind == TSL_LAYER_CONV) {
        tsl_conv2d_shape s = tsl_model_conv_shape(l, m->rows);
        tsl_vk_range x = src == -2 ? m->images : m->layers[src].out, dw;
        /* The weight's last reader, dx below, is recorded before the next weight's gradient is asked for
         * (tsl_model_weight_grad's condition). */
        TSL_TRY(tsl_model_weight_grad(m, L->weight, &dw));
        TSL_TRY(tsl_conv2d_backward_weights(m->device, m->cmd, &s, x, dy, dw, m->scratch.range));
        if (src == -2)
            return TSL_OK; /* no gradient for the images */
    }
    grad_target t = target_for(m, ready, i, src);
    const tsl_trunk_layer *S = &m->layers[src];
    switch (l->kind) {
    case TSL_LAYER_CONV: {
        tsl_conv2d_shape s = tsl_model_conv_shape(l, m->rows);
        TSL_TRY(tsl_conv2d_backward_data(m->device, m->cmd, &s, dy, tsl_model_param(m, L->weight), t.range,
                                         m->scratch.range));
        break;
    }
    case TSL_LAYER_BN:
        TSL_TRY(bn_backward_quarters(m, tsl_batchnorm_shape_2d(m->config.batch, l->c_out, l->h_out, l->w_out),
                                     L->weight, L->bias, S->out, dy, t.range, L->save_mean, L->save_invstd,
                                     L->dgamma_q, L->dbeta_q));
        break;
    case TSL_LAYER_RELU:
        TSL_TRY(tsl_relu_backward(m->device, m->cmd, L->out, dy, t.range));
        break;
    case TSL_LAYER_MAXPOOL:
        TSL_TRY(tsl_maxpool_backward(m->device, m->cmd,
                                     tsl_maxpool_shape_resnet(m->rows, l->c_in, l->h_in, l->w_in), dy,
                                     L->indices, t.range));
        break;
    case TSL_LAYER_AVGPOOL:
        TSL_TRY(
            tsl_avgpool_global_backward(m->device, m->cmd, m->rows, l->c_in, l->h_in, l->w_in, dy, t.range));
        break;
    case TSL_LAYER_ADD:
        break;
    }
    return finish_gradient(m, t);
}

tsl_status tsl_trunk_backward(tsl_model *m) {
    bool *ready = calloc(m->net.n_layers, sizeof *ready);
    if (!ready)
        return tsl_error(TSL_ERR_NOMEM, "model: out of memory");
    ready[m->net.n_layers - 1] = true; /* d_features, written by the projectors */
    tsl_status s = TSL_OK;
    for (int i = m->net.n_layers - 1; i >= 0 && s == TSL_OK; i--) {
        if (!ready[i])
            s = tsl_error(TSL_ERR_INVALID_ARG, "model: no gradient reaches %s (layer %d)",
                          m->net.layers[i].name, i);
        else
            s = trunk_layer_backward(m, ready, i);
        if (s != TSL_OK)
            s = tsl_error_context(s, "backward of %s (layer %d)", m->net.layers[i].name, i);
    }
    free(ready);
    return s;
}
