#include "tsl_ref_matrix.h"

#include <math.h>
#include <stdlib.h>

static double op_at(const double *x, size_t ld, bool trans, size_t row, size_t col) {
    return trans ? x[col * ld + row] : x[row * ld + col];
}

void tsl_ref_gemm(size_t m, size_t n, size_t k, bool trans_a, bool trans_b, double alpha, const double *a,
                  size_t lda, const double *b, size_t ldb, double beta, double *c, size_t ldc) {
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t l = 0; l < k; l++)
                s += op_at(a, lda, trans_a, i, l) * op_at(b, ldb, trans_b, l, j);
            c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]);
        }
}

void tsl_ref_linear_forward(size_t n, size_t in, size_t out, const double *x, const double *w,
                            const double *bias, double *y) {
    tsl_ref_gemm(n, out, in, false, true, 1, x, in, w, in, 0, y, out);
    if (bias)
        for (size_t r = 0; r < n; r++)
            for (size_t o = 0; o < out; o++)
                y[r * out + o] += bias[o];
}

void tsl_ref_linear_backward(size_t n, size_t in, size_t out, const double *x, const double *w,
                             const double *dy, double *dx, double *dw, double *dbias) {
    tsl_ref_gemm(n, in, out, false, false, 1, dy, out, w, in, 0, dx, in);
    tsl_ref_gemm(out, in, n, true, false, 1, dy, out, x, in, 0, dw, in);
    if (dbias)
        for (size_t o = 0; o < out; o++) {
            double s = 0;
            for (size_t r = 0; r < n; r++)
                s += dy[r * out + o];
            dbias[o] = s;
        }
}

void tsl_ref_barlow_cross_correlation(size_t n, size_t dim, const double *za, const double *zb, double *c) {
    tsl_ref_gemm(dim, dim, n, true, false, 1.0 / (double)n, za, dim, zb, dim, 0, c, dim);
}

double tsl_ref_barlow_loss(size_t dim, double lambd, double scale, const double *c) {
    double on = 0, off = 0;
    for (size_t i = 0; i < dim; i++)
        for (size_t j = 0; j < dim; j++) {
            double v = c[i * dim + j];
            if (i == j)
                on += (1 - v) * (1 - v);
            else
                off += v * v;
        }
    return scale * (on + lambd * off);
}

void tsl_ref_barlow_loss_grad_c(size_t dim, double lambd, double scale, const double *c, double *dc) {
    for (size_t i = 0; i < dim; i++)
        for (size_t j = 0; j < dim; j++) {
            double v = c[i * dim + j];
            dc[i * dim + j] = scale * (i == j ? -2 * (1 - v) : 2 * lambd * v);
        }
}

void tsl_ref_barlow_backward(size_t n, size_t dim, const double *za, const double *zb, const double *dc,
                             double *dza, double *dzb) {
    tsl_ref_gemm(n, dim, dim, false, true, 1.0 / (double)n, zb, dim, dc, dim, 0, dza, dim);
    tsl_ref_gemm(n, dim, dim, false, false, 1.0 / (double)n, za, dim, dc, dim, 0, dzb, dim);
}

/* log sum_j exp(row[j]), computed from the row max so no exp overflows. */
static double log_sum_exp(const double *row, size_t classes) {
    double mx = row[0];
    for (size_t j = 1; j < classes; j++)
        mx = row[j] > mx ? row[j] : mx;
    double s = 0;
    for (size_t j = 0; j < classes; j++)
        s += exp(row[j] - mx);
    return mx + log(s);
}

double tsl_ref_cross_entropy(size_t n, size_t classes, const double *logits, const uint32_t *labels) {
    double total = 0;
    for (size_t r = 0; r < n; r++) {
        const double *row = logits + r * classes;
        total += log_sum_exp(row, classes) - row[labels[r]];
    }
    return total / (double)n;
}

void tsl_ref_cross_entropy_grad(size_t n, size_t classes, const double *logits, const uint32_t *labels,
                                double *dlogits) {
    for (size_t r = 0; r < n; r++) {
        const double *row = logits + r * classes;
        double lse = log_sum_exp(row, classes);
        for (size_t j = 0; j < classes; j++)
            dlogits[r * classes + j] = (exp(row[j] - lse) - (j == labels[r] ? 1.0 : 0.0)) / (double)n;
    }
}
