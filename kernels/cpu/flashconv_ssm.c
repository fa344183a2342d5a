/* flashconv_ssm.c — the diagonal SSM's convolution by state passing
 * (ops.h ssm_conv_chunked; spec/h3.md §3.4; FLASHCONV.md).
 *
 * Per panel of VL channels, L is cut into chunks of T (t0 = 0, T, 2T, ...):
 *   y[t0 + j] = (K_T * u_chunk)[j] + D u + 2 Re sum_n Ct z^{j+1} x   (x: state before the chunk)
 *   x <- z^T x + sum_j z^{T-1-j} u_chunk[j]
 * with K_T the first T taps, convolved by FlashConv (FFT size 2T). The two
 * Vandermonde products (M_xy x and M_ux u of the paper) are real-by-complex
 * products with the table z^e, e = 0..T, factored as z^{R a} z^r (R = 64):
 * two small tables (R and T/R + 1 rows of N2 modes) instead of T rows, so
 * they stay in L2 next to the FFT buffers; computed in double, stored in
 * `real`. Cost per token: one 2T-point FFT pair plus 4 N2 complex
 * multiply-adds, independent of L; memory O(T + N2 (R + T/R)) per panel.
 *
 * Backward: one reverse sweep per batch entry with the adjoint state
 * nu = sum_{r >= t1} z^{r - t1} dy_r (t1 = the next chunk's start):
 *   du[t0 + j] = (K_T ⋆ dy_chunk)[j] + D dy + 2 Re sum_n Ct z^{Tc - j} nu
 * The modes' gradients need G(z) = sum_l dk_l z^l and G'(z), dk the full-
 * length kernel gradient (never formed): pairs inside a chunk come from the
 * correlation sum_{b, chunks} conj(U) DY (one 2T spectrum, inverted once per
 * panel), pairs across chunks from B1 nu and B2 nu + B1 nu' with
 * B1 = sum_j u_j z^{Tc-j}, B2 = its derivative in z, nu' = d nu / dz. */
#include "flashconv.h"

#include <complex.h>
#include <string.h>

#include "fft_codelets.h"

#define SP_R 64  /* z^e = z^{R a} z^r */
#define SP_NB 2  /* modes per register tile; tables are padded to a multiple */

/* One panel's modes and tables; mode arrays hold N2p (padded) entries. */
struct sp {
    const struct ssm_conv_args *a;
    const struct fb_plan *p; /* real size 2T */
    int c0, nl, T, R, NA, N2p;
    int ld, ldc; /* row strides of the mode tables (N2p + 1) and of CP (R + 1): rows 4 KiB apart
                  * alias in L1 and the tiles read 4-8 of them at once */
    fb_cx *z, *ct, *PR, *QR, *PA, *QA; /* PR[r][n] = z^r, QR = r z^{r-1}; PA[a][n] = z^{R a}, QA = R a z^{R a - 1} */
    fb_cx *TA, *TQ;                    /* (NA + 3, ld) per-block products */
    vec *CP;                           /* (NA + 3, ldc) coefficients by exponent block */
    fb_cx *K;                          /* K_T's spectrum, scaled for the convolution */
    vec d;
};

int cpu_ssm_conv_chunk(int T, int L) {
    if (T > 0) return T;
    if (L > 4096) return 4096;
    int t = 16;
    while (t < L) t *= 2;
    return t;
}

static void set_lane(fb_cx *x, int l, double complex v) {
    x->re[l] = (real)creal(v);
    x->im[l] = (real)cimag(v);
}

/* The tables of lane l for its row's modes, in double. */
static void lane_tables(struct sp *s, int l, int row) {
    int N2 = s->a->N2, R = s->R;
    for (int n = 0; n < N2; n++) {
        size_t o = ((size_t)row * N2 + n) * 2;
        double complex z = s->a->Abar[o] + I * (double)s->a->Abar[o + 1], w = 1, pa = 1;
        set_lane(&s->z[n], l, z);
        set_lane(&s->ct[n], l, s->a->Ct[o] + I * (double)s->a->Ct[o + 1]);
        set_lane(&s->PR[n], l, 1);
        for (int r = 1; r < R; r++) {
            set_lane(&s->QR[(size_t)r * s->ld + n], l, r * w);
            w *= z;
            set_lane(&s->PR[(size_t)r * s->ld + n], l, w); /* z^r; w = z^{R-1} at the end */
        }
        set_lane(&s->PA[n], l, 1);
        for (int a = 1; a < s->NA; a++) {
            double complex pm = pa * w; /* z^{R a - 1} */
            pa = pm * z;
            set_lane(&s->PA[(size_t)a * s->ld + n], l, pa);
            set_lane(&s->QA[(size_t)a * s->ld + n], l, (double)R * a * pm);
        }
    }
}

/* The Vandermonde products are small matrix products per lane: with
 * e = R a + r, z^e = PA[a] PR[r], so
 *   out (exponent e) = Re sum_n PR[r][n] SA[a][n],  SA[a] = PA[a] sv        (vand_out)
 *   sum_e c_e z^e     = sum_a PA[a] sum_r CP[a][r] PR[r]                    (vand_in)
 * with CP the coefficients laid out by (a, r). Both run in 4 x 4 register
 * tiles (16 accumulators), so each table row loaded from L2 serves four
 * exponent blocks; row by row, the 256 KiB table was re-read per block of
 * 64 and bounded the loops by L2 bandwidth. Tables carry 3 spare rows of
 * exponent blocks so tiles never test bounds inside. */
#define TILE 4

/* acc[i][k] = Re sum_n PR[r0 + k][n] SA[a0 + i][n] (rows ld apart) */
static inline void out_tile(const fb_cx *pr, const fb_cx *sa, int N2p, int ld, vec acc[TILE][TILE]) {
    vec c[TILE][TILE];
    for (int i = 0; i < TILE; i++)
        for (int k = 0; k < TILE; k++) c[i][k] = (vec){0};
    for (int n = 0; n < N2p; n++) {
        vec pre[TILE], pim[TILE];
        for (int k = 0; k < TILE; k++) pre[k] = pr[(size_t)k * ld + n].re, pim[k] = pr[(size_t)k * ld + n].im;
        for (int i = 0; i < TILE; i++) {
            vec sr = sa[(size_t)i * ld + n].re, si = sa[(size_t)i * ld + n].im;
            for (int k = 0; k < TILE; k++) c[i][k] += pre[k] * sr, c[i][k] -= pim[k] * si;
        }
    }
    memcpy(acc, c, sizeof c);
}

/* The exponent blocks [*a0, *a1] that j + e0 covers for j < len. */
static void block_range(const struct sp *s, int e0, int len, int *a0, int *a1) {
    *a0 = e0 / s->R;
    *a1 = (len - 1 + e0) / s->R;
}

/* out[j'] (+=) Re sum_n z^{j + e0} sv[n] for j < len, j' = j or len-1-j (rev). */
static void vand_out(const struct sp *s, int e0, const fb_cx *sv, vec *out, int len, bool rev) {
    int R = s->R, N2p = s->N2p, ld = s->ld, a0, a1;
    block_range(s, e0, len, &a0, &a1);
    fb_cx *SA = s->TA;
    for (int a = a0; a <= a1; a++)
        for (int n = 0; n < N2p; n++) SA[(size_t)a * ld + n] = cx_mul(s->PA[(size_t)a * ld + n], sv[n]);
    for (int ab = a0; ab <= a1; ab += TILE)
        for (int r0 = 0; r0 < R; r0 += TILE) {
            vec acc[TILE][TILE];
            out_tile(s->PR + (size_t)r0 * ld, SA + (size_t)ab * ld, N2p, ld, acc);
            for (int i = 0; i < TILE && ab + i <= a1; i++)
                for (int k = 0; k < TILE; k++) {
                    int j = (ab + i) * R + r0 + k - e0;
                    if (j >= 0 && j < len) out[rev ? len - 1 - j : j] += acc[i][k];
                }
        }
}

/* T[a0 + i][n0 + k] = sum_r CP[a0 + i][r] P[r][n0 + k], i < TILE, k < 2 (CP rows
 * ldc apart, P and T rows ld apart) */
static inline void in_tile(const vec *cp, const fb_cx *P, int R, int ldc, int ld, fb_cx *T) {
    vec tr[TILE][2], ti[TILE][2];
    for (int i = 0; i < TILE; i++)
        for (int k = 0; k < 2; k++) tr[i][k] = ti[i][k] = (vec){0};
    for (int r = 0; r < R; r++) {
        fb_cx p0 = P[(size_t)r * ld], p1 = P[(size_t)r * ld + 1];
        for (int i = 0; i < TILE; i++) {
            vec c = cp[(size_t)i * ldc + r];
            tr[i][0] += c * p0.re, ti[i][0] += c * p0.im, tr[i][1] += c * p1.re, ti[i][1] += c * p1.im;
        }
    }
    for (int i = 0; i < TILE; i++)
        for (int k = 0; k < 2; k++) T[(size_t)i * ld + k] = (fb_cx){tr[i][k], ti[i][k]};
}

/* T[a][n] = sum_r CP[a][r] P[r][n] for blocks a0..a1 (P = PR or QR). */
static void in_blocks(const struct sp *s, const fb_cx *P, int a0, int a1, fb_cx *T) {
    int R = s->R, ld = s->ld, ldc = s->ldc;
    for (int ab = a0; ab <= a1; ab += TILE)
        for (int n0 = 0; n0 < s->N2p; n0 += 2)
            in_tile(s->CP + (size_t)ab * ldc, P + n0, R, ldc, ld, T + (size_t)ab * ld + n0);
}

/* acc[n] (+=) sum_j c_j' z^{j + e0}, and accq[n] (+=) sum_j c_j' (j + e0) z^{j + e0 - 1}
 * when accq is given, over j < len with c_j' = c[j] or c[len-1-j] (rev). */
static void vand_in(const struct sp *s, int e0, const vec *c, int len, bool rev, fb_cx *acc, fb_cx *accq) {
    int R = s->R, N2p = s->N2p, a0, a1;
    block_range(s, e0, len, &a0, &a1);
    fc_zero(s->CP, a0 * s->ldc, (a1 + TILE) * s->ldc);
    for (int j = 0; j < len; j++) s->CP[(j + e0) / R * s->ldc + (j + e0) % R] = c[rev ? len - 1 - j : j];
    in_blocks(s, s->PR, a0, a1, s->TA);
    if (accq) in_blocks(s, s->QR, a0, a1, s->TQ);
    for (int a = a0; a <= a1; a++)
        for (int n = 0; n < N2p; n++) {
            size_t o = (size_t)a * s->ld + n;
            acc[n] = cx_add(acc[n], cx_mul(s->PA[o], s->TA[o]));
            if (accq) accq[n] = cx_add(accq[n], cx_add(cx_mul(s->QA[o], s->TA[o]), cx_mul(s->PA[o], s->TQ[o])));
        }
}

/* ---- panel setup ------------------------------------------------------------ */

/* Mode arrays of a panel, carved from one scratch slot: z, ct and the
 * states (N2p each), PR, QR (R rows), PA, QA (NA rows), TA, TQ (NA + 3 rows),
 * CP ((NA + 3) R vectors). */
enum { SP_X, SP_NU, SP_NUQ, SP_GC, SP_GZ, SP_T1, SP_T2, SP_STATES };

static fb_cx *panel_arrays(struct sp *s) {
    size_t rows = 2 * (size_t)s->R + 4 * (size_t)s->NA + 2 * TILE;
    size_t cp = (((size_t)s->NA + TILE) * s->ldc + 1) / 2; /* fb_cx holding the CP vectors */
    size_t total = (2 + SP_STATES) * (size_t)s->N2p + rows * s->ld + cp;
    fb_cx *m = cpu_scratch(SCRATCH_FC_SSM, sizeof(fb_cx) * total);
    memset(m, 0, sizeof(fb_cx) * total);
    fb_cx *q = m;
    s->z = q, q += s->N2p;
    s->ct = q, q += s->N2p;
    fb_cx *states = q;
    q += SP_STATES * s->N2p;
    s->PR = q, q += (size_t)s->R * s->ld;
    s->QR = q, q += (size_t)s->R * s->ld;
    s->PA = q, q += (size_t)s->NA * s->ld;
    s->QA = q, q += (size_t)s->NA * s->ld;
    s->TA = q, q += ((size_t)s->NA + TILE) * s->ld;
    s->TQ = q, q += ((size_t)s->NA + TILE) * s->ld;
    s->CP = (vec *)q;
    return states;
}

/* Tables, and K_T's spectrum: K_l = Re sum_n z^l (2 Ct), l < T, by vand_out. */
static fb_cx *panel_init(struct sp *s, const struct ssm_conv_args *a, int c0, int nl) {
    int T = cpu_ssm_conv_chunk(a->T, a->L);
    *s = (struct sp){.a = a, .p = fb_plan_get(2 * T), .c0 = c0, .nl = nl, .T = T, .R = T < SP_R ? T : SP_R};
    s->NA = T / s->R + 1;
    s->N2p = (a->N2 + SP_NB - 1) / SP_NB * SP_NB;
    s->ld = s->N2p + 1, s->ldc = s->R + 1;
    fb_cx *states = panel_arrays(s);
    for (int l = 0; l < nl; l++) lane_tables(s, l, (c0 + l) / a->group);
    s->d = fc_lane_vals(a->D, c0, nl, a->group);
    s->K = cpu_scratch(SCRATCH_FC_K, sizeof(fb_cx) * s->p->M);
    fb_cx *two_ct = states + SP_T1 * s->N2p;
    for (int n = 0; n < s->N2p; n++) two_ct[n] = cx_scale(s->ct[n], 2);
    fc_zero((vec *)s->K, 0, 2 * s->p->M);
    vand_out(s, 0, two_ct, (vec *)s->K, T, false);
    fb_rfft(s->p, s->K, (real)1 / s->p->M);
    return states;
}

/* The panel's lanes at batch entry b, shifted to time t0. */
static struct fc_lanes chunk_lanes(const struct sp *s, int b, int t0) {
    const struct ssm_conv_args *a = s->a;
    struct fc_lanes ln = fc_lanes_of(a->layout, a->L, a->H, b, s->c0, s->nl);
    for (int l = 0; l < ln.n; l++) ln.off[l] += (size_t)t0 * ln.st;
    return ln;
}

/* X (=) the transform of x (len vectors, zero-padded to 2T samples). */
static void forward_of(const struct sp *s, const vec *x, int len, fb_cx *X) {
    memcpy(X, x, sizeof(vec) * len);
    fc_zero((vec *)X, len, s->p->M);
    fb_fft(s->p, X, true);
}

/* ---- forward ---------------------------------------------------------------- */

static void fwd_entry(const struct sp *s, fb_cx *st, int b, vec *u, fb_cx *X) {
    const struct ssm_conv_args *a = s->a;
    int T = s->T, N2p = s->N2p;
    fb_cx *x = st + SP_X * N2p, *sv = st + SP_T1 * N2p;
    vec *y = (vec *)X;
    memset(x, 0, sizeof(fb_cx) * N2p);
    for (int t0 = 0; t0 < a->L; t0 += T) {
        int Tc = a->L - t0 < T ? a->L - t0 : T;
        struct fc_lanes ln = chunk_lanes(s, b, t0);
        fc_gather(a->u, &ln, Tc, u);
        forward_of(s, u, Tc, X);
        fb_conv(s->p, X, s->K, false);
        fb_ifft(s->p, X, true);
        for (int j = 0; j < Tc; j++) y[j] += s->d * u[j];
        if (t0 > 0) { /* the state's contribution, M_xy x */
            for (int n = 0; n < N2p; n++) sv[n] = cx_scale(cx_mul(s->ct[n], x[n]), 2);
            vand_out(s, 1, sv, y, Tc, false);
        }
        fc_scatter(y, &ln, Tc, a->y);
        if (t0 + Tc < a->L) { /* x <- z^T x + M_ux u */
            for (int n = 0; n < N2p; n++) x[n] = cx_mul(s->PA[(size_t)(s->NA - 1) * s->ld + n], x[n]);
            vand_in(s, 0, u, Tc, true, x, NULL);
        }
    }
}

static void check_args(const struct ssm_conv_args *a) {
    HP_CHECK(a->B >= 0 && a->L > 0 && a->H > 0 && a->N2 > 0 && a->group >= 1 && a->H % a->group == 0);
    int T = cpu_ssm_conv_chunk(a->T, a->L);
    HP_CHECK(T >= 16 && (T & (T - 1)) == 0 && 2 * T <= FB_MAX_N);
}

void cpu_ssm_conv_chunked(const struct ssm_conv_args *a) {
    check_args(a);
    if (a->B == 0) return;
    int T = cpu_ssm_conv_chunk(a->T, a->L), panels = (a->H + VL - 1) / VL;
    int nt = fc_threads(3 * fc_fft_work((double)a->B * a->H * ((a->L + T - 1) / T), 2 * T));
    int bsplit = panels >= 2 * nt ? 1 : (2 * nt + panels - 1) / panels;
    bsplit = bsplit > a->B ? a->B : bsplit;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int task = 0; task < panels * bsplit; task++) {
        int pi = task / bsplit, bs = task % bsplit, c0 = pi * VL;
        struct sp s;
        fb_cx *st = panel_init(&s, a, c0, a->H - c0 < VL ? a->H - c0 : VL);
        vec *u = cpu_scratch(SCRATCH_FC_T0, sizeof(vec) * T);
        fb_cx *X = cpu_scratch(SCRATCH_FC_A, sizeof(fb_cx) * s.p->M);
        for (int b = a->B * bs / bsplit; b < a->B * (bs + 1) / bsplit; b++) fwd_entry(&s, st, b, u, X);
    }
}

/* ---- backward --------------------------------------------------------------- */

struct spb {
    const struct ssm_conv_bwd_args *g;
    fb_cx *st;        /* states: nu, nu', gC, gZ and two temporaries */
    fb_cx *A, *G;     /* dy's transform, the intra-chunk correlation sum */
    vec *dy, *u, dd;
    bool grads;       /* dAbar or dCt wanted */
};

/* One chunk of the reverse sweep: du, the gradient sums, then nu, nu'. */
static void bwd_chunk(const struct sp *s, struct spb *w, int b, int t0) {
    const struct ssm_conv_bwd_args *g = w->g;
    const struct ssm_conv_args *a = &g->f;
    int T = s->T, N2p = s->N2p, Tc = a->L - t0 < T ? a->L - t0 : T;
    fb_cx *nu = w->st + SP_NU * N2p, *nuq = w->st + SP_NUQ * N2p, *gc = w->st + SP_GC * N2p;
    fb_cx *gz = w->st + SP_GZ * N2p, *t1 = w->st + SP_T1 * N2p, *t2 = w->st + SP_T2 * N2p;
    bool last = t0 + Tc == a->L;
    struct fc_lanes ln = chunk_lanes(s, b, t0);
    fc_gather(g->dy, &ln, Tc, w->dy);
    fc_gather(a->u, &ln, Tc, w->u);
    for (int j = 0; j < Tc; j++) w->dd += w->dy[j] * w->u[j];
    forward_of(s, w->dy, Tc, w->A);
    if (w->grads) {
        fb_cx *U = cpu_scratch(SCRATCH_FC_B, sizeof(fb_cx) * s->p->M);
        forward_of(s, w->u, Tc, U);
        fb_corr_acc(s->p, U, w->A, w->G);
        if (!last) { /* cross-chunk pairs: B1 nu and B2 nu + B1 nu' */
            memset(t1, 0, sizeof(fb_cx) * N2p), memset(t2, 0, sizeof(fb_cx) * N2p);
            vand_in(s, 1, w->u, Tc, true, t1, t2);
            for (int n = 0; n < N2p; n++) {
                gc[n] = cx_add(gc[n], cx_mul(t1[n], nu[n]));
                gz[n] = cx_add(gz[n], cx_add(cx_mul(t2[n], nu[n]), cx_mul(t1[n], nuq[n])));
            }
        }
    }
    if (g->du) {
        vec *du = (vec *)w->A;
        fb_conv(s->p, w->A, s->K, true);
        fb_ifft(s->p, w->A, true);
        for (int j = 0; j < Tc; j++) du[j] += s->d * w->dy[j];
        if (!last) {
            for (int n = 0; n < N2p; n++) t1[n] = cx_scale(cx_mul(s->ct[n], nu[n]), 2);
            vand_out(s, 1, t1, du, Tc, true);
        }
        fc_scatter(du, &ln, Tc, g->du);
    }
    if (t0 == 0) return;
    /* nu' <- sum_j j z^{j-1} dy_j + T z^{T-1} nu + z^T nu';  nu <- sum_j z^j dy_j + z^T nu
     * (after the last chunk nu = nu' = 0, so its length need not be T) */
    memset(t1, 0, sizeof(fb_cx) * N2p), memset(t2, 0, sizeof(fb_cx) * N2p);
    vand_in(s, 0, w->dy, Tc, false, t1, t2);
    const fb_cx *zT = s->PA + (size_t)(s->NA - 1) * s->ld, *qT = s->QA + (size_t)(s->NA - 1) * s->ld;
    for (int n = 0; n < N2p; n++) {
        nuq[n] = cx_add(t2[n], cx_add(cx_mul(qT[n], nu[n]), cx_mul(zT[n], nuq[n])));
        nu[n] = cx_add(t1[n], cx_mul(zT[n], nu[n]));
    }
}

/* G(z) = sum_l dk_l z^l and G'(z) from the intra-chunk correlation and the
 * cross-chunk sums; then the modes' gradients into their rows, lane order:
 * dCt = (2 Re G, -2 Im G), dAbar = (2 Re(Ct G'), -2 Im(Ct G')). */
static void bwd_reduce(const struct sp *s, struct spb *w) {
    const struct ssm_conv_bwd_args *g = w->g;
    const struct ssm_conv_args *a = &g->f;
    int N2p = s->N2p;
    if (w->grads) {
        fb_cx *gc = w->st + SP_GC * N2p, *gz = w->st + SP_GZ * N2p;
        fb_irfft(s->p, w->G, (real)1 / s->p->M);
        vand_in(s, 0, (const vec *)w->G, s->T, false, gc, gz);
        for (int l = 0; l < s->nl; l++) {
            size_t o = (size_t)((s->c0 + l) / a->group) * a->N2 * 2;
            for (int n = 0; n < a->N2; n++) {
                fb_cx cg = cx_mul(s->ct[n], gz[n]);
                if (g->dCt) g->dCt[o + 2 * n] += 2 * gc[n].re[l], g->dCt[o + 2 * n + 1] -= 2 * gc[n].im[l];
                if (g->dAbar) g->dAbar[o + 2 * n] += 2 * cg.re[l], g->dAbar[o + 2 * n + 1] -= 2 * cg.im[l];
            }
        }
    }
    if (g->dD)
        for (int l = 0; l < s->nl; l++) g->dD[(s->c0 + l) / a->group] += w->dd[l];
}

static void bwd_panel(const struct ssm_conv_bwd_args *g, int c0, int nl) {
    const struct ssm_conv_args *a = &g->f;
    struct sp s;
    struct spb w = {.g = g, .grads = g->dAbar || g->dCt};
    w.st = panel_init(&s, a, c0, nl);
    w.A = cpu_scratch(SCRATCH_FC_A, sizeof(fb_cx) * s.p->M);
    w.G = cpu_scratch(SCRATCH_FC_G, sizeof(fb_cx) * s.p->M);
    w.dy = cpu_scratch(SCRATCH_FC_T0, sizeof(vec) * 2 * s.T);
    w.u = w.dy + s.T;
    memset(w.G, 0, sizeof(fb_cx) * s.p->M);
    int N2p = s.N2p, chunks = (a->L + s.T - 1) / s.T;
    for (int b = 0; b < a->B; b++) {
        memset(w.st + SP_NU * N2p, 0, sizeof(fb_cx) * 2 * N2p); /* nu, nu' */
        for (int c = chunks - 1; c >= 0; c--) bwd_chunk(&s, &w, b, c * s.T);
    }
    bwd_reduce(&s, &w);
}

void cpu_ssm_conv_chunked_bwd(const struct ssm_conv_bwd_args *g) {
    const struct ssm_conv_args *a = &g->f;
    check_args(a);
    if (a->B == 0) return;
    int T = cpu_ssm_conv_chunk(a->T, a->L), rows = a->H / a->group;
    int nt = fc_threads(5 * fc_fft_work((double)a->B * a->H * ((a->L + T - 1) / T), 2 * T));
    nt = nt > rows ? rows : nt;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int r0, r1;
        fc_rows_of(rows, omp_get_thread_num(), omp_get_num_threads(), &r0, &r1);
        for (int c0 = r0 * a->group; c0 < r1 * a->group; c0 += VL)
            bwd_panel(g, c0, r1 * a->group - c0 < VL ? r1 * a->group - c0 : VL);
    }
}
