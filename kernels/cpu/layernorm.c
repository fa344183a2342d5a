/* layernorm.c — LayerNorm over the last axis, and its backward.
 * Statistics in double (two passes) so float rows with a large mean stay exact. */
#include "cpu.h"
#include "simd.h"

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

/* VL rows at once when D is a multiple of VL and w, b are given (every
 * model LayerNorm): the per-row sums of the block come out of one vsum_rows
 * instead of VL horizontal sums, which cost more than the arithmetic at
 * D = 32. Same two passes as ln_row, summed in a fixed order. */
static void ln_block(const struct layernorm_args *a, int r0) {
    const int D = a->D, nv = D / VL;
    const real *restrict x = a->x + (size_t)r0 * D;
    real *restrict y = a->y + (size_t)r0 * D;
    vec t[VL];
    for (int i = 0; i < VL; i++) {
        vec s = vload(x + (size_t)i * D);
        for (int c = 1; c < nv; c++) s += vload(x + (size_t)i * D + c * VL);
        t[i] = s;
    }
    vec mu = vsum_rows(t) / (real)D;
    for (int i = 0; i < VL; i++) {
        vec s = {0};
        for (int c = 0; c < nv; c++) {
            vec d = vload(x + (size_t)i * D + c * VL) - mu[i];
            s += d * d;
        }
        t[i] = s;
    }
    vec var = vsum_rows(t) / (real)D;
    for (int i = 0; i < VL; i++) {
        const real rs = 1 / sqrt(var[i] + a->eps);
        for (int c = 0; c < nv; c++) {
            size_t o = (size_t)i * D + c * VL;
            vstore(y + o, (vload(x + o) - mu[i]) * rs * vload(a->w + c * VL) + vload(a->b + c * VL));
        }
        a->mean[r0 + i] = mu[i];
        a->rstd[r0 + i] = rs;
    }
}

static bool ln_blocked(int D, const real *w) { return D % VL == 0 && w; }

void cpu_layernorm(const struct layernorm_args *a) {
    HP_CHECK(a->R >= 0 && a->D > 0 && a->mean && a->rstd);
    const int R = a->R, nb = ln_blocked(a->D, a->w) && a->b ? R / VL : 0;
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * R * a->D))
    for (int k = 0; k < nb; k++) ln_block(a, k * VL);
    for (int r = nb * VL; r < R; r++) ln_row(a, r);
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

/* ln_bwd_row for VL rows at once (see ln_block); needs w. */
static void ln_bwd_block(const struct layernorm_bwd_args *a, int r0, real *restrict dw, real *restrict db) {
    const struct layernorm_args *f = &a->f;
    const int D = f->D, nv = D / VL;
    const real *restrict x = f->x + (size_t)r0 * D, *restrict dy = a->dy + (size_t)r0 * D;
    vec tg[VL], th[VL];
    for (int i = 0; i < VL; i++) {
        const real mu = f->mean[r0 + i], rs = f->rstd[r0 + i];
        vec sg = {0}, sgh = {0};
        for (int c = 0; c < nv; c++) {
            size_t o = (size_t)i * D + c * VL;
            vec h = (vload(x + o) - mu) * rs, d = vload(dy + o), g = d * vload(f->w + c * VL);
            sg += g;
            sgh += g * h;
            vstore(dw + c * VL, vload(dw + c * VL) + d * h);
            vstore(db + c * VL, vload(db + c * VL) + d);
        }
        tg[i] = sg, th[i] = sgh;
    }
    if (!a->dx) return;
    vec msg = vsum_rows(tg) / (real)D, msgh = vsum_rows(th) / (real)D;
    real *restrict dx = a->dx + (size_t)r0 * D;
    for (int i = 0; i < VL; i++) {
        const real mu = f->mean[r0 + i], rs = f->rstd[r0 + i];
        for (int c = 0; c < nv; c++) {
            size_t o = (size_t)i * D + c * VL;
            vec h = (vload(x + o) - mu) * rs, g = vload(dy + o) * vload(f->w + c * VL);
            vstore(dx + o, rs * (g - msg[i] - h * msgh[i]));
        }
    }
}

/* Rows [r0, r1): whole blocks of VL where ln_blocked allows, the rest row by row. */
static void ln_bwd_rows(const struct layernorm_bwd_args *a, int r0, int r1, real *dw, real *db) {
    int r = r0;
    if (ln_blocked(a->f.D, a->f.w))
        for (; r + VL <= r1; r += VL) ln_bwd_block(a, r, dw, db);
    for (; r < r1; r++) ln_bwd_row(a, r, dw, db);
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
        ln_bwd_rows(a, r0, r1, dw, db);
    }
    for (int t = 0; t < nt; t++)
        for (int d = 0; d < D; d++) {
            if (a->dw) a->dw[d] += acc[(size_t)t * 2 * D + d];
            if (a->db) a->db[d] += acc[(size_t)t * 2 * D + D + d];
        }
}
