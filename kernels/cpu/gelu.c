/* gelu.c — GELU, tanh approximation and exact (erf) forms, and their derivatives. */
#include "cpu.h"

#include <math.h>

#define SQRT_2_OVER_PI 0.7978845608028654
#define GELU_C3 0.044715
#define INV_SQRT2 0.7071067811865476
#define INV_SQRT_2PI 0.3989422804014327

/* Computed in double: the elementwise cost is small next to the gemms. */
static double gelu_tanh(double x) {
    return 0.5 * x * (1.0 + tanh(SQRT_2_OVER_PI * (x + GELU_C3 * x * x * x)));
}
static double gelu_tanh_grad(double x) {
    double t = tanh(SQRT_2_OVER_PI * (x + GELU_C3 * x * x * x));
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C3 * x * x);
}
static double gelu_erf(double x) { return 0.5 * x * (1.0 + erf(x * INV_SQRT2)); }
static double gelu_erf_grad(double x) {
    return 0.5 * (1.0 + erf(x * INV_SQRT2)) + x * exp(-0.5 * x * x) * INV_SQRT_2PI;
}

void cpu_gelu(const struct gelu_args *a) {
    bool tanh_form = a->kind == GELU_TANH;
    ptrdiff_t n = (ptrdiff_t)a->n;
#pragma omp parallel for schedule(static) if (cpu_par(20.0 * n))
    for (ptrdiff_t i = 0; i < n; i++)
        a->y[i] = (real)(tanh_form ? gelu_tanh(a->x[i]) : gelu_erf(a->x[i]));
}

void cpu_gelu_bwd(const struct gelu_bwd_args *a) {
    bool tanh_form = a->f.kind == GELU_TANH;
    ptrdiff_t n = (ptrdiff_t)a->f.n;
#pragma omp parallel for schedule(static) if (cpu_par(20.0 * n))
    for (ptrdiff_t i = 0; i < n; i++) {
        double g = tanh_form ? gelu_tanh_grad(a->f.x[i]) : gelu_erf_grad(a->f.x[i]);
        a->dx[i] = (real)(g * a->dy[i]);
    }
}
