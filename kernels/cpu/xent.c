/* xent.c — mean cross-entropy over non-ignored rows (stable log-sum-exp) and its backward. */
#include "cpu.h"

#include <math.h>

/* Loss of one row (target t), writing its softmax into p when p != NULL. */
static double xent_row(const real *x, int V, int t, real *p) {
    double m = -INFINITY;
    for (int v = 0; v < V; v++) m = fmax(m, (double)x[v]);
    double s = 0;
    for (int v = 0; v < V; v++) s += exp((double)x[v] - m);
    double lse = m + log(s);
    if (p)
        for (int v = 0; v < V; v++) p[v] = (real)exp((double)x[v] - lse);
    return t >= 0 ? lse - (double)x[t] : 0.0;
}

void cpu_xent(const struct xent_args *a) {
    HP_CHECK(a->R >= 0 && a->V > 0 && a->loss && a->count);
    double total = 0;
    int count = 0;
    /* Serial on purpose: a fixed summation order, and R*V is small (B*L x vocab). */
    for (int r = 0; r < a->R; r++) {
        int t = a->targets[r];
        HP_CHECK(t >= -1 && t < a->V);
        real *p = a->probs ? a->probs + (size_t)r * a->V : NULL;
        total += xent_row(a->logits + (size_t)r * a->V, a->V, t, p);
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
