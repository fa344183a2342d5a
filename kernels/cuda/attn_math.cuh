/* attn_math.cuh — causal softmax attention (ops.h attention, attention_bwd)
 * as block programs (hd.cuh; HD: compiled into kernels/cuda/attention.cu and
 * into tests/test_cuda_attn.c). Version 1, correct and deterministic rather
 * than fast: one block of 32 threads per query row (forward, dq) or key row
 * (dk, dv), keys or queries taken 32 at a time, thread j owning key (query) j
 * of a chunk — its score is a whole dot product, no reduction — and thread c
 * owning columns c, c + 32, ... of the row's accumulators.
 *
 * Forward (an online softmax over key chunks, FlashAttention's recurrence):
 *   m' = max(m, max_j S_j), P_j = exp(S_j - m'), l' = l e^{m - m'} + sum_j P_j,
 *   acc' = acc e^{m - m'} + sum_j Pd_j v_j;  o = acc / l, lse = m + log l.
 * Backward, with Dr_t = dO_t . o_t and P = exp(S - lse), Pd = dropout(P):
 *   dS = Pd (dO_t . v_s) - P Dr_t,  dq_t = scale sum_s dS k_s,
 *   dk_s = scale sum_t dS q_t,  dv_s = sum_t Pd dO_t.
 * Dropout keeps (t, s) iff uniform(seed, stream, ((b NH + h) L + t) L + s) >= p
 * (core/rng.h's counter-based generator, written out here for the device), so
 * the masks are the CPU's. */
#ifndef HIPPO_CUDA_ATTN_MATH_CUH
#define HIPPO_CUDA_ATTN_MATH_CUH

#include <stdint.h>

#include "../../core/rng.h" /* hp_uniform_at: the masks, on host and device */
#include "hd.cuh"

#define ATTN_CHUNK 32 /* keys (queries) per pass = threads per block */


/* One call as the kernels see it (device pointers on the GPU). */
struct attn {
    int B, L, NH, dh;
    float scale;
    const float *qkv; /* (B, L, 3D) */
    float *o, *lse;   /* (B, L, D), (B, NH, L) */
    double p;
    uint64_t seed, stream;
    const float *dO;  /* backward: (B, L, D) */
    const float *Dr;  /* backward: (B, NH, L) dO . o */
    float *dqkv;      /* backward: (B, L, 3D) (=) */
};

/* Row r of the grid: (b, h, t) with t fastest. */
HD void attn_row(const struct attn *a, int r, int *b, int *h, int *t) {
    *t = r % a->L, *h = r / a->L % a->NH, *b = r / (a->L * a->NH);
}
/* Row t of head h's q (part 0), k (1) or v (2) in batch entry b. */
HD const float *attn_qkv(const struct attn *a, int b, int h, int part, int t) {
    int D = a->NH * a->dh;
    return a->qkv + ((size_t)b * a->L + t) * 3 * D + (size_t)part * D + (size_t)h * a->dh;
}
HD size_t attn_rowix(const struct attn *a, int b, int h, int t) { return ((size_t)b * a->NH + h) * a->L + t; }

HD float attn_dot(const float *x, const float *y, int n) {
    float s = 0;
    for (int c = 0; c < n; c++) s += x[c] * y[c];
    return s;
}

/* P (the probability, before dropout) and Pd of pair (t, s) given its score
 * and the row's offset mx (the forward's running max or the saved lse). */
HD float attn_drop(const struct attn *a, int b, int h, int t, int s, float P) {
    if (a->p <= 0) return P;
    uint64_t i = (attn_rowix(a, b, h, t)) * (uint64_t)a->L + (uint64_t)s;
    return hp_uniform_at(a->seed, a->stream, i) >= a->p ? P * (float)(1.0 / (1.0 - a->p)) : 0.0f;
}

/* Shared memory of the forward: q and acc (dh each), scores and Pd of a
 * chunk, and the running (m, l, alpha) in two parities. */
HD size_t attn_fwd_smem(int dh) { return sizeof(float) * (2 * (size_t)dh + 2 * ATTN_CHUNK + 6); }

HD void attn_fwd_block(const struct attn *a, int r, float *sm, int nt) {
    int b, h, t, dh = a->dh;
    attn_row(a, r, &b, &h, &t);
    float *q = sm, *acc = q + dh, *sc = acc + dh, *pd = sc + ATTN_CHUNK, *st = pd + ATTN_CHUNK; /* st[3 par + k] */
    const float *qt = attn_qkv(a, b, h, 0, t);
    BLOCK_PASS(for (int c = tid; c < dh; c += nt) q[c] = qt[c], acc[c] = 0;
               if (tid == 0) st[0] = -INFINITY, st[1] = 0, st[2] = 0);
    int par = 0;
    for (int s0 = 0; s0 <= t; s0 += ATTN_CHUNK, par ^= 1) {
        int n = t - s0 + 1 < ATTN_CHUNK ? t - s0 + 1 : ATTN_CHUNK;
        BLOCK_PASS(if (tid < n) sc[tid] = a->scale * attn_dot(q, attn_qkv(a, b, h, 1, s0 + tid), dh));
        /* every thread forms the same m', l', alpha (the same order); thread j its Pd */
        BLOCK_PASS(float m = st[3 * par], mx = m, lsum = 0;
                   for (int j = 0; j < n; j++) mx = sc[j] > mx ? sc[j] : mx;
                   for (int j = 0; j < n; j++) lsum += expf(sc[j] - mx);
                   float alpha = m == -INFINITY ? 0.0f : expf(m - mx);
                   if (tid < n) pd[tid] = attn_drop(a, b, h, t, s0 + tid, expf(sc[tid] - mx));
                   if (tid == 0) st[3 * (par ^ 1)] = mx, st[3 * (par ^ 1) + 1] = st[3 * par + 1] * alpha + lsum,
                                 st[3 * (par ^ 1) + 2] = alpha);
        BLOCK_PASS(for (int c = tid; c < dh; c += nt) {
            float v = acc[c] * st[3 * (par ^ 1) + 2];
            for (int j = 0; j < n; j++) v += pd[j] * attn_qkv(a, b, h, 2, s0 + j)[c];
            acc[c] = v;
        });
    }
    int D = a->NH * dh;
    float *o = a->o + ((size_t)b * a->L + t) * D + (size_t)h * dh;
    BLOCK_PASS(for (int c = tid; c < dh; c += nt) o[c] = acc[c] / st[3 * par + 1];
               if (tid == 0) a->lse[attn_rowix(a, b, h, t)] = st[3 * par] + (float)log((double)st[3 * par + 1]));
}

/* Dr for row r: dO_t . o_t (one thread per row). */
HD float attn_dr(const struct attn *a, int r) {
    int b, h, t, D = a->NH * a->dh;
    attn_row(a, r, &b, &h, &t);
    size_t o = ((size_t)b * a->L + t) * D + (size_t)h * a->dh;
    return attn_dot(a->dO + o, a->o + o, a->dh);
}

/* dS and Pd of pair (t, s): the backward's per-pair arithmetic. */
HD float attn_ds(const struct attn *a, int b, int h, int t, int s, const float *qt, const float *ks, float *pd) {
    int D = a->NH * a->dh;
    const float *dot = a->dO + ((size_t)b * a->L + t) * D + (size_t)h * a->dh;
    size_t ri = attn_rowix(a, b, h, t);
    float P = expf(a->scale * attn_dot(qt, ks, a->dh) - a->lse[ri]);
    *pd = attn_drop(a, b, h, t, s, P);
    return *pd * attn_dot(dot, attn_qkv(a, b, h, 2, s), a->dh) - P * a->Dr[ri];
}

/* Shared memory of the backward programs: two rows of dh, the chunk's dS and Pd. */
HD size_t attn_bwd_smem(int dh) { return sizeof(float) * (2 * (size_t)dh + 2 * ATTN_CHUNK); }

/* dq of query row r (b, h, t): keys s <= t in chunks. */
HD void attn_dq_block(const struct attn *a, int r, float *sm, int nt) {
    int b, h, t, dh = a->dh, D = a->NH * dh;
    attn_row(a, r, &b, &h, &t);
    float *q = sm, *dq = q + dh, *ds = dq + dh, *pd = ds + ATTN_CHUNK;
    const float *qt = attn_qkv(a, b, h, 0, t);
    BLOCK_PASS(for (int c = tid; c < dh; c += nt) q[c] = qt[c], dq[c] = 0);
    for (int s0 = 0; s0 <= t; s0 += ATTN_CHUNK) {
        int n = t - s0 + 1 < ATTN_CHUNK ? t - s0 + 1 : ATTN_CHUNK;
        BLOCK_PASS(if (tid < n) ds[tid] = attn_ds(a, b, h, t, s0 + tid, q, attn_qkv(a, b, h, 1, s0 + tid), &pd[tid]));
        BLOCK_PASS(for (int c = tid; c < dh; c += nt) {
            float v = dq[c];
            for (int j = 0; j < n; j++) v += a->scale * ds[j] * attn_qkv(a, b, h, 1, s0 + j)[c];
            dq[c] = v;
        });
    }
    float *out = a->dqkv + ((size_t)b * a->L + t) * 3 * D + (size_t)h * dh;
    BLOCK_PASS(for (int c = tid; c < dh; c += nt) out[c] = dq[c]);
}

/* dk and dv of key row r (b, h, s): queries t >= s in chunks. */
HD void attn_dkv_block(const struct attn *a, int r, float *sm, int nt) {
    int b, h, s, dh = a->dh, D = a->NH * dh;
    attn_row(a, r, &b, &h, &s);
    float *dk = sm, *dv = dk + dh, *ds = dv + dh, *pd = ds + ATTN_CHUNK;
    const float *ks = attn_qkv(a, b, h, 1, s);
    BLOCK_PASS(for (int c = tid; c < dh; c += nt) dk[c] = 0, dv[c] = 0);
    for (int t0 = s; t0 < a->L; t0 += ATTN_CHUNK) {
        int n = a->L - t0 < ATTN_CHUNK ? a->L - t0 : ATTN_CHUNK;
        BLOCK_PASS(if (tid < n) ds[tid] = attn_ds(a, b, h, t0 + tid, s, attn_qkv(a, b, h, 0, t0 + tid), ks, &pd[tid]));
        BLOCK_PASS(for (int c = tid; c < dh; c += nt) {
            float vk = dk[c], vv = dv[c];
            for (int j = 0; j < n; j++) {
                vk += a->scale * ds[j] * attn_qkv(a, b, h, 0, t0 + j)[c];
                vv += pd[j] * a->dO[((size_t)b * a->L + t0 + j) * D + (size_t)h * dh + c];
            }
            dk[c] = vk, dv[c] = vv;
        });
    }
    float *out = a->dqkv + ((size_t)b * a->L + s) * 3 * D + (size_t)h * dh;
    BLOCK_PASS(for (int c = tid; c < dh; c += nt) out[D + c] = dk[c], out[2 * D + c] = dv[c]);
}

#endif
