#include "ref_batchnorm.h"

#include <math.h>

static size_t at(size_t c, size_t hw, size_t i, size_t ch, size_t s) {
    return (i * c + ch) * hw + s;
}

/* Two-pass statistics: mean first, then the centred sum of squares. */
static void channel_stats(size_t n, size_t c, size_t hw, const double *x, size_t ch, double *mean,
                          double *m2) {
    double sum = 0.0, sq = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t s = 0; s < hw; s++)
            sum += x[at(c, hw, i, ch, s)];
    double mu = sum / (double)(n * hw);
    for (size_t i = 0; i < n; i++)
        for (size_t s = 0; s < hw; s++) {
            double d = x[at(c, hw, i, ch, s)] - mu;
            sq += d * d;
        }
    *mean = mu;
    *m2 = sq;
}

static void normalise(size_t n, size_t c, size_t hw, const double *x, const double *gamma, const double *beta,
                      size_t ch, double mu, double inv, double *y) {
    double g = gamma ? gamma[ch] : 1.0, b = beta ? beta[ch] : 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t s = 0; s < hw; s++)
            y[at(c, hw, i, ch, s)] = (x[at(c, hw, i, ch, s)] - mu) * inv * g + b;
}

void ref_batchnorm_forward_train(size_t n, size_t c, size_t hw, const double *x, const double *gamma,
                                 const double *beta, double momentum, double eps, double *running_mean,
                                 double *running_var, double *y, double *mean, double *invstd) {
    double m = (double)(n * hw);
    for (size_t ch = 0; ch < c; ch++) {
        double mu, m2;
        channel_stats(n, c, hw, x, ch, &mu, &m2);
        double inv = 1.0 / sqrt(m2 / m + eps);
        if (mean)
            mean[ch] = mu;
        if (invstd)
            invstd[ch] = inv;
        if (running_mean)
            running_mean[ch] = (1.0 - momentum) * running_mean[ch] + momentum * mu;
        if (running_var)
            running_var[ch] = (1.0 - momentum) * running_var[ch] + momentum * m2 / (m - 1.0);
        normalise(n, c, hw, x, gamma, beta, ch, mu, inv, y);
    }
}

void ref_batchnorm_forward_eval(size_t n, size_t c, size_t hw, const double *x, const double *gamma,
                                const double *beta, const double *running_mean, const double *running_var,
                                double eps, double *y) {
    for (size_t ch = 0; ch < c; ch++)
        normalise(n, c, hw, x, gamma, beta, ch, running_mean[ch], 1.0 / sqrt(running_var[ch] + eps), y);
}

void ref_batchnorm_backward(size_t n, size_t c, size_t hw, const double *x, const double *gamma,
                            const double *dy, double eps, double *dx, double *dgamma, double *dbeta) {
    double m = (double)(n * hw);
    for (size_t ch = 0; ch < c; ch++) {
        double mu, m2;
        channel_stats(n, c, hw, x, ch, &mu, &m2);
        double inv = 1.0 / sqrt(m2 / m + eps), sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (size_t i = 0; i < n; i++)
            for (size_t s = 0; s < hw; s++) {
                size_t k = at(c, hw, i, ch, s);
                sum_dy += dy[k];
                sum_dy_xhat += dy[k] * (x[k] - mu) * inv;
            }
        double g = gamma ? gamma[ch] : 1.0;
        for (size_t i = 0; i < n; i++)
            for (size_t s = 0; s < hw; s++) {
                size_t k = at(c, hw, i, ch, s);
                double xhat = (x[k] - mu) * inv;
                dx[k] = g * inv * (dy[k] - sum_dy / m - xhat * sum_dy_xhat / m);
            }
        if (dgamma)
            dgamma[ch] = sum_dy_xhat;
        if (dbeta)
            dbeta[ch] = sum_dy;
    }
}
