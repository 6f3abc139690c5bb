#include "ref_optim.h"

#include <math.h>
#include <stdlib.h>

double ref_l2_norm(size_t n, const double *x) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += x[i] * x[i];
    return sqrt(sum);
}

void ref_lars_step(size_t n, double *p, const double *g, double *mu, bool exclude, double lr, double momentum,
                   double weight_decay, double eta, double *param_norm, double *update_norm) {
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = exclude ? g[i] : g[i] + weight_decay * p[i];
    double pn = ref_l2_norm(n, p), dn = ref_l2_norm(n, d);
    double q = !exclude && pn > 0 && dn > 0 ? eta * pn / dn : 1.0;
    for (size_t i = 0; i < n; i++) {
        mu[i] = momentum * mu[i] + q * d[i];
        p[i] -= lr * mu[i];
    }
    if (param_norm)
        *param_norm = pn;
    if (update_norm)
        *update_norm = dn;
    free(d);
}

void ref_sgd_step(size_t n, double *p, const double *g, double *mu, bool exclude, double lr, double momentum,
                  double weight_decay) {
    for (size_t i = 0; i < n; i++) {
        double d = exclude ? g[i] : g[i] + weight_decay * p[i];
        mu[i] = momentum * mu[i] + d;
        p[i] -= lr * mu[i];
    }
}

void ref_adamw_step(size_t n, double *p, const double *g, double *m, double *v, bool exclude, double lr,
                    double beta1, double beta2, double eps, double weight_decay, unsigned long step) {
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    double decay = 1.0 - lr * (exclude ? 0.0 : weight_decay);
    for (size_t i = 0; i < n; i++) {
        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
        p[i] = p[i] * decay - lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
    }
}
