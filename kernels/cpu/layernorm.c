/* layernorm.c — LayerNorm over the last axis, and its backward.
 * Statistics in double (two passes) so float rows with a large mean stay exact. */
#include "cpu.h"

#include <math.h>
#include <string.h>

/* Two passes (mean, then the mean of centred squares) in `real`: centring first
 * keeps the variance exact to rounding even for rows with a large mean, and
 * `omp simd reduction` vectorises the sums (their order is fixed by the
 * compiled code, so results stay reproducible). */
static void ln_row(const struct layernorm_args *a, int r) {
    const int D = a->D;
    const real *restrict x = a->x + (size_t)r * D;
    real *restrict y = a->y + (size_t)r * D;
    real mu = 0, var = 0;
#pragma omp simd reduction(+ : mu)
    for (int d = 0; d < D; d++) mu += x[d];
    mu /= D;
#pragma omp simd reduction(+ : var)
    for (int d = 0; d < D; d++) var += (x[d] - mu) * (x[d] - mu);
    var /= D;
    const real m = mu, s = 1 / sqrt(var + a->eps);
    if (a->w && a->b) {
        const real *restrict w = a->w, *restrict b = a->b;
#pragma omp simd
        for (int d = 0; d < D; d++) y[d] = (x[d] - m) * s * w[d] + b[d];
    } else {
#pragma omp simd
        for (int d = 0; d < D; d++) y[d] = (x[d] - m) * s * (a->w ? a->w[d] : 1) + (a->b ? a->b[d] : 0);
    }
    a->mean[r] = m;
    a->rstd[r] = s;
}

void cpu_layernorm(const struct layernorm_args *a) {
    HP_CHECK(a->R >= 0 && a->D > 0 && a->mean && a->rstd);
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * a->R * a->D))
    for (int r = 0; r < a->R; r++) ln_row(a, r);
}

/* dx for one row; adds this row's dw, db terms into the given accumulators.
 * The per-row sums are double simd reductions (vectorised, fixed order). */
static void ln_bwd_row(const struct layernorm_bwd_args *a, int r, real *restrict dw, real *restrict db) {
    const struct layernorm_args *f = &a->f;
    const int D = f->D;
    const real *restrict x = f->x + (size_t)r * D, *restrict dy = a->dy + (size_t)r * D;
    const real mu = f->mean[r], rs = f->rstd[r];
    real g[D], h[D]; /* D is the model width: small */
    for (int d = 0; d < D; d++) g[d] = dy[d] * (f->w ? f->w[d] : 1);
    real sg = 0, sgh = 0; /* sum of dxhat, sum of dxhat * xhat */
#pragma omp simd reduction(+ : sg, sgh)
    for (int d = 0; d < D; d++) {
        h[d] = (x[d] - mu) * rs;
        sg += g[d];
        sgh += g[d] * h[d];
    }
#pragma omp simd
    for (int d = 0; d < D; d++) {
        dw[d] += dy[d] * h[d];
        db[d] += dy[d];
    }
    if (!a->dx) return;
    const real msg = sg / D, msgh = sgh / D;
    real *restrict dx = a->dx + (size_t)r * D;
#pragma omp simd
    for (int d = 0; d < D; d++) dx[d] = rs * (g[d] - msg - h[d] * msgh);
}

/* Rows are split statically over threads; each thread sums dw, db over its rows
 * (in `real`: rounding grows like sqrt(rows), far inside float tolerance) in a private buffer and the buffers are added in thread order, so the result
 * is fixed for a given thread count. */
void cpu_layernorm_bwd(const struct layernorm_bwd_args *a) {
    int R = a->f.R, D = a->f.D;
    HP_CHECK(R >= 0 && D > 0);
    int nt = cpu_par(10.0 * R * D) ? omp_get_max_threads() : 1;
    real *acc = cpu_scratch(SCRATCH_LN_ACC, sizeof(real) * (size_t)nt * 2 * D);
    memset(acc, 0, sizeof(real) * (size_t)nt * 2 * D);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        real *dw = acc + (size_t)t * 2 * D, *db = dw + D;
        int r0 = (int)((long)R * t / n), r1 = (int)((long)R * (t + 1) / n);
        for (int r = r0; r < r1; r++) ln_bwd_row(a, r, dw, db);
    }
    for (int t = 0; t < nt; t++)
        for (int d = 0; d < D; d++) {
            if (a->dw) a->dw[d] += acc[(size_t)t * 2 * D + d];
            if (a->db) a->db[d] += acc[(size_t)t * 2 * D + D + d];
        }
}
