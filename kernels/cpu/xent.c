/* xent.c — mean cross-entropy over non-ignored rows (stable log-sum-exp) and its backward. */
#include "cpu.h"
#include "vmath.h"

#include <math.h>

/* Loss of one row (target t) of W logits. work (W) receives exp(x - max) —
 * one exp per logit — and, when `normalise`, out (V <= W) the softmax of the
 * first V (work and out may be the same row); the log of the sum is in double. */
static inline double xent_row_w(const real *restrict x, int W, int V, int t, real *work, real *out, bool normalise) {
    real m = -INFINITY;
    /* A comparison, not fmax (a libm call per element without fast-math); a
     * NaN logit is skipped here as fmax skips it and still makes the loss NaN. */
#pragma omp simd reduction(max : m)
    for (int v = 0; v < W; v++) m = x[v] > m ? x[v] : m;
    real s = 0;
#pragma omp simd reduction(+ : s)
    for (int v = 0; v < W; v++) {
        work[v] = vm_exp_nonpos(x[v] - m);
        s += work[v];
    }
    if (normalise) {
        real inv = (real)(1.0 / (double)s); /* as before: the reciprocal in double */
#pragma omp simd
        for (int v = 0; v < V; v++) out[v] = work[v] * inv;
    }
    double lse = m + log((double)s);
    return t >= 0 ? lse - (double)x[t] : 0.0;
}

/* Small vocabularies (the synthetics: V = 10, 20) run at a fixed width of
 * XENT_PAD lanes over a copy padded with -inf: whole vectors and no
 * remainder loops, which cost more than the arithmetic at V = 20. A pad adds
 * exp(-87) ~ 1e-38 to a sum that is at least 1: no change in float. The
 * copy in is a masked simd loop (a variable-size memcpy call cost more). */
enum { XENT_PAD = 32 };
static double xent_row(const real *restrict x, int V, int t, real *restrict e, bool normalise) {
    if (V > XENT_PAD) return xent_row_w(x, V, V, t, e, e, normalise);
    real xp[XENT_PAD], ep[XENT_PAD];
#pragma omp simd
    for (int v = 0; v < XENT_PAD; v++) xp[v] = v < V ? x[v] : -INFINITY;
    return xent_row_w(xp, XENT_PAD, V, t, ep, e, normalise);
}

void cpu_xent(const struct xent_args *a) {
    HP_CHECK(a->R >= 0 && a->V > 0 && a->loss && a->count);
    double total = 0;
    int count = 0;
    real *row = a->probs ? NULL : cpu_scratch(SCRATCH_XENT_ROW, sizeof(real) * (size_t)a->V);
    /* Serial on purpose: a fixed summation order, and R*V is small (B*L x vocab). */
    for (int r = 0; r < a->R; r++) {
        int t = a->targets[r];
        HP_CHECK(t >= -1 && t < a->V);
        real *e = a->probs ? a->probs + (size_t)r * a->V : row;
        total += xent_row(a->logits + (size_t)r * a->V, a->V, t, e, a->probs != NULL);
        count += t >= 0;
    }
    *a->count = count;
    *a->loss = count ? total / count : 0.0;
}

void cpu_xent_bwd(const struct xent_bwd_args *a) {
    HP_CHECK(a->probs && a->dlogits);
    int R = a->f.R, V = a->f.V, count = 0;
    for (int r = 0; r < R; r++) count += a->f.targets[r] >= 0;
    real g = count ? a->scale / (real)count : 0;
    for (int r = 0; r < R; r++) {
        int t = a->f.targets[r];
        const real *p = a->probs + (size_t)r * V;
        real *d = a->dlogits + (size_t)r * V;
        if (t < 0) {
            for (int v = 0; v < V; v++) d[v] = 0;
            continue;
        }
        for (int v = 0; v < V; v++) d[v] = g * p[v];
        d[t] -= g;
    }
}
