/* embed.c — token (+ position) embedding and its scatter-add backward on the
 * CPU (ops.h embed, embed_bwd): rows in order, so each destination row sums
 * its contributions in ascending r. */
#include "cpu.h"

void cpu_embed(const struct embed_args *a) {
    const int D = a->D;
    for (int r = 0; r < a->R; r++) {
        int tok = a->tokens[r], t = r % a->L;
        HP_CHECK(tok >= 0 && tok < a->V);
        real *e = a->y + (size_t)r * D;
        const real *E = a->E + (size_t)tok * D;
        for (int d = 0; d < D; d++) e[d] = E[d] + (a->P ? a->P[(size_t)t * D + d] : 0);
    }
}

/* out += x over n */
static void acc(real *restrict out, const real *restrict x, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] += x[i];
}

void cpu_embed_bwd(const struct embed_bwd_args *g) {
    const struct embed_args *a = &g->f;
    const size_t D = (size_t)a->D;
    for (int r = 0; r < a->R; r++) {
        acc(g->dE + (size_t)a->tokens[r] * D, g->dy + r * D, D);
        if (g->dP) acc(g->dP + (size_t)(r % a->L) * D, g->dy + r * D, D);
    }
}
