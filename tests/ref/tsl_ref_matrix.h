/* Double-precision CPU references of the matrix kernels (GEMM, linear layer, Barlow Twins loss,
 * cross-entropy), written as plainly as possible: they define what the GPU kernels must compute.
 * Layouts match the kernels: row-major with leading dimensions (elements). */
#ifndef TSL_REF_MATRIX_H
#define TSL_REF_MATRIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* C = alpha * op(A) * op(B) + beta * C; op(A) m x k, op(B) k x n. beta == 0 ignores C's old values. */
void tsl_ref_gemm(size_t m, size_t n, size_t k, bool trans_a, bool trans_b, double alpha, const double *a,
                  size_t lda, const double *b, size_t ldb, double beta, double *c, size_t ldc);

/* y (n x out) = x (n x in) W^T + bias; W is out x in; bias (out) may be NULL. */
void tsl_ref_linear_forward(size_t n, size_t in, size_t out, const double *x, const double *w,
                            const double *bias, double *y);
/* dx = dy W (n x in), dw = dy^T x (out x in), dbias = column sums of dy (may be NULL). */
void tsl_ref_linear_backward(size_t n, size_t in, size_t out, const double *x, const double *w,
                             const double *dy, double *dx, double *dw, double *dbias);

/* C = za^T zb / n (dim x dim) from za, zb (n x dim). */
void tsl_ref_barlow_cross_correlation(size_t n, size_t dim, const double *za, const double *zb, double *c);
/* scale * (sum_i (1 - C_ii)^2 + lambd * sum_{i != j} C_ij^2). */
double tsl_ref_barlow_loss(size_t dim, double lambd, double scale, const double *c);
/* dL/dC: scale * (-2 (1 - C_ii)) on the diagonal, scale * 2 lambd C_ij off it. */
void tsl_ref_barlow_loss_grad_c(size_t dim, double lambd, double scale, const double *c, double *dc);
/* dza = zb dC^T / n, dzb = za dC / n (n x dim each). */
void tsl_ref_barlow_backward(size_t n, size_t dim, const double *za, const double *zb, const double *dc,
                             double *dza, double *dzb);

/* Mean over the n rows of -log softmax(logits[row])[label[row]] (logits n x classes). */
double tsl_ref_cross_entropy(size_t n, size_t classes, const double *logits, const uint32_t *labels);
/* dlogits = (softmax(logits) - onehot(label)) / n. */
void tsl_ref_cross_entropy_grad(size_t n, size_t classes, const double *logits, const uint32_t *labels,
                                double *dlogits);

#endif
