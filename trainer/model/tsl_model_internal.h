/* The model's private layout, shared by the files that implement tsl_model.h. */
#ifndef TSL_MODEL_INTERNAL_H
#define TSL_MODEL_INTERNAL_H

#include "tsl_dist.h"
#include "tsl_model.h"

/* Where one trunk layer keeps its state: output and its gradient for all 4N images, and per kind the
 * tensors it uses (indices into model->tensors, -1 when none). */
typedef struct {
    uint64_t per_image; /* floats of the output per image */
    tsl_vk_range out, grad;
    int weight, bias, running_mean, running_var; /* conv: weight; BN: weight (gamma), bias (beta), stats */
    /* BN, one range of C floats per quarter (each aligned, so each can be bound): the saved batch
     * statistics, and the per-quarter gamma and beta gradients that are summed into the gradient. */
    tsl_vk_range save_mean[4], save_invstd[4], dgamma_q[4], dbeta_q[4];
    tsl_vk_range indices; /* maxpool argmax, uint32 per output */
    /* Where this layer's backward forms a gradient to be added into its source's, which another path
     * wrote first (empty when it is the first: it writes the source's gradient directly). */
    tsl_vk_range temp;
} tsl_trunk_layer;

/* A projector: linears dims[0] -> dims[1] -> ... -> dims[n_linear]; BN1d and ReLU after all but the last.
 * Per layer k: lin[k] the linear output, bn[k] and relu[k] (hidden layers), each 4N x dims[k+1], with
 * gradients d_lin, d_bn, d_relu. */
typedef struct {
    bool present;
    const char *name; /* "g_inv" / "g_equi" */
    int n_linear;
    int dims[TSL_MODEL_MAX_PROJ_LAYERS + 1];
    int weight[TSL_MODEL_MAX_PROJ_LAYERS], gamma[TSL_MODEL_MAX_PROJ_LAYERS], beta[TSL_MODEL_MAX_PROJ_LAYERS];
    int running_mean[TSL_MODEL_MAX_PROJ_LAYERS], running_var[TSL_MODEL_MAX_PROJ_LAYERS];
    tsl_vk_range lin[TSL_MODEL_MAX_PROJ_LAYERS], bn[TSL_MODEL_MAX_PROJ_LAYERS],
        relu[TSL_MODEL_MAX_PROJ_LAYERS];
    tsl_vk_range d_lin[TSL_MODEL_MAX_PROJ_LAYERS], d_bn[TSL_MODEL_MAX_PROJ_LAYERS];
    tsl_vk_range d_relu[TSL_MODEL_MAX_PROJ_LAYERS];
    tsl_vk_range save_mean[TSL_MODEL_MAX_PROJ_LAYERS][4], save_invstd[TSL_MODEL_MAX_PROJ_LAYERS][4];
    tsl_vk_range dgamma_q[TSL_MODEL_MAX_PROJ_LAYERS][4], dbeta_q[TSL_MODEL_MAX_PROJ_LAYERS][4];
} tsl_projector;

/* One Barlow Twins term BT(a, b) over `rows` x `dim` inputs: BatchNorm1d(affine=False) per argument,
 * then the cross-correlation, loss and gradients. */
typedef struct {
    uint32_t rows, dim;
    float weight; /* (1 - lambda) or lambda, folded into the kernels' scale */
    tsl_vk_range a, b, an, bn, mean_a, invstd_a, mean_b, invstd_b, running_mean, running_var;
    tsl_vk_range c, dc, dan, dbn, da, db;
    tsl_vk_range loss; /* one float in host-visible memory */
} tsl_bt_term;

enum { TSL_LOSS_INV, TSL_LOSS_EQUI, TSL_LOSS_CE, TSL_LOSS_SLOTS };

struct tsl_model {
    tsl_vk_device *device;
    tsl_vk_cmd *cmd;
    tsl_model_config config;
    tsl_resnet net;
    uint32_t rows;       /* 4N */
    tsl_vk_range images; /* the current step's input (the first conv's backward reads it) */

    int n_tensors, n_params;
    int n_state;               /* tensors per parameter: param, grad, momentum (+ AdamW's second moment) */
    tsl_model_tensor *tensors; /* params, grads, momentum, (second moments), running stats */
    uint64_t param_floats;
    tsl_vk_buffer params, grads, momentum, second, stats; /* second: AdamW only */
    /* Host-visible: each optimiser group's gradient norms at an aligned start (norm_at[i]: param i's
     * float), written by each optimizer step. */
    tsl_vk_buffer grad_norms;
    uint32_t *norm_at;
    uint64_t norms_used;      /* floats of grad_norms given out in the step being recorded */
    uint64_t grad_norms_done; /* timeline value of the step that wrote them; 0: none yet */

    /* config.update_in_backward (tsl_model_update.c): the weights' gradients take turns in grad_slot;
     * `pending` weights have theirs in it, not yet applied, pending_grad[k] where. */
    tsl_vk_buffer grad_slot;
    uint64_t slot_used;
    int *pending, n_pending;
    tsl_vk_range *pending_grad;
    const tsl_optimizer_config *step_config; /* of the step being recorded */

    tsl_trunk_layer *layers;
    struct tsl_trunk_plan *plan; /* where the trunk's gradients (and outputs) lie (tsl_model_plan_trunk) */
    tsl_vk_range features, d_features; /* h (avgpool output) and its gradient: aliases of the last layer */
    tsl_projector proj[2];             /* g_inv, g_equi */
    tsl_bt_term bt[2];                 /* inv, equi */
    int cls_weight, cls_bias;          /* -1 without a classifier */
    tsl_vk_range logits, dlogits;
    tsl_vk_range features_accum; /* a second projector's gradient of the features, added to the first's */

    /* Every range above is carved from these allocations, each within the device's allocation limit
     * (tsl_model_layout.c). */
    tsl_vk_buffer *activation_chunks;
    int n_activation_chunks;
    uint64_t activation_bytes;
    tsl_vk_buffer scratch; /* shared by the kernels that need scratch (used one at a time) */
    tsl_vk_buffer loss_host;
    float *loss_values; /* host view: loss slot i at loss_values[i * TSL_LOSS_STRIDE_FLOATS] */

    /* Data parallelism (tsl_model_sync.c), only with more than one rank: host-visible buffers the
     * device writes (BN partials and sums) and reads (global statistics), and host work space. */
    tsl_dist *dist;
    tsl_vk_buffer sync_in, sync_out;
    double *sync_host;
    size_t sync_host_doubles;
    float *grad_host; /* param_floats: the gradients on their way through the allreduce */
};

enum { TSL_MODEL_ALIGN = 256, TSL_LOSS_STRIDE_FLOATS = TSL_MODEL_ALIGN / 4 };

/* Bytes rounded up to TSL_MODEL_ALIGN, the model's offset step (a valid storage-buffer offset on every
 * device tessl supports). */
static inline uint64_t tsl_model_align_up(uint64_t bytes) {
    return (bytes + TSL_MODEL_ALIGN - 1) / TSL_MODEL_ALIGN * TSL_MODEL_ALIGN;
}

static inline tsl_vk_range tsl_model_param(const tsl_model *m, int t) {
    return m->tensors[t].range;
}
static inline tsl_vk_range tsl_model_grad(const tsl_model *m, int t) {
    return m->tensors[t + m->n_params].range;
}

/* The rows [first, first + count) of a batch-major range with `per_row` floats per row. */
static inline tsl_vk_range tsl_rows(tsl_vk_range r, uint64_t per_row, uint64_t first, uint64_t count) {
    return (tsl_vk_range){r.vk, r.offset + 4 * per_row * first, 4 * per_row * count};
}

/* tsl_model_update.c: the optimiser's updates, after the backward pass or inside it.
 * tsl_model_weight_grad gives the range weight t's backward writes its gradient into: its GRAD tensor,
 * or with update_in_backward a place in the slot, after recording the pending weights' updates when the
 * slot is full (so every weight whose gradient was asked for before must have had its last reader
 * recorded). tsl_model_record_updates records what is left of the step's updates: the pending weights
 * and the 1-D parameters with update_in_backward, everything otherwise. */
tsl_status tsl_model_weight_grad(tsl_model *m, int t, tsl_vk_range *grad);
tsl_status tsl_model_record_updates(tsl_model *m, const tsl_optimizer_config *c);
/* Floats of grad_norms that every group's aligned norms need. */
uint64_t tsl_model_grad_norms_floats(const tsl_model *m);

/* tsl_model_layout.c: tensor table, memory carving. */
tsl_status tsl_model_layout(tsl_model *m);

/* tsl_model_forward.c */
#include "tsl_conv2d.h"
tsl_conv2d_shape tsl_model_conv_shape(const tsl_layer *l, uint32_t n);
tsl_status tsl_trunk_forward(tsl_model *m, tsl_vk_range images, uint32_t n, bool train);
tsl_status tsl_projector_forward(tsl_model *m, tsl_projector *p);
tsl_status tsl_classifier_forward(tsl_model *m);

/* tsl_model_backward.c: gradients from the projector outputs' gradients back to the first conv. */
tsl_status tsl_projector_backward(tsl_model *m, tsl_projector *p, bool accumulate_features);
tsl_status tsl_classifier_backward(tsl_model *m);
tsl_status tsl_trunk_backward(tsl_model *m);

/* tsl_model_sync.c: BatchNorm with statistics over all ranks (SyncBN) for `groups` consecutive groups
 * of `group` shape each (the quarters, or one group), the Barlow cross-correlation summed over ranks,
 * and the gradient allreduce. tsl_model_synced says whether they are needed (more than one rank);
 * each ends the current submission, waits for it, exchanges with the other ranks and begins recording
 * again into model->cmd. dgamma_q/dbeta_q NULL: affine=False. */
static inline bool tsl_model_synced(const tsl_model *m) {
    return m->dist && tsl_dist_size(m->dist) > 1;
}
#include "tsl_batchnorm.h"
tsl_status tsl_sync_bn_forward(tsl_model *m, tsl_batchnorm_shape group, uint32_t groups,
                               const tsl_batchnorm_params *prm, tsl_vk_range x, tsl_vk_range y,
                               const tsl_vk_range *save_mean, const tsl_vk_range *save_invstd);
tsl_status tsl_sync_bn_backward(tsl_model *m, tsl_batchnorm_shape group, uint32_t groups, tsl_vk_range gamma,
                                tsl_vk_range x, tsl_vk_range dy, tsl_vk_range dx,
                                const tsl_vk_range *save_mean, const tsl_vk_range *save_invstd,
                                const tsl_vk_range *dgamma_q, const tsl_vk_range *dbeta_q);
/* Sums the gradients over ranks (the classifier's are averaged) and averages terms->ce. */
tsl_status tsl_model_allreduce_gradients(tsl_model *m, tsl_loss_terms *terms);
/* c (dim x dim, this rank's rows over the rank's row count) becomes the mean over ranks. */
tsl_status tsl_sync_cross_correlation(tsl_model *m, tsl_vk_range c, uint32_t dim);

/* tsl_tessl_loss.c: the loss terms (into loss slots) and the gradients of Z and W (and the logits). */
tsl_status tsl_tessl_loss_forward_backward(tsl_model *m, tsl_vk_range labels);

enum { TSL_MODEL_MAX_TRUNK_LAYERS = 512 }; /* ResNet-50 has 173 */

/* Where the trunk's output gradients live during backward, and in the model's own layout its outputs
 * and the loss's buffers too (tsl_model_trunk_plan.c): offsets in floats into one shared area of
 * area_floats. Sizes are a layer's floats per image, rounded up to 64, times `rows`; offsets are
 * multiples of 64 floats.
 * - Gradients: layer j's at offset[j]. Gradients alive at the same time never overlap, except aliases:
 *   alias_of[j] = i (else -1) when j's gradient is first written by layer i's backward (a ReLU's, in
 *   place, or a residual sum's, which passes its gradient on unchanged) and simply *is* i's gradient
 *   buffer, with nothing else still to be read in it while j's is alive. A layer whose backward adds
 *   into a gradient another path wrote first forms its own at temp_offset[t] (else UINT64_MAX).
 * - With `outputs`: layer j's output at out_offset[j] (an in-place output at its source's; else
 *   UINT64_MAX), alive from its forward until its last reader (the features: until after the step), and
 *   loss buffer b (loss_floats[b] > 0) at loss_offset[b], alive during the loss only.
 * Nothing alive at the same time overlaps, and no item crosses a multiple of segment_floats: the
 * requested segment (0: none), raised to the largest item, so that each segment can be an allocation of
 * its own. With `aliases` false there are none (the reference the tests compare with). Errors:
 * TSL_ERR_NOMEM. */
typedef struct {
    uint32_t rows;
    bool aliases, outputs;
    uint64_t loss_floats[2];
    uint64_t segment_floats;
} tsl_trunk_plan_options;

typedef struct tsl_trunk_plan {
    uint64_t area_floats, segment_floats;
    uint64_t offset[TSL_MODEL_MAX_TRUNK_LAYERS], temp_offset[TSL_MODEL_MAX_TRUNK_LAYERS];
    int alias_of[TSL_MODEL_MAX_TRUNK_LAYERS];
    uint64_t out_offset[TSL_MODEL_MAX_TRUNK_LAYERS], loss_offset[2];
} tsl_trunk_plan;
tsl_status tsl_model_plan_trunk(const tsl_resnet *net, const tsl_trunk_plan_options *options,
                                tsl_trunk_plan *plan);

/* Does trunk layer i read layer j's output (as its input or as a residual sum's skip)? */
bool tsl_model_reads_output(const tsl_resnet *net, int i, int j);

/* The layer whose output memory trunk layer i writes its output into (in place), or -1 when it needs
 * its own (tsl_model_inplace.c). */
int tsl_model_inplace_source(const tsl_resnet *net, int i);

/* When no backward reads trunk layer j's output (it is needed only until its last reader's forward):
 * that last reader's index, else -1 (tsl_model_inplace.c). ResNet's downsample BatchNorms, read only
 * by the residual sum, are such outputs; they live in the gradients' area, unused during the forward pass. */
int tsl_model_forward_only_until(const tsl_resnet *net, int j);

#endif
