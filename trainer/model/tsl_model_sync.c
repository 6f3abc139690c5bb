/* Data parallelism inside the model (docs/DISTRIBUTED.md): every rank holds a replica and N images per
 * quarter of the step's global batch. What the single-process step computes over the whole batch is
 * computed here over all ranks' rows:
 *   - BatchNorm (trunk, projectors, the loss's affine=False one) normalises with the statistics of
 *     every rank's rows of the group (SyncBN): each rank's per-slice (count, mean, M2) partials are
 *     gathered, merged with Chan's formula in double in rank order (identical on every rank), and the
 *     running statistics updated from the global values; the backward sums sum dy and sum dy * xhat
 *     over ranks before forming dx. A layer's four quarters share one exchange.
 *   - the Barlow cross-correlation C = sum over ranks of each rank's rows, divided by the global row
 *     count (the mean of the ranks' C);
 *   - parameter gradients are summed over ranks (the loss is one function of all rows, so its gradient
 *     is the sum of every rank's contribution), except the online classifier's, whose loss is a mean of
 *     per-rank means and so gets the mean.
 * The exchanges go through host memory: each one ends the submission, waits, calls MPI and records the
 * rest. Host-visible buffers carry the values both ways: the device writes partials and sums into
 * sync_in (read by the host after the wait), the host writes global statistics into sync_out, which the
 * commands recorded after the exchange copy or read (the next exchange's wait orders the host's next
 * write after them). */
#include "tsl_model_internal.h"

#include "tsl_batchnorm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- sizes --------------------------------------------------------------------------------------- */

typedef struct {
    uint64_t in, out, host_doubles;
} sync_need;

static uint64_t partial_stride(const tsl_model *m, tsl_batchnorm_shape s) {
    return tsl_model_align_up(12ull * s.c * tsl_batchnorm_partial_slots(m->device, s));
}

static void need_for(const tsl_model *m, tsl_batchnorm_shape s, uint32_t groups, sync_need *n) {
    uint64_t ch = tsl_model_align_up(4ull * s.c);
    uint64_t fwd_in = groups * partial_stride(m, s) + 2 * ch, bwd_in = groups * 2 * ch;
    uint64_t out = (2ull * groups + 2) * ch;
    /* forward: every rank's (count, mean, M2) and this rank's; backward: the two sums per group */
    uint64_t host = 3ull * groups * s.c * ((uint64_t)tsl_dist_size(m->dist) + 1);
    n->in = n->in > fwd_in ? n->in : fwd_in;
    n->in = n->in > bwd_in ? n->in : bwd_in;
    n->out = n->out > out ? n->out : out;
    n->host_doubles = n->host_doubles > host ? n->host_doubles : host;
}

static sync_need model_need(const tsl_model *m) {
    sync_need n = {0, 0, 0};
    uint32_t q = m->config.batch;
    for (int i = 0; i < m->net.n_layers; i++) {
        const tsl_layer *l = &m->net.layers[i];
        if (l->kind == TSL_LAYER_BN)
            need_for(m, tsl_batchnorm_shape_2d(q, l->c_out, l->h_out, l->w_out), 4, &n);
    }
    for (int h = 0; h < 2; h++)
        for (int k = 0; m->proj[h].present && k + 1 < m->proj[h].n_linear; k++)
            need_for(m, tsl_batchnorm_shape_1d(q, m->proj[h].dims[k + 1]), 4, &n);
    for (int h = 0; h < 2; h++)
        if (m->proj[h].present)
            need_for(m, tsl_batchnorm_shape_1d(m->bt[h].rows, m->bt[h].dim), 1, &n);
    return n;
}

tsl_status tsl_model_set_dist(tsl_model *m, tsl_dist *dist) {
    if (dist && tsl_dist_size(dist) > 1 && m->config.update_in_backward) /* left as it was */
        return tsl_error(TSL_ERR_INVALID_ARG, /* the allreduce needs every gradient before any update */
                         "model: updates inside the backward pass (update_in_backward) cannot train on "
                         "several ranks");
    m->dist = dist;
    tsl_vk_free(m->device, &m->sync_in);
    tsl_vk_free(m->device, &m->sync_out);
    free(m->sync_host);
    free(m->grad_host);
    m->sync_host = NULL;
    m->grad_host = NULL;
    if (!tsl_model_synced(m))
        return TSL_OK;
    if (m->config.trunk_only)
        return tsl_error(TSL_ERR_INVALID_ARG, "model: a trunk-only model does not train on several ranks");

    sync_need n = model_need(m);
    TSL_TRY(tsl_vk_alloc(m->device, TSL_MEM_DOWNLOAD, n.in ? n.in : 4, "rank exchange (in)", &m->sync_in));
    TSL_TRY(tsl_vk_alloc(m->device, TSL_MEM_UPLOAD, n.out ? n.out : 4, "rank exchange (out)", &m->sync_out));
    m->sync_host_doubles = n.host_doubles;
    m->sync_host = calloc(n.host_doubles ? n.host_doubles : 1, sizeof *m->sync_host);
    m->grad_host = calloc(m->grads.range.size / 4, sizeof *m->grad_host); /* with the padding */
    if (!m->sync_host || !m->grad_host)
        return tsl_error(TSL_ERR_NOMEM, "model: out of memory for the rank exchange");
    return TSL_OK;
}

/* Ends the recording and waits for the device: the exchange with the other ranks follows, then
 * resume() starts recording again. */
static tsl_status flush(tsl_model *m) {
    return tsl_vk_cmd_submit_wait(m->cmd);
}

/* Starts recording again after an exchange whatever its outcome `st` (the caller's error path submits
 * the recorder), and returns the first error. */
static tsl_status resume(tsl_model *m, tsl_status st) {
    tsl_status begun = tsl_vk_cmd_begin(m->cmd);
    return st != TSL_OK ? st : begun;
}

static tsl_vk_range in_range(const tsl_model *m, uint64_t offset, uint64_t bytes) {
    return tsl_vk_subrange(&m->sync_in, offset, bytes);
}

static tsl_vk_range out_range(const tsl_model *m, uint64_t offset, uint64_t bytes) {
    return tsl_vk_subrange(&m->sync_out, offset, bytes);
}

/* ---- forward ------------------------------------------------------------------------------------- */

/* host[(g * c + ch) * 3 + {0,1,2}] = this rank's (count, mean, M2) of group g, channel ch. */
static void local_moments(const tsl_model *m, tsl_batchnorm_shape s, uint32_t groups, double *host) {
    uint32_t slots = tsl_batchnorm_partial_slots(m->device, s);
    uint64_t stride = partial_stride(m, s);
    for (uint32_t g = 0; g < groups; g++) {
        const float *p = (const float *)((const char *)m->sync_in.host + g * stride);
        for (uint32_t ch = 0; ch < s.c; ch++) {
            double *at = host + 3 * ((uint64_t)g * s.c + ch);
            tsl_batchnorm_merge_partials(p, slots, ch, &at[0], &at[1], &at[2]);
        }
    }
}

/* Merges every rank's moments of (g, ch), in rank order, into count, mean, M2. */
static void global_moments(const double *all, uint32_t ranks, uint64_t per_rank, uint64_t at, double *n,
                           double *mean, double *m2) {
    *n = *mean = *m2 = 0.0;
    for (uint32_t r = 0; r < ranks; r++) {
        const double *v = all + r * per_rank + at;
        if (v[0] == 0.0)
            continue;
        double nab = *n + v[0], d = v[1] - *mean;
        *mean += d * (v[0] / nab);
        *m2 += v[2] + d * d * (*n * v[0] / nab);
        *n = nab;
    }
}

/* Writes every group's global mean and invstd and the updated running statistics into sync_out. */
static tsl_status exchange_moments(tsl_model *m, tsl_batchnorm_shape s, uint32_t groups,
                                   const tsl_batchnorm_params *prm) {
    uint32_t ranks = (uint32_t)tsl_dist_size(m->dist);
    uint64_t per_rank = 3ull * groups * s.c, ch_bytes = tsl_model_align_up(4ull * s.c);
    double *local = m->sync_host + per_rank * ranks, *all = m->sync_host;
    local_moments(m, s, groups, local);
    TSL_TRY(tsl_dist_allgather(m->dist, local, per_rank * sizeof *local, all, "batch-norm statistics"));
    const float *rm_in = (const float *)((const char *)m->sync_in.host + groups * partial_stride(m, s));
    const float *rv_in = (const float *)((const char *)rm_in + ch_bytes);
    float *out = m->sync_out.host;
    float *rm_out = (float *)((char *)out + 2 * groups * ch_bytes), *rv_out = rm_out + ch_bytes / 4;
    for (uint32_t ch = 0; ch < s.c; ch++) {
        double rm = rm_in[ch], rv = rv_in[ch];
        for (uint32_t g = 0; g < groups; g++) {
            double n, mean, m2;
            global_moments(all, ranks, per_rank, 3 * ((uint64_t)g * s.c + ch), &n, &mean, &m2);
            if (n < 2.0)
                return tsl_error(TSL_ERR_INVALID_ARG, "sync batch norm: %g values per channel over all ranks",
                                 n);
            float *mean_out = (float *)((char *)out + 2 * g * ch_bytes),
                  *invstd_out = mean_out + ch_bytes / 4;
            mean_out[ch] = (float)mean;
            invstd_out[ch] = (float)(1.0 / sqrt(m2 / n + prm->eps));
            /* PyTorch's update, once per group as the single-process step does, from the global values */
            rm = (1.0 - prm->momentum) * rm + prm->momentum * mean;
            rv = (1.0 - prm->momentum) * rv + prm->momentum * (m2 / (n - 1.0));
        }
        rm_out[ch] = (float)rm;
        rv_out[ch] = (float)rv;
    }
    return TSL_OK;
}

tsl_status tsl_sync_bn_forward(tsl_model *m, tsl_batchnorm_shape s, uint32_t groups,
                               const tsl_batchnorm_params *prm, tsl_vk_range x, tsl_vk_range y,
                               const tsl_vk_range *save_mean, const tsl_vk_range *save_invstd) {
    uint64_t per_row = (uint64_t)s.c * s.hw, stride = partial_stride(m, s),
             ch_bytes = tsl_model_align_up(4ull * s.c);
    uint32_t slots = tsl_batchnorm_partial_slots(m->device, s);
    for (uint32_t g = 0; g < groups; g++)
        TSL_TRY(tsl_batchnorm_stats_partials(m->device, m->cmd, s, tsl_rows(x, per_row, g * s.n, s.n),
                                             in_range(m, g * stride, 12ull * s.c * slots)));
    uint64_t stats_at = groups * stride;
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, prm->running_mean, in_range(m, stats_at, 4ull * s.c)));
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, prm->running_var, in_range(m, stats_at + ch_bytes, 4ull * s.c)));
    tsl_status st = flush(m);
    TSL_TRY(resume(m, st == TSL_OK ? exchange_moments(m, s, groups, prm) : st));
    uint64_t stats_out = 2ull * groups * ch_bytes;
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, out_range(m, stats_out, 4ull * s.c), prm->running_mean));
    TSL_TRY(tsl_vk_cmd_copy(m->cmd, out_range(m, stats_out + ch_bytes, 4ull * s.c), prm->running_var));
    for (uint32_t g = 0; g < groups; g++) {
        TSL_TRY(tsl_vk_cmd_copy(m->cmd, out_range(m, 2 * g * ch_bytes, 4ull * s.c), save_mean[g]));
        TSL_TRY(tsl_vk_cmd_copy(m->cmd, out_range(m, (2 * g + 1) * ch_bytes, 4ull * s.c), save_invstd[g]));
        TSL_TRY(tsl_batchnorm_apply_train(m->device, m->cmd, s, prm, tsl_rows(x, per_row, g * s.n, s.n),
                                          tsl_rows(y, per_row, g * s.n, s.n), save_mean[g], save_invstd[g]));
    }
    return TSL_OK;
}

/* ---- backward ------------------------------------------------------------------------------------ */

/* sync_out's sums (sum dy, sum dy * xhat per group) = the sums of sync_in's over ranks, in double. */
static tsl_status exchange_sums(tsl_model *m, tsl_batchnorm_shape s, uint32_t groups) {
    uint64_t ch_bytes = tsl_model_align_up(4ull * s.c);
    double *sums = m->sync_host;
    for (uint32_t g = 0; g < 2 * groups; g++) {
        const float *v = (const float *)((const char *)m->sync_in.host + g * ch_bytes);
        for (uint32_t ch = 0; ch < s.c; ch++)
            sums[(uint64_t)g * s.c + ch] = v[ch];
    }
    TSL_TRY(tsl_dist_allreduce_sum_f64(m->dist, sums, 2ull * groups * s.c, "batch-norm gradient sums"));
    for (uint32_t g = 0; g < 2 * groups; g++) {
        float *v = (float *)((char *)m->sync_out.host + g * ch_bytes);
        for (uint32_t ch = 0; ch < s.c; ch++)
            v[ch] = (float)sums[(uint64_t)g * s.c + ch];
    }
    return TSL_OK;
}

tsl_status tsl_sync_bn_backward(tsl_model *m, tsl_batchnorm_shape s, uint32_t groups, tsl_vk_range gamma,
                                tsl_vk_range x, tsl_vk_range dy, tsl_vk_range dx,
                                const tsl_vk_range *save_mean, const tsl_vk_range *save_invstd,
                                const tsl_vk_range *dgamma_q, const tsl_vk_range *dbeta_q) {
    uint64_t per_row = (uint64_t)s.c * s.hw, ch_bytes = tsl_model_align_up(4ull * s.c), bytes = 4ull * s.c;
    for (uint32_t g = 0; g < groups; g++)
        TSL_TRY(tsl_batchnorm_backward_sums(m->device, m->cmd, s, tsl_rows(x, per_row, g * s.n, s.n),
                                            tsl_rows(dy, per_row, g * s.n, s.n), save_mean[g], save_invstd[g],
                                            in_range(m, 2 * g * ch_bytes, bytes),
                                            in_range(m, (2 * g + 1) * ch_bytes, bytes), m->scratch.range));
    tsl_status st = flush(m);
    TSL_TRY(resume(m, st == TSL_OK ? exchange_sums(m, s, groups) : st));
    double count = (double)s.n * s.hw * tsl_dist_size(m->dist);
    for (uint32_t g = 0; g < groups; g++) {
        tsl_vk_range sum_dy = out_range(m, 2 * g * ch_bytes, bytes);
        tsl_vk_range sum_dyx = out_range(m, (2 * g + 1) * ch_bytes, bytes);
        if (dgamma_q) { /* this rank's share: the gradient allreduce sums the ranks' shares */
            TSL_TRY(tsl_vk_cmd_copy(m->cmd, in_range(m, 2 * g * ch_bytes, bytes), dbeta_q[g]));
            TSL_TRY(tsl_vk_cmd_copy(m->cmd, in_range(m, (2 * g + 1) * ch_bytes, bytes), dgamma_q[g]));
        }
        TSL_TRY(tsl_batchnorm_backward_dx(m->device, m->cmd, s, gamma, tsl_rows(x, per_row, g * s.n, s.n),
                                          tsl_rows(dy, per_row, g * s.n, s.n), save_mean[g], save_invstd[g],
                                          sum_dy, sum_dyx, count, tsl_rows(dx, per_row, g * s.n, s.n)));
    }
    return TSL_OK;
}

/* ---- loss and gradients -------------------------------------------------------------------------- */

tsl_status tsl_sync_cross_correlation(tsl_model *m, tsl_vk_range c, uint32_t dim) {
    uint64_t count = (uint64_t)dim * dim;
    float *host = malloc(count * sizeof *host);
    if (!host)
        return tsl_error(TSL_ERR_NOMEM, "model: out of memory for a %u x %u cross-correlation", dim, dim);
    tsl_status st = flush(m);
    if (st == TSL_OK)
        st = tsl_vk_download(m->device, c, host);
    if (st == TSL_OK)
        st = tsl_dist_allreduce_sum_f32(m->dist, host, count, "the cross-correlation matrix");
    float inv_ranks = 1.0f / (float)tsl_dist_size(m->dist);
    for (uint64_t i = 0; st == TSL_OK && i < count; i++)
        host[i] *= inv_ranks;
    if (st == TSL_OK)
        st = tsl_vk_upload(m->device, c, host);
    free(host);
    return resume(m, st);
}

tsl_status tsl_model_allreduce_gradients(tsl_model *m, tsl_loss_terms *terms) {
    if (!tsl_model_synced(m))
        return TSL_OK;
    /* One buffer holds every gradient (padding between tensors included): one download, the sum in
     * buckets of TSL_DIST_BUCKET_BYTES all in flight together, one upload. Not overlapped with the
     * backward pass: that is one submission here (docs/DISTRIBUTED.md). */
    tsl_vk_range grads = m->grads.range;
    TSL_TRY(tsl_vk_download(m->device, grads, m->grad_host));
    TSL_TRY(tsl_dist_allreduce_sum_f32(m->dist, m->grad_host, grads.size / 4, "the gradients"));
    float inv_ranks = 1.0f / (float)tsl_dist_size(m->dist);
    if (m->config.classes) /* the classifier's loss is the mean of the ranks' means */
        for (int t = 0; t < m->n_params; t++)
            if (t == m->cls_weight || t == m->cls_bias) {
                tsl_vk_range r = tsl_model_grad(m, t);
                float *g = m->grad_host + (r.offset - m->grads.range.offset) / 4;
                for (uint64_t i = 0; i < r.size / 4; i++)
                    g[i] *= inv_ranks;
            }
    TSL_TRY(tsl_vk_upload(m->device, grads, m->grad_host));
    double ce = terms->ce;
    TSL_TRY(tsl_dist_allreduce_sum_f64(m->dist, &ce, 1, "the classifier loss"));
    terms->ce = ce / tsl_dist_size(m->dist);
    terms->total = (1.0 - m->config.lambda) * terms->inv + m->config.lambda * terms->equi + terms->ce;
    return TSL_OK;
}
