/* The TeSSL loss (docs/METHOD.md) and its gradients with respect to the projector outputs:
 *
 *   L = (1 - lambda) BT([Z_t0; Z_t1], [Z_p0; Z_p1]) + lambda BT(W_t0 - W_p0, W_t1 - W_p1) + CE_online
 *
 * Z and W hold 4N rows in quarters t0, p0, t1, p1. Each BT normalises each argument with its own batch
 * statistics (BatchNorm1d without affine), C = an^T bn / rows. The term's weight is folded into the
 * Barlow kernels' scale, so the gradients come out weighted; the value read back is divided by it
 * again to report the unweighted term. The online classifier's loss is one cross-entropy over all 4N
 * rows: its mean over 4N equals the mean of the four per-quarter means (equal quarter sizes). */
#include "tsl_model_internal.h"

#include "tsl_barlow.h"
#include "tsl_batchnorm.h"
#include "tsl_cross_entropy.h"
#include "tsl_elementwise.h"

static tsl_barlow_params barlow_params(const tsl_model *m, const tsl_bt_term *t) {
    return (tsl_barlow_params){t->rows, t->dim, m->config.lambd, t->weight * m->config.loss_scale, 0};
}

/* BT(a, b) over every rank's rows (tsl_model_sync.c): BatchNorm with global statistics, C the mean of
 * the ranks' C (each over its own rows), and dC divided by the ranks so that the backward's division
 * by this rank's rows gives the division by all rows. */
static tsl_status bt_forward_backward_synced(tsl_model *m, tsl_bt_term *t) {
    tsl_vk_device *d = m->device;
    tsl_batchnorm_shape s = tsl_batchnorm_shape_1d(t->rows, t->dim);
    tsl_batchnorm_params prm = {
        {0}, {0}, t->running_mean, t->running_var, TSL_BATCHNORM_MOMENTUM, TSL_BATCHNORM_EPS};
    tsl_vk_range none = {0};
    tsl_barlow_params bp = barlow_params(m, t), bp_grad = bp;
    bp_grad.scale /= (float)tsl_dist_size(m->dist);
    TSL_TRY(tsl_sync_bn_forward(m, s, 1, &prm, t->a, t->an, &t->mean_a, &t->invstd_a));
    TSL_TRY(tsl_sync_bn_forward(m, s, 1, &prm, t->b, t->bn, &t->mean_b, &t->invstd_b));
    TSL_TRY(tsl_barlow_cross_correlation(d, m->cmd, &bp, t->an, t->bn, t->c));
    TSL_TRY(tsl_sync_cross_correlation(m, t->c, t->dim));
    TSL_TRY(tsl_barlow_loss(d, m->cmd, &bp, t->c, m->scratch.range, t->loss));
    TSL_TRY(tsl_barlow_loss_grad_c(d, m->cmd, &bp_grad, t->c, t->dc));
    TSL_TRY(tsl_barlow_backward(d, m->cmd, &bp, t->an, t->bn, t->dc, t->dan, t->dbn));
    TSL_TRY(tsl_sync_bn_backward(m, s, 1, none, t->a, t->dan, t->da, &t->mean_a, &t->invstd_a, NULL, NULL));
    return tsl_sync_bn_backward(m, s, 1, none, t->b, t->dbn, t->db, &t->mean_b, &t->invstd_b, NULL, NULL);
}

/* BT(a, b) forward and backward: loss into t->loss, gradients into t->da, t->db. */
static tsl_status bt_forward_backward(tsl_model *m, tsl_bt_term *t) {
    if (tsl_model_synced(m))
        return bt_forward_backward_synced(m, t);
    tsl_vk_device *d = m->device;
    tsl_batchnorm_shape s = tsl_batchnorm_shape_1d(t->rows, t->dim);
    tsl_batchnorm_params prm = {
        {0}, {0}, t->running_mean, t->running_var, TSL_BATCHNORM_MOMENTUM, TSL_BATCHNORM_EPS};
    tsl_vk_range none = {0};
    tsl_barlow_params bp = barlow_params(m, t);
    TSL_TRY(tsl_batchnorm_forward_train(d, m->cmd, s, &prm, t->a, t->an, t->mean_a, t->invstd_a,
                                        m->scratch.range));
    TSL_TRY(tsl_batchnorm_forward_train(d, m->cmd, s, &prm, t->b, t->bn, t->mean_b, t->invstd_b,
                                        m->scratch.range));
    TSL_TRY(tsl_barlow_cross_correlation(d, m->cmd, &bp, t->an, t->bn, t->c));
    TSL_TRY(tsl_barlow_loss(d, m->cmd, &bp, t->c, m->scratch.range, t->loss));
    TSL_TRY(tsl_barlow_loss_grad_c(d, m->cmd, &bp, t->c, t->dc));
    TSL_TRY(tsl_barlow_backward(d, m->cmd, &bp, t->an, t->bn, t->dc, t->dan, t->dbn));
    TSL_TRY(tsl_batchnorm_backward(d, m->cmd, s, none, t->a, t->dan, t->mean_a, t->invstd_a, t->da, none,
                                   none, m->scratch.range));
    return tsl_batchnorm_backward(d, m->cmd, s, none, t->b, t->dbn, t->mean_b, t->invstd_b, t->db, none, none,
                                  m->scratch.range);
}

/* Quarter q (t0, p0, t1, p1) of a 4N-row matrix with `dim` columns. */
static tsl_vk_range quarter(const tsl_model *m, tsl_vk_range r, uint32_t dim, int q) {
    return tsl_rows(r, dim, (uint64_t)q * m->config.batch, m->config.batch);
}

/* Invariant term: a = [Z_t0; Z_t1], b = [Z_p0; Z_p1]; then dZ is scattered back the same way. */
static tsl_status invariant_term(tsl_model *m) {
    tsl_projector *p = &m->proj[0];
    tsl_bt_term *t = &m->bt[0];
    uint32_t n = m->config.batch, dim = t->dim;
    tsl_vk_range z = p->lin[p->n_linear - 1], dz = p->d_lin[p->n_linear - 1];
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, quarter(m, z, dim, 0), tsl_rows(t->a, dim, 0, n)));
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, quarter(m, z, dim, 2), tsl_rows(t->a, dim, n, n)));
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, quarter(m, z, dim, 1), tsl_rows(t->b, dim, 0, n)));
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, quarter(m, z, dim, 3), tsl_rows(t->b, dim, n, n)));
    TSL_TRY_CTX(bt_forward_backward(m, t), "invariant loss");
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, tsl_rows(t->da, dim, 0, n), quarter(m, dz, dim, 0)));
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, tsl_rows(t->da, dim, n, n), quarter(m, dz, dim, 2)));
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, tsl_rows(t->db, dim, 0, n), quarter(m, dz, dim, 1)));
    return tsl_vk_cmd_copy(m->cmd, tsl_rows(t->db, dim, n, n), quarter(m, dz, dim, 3));
}

/* dst = src, dst_neg = -src (the gradient of a difference reaching both of its operands). */
static tsl_status plus_minus(tsl_model *m, tsl_vk_range src, tsl_vk_range dst, tsl_vk_range dst_neg) {
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, src, dst));
    TSL_TRY(tsl_fill_u32(m->device, m->cmd, dst_neg, 0));
    return tsl_axpy_f32(m->device, m->cmd, -1.0f, src, dst_neg);
}

/* Equivariant term: a = W_t0 - W_p0, b = W_t1 - W_p1. */
static tsl_status equivariant_term(tsl_model *m) {
    tsl_projector *p = &m->proj[1];
    tsl_bt_term *t = &m->bt[1];
    uint32_t dim = t->dim;
    tsl_vk_range w = p->lin[p->n_linear - 1], dw = p->d_lin[p->n_linear - 1];
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, quarter(m, w, dim, 0), t->a));
    TSL_TRY(tsl_axpy_f32(m->device, m->cmd, -1.0f, quarter(m, w, dim, 1), t->a));
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, quarter(m, w, dim, 2), t->b));
    TSL_TRY(tsl_axpy_f32(m->device, m->cmd, -1.0f, quarter(m, w, dim, 3), t->b));
    TSL_TRY_CTX(bt_forward_backward(m, t), "equivariant loss");
    TSL_TRY(plus_minus(m, t->da, quarter(m, dw, dim, 0), quarter(m, dw, dim, 1)));
    return plus_minus(m, t->db, quarter(m, dw, dim, 2), quarter(m, dw, dim, 3));
}

static tsl_status online_classifier_term(tsl_model *m, tsl_vk_range labels) {
    tsl_cross_entropy_shape s = {m->rows, m->config.classes};
    tsl_vk_range loss = tsl_vk_subrange(&m->loss_host, TSL_LOSS_CE * TSL_MODEL_ALIGN, 4);
    TSL_TRY_CTX(tsl_cross_entropy_loss(m->device, m->cmd, s, m->logits, labels, m->scratch.range, loss),
                "online classifier loss");
    return tsl_cross_entropy_backward(m->device, m->cmd, s, m->logits, labels, m->dlogits);
}

tsl_status tsl_tessl_loss_forward_backward(tsl_model *m, tsl_vk_range labels) {
    for (int h = 0; h < 2; h++)
        m->bt[h].loss = tsl_vk_subrange(&m->loss_host, (VkDeviceSize)h * TSL_MODEL_ALIGN, 4);
    if (m->proj[0].present)
        TSL_TRY(invariant_term(m));
    if (m->proj[1].present)
        TSL_TRY(equivariant_term(m));
    if (m->config.classes)
        TSL_TRY(online_classifier_term(m, labels));
    return TSL_OK;
}
