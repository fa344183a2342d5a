/* shift_kernel.c — the shift SSM's kernel on the CPU (ops.h shift_kernel):
 * K[c, j] = sum_n B[c, n] C[c, n + j], H3's learnable FIR of N taps, and its
 * backward. */
#include <string.h>

#include "cpu.h"

/* Fixed-width blocks of SK_W outputs over zero-padded copies of B and C: no
 * triangular limits, so every inner loop is one full-width multiply-add (the
 * shorter, ragged loops cost ~3x more at N = 64, L = 31). */
enum { SK_W = 16 };

static int round_up(int n, int w) { return (n + w - 1) / w * w; }

/* NB blocks of SK_W outputs from o: NB independent accumulators, so the J
 * multiply-adds of one block do not wait on each other's latency (one block
 * alone is a chain of J dependent FMAs). Each output still sums j = 0..J-1 in
 * order: the same bits whatever NB is. */
static inline __attribute__((always_inline)) void sk_run(int o, int J, const real *restrict w, const real *restrict src,
                                                         int step, real *restrict out, const int NB) {
    real acc[4][SK_W] = {{0}};
    for (int j = 0; j < J; j++) {
        const real wj = w[j], *s = src + o + (ptrdiff_t)step * j;
        for (int b = 0; b < NB; b++)
#pragma omp simd
            for (int t = 0; t < SK_W; t++) acc[b][t] += wj * s[b * SK_W + t];
    }
    memcpy(out + o, acc, sizeof(real) * SK_W * NB);
}

/* out[o] = sum_{j < J} w[j] src[o + step * j], for o < n_out (a multiple of SK_W). */
static void sk_blocks(int n_out, int J, const real *restrict w, const real *restrict src, int step,
                      real *restrict out) {
    int o = 0;
    for (; o + 4 * SK_W <= n_out; o += 4 * SK_W) sk_run(o, J, w, src, step, out, 4);
    switch ((n_out - o) / SK_W) {
    case 3: sk_run(o, J, w, src, step, out, 3); break;
    case 2: sk_run(o, J, w, src, step, out, 2); break;
    case 1: sk_run(o, J, w, src, step, out, 1); break;
    default: break;
    }
}

void cpu_shift_kernel(const struct shift_kernel_args *a) {
    const int N = a->N, Lk = a->Lk, Lv = round_up(Lk, SK_W);
    real *cp = xcalloc((size_t)(N + Lv) + (size_t)Lv, sizeof(real)), *out = cp + N + Lv; /* C, zeros; (Lv) */
    for (int c = 0; c < a->H; c++) {
        memcpy(cp, a->C + (size_t)c * N, (size_t)N * sizeof(real));
        sk_blocks(Lv, N, a->B + (size_t)c * N, cp, 1, out); /* K[j] = sum_n B[n] cp[j + n] */
        memcpy(a->K + (size_t)c * Lk, out, (size_t)Lk * sizeof(real));
    }
    free(cp);
}

void cpu_shift_kernel_bwd(const struct shift_kernel_bwd_args *g) {
    const int N = g->f.N, Lk = g->f.Lk, Nv = round_up(N, SK_W);
    /* cp: C then zeros (Nv + Lk); bp: Lk zeros, B, zeros (Lk + Nv); out (Nv) */
    real *cp = xcalloc(3 * (size_t)Nv + 2 * (size_t)Lk, sizeof(real)), *bp = cp + Nv + Lk, *out = bp + Lk + Nv;
    for (int c = 0; c < g->f.H; c++) {
        const real *dk = g->dK + (size_t)c * Lk;
        memcpy(cp, g->f.C + (size_t)c * N, (size_t)N * sizeof(real));
        memcpy(bp + Lk, g->f.B + (size_t)c * N, (size_t)N * sizeof(real));
        sk_blocks(Nv, Lk, dk, cp, 1, out); /* dB[n] = sum_j dK[j] C[n + j] */
        for (int n = 0; n < N; n++) g->dB[(size_t)c * N + n] += out[n];
        sk_blocks(Nv, Lk, dk, bp + Lk, -1, out); /* dC[m] = sum_j dK[j] B[m - j] */
        for (int n = 0; n < N; n++) g->dC[(size_t)c * N + n] += out[n];
    }
    free(cp);
}
