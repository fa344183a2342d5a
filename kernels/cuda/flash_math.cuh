/* flash_math.cuh — the block programs of the CUDA FlashConv (HD: compiled
 * into kernels/cuda/flashconv.cu and into tests/test_cuda_math.c).
 *
 * Block programs (hd.cuh): the whole program — index maps, loads, transforms,
 * products, gates, stores — is the code the test runs, and only the launch
 * geometry, the staging into real shared memory and the barriers are left to
 * the GPU suite.
 *
 * cuf_h3_block: ops.h's h3_inner forward for one batch entry b and G
 * consecutive v channels ("lanes") f0 .. f0+G-1 (lane f: head h = f / d_h,
 * column j = f % d_h, kernel row h, output channel j H + h). For each row i
 * of the head's state: kv = k~[h d_h + i] v[f] into shared memory, forward
 * FFT, times K[h]'s spectrum, inverse, y = that + Dk[h] kv, o += q[h d_h + i] y.
 * Nothing but q, k~, v is read from global memory and o written once. */
#ifndef HIPPO_CUDA_FLASH_MATH_CUH
#define HIPPO_CUDA_FLASH_MATH_CUH

#include "fft_math.cuh"

#define CUF_LANES_MAX 16

/* One h3_inner forward as the kernel sees it (device pointers on the GPU,
 * host pointers in the test). */
struct cuf_h3 {
    int B, L, D, dh, Lk;
    const float *q, *kt, *v; /* (B, L, D) */
    const float *Dk;         /* (D / dh), or NULL */
    float *o;                /* (B, L, D) (=) */
    const cf *K;             /* (D / dh, M): kernel spectra (cuf_kspec_block), scaled 1 / M */
    const cf *roots;         /* w_n^i, i < n */
    struct cuf_plan plan;     /* n = cuf_size_for(L) */
    int G;                   /* lanes per block, 1 .. CUF_LANES_MAX */
};

/* Shared memory of one block: G signals of M + 1 complex elements (the pad
 * keeps the lanes of one time step in distinct banks), then kv (G, L), then,
 * for head_dim > 1, the sum over rows (G, L). */
HD int cuf_h3_ld(const struct cuf_h3 *c) { return c->plan.M + 1; }
HD size_t cuf_h3_smem(const struct cuf_h3 *c) {
    return sizeof(cf) * (size_t)c->G * cuf_h3_ld(c) + sizeof(float) * (size_t)c->G * c->L * (c->dh > 1 ? 2 : 1);
}

/* Lane g of the block starting at f0: false when past the last channel;
 * else its state-row channel base h d_h, output channel and kernel row. */
HD bool cuf_h3_lane(const struct cuf_h3 *c, int f0, int g, int *kch, int *och, int *row) {
    int f = f0 + g;
    if (f >= c->D) return false;
    int h = f / c->dh;
    *kch = h * c->dh, *och = (f % c->dh) * (c->D / c->dh) + h, *row = h;
    return true;
}

/* Pass: kv = k~[kch + i] v[f] for t < L into lane g's signal (real sample t
 * is float t) and its kv row; zeros up to sample M. Items run over (t, g)
 * with g fastest, so a warp reads consecutive channels of one time step. */
HD void cuf_h3_load(const struct cuf_h3 *c, cf *X, float *kv, int f0, int b, int i, int tid, int nt) {
    int G = c->G, M = c->plan.M, ld = cuf_h3_ld(c);
    for (int it = tid; it < G * M; it += nt) {
        int t = it / G, g = it % G, kch, och, row;
        float *xs = (float *)(X + (size_t)g * ld), val = 0;
        if (t < c->L && cuf_h3_lane(c, f0, g, &kch, &och, &row)) {
            size_t r = ((size_t)b * c->L + t) * c->D;
            val = c->kt[r + kch + i] * c->v[r + f0 + g];
            kv[(size_t)g * c->L + t] = val;
        }
        xs[t] = val;
    }
}

/* Pass: y = conv + Dk kv, times q[kch + i]; stored to o (head_dim 1) or
 * summed over i in acc (stored by cuf_h3_store after the last row). */
HD void cuf_h3_gate(const struct cuf_h3 *c, const cf *X, const float *kv, float *acc, int f0, int b, int i, int tid,
                   int nt) {
    int G = c->G, ld = cuf_h3_ld(c);
    for (int it = tid; it < G * c->L; it += nt) {
        int t = it / G, g = it % G, kch, och, row;
        if (!cuf_h3_lane(c, f0, g, &kch, &och, &row)) continue;
        const float *ys = (const float *)(X + (size_t)g * ld);
        size_t r = ((size_t)b * c->L + t) * c->D, e = (size_t)g * c->L + t;
        float y = ys[t] + (c->Dk ? c->Dk[row] * kv[e] : 0.0f);
        float val = c->q[r + kch + i] * y;
        if (c->dh == 1) c->o[r + och] = val;
        else acc[e] = i == 0 ? val : acc[e] + val;
    }
}

/* Pass (head_dim > 1): o = acc. */
HD void cuf_h3_store(const struct cuf_h3 *c, const float *acc, int f0, int b, int tid, int nt) {
    for (int it = tid; it < c->G * c->L; it += nt) {
        int t = it / c->G, g = it % c->G, kch, och, row;
        if (cuf_h3_lane(c, f0, g, &kch, &och, &row))
            c->o[((size_t)b * c->L + t) * c->D + och] = acc[(size_t)g * c->L + t];
    }
}

/* The block program: block `blk` (lanes f0 = blk G ...) of batch entry b, nt
 * threads, smem of cuf_h3_smem bytes. */
HD void cuf_h3_block(const struct cuf_h3 *c, int blk, int b, void *smem, int nt) {
    const struct cuf_plan *p = &c->plan;
    int f0 = blk * c->G, krow[CUF_LANES_MAX];
    cf *X = (cf *)smem;
    float *kv = (float *)(X + (size_t)c->G * cuf_h3_ld(c)), *acc = kv + (size_t)c->G * c->L;
    struct cuf_bufs bufs;
    bufs.x = X, bufs.M = p->M, bufs.ld = cuf_h3_ld(c), bufs.sig = c->G;
    for (int g = 0; g < c->G; g++) {
        int kch, och;
        if (!cuf_h3_lane(c, f0, g, &kch, &och, &krow[g])) krow[g] = -1;
    }
    for (int i = 0; i < c->dh; i++) {
        BLOCK_PASS(cuf_h3_load(c, X, kv, f0, b, i, tid, nt));
        for (int s = 0; s < p->ns; s++) BLOCK_PASS(cuf_stage(&bufs, p, s, false, c->roots, tid, nt));
        BLOCK_PASS(cuf_pairs_conv(&bufs, p, c->roots, c->K, krow, false, tid, nt));
        for (int s = p->ns - 1; s >= 0; s--) BLOCK_PASS(cuf_stage(&bufs, p, s, true, c->roots, tid, nt));
        BLOCK_PASS(cuf_h3_gate(c, X, kv, acc, f0, b, i, tid, nt));
    }
    if (c->dh > 1) BLOCK_PASS(cuf_h3_store(c, acc, f0, b, tid, nt));
}

/* ---- kernel spectra --------------------------------------------------------- */

/* Spectrum form of each kernel row (Lk taps, zero-padded to n), scaled 1/M
 * for the convolution: one block per row, M complex elements of smem. */
struct cuf_kspec {
    int Lk;
    const float *k; /* (rows, Lk) */
    cf *out;        /* (rows, M) (=) */
    const cf *roots;
    struct cuf_plan plan;
};

HD void cuf_kspec_load(const struct cuf_kspec *c, cf *X, int row, int tid, int nt) {
    float *xs = (float *)X;
    for (int t = tid; t < c->plan.M; t += nt) xs[t] = t < c->Lk ? c->k[(size_t)row * c->Lk + t] : 0.0f;
}

HD void cuf_kspec_block(const struct cuf_kspec *c, int row, void *smem, int nt) {
    const struct cuf_plan *p = &c->plan;
    struct cuf_bufs bufs;
    bufs.x = (cf *)smem, bufs.M = p->M, bufs.ld = p->M, bufs.sig = 1;
    BLOCK_PASS(cuf_kspec_load(c, bufs.x, row, tid, nt));
    for (int s = 0; s < p->ns; s++) BLOCK_PASS(cuf_stage(&bufs, p, s, false, c->roots, tid, nt));
    BLOCK_PASS(cuf_pairs_untangle(&bufs, p, c->roots, 1.0f / (float)p->M, c->out + (size_t)row * p->M, tid, nt));
}

#endif
