/* softmax.c — row softmax with scale and optional causal mask, and its backward. */
#include "cpu.h"
#include "vmath.h"

#include <math.h>

/* Columns row r may attend to. */
static int row_limit(const struct softmax_args *a, int r) {
    return a->causal_L > 0 ? (r % a->causal_L) + 1 : a->C;
}

static void softmax_row(const struct softmax_args *a, int r) {
    const real *x = a->x + (size_t)r * a->C;
    real *y = a->y + (size_t)r * a->C;
    int n = row_limit(a, r);
    const real sc = a->scale;
    real m = -INFINITY;
#pragma omp simd reduction(max : m) /* not fmax: a libm call per element (see xent.c) */
    for (int j = 0; j < n; j++) m = sc * x[j] > m ? sc * x[j] : m;
    real s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; j++) {
        y[j] = vm_exp_nonpos(sc * x[j] - m);
        s += y[j];
    }
    real inv = 1 / s;
    for (int j = 0; j < n; j++) y[j] *= inv;
    for (int j = n; j < a->C; j++) y[j] = 0;
}

void cpu_softmax(const struct softmax_args *a) {
    HP_CHECK(a->R >= 0 && a->C > 0);
    HP_CHECK(a->causal_L == 0 || a->causal_L == a->C);
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * a->R * a->C))
    for (int r = 0; r < a->R; r++) softmax_row(a, r);
}

/* dx = scale * y * (dy - sum_j y_j dy_j); masked entries get 0. */
static void softmax_bwd_row(const struct softmax_bwd_args *a, int r) {
    size_t o = (size_t)r * a->f.C;
    const real *y = a->y + o, *dy = a->dy + o;
    real *dx = a->dx + o;
    int n = row_limit(&a->f, r);
    double s = 0;
    for (int j = 0; j < n; j++) s += (double)y[j] * dy[j];
    for (int j = 0; j < n; j++) dx[j] = a->f.scale * y[j] * (dy[j] - (real)s);
    for (int j = n; j < a->f.C; j++) dx[j] = 0;
}

void cpu_softmax_bwd(const struct softmax_bwd_args *a) {
    HP_CHECK(a->f.R >= 0 && a->f.C > 0);
#pragma omp parallel for schedule(static) if (cpu_par(4.0 * a->f.R * a->f.C))
    for (int r = 0; r < a->f.R; r++) softmax_bwd_row(a, r);
}
