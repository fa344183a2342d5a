/* fft_math.cuh — the shared-memory FFT of the CUDA FlashConv: plan, index
 * maps, butterflies and the per-thread tile of every pass (HD: compiled into
 * the kernels and into tests/test_cuda_math.c).
 *
 * The same transform as the CPU's block FFT (kernels/cpu/fft_block.h), one
 * signal per thread block instead of one per vector lane: a real signal of n
 * samples is the packed complex array z_j = x_2j + i x_2j+1 of M = n/2
 * elements (so real sample t is float t of the buffer); the complex FFT is
 * decimation in frequency with radix 8 stages and one radix 2 or 4 stage last,
 * output left in digit-reversed order (no transpose, no bit reversal), and the
 * inverse is the mirror (decimation in time, conjugate twiddles, unnormalised).
 * Convolutions pad L samples to n >= 2L, so complex elements M/2.. are zero:
 * the first forward stage never reads them, the last inverse stage never
 * writes them. Spectra are kept "untangled" (the real signal's X_k) in the
 * same digit-reversed positions, X_0 and X_M packed in position 0.
 *
 * Twiddles come from one table per size, w_n^i = e^{-2 pi i i / n} for i < n,
 * computed in double and rounded once (cuf_roots_fill): stage twiddles w_m^e
 * are entries e n/m, bit-identical to the CPU plan's.
 *
 * A pass is a loop over its work items (butterflies, pairs) where thread tid
 * of nt takes items tid, tid + nt, ...; items of one pass touch disjoint
 * elements, so the CPU test may run the threads one after another. */
#ifndef HIPPO_CUDA_FFT_MATH_CUH
#define HIPPO_CUDA_FFT_MATH_CUH

#include "hd.cuh"

#define CUF_MIN_N 16
#define CUF_MAX_STAGES 8

struct cuf_plan {
    int n, M, ns;                /* real size, complex size, stages */
    int radix[CUF_MAX_STAGES];   /* 8, ..., 8, then 2 or 4 */
    int blk[CUF_MAX_STAGES + 1]; /* block size of stage s: M / (r_0 ... r_{s-1}); blk[ns] = 1 */
    int lgr[CUF_MAX_STAGES];     /* log2 radix[s] */
    int lgb[CUF_MAX_STAGES + 1]; /* log2 blk[s]: every size is a power of two, so the index maps shift */
};

/* log2 of a power of two */
HD int cuf_lg(int x) {
    int l = 0;
    while ((1 << l) < x) l++;
    return l;
}

/* The plan for real size n (a power of two >= CUF_MIN_N): the CPU's default
 * factorisation, so positions and twiddles match fft_block.c's. */
HD struct cuf_plan cuf_plan_make(int n) {
    struct cuf_plan p;
    p.n = n, p.M = n / 2, p.ns = 0;
    int lg = cuf_lg(p.M);
    for (int i = 0; i < lg / 3; i++) p.radix[p.ns++] = 8;
    if (lg % 3) p.radix[p.ns++] = 1 << (lg % 3);
    p.blk[0] = p.M, p.lgb[0] = lg;
    for (int s = 0; s < p.ns; s++) {
        p.blk[s + 1] = p.blk[s] / p.radix[s];
        p.lgr[s] = cuf_lg(p.radix[s]), p.lgb[s + 1] = p.lgb[s] - p.lgr[s];
    }
    return p;
}

/* Smallest real size n >= 2m (at least CUF_MIN_N): what m samples pad to. */
HD int cuf_size_for(int m) {
    int n = CUF_MIN_N;
    while (n < 2 * m) n *= 2;
    return n;
}

/* Position of Z_k after the forward transform: digit k_s = (k / (r_0..r_{s-1})) % r_s
 * goes to place value blk[s + 1]. */
HD int cuf_pos(const struct cuf_plan *p, int k) {
    int pos = 0;
    for (int s = 0; s < p->ns; s++) {
        pos += (k & (p->radix[s] - 1)) << p->lgb[s + 1];
        k >>= p->lgr[s];
    }
    return pos;
}

/* The inverse map: which k sits at position pos. */
HD int cuf_kof(const struct cuf_plan *p, int pos) {
    int k = 0, w = 0;
    for (int s = 0; s < p->ns; s++) {
        k += ((pos >> p->lgb[s + 1]) & (p->radix[s] - 1)) << w;
        w += p->lgr[s];
    }
    return k;
}

/* w[i] = e^{-2 pi i i / n}, i < n, in double then rounded (host side: the
 * table is uploaded once per size). */
static inline void cuf_roots_fill(cf *w, int n) {
    for (int i = 0; i < n; i++) {
        double t = 2 * 3.14159265358979323846 * (double)i / (double)n;
        w[i] = cf_make((float)cos(t), (float)-sin(t));
    }
}

/* ---- butterflies (the CPU's codelets, scalar) ----------------------------- */

/* a * (wr + i wi) */
HD cf cf_muls(cf a, float wr, float wi) { return cf_make(a.re * wr - a.im * wi, a.re * wi + a.im * wr); }

/* 4-point DFT of (x0..x3) into o[0..nout-1]; inputs >= nz are zero (nz 1, 2, 4). */
HD void cuf_dft4(cf *o, cf x0, cf x1, cf x2, cf x3, int nz, int nout, bool inv) {
    if (nz == 1) { /* constant trip counts keep o in registers */
        for (int k = 0; k < 4; k++)
            if (k < nout) o[k] = x0;
        return;
    }
    cf a = nz > 2 ? cf_add(x0, x2) : x0, b = nz > 2 ? cf_sub(x0, x2) : x0;
    cf c = nz > 3 ? cf_add(x1, x3) : x1, d = cf_rot(nz > 3 ? cf_sub(x1, x3) : x1, inv);
    o[0] = cf_add(a, c);
    if (nout > 1) o[1] = cf_add(b, d);
    if (nout > 2) o[2] = cf_sub(a, c);
    if (nout > 3) o[3] = cf_sub(b, d);
}

/* a * w_8^e for e < 4, the trivial angles exact. */
HD cf cuf_w8(cf a, int e, bool inv) {
    const float h = 0.70710678118654752f;
    if (e == 0) return a;
    if (e == 2) return cf_rot(a, inv);
    return cf_muls(a, e == 1 ? h : -h, inv ? h : -h);
}

/* 8-point DFT of x[0..7] into o; inputs >= nz zero (nz 4 or 8). */
HD void cuf_dft8(cf *o, const cf *x, int nz, int nout, bool inv) {
    int nz4 = nz == 8 ? 4 : 2;
    cf e[4], d[4];
    cuf_dft4(e, x[0], x[2], x[4], x[6], nz4, 4, inv);
    cuf_dft4(d, x[1], x[3], x[5], x[7], nz4, 4, inv);
    for (int k = 0; k < 4; k++) {
        cf t = cuf_w8(d[k], k, inv);
        o[k] = cf_add(e[k], t);
        if (nout > 4) o[k + 4] = cf_sub(e[k], t);
    }
}

/* r-point DFT, r in {2, 4, 8}. */
HD void cuf_dft(int r, cf *o, const cf *x, int nz, int nout, bool inv) {
    if (r == 2) {
        o[0] = nz > 1 ? cf_add(x[0], x[1]) : x[0];
        if (nout > 1) o[1] = nz > 1 ? cf_sub(x[0], x[1]) : x[0];
    } else if (r == 4) {
        cuf_dft4(o, x[0], x[1], x[2], x[3], nz, nout, inv);
    } else {
        cuf_dft8(o, x, nz, nout, inv);
    }
}

/* ---- stages: the per-thread tile ------------------------------------------ */

/* Where a pass works: `sig` signals of M complex elements, signal g at
 * x + g * ld (ld >= M: rows may be padded against bank conflicts). */
struct cuf_bufs {
    cf *x;
    int M, ld, sig;
};

/* Butterfly bf of a stage of radix 2^lr over blocks of 2^lm elements in
 * signals of 2^lM (all powers of two: shifts and masks): its first element,
 * and *j, its column inside the block (stride 2^(lm - lr) between its elements). */
HD cf *cuf_bfly_at(const struct cuf_bufs *b, int bf, int lr, int lm, int lM, int *j) {
    int ls = lm - lr, lper = lM - lr; /* stride; butterflies per signal */
    int g = bf >> lper, w = bf & ((1 << lper) - 1);
    *j = w & ((1 << ls) - 1);
    return b->x + (size_t)g * b->ld + ((size_t)(w >> ls) << lm) + *j;
}

/* One decimation-in-frequency stage of radix r over blocks of m = 2^lm: for every
 * column j < m/r of every block, the r elements j + q m/r -> their DFT, output
 * q times w_m^{q j}. half: inputs q >= r/2 are zero (never read). */
HD void cuf_dif(const struct cuf_bufs *b, const int r, int lm, int lM, bool half, const cf *roots, int n, int tid,
                int nt) {
    int lr = r == 8 ? 3 : r == 4 ? 2 : 1, s = 1 << (lm - lr), total = b->sig * (b->M / r), tw = n >> lm;
    for (int bf = tid; bf < total; bf += nt) {
        int j;
        cf *y = cuf_bfly_at(b, bf, lr, lm, lM, &j);
        cf v[8], o[8];
        for (int q = 0; q < r; q++) v[q] = half && q >= r / 2 ? cf_make(0, 0) : y[(size_t)q * s];
        cuf_dft(r, o, v, half ? r / 2 : r, r, false);
        y[0] = o[0];
        for (int q = 1; q < r; q++) y[(size_t)q * s] = cf_mul(o[q], roots[(size_t)q * j * tw]);
    }
}

/* The mirror decimation-in-time stage (the inverse of cuf_dif times r):
 * conjugate twiddles, then the inverse DFT. half: only outputs q < r/2 are
 * written. */
HD void cuf_dit(const struct cuf_bufs *b, const int r, int lm, int lM, bool half, const cf *roots, int n, int tid,
                int nt) {
    int lr = r == 8 ? 3 : r == 4 ? 2 : 1, s = 1 << (lm - lr), total = b->sig * (b->M / r), tw = n >> lm;
    int nout = half ? r / 2 : r;
    for (int bf = tid; bf < total; bf += nt) {
        int j;
        cf *y = cuf_bfly_at(b, bf, lr, lm, lM, &j);
        cf v[8], o[8];
        v[0] = y[0];
        for (int q = 1; q < r; q++) v[q] = cf_cmul(roots[(size_t)q * j * tw], y[(size_t)q * s]);
        cuf_dft(r, o, v, r, nout, true);
        for (int q = 0; q < r; q++) /* a constant trip count keeps o in registers */
            if (q < nout) y[(size_t)q * s] = o[q];
    }
}

/* Stage s of the plan, forward or inverse, the radix as a literal so each
 * case unrolls (the first forward stage reads half its inputs, the first
 * stage of the inverse, run last, writes half its outputs). */
HD void cuf_stage(const struct cuf_bufs *b, const struct cuf_plan *p, int s, bool inv, const cf *roots, int tid, int nt) {
    int lm = p->lgb[s], lM = p->lgb[0], n = p->n;
    bool half = s == 0;
    switch (p->radix[s]) {
    case 2: inv ? cuf_dit(b, 2, lm, lM, half, roots, n, tid, nt) : cuf_dif(b, 2, lm, lM, half, roots, n, tid, nt); break;
    case 4: inv ? cuf_dit(b, 4, lm, lM, half, roots, n, tid, nt) : cuf_dif(b, 4, lm, lM, half, roots, n, tid, nt); break;
    default: inv ? cuf_dit(b, 8, lm, lM, half, roots, n, tid, nt) : cuf_dif(b, 8, lm, lM, half, roots, n, tid, nt); break;
    }
}

/* ---- spectrum form: untangle and tangle pairs ------------------------------ */

/* Z_k, Z_{M-k} of the packed signal -> X_k, X_{M-k} of the real one:
 * E = (Z_k + conj Z_{M-k}) / 2, O = -i (Z_k - conj Z_{M-k}) / 2,
 * X_k = E + w O, X_{M-k} = conj(E - w O). */
HD void cuf_untangle2(cf zk, cf zm, cf w, cf *xk, cf *xm) {
    cf e = cf_scale(cf_add(zk, cf_conj(zm)), 0.5f);
    cf o = cf_rot(cf_scale(cf_sub(zk, cf_conj(zm)), 0.5f), false);
    cf wo = cf_mul(o, w);
    *xk = cf_add(e, wo);
    *xm = cf_conj(cf_sub(e, wo));
}

/* The inverse: E = (Y_k + conj Y_{M-k}) / 2, O = (Y_k - conj Y_{M-k}) conj(w) / 2,
 * Z_k = E + i O, Z_{M-k} = conj(E) + i conj(O). */
HD void cuf_tangle2(cf yk, cf ym, cf w, cf *zk, cf *zm) {
    cf e = cf_scale(cf_add(yk, cf_conj(ym)), 0.5f);
    cf o = cf_cmul(w, cf_scale(cf_sub(yk, cf_conj(ym)), 0.5f));
    *zk = cf_add(e, cf_rot(o, true));
    *zm = cf_add(cf_conj(e), cf_rot(cf_conj(o), true));
}

/* Position 0: Z_0 -> (X_0, X_M), both real, packed as (re, im); and back. */
HD cf cuf_untangle0(cf z) { return cf_make(z.re + z.im, z.re - z.im); }
HD cf cuf_tangle0(cf y) { return cf_make((y.re + y.im) * 0.5f, (y.re - y.im) * 0.5f); }

/* The pair a position owns: positions are visited in order (so a warp reads
 * consecutive elements), and position p = pos(k) owns the pair (k, M - k)
 * when 1 <= k <= M/2; returns false for the others (p = 0 included), whose
 * pair another position owns. *q gets pos(M - k), *w gets w_n^k. */
HD bool cuf_pair_of(const struct cuf_plan *pl, const cf *roots, int p, int *q, cf *w) {
    int k = cuf_kof(pl, p);
    if (k < 1 || k > pl->M / 2) return false;
    *q = cuf_pos(pl, pl->M - k);
    *w = roots[k];
    return true;
}

/* x (a forward transform, not untangled) times the spectrum K (spectrum
 * form; conj K when conj_k), left ready for the inverse: untangle, multiply,
 * tangle back, per owned pair. Every signal of b uses its own row of K:
 * row g at K + krow[g] * M (krow < 0: that signal is idle, left as is). */
HD void cuf_pairs_conv(const struct cuf_bufs *b, const struct cuf_plan *pl, const cf *roots, const cf *K,
                      const int *krow, bool conj_k, int tid, int nt) {
    for (int g = 0; g < b->sig; g++) {
        if (krow[g] < 0) continue;
        cf *x = b->x + (size_t)g * b->ld;
        const cf *k = K + (size_t)krow[g] * b->M;
        for (int p = tid; p < b->M; p += nt) {
            int q;
            cf w, a, c;
            if (p == 0) {
                cf x0 = cuf_untangle0(x[0]);
                x[0] = cuf_tangle0(cf_make(x0.re * k[0].re, x0.im * k[0].im));
                continue;
            }
            if (!cuf_pair_of(pl, roots, p, &q, &w)) continue;
            cuf_untangle2(x[p], x[q], w, &a, &c);
            a = conj_k ? cf_cmul(k[p], a) : cf_mul(a, k[p]);
            c = conj_k ? cf_cmul(k[q], c) : cf_mul(c, k[q]);
            cuf_tangle2(a, c, w, &x[p], &x[q]);
        }
    }
}

/* Spectrum form of signal 0 of b times `scale`, written to out (M elements,
 * positions as in b); b is left as is. */
HD void cuf_pairs_untangle(const struct cuf_bufs *b, const struct cuf_plan *pl, const cf *roots, float scale, cf *out,
                          int tid, int nt) {
    const cf *x = b->x;
    for (int p = tid; p < b->M; p += nt) {
        int q;
        cf w, a, c;
        if (p == 0) {
            out[0] = cf_scale(cuf_untangle0(x[0]), scale);
            continue;
        }
        if (!cuf_pair_of(pl, roots, p, &q, &w)) continue;
        cuf_untangle2(x[p], x[q], w, &a, &c);
        out[p] = cf_scale(a, scale);
        out[q] = cf_scale(c, scale);
    }
}

#endif
