#include "ref_pointwise.h"

void ref_relu_forward(size_t n, const double *x, double *y) {
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : 0;
}

void ref_relu_backward(size_t n, const double *mask, const double *dy, double *dx) {
    for (size_t i = 0; i < n; i++)
        dx[i] = mask[i] > 0 ? dy[i] : 0;
}

void ref_add(size_t n, const double *a, const double *b, double *y) {
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void ref_add_relu(size_t n, const double *a, const double *b, double *y) {
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i] > 0 ? a[i] + b[i] : 0;
}
