/* layernorm.c — LayerNorm over the last axis, and its backward.
 * Statistics in double (two passes) so float rows with a large mean stay exact. */
#include "cpu.h"

#include <math.h>
#include <string.h>

static void ln_row(const struct layernorm_args *a, int r) {
    int D = a->D;
    const real *x = a->x + (size_t)r * D;
    real *y = a->y + (size_t)r * D;
    double mu = 0, var = 0;
    for (int d = 0; d < D; d++) mu += x[d];
    mu /= D;
    for (int d = 0; d < D; d++) var += (x[d] - mu) * (x[d] - mu);
    var /= D;
    double rs = 1.0 / sqrt(var + a->eps);
    for (int d = 0; d < D; d++) {
        double h = (x[d] - mu) * rs;
        y[d] = (real)(h * (a->w ? a->w[d] : 1) + (a->b ? a->b[d] : 0));
    }
    a->mean[r] = (real)mu;
    a->rstd[r] = (real)rs;
}

void cpu_layernorm(const struct layernorm_args *a) {
    HP_CHECK(a->R >= 0 && a->D > 0 && a->mean && a->rstd);
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * a->R * a->D))
    for (int r = 0; r < a->R; r++) ln_row(a, r);
}

/* dx for one row; adds this row's dw, db terms into the given accumulators. */
static void ln_bwd_row(const struct layernorm_bwd_args *a, int r, double *dw, double *db) {
    const struct layernorm_args *f = &a->f;
    int D = f->D;
    const real *x = f->x + (size_t)r * D, *dy = a->dy + (size_t)r * D;
    double mu = f->mean[r], rs = f->rstd[r];
    double sg = 0, sgh = 0; /* sum of dxhat, sum of dxhat * xhat */
    for (int d = 0; d < D; d++) {
        double h = (x[d] - mu) * rs, g = dy[d] * (f->w ? f->w[d] : 1);
        sg += g;
        sgh += g * h;
        dw[d] += dy[d] * h;
        db[d] += dy[d];
    }
    sg /= D;
    sgh /= D;
    if (!a->dx) return;
    real *dx = a->dx + (size_t)r * D;
    for (int d = 0; d < D; d++) {
        double h = (x[d] - mu) * rs, g = dy[d] * (f->w ? f->w[d] : 1);
        dx[d] = (real)(rs * (g - sg - h * sgh));
    }
}

/* Rows are split statically over threads; each thread sums dw, db over its rows
 * in a private buffer and the buffers are added in thread order, so the result
 * is fixed for a given thread count. */
void cpu_layernorm_bwd(const struct layernorm_bwd_args *a) {
    int R = a->f.R, D = a->f.D;
    HP_CHECK(R >= 0 && D > 0);
    int nt = cpu_par(10.0 * R * D) ? omp_get_max_threads() : 1;
    double *acc = xcalloc((size_t)nt * 2 * D, sizeof(double));
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        double *dw = acc + (size_t)t * 2 * D, *db = dw + D;
        int r0 = (int)((long)R * t / n), r1 = (int)((long)R * (t + 1) / n);
        for (int r = r0; r < r1; r++) ln_bwd_row(a, r, dw, db);
    }
    for (int t = 0; t < nt; t++)
        for (int d = 0; d < D; d++) {
            if (a->dw) a->dw[d] += (real)acc[(size_t)t * 2 * D + d];
            if (a->db) a->db[d] += (real)acc[(size_t)t * 2 * D + D + d];
        }
    free(acc);
}
