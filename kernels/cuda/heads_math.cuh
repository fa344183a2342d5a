/* heads_math.cuh — the token embedding, H3's heads and the shift SSM kernel
 * on the GPU (ops.h embed, embed_bwd, head_outer, head_contract,
 * shift_kernel and their backwards) as one function per output element
 * (hd.cuh; HD: compiled into kernels/cuda/heads.cu and into
 * tests/test_cuda_ew.c). Every sum runs in the CPU's order with the CPU's
 * float accumulator (kernels/cpu: embed.c, heads.c, shift_kernel.c), so the
 * results are its results up to fused multiply-adds. */
#ifndef HIPPO_CUDA_HEADS_MATH_CUH
#define HIPPO_CUDA_HEADS_MATH_CUH

#include <stdint.h>

#include "hd.cuh"

/* ---- embedding ---------------------------------------------------------------- */

struct hd_embed {
    int R, L, D;
    const int *tokens;
    const float *E, *P; /* P may be NULL */
    float *y;
    const float *dy;    /* backward */
    float *dE, *dP;     /* backward (+=); dP NULL when P is */
};

/* y element i of (R, D). */
HD void embed_elem(const struct hd_embed *a, size_t i) {
    size_t r = i / a->D;
    int d = (int)(i % a->D), t = (int)(r % a->L);
    a->y[i] = a->E[(size_t)a->tokens[r] * a->D + d] + (a->P ? a->P[(size_t)t * a->D + d] : 0.0f);
}

/* dP element i of (L, D): its rows b L + t, b ascending. */
HD void embed_dP_elem(const struct hd_embed *a, size_t i) {
    int t = (int)(i / a->D), d = (int)(i % a->D);
    float s = a->dP[i];
    for (int r = t; r < a->R; r += a->L) s += a->dy[(size_t)r * a->D + d];
    a->dP[i] = s;
}

/* dE row v as a block program: the tokens EMBED_TILE at a time in shared
 * `tile`, thread tid owning columns tid, tid + nt, ... with its running sum
 * in shared `acc` (D floats), rows ascending. */
#define EMBED_TILE 1024
HD void embed_dE_block(const struct hd_embed *a, int v, int *tile, float *acc, int nt) {
    BLOCK_PASS(for (int d = tid; d < a->D; d += nt) acc[d] = a->dE[(size_t)v * a->D + d]);
    for (int r0 = 0; r0 < a->R; r0 += EMBED_TILE) {
        int n = a->R - r0 < EMBED_TILE ? a->R - r0 : EMBED_TILE;
        BLOCK_PASS(for (int k = tid; k < n; k += nt) tile[k] = a->tokens[r0 + k]);
        BLOCK_PASS(for (int d = tid; d < a->D; d += nt) {
            float s = acc[d];
            for (int k = 0; k < n; k++)
                if (tile[k] == v) s += a->dy[(size_t)(r0 + k) * a->D + d];
            acc[d] = s;
        });
    }
    BLOCK_PASS(for (int d = tid; d < a->D; d += nt) a->dE[(size_t)v * a->D + d] = acc[d]);
}

/* ---- H3's heads ------------------------------------------------------------------- */

struct hd_heads {
    int R, D, dh;
    const float *kt, *v;  /* outer: (R, D) */
    const float *q, *y;   /* contract: (R, D), (R, D dh) */
    const float *dout;    /* the backward's upstream: dkv (R, D dh) or do (R, D) */
    float *out;           /* kv (R, D dh) or o (R, D) (=) */
    float *d1, *d2;       /* outer: dkt, dv; contract: dq, dy (=) */
};

/* kv element i of (R, D dh): kv[r, c dh + j] = kt[r, c] v[r, (c / dh) dh + j]. */
HD void outer_elem(const struct hd_heads *a, size_t i) {
    int E = a->D * a->dh;
    size_t r = i / E;
    int cj = (int)(i % E), c = cj / a->dh, j = cj % a->dh;
    a->out[i] = a->kt[r * a->D + c] * a->v[r * a->D + (c / a->dh) * a->dh + j];
}

/* dkt element i of (R, D): sum_j dkv[r, c dh + j] v[r, h dh + j]. */
HD void outer_dkt_elem(const struct hd_heads *a, size_t i) {
    size_t r = i / a->D;
    int c = (int)(i % a->D), h0 = (c / a->dh) * a->dh;
    const float *g = a->dout + r * a->D * a->dh + (size_t)c * a->dh;
    float s = 0;
    for (int j = 0; j < a->dh; j++) s += g[j] * a->v[r * a->D + h0 + j];
    a->d1[i] = s;
}

/* dv element i of (R, D), column h dh + j: sum_i dkv[r, (h dh + i) dh + j] kt[r, h dh + i]. */
HD void outer_dv_elem(const struct hd_heads *a, size_t i) {
    size_t r = i / a->D;
    int col = (int)(i % a->D), h0 = (col / a->dh) * a->dh, j = col % a->dh;
    float s = 0;
    for (int k = 0; k < a->dh; k++) s += a->dout[r * a->D * a->dh + (size_t)(h0 + k) * a->dh + j] * a->kt[r * a->D + h0 + k];
    a->d2[i] = s;
}

/* o element i of (R, D), column j H + h: sum_i q[r, h dh + i] y[r, (h dh + i) dh + j]. */
HD void contract_elem(const struct hd_heads *a, size_t i) {
    int H = a->D / a->dh;
    size_t r = i / a->D;
    int col = (int)(i % a->D), j = col / H, h = col % H;
    float s = 0;
    for (int k = 0; k < a->dh; k++) {
        int c = h * a->dh + k;
        s += a->q[r * a->D + c] * a->y[r * a->D * a->dh + (size_t)c * a->dh + j];
    }
    a->out[i] = s;
}

/* dq element i of (R, D): sum_j do[r, j H + h] y[r, c dh + j]. */
HD void contract_dq_elem(const struct hd_heads *a, size_t i) {
    int H = a->D / a->dh;
    size_t r = i / a->D;
    int c = (int)(i % a->D), h = c / a->dh;
    float s = 0;
    for (int j = 0; j < a->dh; j++) s += a->dout[r * a->D + (size_t)j * H + h] * a->y[r * a->D * a->dh + (size_t)c * a->dh + j];
    a->d1[i] = s;
}

/* dy element i of (R, D dh): do[r, j H + h] q[r, c]. */
HD void contract_dy_elem(const struct hd_heads *a, size_t i) {
    int H = a->D / a->dh, E = a->D * a->dh;
    size_t r = i / E;
    int cj = (int)(i % E), c = cj / a->dh, j = cj % a->dh, h = c / a->dh;
    a->d2[i] = a->dout[r * a->D + (size_t)j * H + h] * a->q[r * a->D + c];
}

/* ---- the shift SSM kernel ------------------------------------------------------------ */

struct hd_shift {
    int H, N, Lk;
    const float *B, *C, *dK;
    float *K, *dB, *dC;
};

/* K element i of (H, Lk): sum_{n < N - j} B[c, n] C[c, n + j], n ascending. */
HD void shift_k_elem(const struct hd_shift *a, size_t i) {
    size_t c = i / a->Lk;
    int j = (int)(i % a->Lk);
    const float *B = a->B + c * a->N, *C = a->C + c * a->N;
    float s = 0;
    for (int n = 0; n + j < a->N; n++) s += B[n] * C[n + j];
    a->K[i] = s;
}

/* dB and dC element i of (H, N) (+=): sum_j dK[c, j] C[c, n + j] and sum_{j <= n} dK[c, j] B[c, n - j]. */
HD void shift_grad_elem(const struct hd_shift *a, size_t i) {
    size_t c = i / a->N;
    int n = (int)(i % a->N);
    const float *B = a->B + c * a->N, *C = a->C + c * a->N, *dK = a->dK + c * a->Lk;
    float sb = 0, sc = 0;
    for (int j = 0; j < a->Lk; j++) {
        if (n + j < a->N) sb += dK[j] * C[n + j];
        if (j <= n) sc += dK[j] * B[n - j];
    }
    a->dB[i] += sb;
    a->dC[i] += sc;
}

#endif
