/* Forward passes: the trunk (training mode with per-quarter BatchNorm, or evaluation mode), the projectors
 * and the online classifier. Everything records into model->cmd. */
#include "tsl_model_internal.h"

#include "tsl_batchnorm.h"
#include "tsl_conv2d.h"
#include "tsl_linear.h"
#include "tsl_pointwise.h"
#include "tsl_pool.h"

/* The first n images of the output of layer `src` (or of the network input). */
static tsl_vk_range output_rows(const tsl_model *m, int src, tsl_vk_range images, uint32_t n) {
    if (src == -2)
        return tsl_rows(images, 3ull * m->config.image_h * m->config.image_w, 0, n);
    return tsl_rows(m->layers[src].out, m->layers[src].per_image, 0, n);
}

tsl_conv2d_shape tsl_model_conv_shape(const tsl_layer *l, uint32_t n) {
    return (tsl_conv2d_shape){n,
                              (uint32_t)l->c_in,
                              (uint32_t)l->h_in,
                              (uint32_t)l->w_in,
                              (uint32_t)l->c_out,
                              (uint32_t)l->kernel,
                              (uint32_t)l->kernel,
                              (uint32_t)l->stride,
                              (uint32_t)l->pad};
}

static tsl_batchnorm_params bn_params(const tsl_model *m, int gamma, int beta, int mean, int var) {
    return (tsl_batchnorm_params){tsl_model_param(m, gamma), tsl_model_param(m, beta), m->tensors[mean].range,
                                  m->tensors[var].range,     TSL_BATCHNORM_MOMENTUM,   TSL_BATCHNORM_EPS};
}

/* BatchNorm in training mode once per quarter (t0, p0, t1, p1), each over its own N rows. */
static tsl_status bn_train_quarters(tsl_model *m, tsl_batchnorm_shape quarter,
                                    const tsl_batchnorm_params *prm, tsl_vk_range x, tsl_vk_range y,
                                    const tsl_vk_range *save_mean, const tsl_vk_range *save_invstd) {
    if (tsl_model_synced(m)) /* statistics over every rank's rows of the quarter */
        return tsl_sync_bn_forward(m, quarter, 4, prm, x, y, save_mean, save_invstd);
    uint64_t per_row = (uint64_t)quarter.c * quarter.hw;
    for (uint32_t q = 0; q < 4; q++)
        TSL_TRY(tsl_batchnorm_forward_train(
            m->device, m->cmd, quarter, prm, tsl_rows(x, per_row, q * quarter.n, quarter.n),
            tsl_rows(y, per_row, q * quarter.n, quarter.n), save_mean[q], save_invstd[q], m->scratch.range));
    return TSL_OK;
}

static tsl_status trunk_layer_forward(tsl_model *m, int i, tsl_vk_range images, uint32_t n, bool train) {
    const tsl_layer *l = &m->net.layers[i];
    tsl_trunk_layer *L = &m->layers[i];
    tsl_vk_range x = output_rows(m, tsl_layer_source(m->net.layers, i), images, n),
                 y = tsl_rows(L->out, L->per_image, 0, n);
    switch (l->kind) {
    case TSL_LAYER_CONV: {
        tsl_conv2d_shape s = tsl_model_conv_shape(l, n);
        return tsl_conv2d_forward(m->device, m->cmd, &s, x, tsl_model_param(m, L->weight), y,
                                  m->scratch.range);
    }
    case TSL_LAYER_BN: {
        tsl_batchnorm_params prm = bn_params(m, L->weight, L->bias, L->running_mean, L->running_var);
        if (!train)
            return tsl_batchnorm_forward_eval(
                m->device, m->cmd, tsl_batchnorm_shape_2d(n, l->c_out, l->h_out, l->w_out), &prm, x, y);
        return bn_train_quarters(m, tsl_batchnorm_shape_2d(n / 4, l->c_out, l->h_out, l->w_out), &prm, x, y,
                                 L->save_mean, L->save_invstd);
    }
    case TSL_LAYER_RELU:
        return tsl_relu_forward(m->device, m->cmd, x, y);
    case TSL_LAYER_MAXPOOL:
        return tsl_maxpool_forward(m->device, m->cmd, tsl_maxpool_shape_resnet(n, l->c_in, l->h_in, l->w_in),
                                   x, y, tsl_rows(L->indices, L->per_image, 0, n));
    case TSL_LAYER_ADD:
        return tsl_add(m->device, m->cmd, x, output_rows(m, l->skip, images, n), y);
    case TSL_LAYER_AVGPOOL:
        return tsl_avgpool_global_forward(m->device, m->cmd, n, l->c_in, l->h_in, l->w_in, x, y);
    }
    return tsl_error(TSL_ERR_INVALID_ARG, "model: unknown layer kind %d", (int)l->kind);
}

tsl_status tsl_trunk_forward(tsl_model *m, tsl_vk_range images, uint32_t n, bool train) {
    for (int i = 0; i < m->net.n_layers; i++)
        TSL_TRY_CTX(trunk_layer_forward(m, i, images, n, train), "forward of %s (layer %d)",
                    m->net.layers[i].name, i);
    return TSL_OK;
}

tsl_status tsl_projector_forward(tsl_model *m, tsl_projector *p) {
    tsl_vk_range x = m->features;
    for (int k = 0; k < p->n_linear; k++) {
        tsl_linear_shape s = {m->rows, (uint32_t)p->dims[k], (uint32_t)p->dims[k + 1]};
        TSL_TRY_CTX(
            tsl_linear_forward(m->device, m->cmd, s, x, tsl_model_param(m, p->weight[k]), NULL, p->lin[k]),
            "%s linear %d", p->name, k);
        if (k == p->n_linear - 1)
            break;
        tsl_batchnorm_params prm =
            bn_params(m, p->gamma[k], p->beta[k], p->running_mean[k], p->running_var[k]);
        TSL_TRY_CTX(bn_train_quarters(m, tsl_batchnorm_shape_1d(m->config.batch, s.out), &prm, p->lin[k],
                                      p->bn[k], p->save_mean[k], p->save_invstd[k]),
                    "%s batch norm %d", p->name, k);
        TSL_TRY(tsl_relu_forward(m->device, m->cmd, p->bn[k], p->relu[k]));
        x = p->relu[k];
    }
    return TSL_OK;
}

tsl_status tsl_classifier_forward(tsl_model *m) {
    tsl_linear_shape s = {m->rows, (uint32_t)m->net.feature_dim, m->config.classes};
    tsl_vk_range bias = tsl_model_param(m, m->cls_bias);
    return tsl_linear_forward(m->device, m->cmd, s, m->features, tsl_model_param(m, m->cls_weight), &bias,
                              m->logits);
}
