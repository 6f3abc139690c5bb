/* The Barlow Twins loss and its gradients, in fp32 on the device, from two batches of embeddings that are
 * already normalised per feature over the batch (BatchNorm1d without affine, done by another kernel):
 *
 *   C = za^T zb / n                                         (dim x dim cross-correlation)
 *   L = scale * (sum_i (1 - C_ii)^2 + lambd * sum_{i != j} C_ij^2)
 *   dL/dC_ij = scale * -2 (1 - C_ii) on the diagonal, scale * 2 lambd C_ij off it
 *   dL/dza = zb dC^T / n,  dL/dzb = za dC / n               (since C_ij = sum_r za_ri zb_rj / n)
 *
 * za, zb, dza, dzb are n x dim and C, dC dim x dim, all row-major and contiguous. C can exceed one
 * binding (dim = 8192 gives 256 MiB): every piece splits its work so each binding stays within
 * maxStorageBufferRange. */
#ifndef TSL_BARLOW_H
#define TSL_BARLOW_H

#include "tsl_vk.h"

#include <stdint.h>

typedef struct {
    uint32_t n;   /* batch rows, >= 1 */
    uint32_t dim; /* embedding features, 1..65535 */
    float lambd;  /* weight of the off-diagonal (redundancy-reduction) terms */
    float scale;  /* factor on the whole loss and so on every gradient (the authors use 0.048) */
    /* Test hook: when nonzero, the largest binding any piece may use, in bytes (otherwise the device's
     * maxStorageBufferRange), to exercise the splitting with small matrices. */
    uint64_t max_binding_bytes;
} tsl_barlow_params;

/* Records C = za^T zb / n. Errors (TSL_ERR_INVALID_ARG): bad n or dim, a range too small, C overlapping
 * za or zb. */
tsl_status tsl_barlow_cross_correlation(tsl_vk_device *device, tsl_vk_cmd *cmd,
                                        const tsl_barlow_params *params, tsl_vk_range za, tsl_vk_range zb,
                                        tsl_vk_range c);

/* Scratch bytes tsl_barlow_loss needs (0 when the parameters are invalid). */
VkDeviceSize tsl_barlow_loss_scratch_bytes(const tsl_vk_device *device, const tsl_barlow_params *params);

/* Records loss[0] = L from C: per-workgroup partial sums over chunks of C, then tsl_reduce_sum_f32 over
 * the partials (fp32; relative error ~1e-6 of the sum of the terms' magnitudes). `scratch` holds
 * tsl_barlow_loss_scratch_bytes. Errors (TSL_ERR_INVALID_ARG): bad dim, a range too small, a forced
 * binding limit too small. */
tsl_status tsl_barlow_loss(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_barlow_params *params,
                           tsl_vk_range c, tsl_vk_range scratch, tsl_vk_range loss);

/* Records dc = dL/dC. dc may be c itself (in place: the kernel is elementwise, each element read before
 * it is written), but may not partly overlap it. Errors as tsl_barlow_loss. */
tsl_status tsl_barlow_loss_grad_c(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_barlow_params *params,
                                  tsl_vk_range c, tsl_vk_range dc);

/* Records dza = zb dC^T / n and dzb = za dC / n (overwritten). Errors as
 * tsl_barlow_cross_correlation. */
tsl_status tsl_barlow_backward(tsl_vk_device *device, tsl_vk_cmd *cmd, const tsl_barlow_params *params,
                               tsl_vk_range za, tsl_vk_range zb, tsl_vk_range dc, tsl_vk_range dza,
                               tsl_vk_range dzb);

#endif
