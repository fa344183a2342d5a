/* fft_block.c — the block FFT of fft_block.h: plans (radices, twiddles,
 * untangle pairs), the stage drivers, real-input folding and the spectrum-form
 * pointwise passes.
 *
 * Instruction sets: the hot loops (stages and pair passes) are compiled as
 * function clones for AVX-512, AVX2 and the baseline (GCC target_clones; the
 * loader picks one with the CPU's feature bits, as __builtin_cpu_supports
 * reports them). The 64-byte vec type becomes one zmm, two ymm or four xmm
 * operations per vector op; with ARCH=-march=native (the default) the
 * baseline already has the native set and the clones coincide. Other
 * architectures get the same source as plain code (GCC lowers vec to what
 * the target has, scalars at worst). */
#include "fft_block.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fft_codelets.h"


#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FB_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FB_CLONES
#endif

const char *fb_isa(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("avx2")) return "avx2";
#endif
    return "default";
}

/* ---- stages (one clone set per radix) ----------------------------------- */

#define STAGE_FNS(r)                                                                                 \
    FB_CLONES static void dif##r(fb_cx *x, int m, const real *tw) { dif_block(r, false, x, m, tw); } \
    FB_CLONES static void dif##r##h(fb_cx *x, int m, const real *tw) { dif_block(r, true, x, m, tw); } \
    FB_CLONES static void dit##r(fb_cx *x, int m, const real *tw) { dit_block(r, false, x, m, tw); } \
    FB_CLONES static void dit##r##h(fb_cx *x, int m, const real *tw) { dit_block(r, true, x, m, tw); }
STAGE_FNS(2)
STAGE_FNS(4)
STAGE_FNS(8)
STAGE_FNS(16)

typedef void (*stage_fn)(fb_cx *x, int m, const real *tw);

/* [radix index][half][dit] */
static const stage_fn stage_table[4][2][2] = {
    {{dif2, dit2}, {dif2h, dit2h}},
    {{dif4, dit4}, {dif4h, dit4h}},
    {{dif8, dit8}, {dif8h, dit8h}},
    {{dif16, dit16}, {dif16h, dit16h}},
};

static stage_fn stage_of(int r, bool half, bool dit) {
    int ri = r == 2 ? 0 : r == 4 ? 1 : r == 8 ? 2 : 3;
    return stage_table[ri][half][dit];
}

/* Blocks up to this many bytes are transformed breadth-first (they sit in
 * L2: 2 MiB per core here, shared with the kernel spectrum and a second
 * buffer); larger ones recurse depth-first so each sub-block is finished
 * while it is cached. */
#define FB_BLOCK_BYTES ((size_t)256 << 10)

/* Stages s.. of the block x (m = blk[s] elements): stage s, then its
 * sub-blocks, depth-first while they are larger than FB_BLOCK_BYTES. */
static void dif_rec(const struct fb_plan *p, fb_cx *x, int s, bool half) {
    int m = p->blk[s];
    stage_of(p->radix[s], half, false)(x, m, p->tw[s]);
    if (s + 1 == p->ns) return;
    int sub = p->blk[s + 1];
    if ((size_t)sub * sizeof(fb_cx) > FB_BLOCK_BYTES) {
        for (int b = 0; b < m; b += sub) dif_rec(p, x + b, s + 1, false);
        return;
    }
    for (int t = s + 1; t < p->ns; t++)
        for (int b = 0; b < m; b += p->blk[t]) stage_of(p->radix[t], false, false)(x + b, p->blk[t], p->tw[t]);
}

/* The mirror: sub-blocks first (last stage first), then stage s. */
static void dit_rec(const struct fb_plan *p, fb_cx *x, int s, bool half) {
    int m = p->blk[s];
    if (s + 1 < p->ns) {
        int sub = p->blk[s + 1];
        if ((size_t)sub * sizeof(fb_cx) > FB_BLOCK_BYTES)
            for (int b = 0; b < m; b += sub) dit_rec(p, x + b, s + 1, false);
        else
            for (int t = p->ns - 1; t > s; t--)
                for (int b = 0; b < m; b += p->blk[t]) stage_of(p->radix[t], false, true)(x + b, p->blk[t], p->tw[t]);
    }
    stage_of(p->radix[s], half, true)(x, m, p->tw[s]);
}

void fb_fft(const struct fb_plan *p, fb_cx *x, bool half_in) { dif_rec(p, x, 0, half_in); }
void fb_ifft(const struct fb_plan *p, fb_cx *x, bool half_out) { dit_rec(p, x, 0, half_out); }

/* ---- real-input folding: untangle / tangle pairs ------------------------ */

/* Z_k, Z_{M-k} of the packed signal -> X_k, X_{M-k} of the real one:
 * E = (Z_k + conj Z_{M-k}) / 2, O = -i (Z_k - conj Z_{M-k}) / 2,
 * X_k = E + w O, X_{M-k} = conj(E - w O). */
FB_INLINE void untangle2(fb_cx zk, fb_cx zm, real wr, real wi, fb_cx *xk, fb_cx *xm) {
    fb_cx e = cx_scale(cx_add(zk, cx_conj(zm)), (real)0.5);
    fb_cx o = cx_rot(cx_scale(cx_sub(zk, cx_conj(zm)), (real)0.5), false);
    fb_cx wo = cx_muls(o, wr, wi);
    *xk = cx_add(e, wo);
    *xm = cx_conj(cx_sub(e, wo));
}

/* The inverse: E = (Y_k + conj Y_{M-k}) / 2, O = (Y_k - conj Y_{M-k}) conj(w) / 2,
 * Z_k = E + i O, Z_{M-k} = conj(E) + i conj(O). */
FB_INLINE void tangle2(fb_cx yk, fb_cx ym, real wr, real wi, fb_cx *zk, fb_cx *zm) {
    fb_cx e = cx_scale(cx_add(yk, cx_conj(ym)), (real)0.5);
    fb_cx o = cx_muls(cx_scale(cx_sub(yk, cx_conj(ym)), (real)0.5), wr, -wi);
    *zk = cx_add(e, cx_rot(o, true));
    *zm = cx_add(cx_conj(e), cx_rot(cx_conj(o), true));
}

/* Position 0: Z_0 -> (X_0, X_M), both real, packed as (re, im). */
FB_INLINE fb_cx untangle0(fb_cx z) { return (fb_cx){z.re + z.im, z.re - z.im}; }
FB_INLINE fb_cx tangle0(fb_cx y) {
    return (fb_cx){(y.re + y.im) * (real)0.5, (y.re - y.im) * (real)0.5};
}

FB_CLONES void fb_untangle(const struct fb_plan *p, fb_cx *x, real scale) {
    x[0] = cx_scale(untangle0(x[0]), scale);
    for (int i = 0; i < p->npair; i++) {
        const struct fb_pair *pr = &p->pair[i];
        fb_cx a, b;
        untangle2(x[pr->p], x[pr->q], pr->wr, pr->wi, &a, &b);
        x[pr->p] = cx_scale(a, scale);
        x[pr->q] = cx_scale(b, scale);
    }
}

FB_CLONES void fb_tangle(const struct fb_plan *p, fb_cx *x) {
    x[0] = tangle0(x[0]);
    for (int i = 0; i < p->npair; i++) {
        const struct fb_pair *pr = &p->pair[i];
        tangle2(x[pr->p], x[pr->q], pr->wr, pr->wi, &x[pr->p], &x[pr->q]);
    }
}

/* One pass: untangle, multiply by K (or conj K), tangle back. */
FB_CLONES void fb_conv(const struct fb_plan *p, fb_cx *x, const fb_cx *K, bool conj_k) {
    fb_cx x0 = untangle0(x[0]);
    x[0] = tangle0((fb_cx){x0.re * K[0].re, x0.im * K[0].im});
    for (int i = 0; i < p->npair; i++) {
        const struct fb_pair *pr = &p->pair[i];
        fb_cx a, b;
        untangle2(x[pr->p], x[pr->q], pr->wr, pr->wi, &a, &b);
        if (conj_k) a = cx_cmul(K[pr->p], a), b = cx_cmul(K[pr->q], b);
        else a = cx_mul(a, K[pr->p]), b = cx_mul(b, K[pr->q]);
        tangle2(a, b, pr->wr, pr->wi, &x[pr->p], &x[pr->q]);
    }
}

FB_CLONES void fb_corr_acc(const struct fb_plan *p, const fb_cx *x, const fb_cx *y, fb_cx *G) {
    fb_cx x0 = untangle0(x[0]), y0 = untangle0(y[0]);
    G[0] = cx_add(G[0], (fb_cx){x0.re * y0.re, x0.im * y0.im});
    for (int i = 0; i < p->npair; i++) {
        const struct fb_pair *pr = &p->pair[i];
        fb_cx xa, xb, ya, yb;
        untangle2(x[pr->p], x[pr->q], pr->wr, pr->wi, &xa, &xb);
        untangle2(y[pr->p], y[pr->q], pr->wr, pr->wi, &ya, &yb);
        G[pr->p] = cx_add(G[pr->p], cx_cmul(xa, ya));
        if (pr->q != pr->p) G[pr->q] = cx_add(G[pr->q], cx_cmul(xb, yb));
    }
}

void fb_rfft(const struct fb_plan *p, fb_cx *x, real scale) {
    fb_fft(p, x, true);
    fb_untangle(p, x, scale);
}

void fb_irfft(const struct fb_plan *p, fb_cx *x, real scale) {
    if (scale != 1)
        for (int i = 0; i < p->M; i++) x[i] = cx_scale(x[i], scale);
    fb_tangle(p, x);
    fb_ifft(p, x, true);
}

/* ---- plans -------------------------------------------------------------- */

int fb_size_for(int m) {
    int n = FB_MIN_N;
    while (n < 2 * m) n *= 2;
    return n;
}

/* Radix 8 stages, the remaining factor (2 or 4) as the last stage. Radix 16
 * (also written out) needs 32 live vectors plus twiddles and spilled: radix
 * 8 measured 1.1-1.35x faster for n = 1K..64K (FLASHCONV.md). */
static void plan_radices(struct fb_plan *p, const int *radix, int ns) {
    int lg = 0;
    while ((1 << lg) < p->M) lg++;
    p->ns = 0;
    if (radix) {
        HP_CHECK(ns >= 1 && ns <= FB_MAX_STAGES);
        int prod = 1;
        for (int s = 0; s < ns; s++) {
            HP_CHECK(radix[s] == 2 || radix[s] == 4 || radix[s] == 8 || radix[s] == 16);
            p->radix[p->ns++] = radix[s], prod *= radix[s];
        }
        HP_CHECK(prod == p->M);
    } else {
        for (int i = 0; i < lg / 3; i++) p->radix[p->ns++] = 8;
        if (lg % 3) p->radix[p->ns++] = 1 << (lg % 3);
    }
    HP_CHECK(p->ns <= FB_MAX_STAGES);
    p->blk[0] = p->M;
    for (int s = 1; s < p->ns; s++) p->blk[s] = p->blk[s - 1] / p->radix[s - 1];
}

/* e^{-2 pi i a / b} in double, the angle reduced exactly first. */
static void unit_root(long a, long b, double *re, double *im) {
    double t = 2 * M_PI * (double)(a % b) / (double)b;
    *re = cos(t);
    *im = -sin(t);
}

static void plan_twiddles(struct fb_plan *p) {
    for (int s = 0; s < p->ns; s++) {
        int m = p->blk[s], r = p->radix[s], rows = m / r;
        p->tw[s] = xmalloc(sizeof(real) * 2 * ((size_t)rows * (r - 1) + 1));
        for (int j = 0; j < rows; j++)
            for (int q = 1; q < r; q++) {
                double re, im;
                unit_root((long)q * j, m, &re, &im);
                real *w = p->tw[s] + ((size_t)j * (r - 1) + q - 1) * 2;
                w[0] = (real)re, w[1] = (real)im;
            }
    }
}

/* Digit-reversed positions: decimation in frequency leaves Z_k in sub-block
 * k mod r_0 at the position Z_{k / r_0} takes in that sub-block's transform. */
static void plan_pairs(struct fb_plan *p) {
    int M = p->M;
    p->pos = xmalloc(sizeof(int) * M);
    int *kof = xmalloc(sizeof(int) * M);
    for (int k = 0; k < M; k++) {
        int pos = 0, kk = k;
        for (int s = 0; s < p->ns; s++) {
            pos += (kk % p->radix[s]) * (p->blk[s] / p->radix[s]);
            kk /= p->radix[s];
        }
        p->pos[k] = pos;
        kof[pos] = k;
    }
    p->pair = xmalloc(sizeof(struct fb_pair) * (M / 2 + 1));
    p->npair = 0;
    for (int pos = 0; pos < M; pos++) {
        int k = kof[pos];
        if (k < 1 || k > M / 2) continue;
        double re, im;
        unit_root(k, p->n, &re, &im);
        p->pair[p->npair++] = (struct fb_pair){pos, p->pos[M - k], (real)re, (real)im};
    }
    free(kof);
}

struct fb_plan *fb_plan_new(int n, const int *radix, int ns) {
    HP_CHECK(n >= FB_MIN_N && n <= FB_MAX_N && (n & (n - 1)) == 0);
    struct fb_plan *p = xcalloc(1, sizeof *p);
    p->n = n, p->M = n / 2;
    plan_radices(p, radix, ns);
    plan_twiddles(p);
    plan_pairs(p);
    return p;
}

void fb_plan_free(struct fb_plan *p) {
    for (int s = 0; s < p->ns; s++) free(p->tw[s]);
    free(p->pair), free(p->pos), free(p);
}

#define FB_SIZES 21 /* n = 2^1 .. 2^21 */
static struct fb_plan *plans[FB_SIZES + 1];

const struct fb_plan *fb_plan_get(int n) {
    HP_CHECK(n >= FB_MIN_N && n <= FB_MAX_N && (n & (n - 1)) == 0);
    int lg = 0;
    while ((1 << lg) < n) lg++;
    struct fb_plan *p;
#pragma omp atomic read
    p = plans[lg];
    if (p) return p;
#pragma omp critical(hippo_fb_planner)
    {
        if (!plans[lg]) {
#pragma omp atomic write
            plans[lg] = fb_plan_new(n, NULL, 0);
        }
        p = plans[lg];
    }
    return p;
}
