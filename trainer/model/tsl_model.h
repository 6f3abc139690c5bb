/* The TeSSL model on the device: a ResNet trunk (tsl_resnet), the invariant and equivariant projectors
 * g_inv and g_equi, an optional online linear classifier, the TeSSL loss and the optimiser step (LARS,
 * SGD or AdamW), with the exact semantics of docs/METHOD.md.
 *
 * Life cycle (the contract a trainer builds on):
 *   tsl_model_create(device, config)       allocates everything for `config.batch` (N images per quarter)
 *   tsl_model_init_random(model, seed)      torchvision's init, deterministic from the seed
 *     or tsl_model_load_safetensors(...)    weights and running stats by torchvision names
 *   per step:
 *     tsl_model_train_step(model, images, labels, step, &opt, &terms)   forward, backward and the
 *                                            optimiser's update (LARS, SGD or AdamW, this step's lrs)
 *       or, to read the gradients between the two (not with config.update_in_backward):
 *       tsl_model_forward_backward(model, images, labels, step, &terms)  one sync; gradients in place
 *       tsl_model_optimizer_step(model, &opt)
 *     tsl_model_grad_norms(model, norms)       (optional) per-tensor gradient norms of that step
 *   tsl_model_tensors(model, &n)            every named tensor (params, momentum, running stats) for
 *                                           checkpoints: read with tsl_model_tensor_download, write back
 *                                           with tsl_model_tensor_upload
 *   tsl_model_destroy(model)
 *
 * A step's input is 4N images, NCHW fp32, stacked t0, p0, t1, p1 (each quarter N contiguous images;
 * METHOD.md "A batch"). The trunk runs each convolution over all 4N images at once (convolutions are per
 * image) but calls every BatchNorm once per quarter on that quarter's contiguous sub-range, in the order
 * t0, p0, t1, p1: statistics are per quarter and running statistics are updated four times per step,
 * exactly as the authors' four calls module(t0), module(p0), module(t1), module(p1) do.
 *
 * Memory (llm.c style): all trainable parameters live in one device allocation carved into tensors at
 * aligned offsets, with gradients and momentum (and, for AdamW, second moments) in allocations of the
 * same layout; BN running statistics in another; activations for the configured batch in as few more as
 * the device's allocation limit allows (maxMemoryAllocationSize, maxBufferSize), sized once at creation
 * (tsl_model_activation_bytes; a trunk-only model carves no gradients). Nothing is allocated per step.
 *
 * Threading: one model, one thread. Every function returns TSL_OK or an error with a message. */
#ifndef TSL_MODEL_H
#define TSL_MODEL_H

#include "tsl_resnet.h"
#include "tsl_safetensors.h"
#include "tsl_vk.h"

#include <stdbool.h>
#include <stdint.h>

enum { TSL_MODEL_MAX_PROJ_LAYERS = 8 };

/* The optimiser a model is built for (AdamW needs a second-moment buffer per parameter). */
typedef enum { TSL_OPTIMIZER_LARS, TSL_OPTIMIZER_SGD, TSL_OPTIMIZER_ADAMW } tsl_optimizer_kind;

const char *tsl_optimizer_name(tsl_optimizer_kind kind); /* "lars", "sgd", "adamw" */

/* "lars", "sgd" or "adamw"; TSL_ERR_INVALID_ARG naming the choices otherwise. */
tsl_status tsl_optimizer_parse(const char *name, tsl_optimizer_kind *kind);

typedef struct {
    tsl_resnet_arch arch;
    int base_width;               /* TSL_RESNET_BASE_WIDTH (64) for the standard nets */
    int image_h, image_w;         /* input resolution */
    uint32_t batch;               /* N: images per quarter; a step takes 4N images. >= 2 (BatchNorm) */
    const char *projector;        /* output sizes of the projectors' linears, e.g. "8192-8192-8192" */
    uint32_t classes;             /* online classifier classes; 0: no classifier */
    float lambda;                 /* equivariance weight in [0, 1]; 0 skips g_equi entirely */
    float lambd;                  /* Barlow Twins off-diagonal weight (0.0051) */
    float loss_scale;             /* factor on both Barlow Twins terms (1) */
    tsl_optimizer_kind optimizer; /* LARS by default */
    /* Only the trunk (no projectors, classifier or loss; nothing trains): for evaluation-mode features.
     * tsl_model_forward_backward and tsl_model_optimizer_step refuse such a model. */
    bool trunk_only;
    /* For tests: the reference layout of the trunk's memory. Each gradient in memory of its own (no
     * aliases: copied where it would otherwise be the memory of the gradient it comes from), in an area
     * of their own, and every output kept in its own memory through the step, where the model's own
     * layout lets gradients and the Barlow C take the memory of outputs whose last reader has run
     * (tsl_model_trunk_plan.c, tsl_model_layout.c). The same numbers, more memory. */
    bool plain_gradients;
    /* The optimiser updates each weight (a conv or linear weight: not excluded) inside the backward pass,
     * once its gradient is complete and its last reader has run, and the weights' gradients take turns
     * in one slot the size of the largest (tsl_model_update.c); 1-D parameters are updated at the end of
     * the pass. This saves the memory of every weight gradient but the largest (170 MiB for ResNet-50
     * with 2048-wide projectors, about 1 GiB with 8192-wide ones) and computes the same step as
     * forward_backward then optimizer_step, bit for bit. Steps are then tsl_model_train_step only, the
     * weights' GRAD tensors cannot be read, and the model cannot train on several ranks (the allreduce
     * needs every gradient before any update). A step whose loss is not finite has updated the weights
     * by the time it is reported. */
    bool update_in_backward;
} tsl_model_config;

/* The defaults of METHOD.md for `arch` at 224x224 (projector 8192-8192-8192, lambda 0.2, lambd 0.0051,
 * scale 1, no classifier). `batch` is left at 0: the caller sets it. */
void tsl_model_config_default(tsl_model_config *config, tsl_resnet_arch arch);

typedef struct tsl_model tsl_model;

/* Builds the model and allocates all of its device memory (parameters uninitialised: call an init).
 * Errors: TSL_ERR_INVALID_ARG for a bad configuration (projector string, batch < 2, lambda outside
 * [0, 1]), TSL_ERR_UNSUPPORTED when a quarter of some activation does not start at a storage-buffer
 * offset the device accepts, TSL_ERR_DEVICE_OOM. */
tsl_status tsl_model_create(tsl_vk_device *device, const tsl_model_config *config, tsl_model **model);
void tsl_model_destroy(tsl_model *model); /* accepts NULL */

const tsl_resnet *tsl_model_resnet(const tsl_model *model);
int tsl_model_feature_dim(const tsl_model *model);
uint64_t tsl_model_activation_bytes(const tsl_model *model);  /* bytes sized for the configured batch */
int tsl_model_activation_allocations(const tsl_model *model); /* how many allocations hold them */
uint64_t tsl_model_parameter_count(const tsl_model *model);   /* trainable floats */
uint64_t tsl_model_scratch_bytes(const tsl_model *model);     /* the kernels' shared scratch allocation */
/* Bytes of the parameters, their gradients (or, with update_in_backward, the 1-D parameters' gradients
 * and the weights' shared slot), the optimiser state and the running statistics, as allocated. */
uint64_t tsl_model_state_bytes(const tsl_model *model);

/* ---- named tensors --------------------------------------------------------------------------------- */

typedef enum {
    TSL_MT_PARAM,         /* trained */
    TSL_MT_GRAD,          /* gradient of a PARAM, same name prefixed "grad." */
    TSL_MT_MOMENTUM,      /* momentum (LARS, SGD) or first moment (AdamW) of a PARAM, prefixed "mu." */
    TSL_MT_SECOND_MOMENT, /* AdamW's second moment of a PARAM, prefixed "nu." (AdamW models only) */
    TSL_MT_RUNNING_MEAN,  /* BatchNorm buffers (not trained) */
    TSL_MT_RUNNING_VAR,
} tsl_model_tensor_kind;

typedef struct {
    char name[96]; /* torchvision name for the trunk ("layer1.0.bn1.weight"), "g_inv.0.weight",
                      "g_equi.4.running_var", "classifier.bias"; GRAD/MOMENTUM add their prefix */
    tsl_model_tensor_kind kind;
    int ndim;
    int64_t shape[4];
    uint64_t count;     /* floats */
    bool exclude;       /* 1-D parameter: own learning rate, no weight decay, no trust ratio */
    tsl_vk_range range; /* where it lives on the device */
} tsl_model_tensor;

/* Every tensor: the parameters in state-dict order (trunk, g_inv, g_equi, classifier), then their
 * gradients, their momentum buffers, (AdamW) their second moments, then the running statistics. The array
 * lives as long as the model. */
const tsl_model_tensor *tsl_model_tensors(const tsl_model *model, int *count);
const tsl_model_tensor *tsl_model_find_tensor(const tsl_model *model, const char *name); /* or NULL */

/* TSL_ERR_INVALID_ARG for a weight's GRAD tensor of an update_in_backward model (not kept). */
tsl_status tsl_model_tensor_download(tsl_model *model, const tsl_model_tensor *tensor, float *data);
tsl_status tsl_model_tensor_upload(tsl_model *model, const tsl_model_tensor *tensor, const float *data);

/* ---- initialisation (tsl_model_init.c) ------------------------------------------------------------- */

/* torchvision's init, deterministic in `seed` (a counter-based generator: tensor t's element i draws
 * from hash(seed, t, i), so the result does not depend on order or threads): conv weights
 * kaiming_normal_(mode='fan_out', nonlinearity='relu'), i.e. N(0, 2 / (c_out k k)); BN gamma 1, beta 0,
 * gamma 0 for the last BN of every residual block (zero_init_residual); linear weights and biases
 * U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's default); running mean 0, var 1; momentum 0. */
tsl_status tsl_model_init_random(tsl_model *model, uint64_t seed);

/* Loads every PARAM, RUNNING_MEAN and RUNNING_VAR tensor found in `st` under the model's names (F32,
 * matching shape), and the optimiser state ("mu.<name>", "nu.<name>") when the file has it (a checkpoint
 * written from tsl_model_tensors); state the file lacks is zeroed. Extra tensors in the file are ignored
 * ("fc.*", "num_batches_tracked", "grad.*"). With require_all, a missing PARAM or running statistic is
 * an error (TSL_ERR_FORMAT naming it); otherwise it keeps its value (so a torchvision trunk checkpoint
 * can seed the trunk of a randomly initialised model). `*loaded` (may be NULL) receives the number of
 * tensors loaded. Errors: TSL_ERR_FORMAT for a dtype or shape mismatch, naming the tensor. */
tsl_status tsl_model_load_safetensors(tsl_model *model, const tsl_safetensors *st, bool require_all,
                                      int *loaded);

/* ---- a step ---------------------------------------------------------------------------------------- */

typedef struct {
    double inv;   /* BT of the invariant head, unweighted (0 when lambda == 1) */
    double equi;  /* BT of the equivariant head, unweighted (0 when lambda == 0) */
    double ce;    /* mean of the four online-classifier cross-entropies (0 without a classifier) */
    double total; /* (1 - lambda) inv + lambda equi + ce */
} tsl_loss_terms;

/* One forward and backward pass in training mode: `images` holds 4N*3*H*W floats on the device (t0, p0,
 * t1, p1), `labels` 4N uint32 (ignored, may be a zero range, without a classifier). Writes the gradient
 * of every PARAM (overwritten, not accumulated), updates the running statistics, and reads the loss
 * terms back (the step's only host sync). A non-finite term returns TSL_ERR_NUMERIC naming `step` and
 * the term. TSL_ERR_INVALID_ARG for an update_in_backward model. */
tsl_status tsl_model_forward_backward(tsl_model *model, tsl_vk_range images, tsl_vk_range labels,
                                      int64_t step, tsl_loss_terms *terms);

typedef struct {
    float lr_weights;         /* this step's learning rate for weights (schedule applied by the caller) */
    float lr_biases;          /* for 1-D parameters (biases, BN) */
    float weight_decay;       /* weights only (LARS, SGD: added to the gradient; AdamW: decoupled) */
    float momentum;           /* LARS, SGD */
    float eta;                /* LARS trust coefficient */
    double beta1, beta2, eps; /* AdamW (double: tsl_optim_adamw_hparams) */
    uint64_t step;            /* AdamW's bias correction: steps taken, this one included (from 1) */
} tsl_optimizer_config;

/* ---- data parallelism (tsl_model_sync.c, docs/DISTRIBUTED.md) ------------------------------------- */

/* Makes the model one replica of a data-parallel job over `dist` (kept, not owned; NULL or one rank:
 * the single-process step, unchanged). config.batch is then this rank's N, the global batch is N times
 * the ranks, and tsl_model_forward_backward computes what one process would with the global batch:
 * BatchNorm with global batch statistics (SyncBN), the Barlow cross-correlation over all rows, the
 * gradients summed over ranks (identical on every rank) and the loss terms of the global batch. Every
 * rank must call forward_backward for every step. Errors: TSL_ERR_DEVICE_OOM, TSL_ERR_NOMEM;
 * TSL_ERR_INVALID_ARG for more than one rank with config.update_in_backward. */
typedef struct tsl_dist tsl_dist;
tsl_status tsl_model_set_dist(tsl_model *model, tsl_dist *dist);

/* One step of the model's optimiser (config.optimizer) from the gradients of the last forward_backward,
 * with Barlow Twins' main.py groups for every optimiser: weights with lr_weights and weight decay (and,
 * for LARS, the trust ratio); 1-D parameters (biases, BN) with lr_biases and neither. The per-tensor
 * gradient norms are taken in the same submission (tsl_model_grad_norms). Submitted without waiting: the
 * next forward_backward, tensor download or upload is ordered after it. TSL_ERR_INVALID_ARG for an
 * update_in_backward model. */
tsl_status tsl_model_optimizer_step(tsl_model *model, const tsl_optimizer_config *config);

/* A whole training step: with config.update_in_backward one submission (forward, loss, backward with
 * the updates inside it); otherwise tsl_model_forward_backward then tsl_model_optimizer_step. Either
 * way the same numbers, the same loss terms and errors, and the same gradient norms afterwards. */
tsl_status tsl_model_train_step(tsl_model *model, tsl_vk_range images, tsl_vk_range labels, int64_t step,
                                const tsl_optimizer_config *config, tsl_loss_terms *terms);

/* The L2 norm of each PARAM's gradient (`norms` holds one float per PARAM, in tsl_model_tensors order)
 * as the last optimizer step (or train step) found them; waits for that step. TSL_ERR_INVALID_ARG before
 * any optimizer step. */
tsl_status tsl_model_grad_norms(tsl_model *model, float *norms);

/* Evaluation-mode forward of n images (n <= 4N) through the trunk, BN with running statistics; the
 * output of trunk layer `layer` ("conv1" is the stem's conv output, "layer1".."layer4" a stage's output,
 * "avgpool" the features h, n x feature_dim) is downloaded to `out`. */
tsl_status tsl_model_features(tsl_model *model, tsl_vk_range images, uint32_t n, const char *layer,
                              float *out, uint64_t out_count);

/* Index into tsl_model_resnet(model)->layers of the layer whose output is the named trunk layer ("conv1",
 * "layer1".."layer4", "avgpool"), or -1. */
int tsl_model_layer_index(const tsl_model *model, const char *name);

/* Device ranges of a trunk activation by the same names (and "z", "w" for the projector outputs): rows
 * of all 4N images, t0, p0, t1, p1. Valid after tsl_model_features; after tsl_model_forward_backward only
 * h, z and w are (other outputs' memory holds gradients by then), unless config.plain_gradients. For
 * tests and diagnostics. */
tsl_status tsl_model_activation(const tsl_model *model, const char *name, tsl_vk_range *range,
                                uint64_t *count);

#endif
