/* flashconv_h3.c — H3's inner op fused (ops.h h3_inner): the k~·v outer
 * product, the diagonal SSM's convolution with its D skip, and the q
 * contraction, in one pass per panel of channels (FLASHCONV.md).
 *
 * A panel's lane l is v channel f = f0 + l = h d_h + j (head h, column j).
 * For each row i of the head's d_h x d_h state, the lane's kv is
 * kt[h d_h + i] v[f]: gathered, transformed, multiplied by K[h]'s spectrum,
 * transformed back, plus Dk[h] kv, times q[h d_h + i], summed over i in
 * registers-to-L2 buffers and stored once to o[j H + h]. Nothing of size
 * (B, L, D d_h) is ever written. The backward recomputes y the same way
 * (no stored activations beyond q, k~, v) and produces dq, dk~, dv, dK, dDk;
 * contributions of several lanes to one channel (the sums over j) are added
 * in lane order on the thread that owns the head. */
#include "flashconv.h"

#include <string.h>

/* One panel and what its lanes read. */
struct h3p {
    const struct h3_inner_args *a;
    const struct fb_plan *p;
    int f0, nl, dh, H;
    int fch[VL]; /* f: the lane's v (and dv) channel */
    int kch[VL]; /* h d_h: row i of its head is channel kch + i of q, k~ */
    int och[VL]; /* j H + h: its output channel */
    fb_cx *K;    /* K[h]'s spectrum per lane */
    vec d;       /* Dk[h] per lane */
};

static void panel_init(struct h3p *s, const struct h3_inner_args *a, const struct fb_plan *p, int f0, int nl) {
    *s = (struct h3p){.a = a, .p = p, .f0 = f0, .nl = nl, .dh = a->head_dim, .H = a->D / a->head_dim};
    for (int l = 0; l < nl; l++) {
        int f = f0 + l, h = f / s->dh;
        s->fch[l] = f, s->kch[l] = h * s->dh, s->och[l] = (f % s->dh) * s->H + h;
    }
    s->K = cpu_scratch(SCRATCH_FC_K, sizeof(fb_cx) * p->M);
    fc_kernel_spectrum(p, a->K, a->Lk, f0, nl, s->dh, s->K);
    s->d = fc_lane_vals(a->Dk, f0, nl, s->dh);
}

/* Lanes of batch entry b reading channel ch[l] + add. */
static struct fc_lanes lanes(const struct h3p *s, int b, const int *ch, int add) {
    int c[VL];
    for (int l = 0; l < s->nl; l++) c[l] = ch[l] + add;
    return fc_lanes_ch(s->a->L, s->a->D, b, c, s->nl);
}

static void gather_ch(const struct h3p *s, const real *src, int b, const int *ch, int add, vec *dst) {
    struct fc_lanes ln = lanes(s, b, ch, add);
    fc_gather(src, &ln, s->a->L, dst);
}

/* Time buffers of L vectors, carved from one scratch slot. */
enum { TB_V, TB_KV, TB_KT, TB_Q, TB_ACC, TB_DO, TB_DY, TB_DV, TB_N };
static vec *time_bufs(int L) { return cpu_scratch(SCRATCH_FC_T0, sizeof(vec) * (size_t)L * TB_N); }
#define TBUF(base, L, i) ((base) + (size_t)(L) * (i))

/* X (=) the transform of the zero-padded time signal x (L vectors). */
static void forward_of(const struct fb_plan *p, const vec *x, int L, fb_cx *X) {
    memcpy(X, x, sizeof(vec) * L);
    fc_zero((vec *)X, L, p->M);
    fb_fft(p, X, true);
}

/* Y (=) K (or conj K) applied to the transform Y, back in time, plus d * skip:
 * the causal convolution (or correlation) of the panel, L vectors of (vec *)Y. */
static void apply_kernel(const struct h3p *s, fb_cx *Y, bool conj_k, const vec *skip) {
    fb_conv(s->p, Y, s->K, conj_k);
    fb_ifft(s->p, Y, true);
    vec *y = (vec *)Y;
    for (int t = 0; t < s->a->L; t++) y[t] += s->d * skip[t];
}

/* ---- forward -------------------------------------------------------------- */

static void fwd_entry(const struct h3p *s, int b, vec *tb, fb_cx *X) {
    const struct h3_inner_args *a = s->a;
    int L = a->L;
    vec *v = TBUF(tb, L, TB_V), *kv = TBUF(tb, L, TB_KV), *q = TBUF(tb, L, TB_Q), *acc = TBUF(tb, L, TB_ACC);
    vec *y = (vec *)X;
    gather_ch(s, a->v, b, s->fch, 0, v);
    fc_zero(acc, 0, L);
    for (int i = 0; i < s->dh; i++) {
        gather_ch(s, a->kt, b, s->kch, i, kv);
        for (int t = 0; t < L; t++) kv[t] *= v[t];
        forward_of(s->p, kv, L, X);
        apply_kernel(s, X, false, kv);
        gather_ch(s, a->q, b, s->kch, i, q);
        for (int t = 0; t < L; t++) acc[t] += q[t] * y[t];
    }
    struct fc_lanes lo = lanes(s, b, s->och, 0);
    fc_scatter(acc, &lo, L, a->o);
}

static void check_args(const struct h3_inner_args *a) {
    HP_CHECK(a->B >= 0 && a->L > 0 && a->D > 0 && a->head_dim >= 1 && a->D % a->head_dim == 0);
    HP_CHECK(a->Lk >= 1 && a->Lk <= a->L && a->L <= FB_MAX_N / 2);
}

void cpu_h3_inner(const struct h3_inner_args *a) {
    check_args(a);
    if (a->B == 0) return;
    const struct fb_plan *p = fb_plan_get(fb_size_for(a->L));
    int panels = (a->D + VL - 1) / VL;
    int nt = fc_threads(3 * fc_fft_work((double)a->B * a->D * a->head_dim, p->n));
    int bsplit = panels >= 2 * nt ? 1 : (2 * nt + panels - 1) / panels;
    bsplit = bsplit > a->B ? a->B : bsplit;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int task = 0; task < panels * bsplit; task++) {
        int pi = task / bsplit, bs = task % bsplit, f0 = pi * VL;
        struct h3p s;
        panel_init(&s, a, p, f0, a->D - f0 < VL ? a->D - f0 : VL);
        vec *tb = time_bufs(a->L);
        fb_cx *X = cpu_scratch(SCRATCH_FC_A, sizeof(fb_cx) * p->M);
        for (int b = a->B * bs / bsplit; b < a->B * (bs + 1) / bsplit; b++) fwd_entry(&s, b, tb, X);
    }
}

/* ---- backward ------------------------------------------------------------- */

struct h3b {
    const struct h3_inner_bwd_args *g;
    fb_cx *XKV, *Y, *G; /* kv's transform, the working transform, sum conj(KV) DY */
    vec dd;             /* lane sums of dy kv */
    vec *tb;
};

/* Lane products into channel ch + i of dst: stored (head_dim 1: one lane per
 * channel) or added (the head's lanes sum there; zeroed beforehand). */
static void put(const struct h3p *s, const vec *x, real *dst, int b, const int *ch, int i) {
    struct fc_lanes ln = lanes(s, b, ch, i);
    if (s->dh == 1) fc_scatter(x, &ln, s->a->L, dst);
    else fc_scatter_add(x, &ln, s->a->L, dst);
}

/* Row i of batch entry b: y recomputed, dq, then dkv = K ⋆ dy + Dk dy, dk~, dv. */
static void bwd_row(const struct h3p *s, struct h3b *w, int b, int i) {
    const struct h3_inner_bwd_args *g = w->g;
    const struct h3_inner_args *a = &g->f;
    int L = a->L;
    vec *v = TBUF(w->tb, L, TB_V), *kv = TBUF(w->tb, L, TB_KV), *kt = TBUF(w->tb, L, TB_KT);
    vec *q = TBUF(w->tb, L, TB_Q), *dout = TBUF(w->tb, L, TB_DO), *dy = TBUF(w->tb, L, TB_DY);
    vec *dv = TBUF(w->tb, L, TB_DV), *y = (vec *)w->Y;
    gather_ch(s, a->kt, b, s->kch, i, kt);
    for (int t = 0; t < L; t++) kv[t] = kt[t] * v[t];
    forward_of(s->p, kv, L, w->XKV);
    memcpy(w->Y, w->XKV, sizeof(fb_cx) * s->p->M);
    apply_kernel(s, w->Y, false, kv);
    for (int t = 0; t < L; t++) y[t] *= dout[t]; /* dq's lanes */
    put(s, y, g->dq, b, s->kch, i);
    gather_ch(s, a->q, b, s->kch, i, q);
    for (int t = 0; t < L; t++) dy[t] = dout[t] * q[t], w->dd += dy[t] * kv[t];
    forward_of(s->p, dy, L, w->Y);
    if (g->dK) fb_corr_acc(s->p, w->XKV, w->Y, w->G);
    apply_kernel(s, w->Y, true, dy); /* y now holds dkv */
    for (int t = 0; t < L; t++) dv[t] += y[t] * kt[t], y[t] *= v[t];
    put(s, y, g->dkt, b, s->kch, i);
}

static void bwd_entry(const struct h3p *s, struct h3b *w, int b) {
    const struct h3_inner_bwd_args *g = w->g;
    int L = g->f.L;
    vec *v = TBUF(w->tb, L, TB_V), *dout = TBUF(w->tb, L, TB_DO), *dv = TBUF(w->tb, L, TB_DV);
    gather_ch(s, g->f.v, b, s->fch, 0, v);
    gather_ch(s, g->dout, b, s->och, 0, dout);
    fc_zero(dv, 0, L);
    for (int i = 0; i < s->dh; i++) bwd_row(s, w, b, i);
    struct fc_lanes ln = lanes(s, b, s->fch, 0); /* dv's lanes are distinct channels */
    fc_scatter(dv, &ln, L, g->dv);
}

/* dK and dDk of a panel's heads, in lane order. */
static void bwd_reduce(const struct h3p *s, struct h3b *w) {
    const struct h3_inner_bwd_args *g = w->g;
    int Lk = g->f.Lk;
    if (g->dK) {
        fb_irfft(s->p, w->G, (real)1 / s->p->M);
        const vec *c = (const vec *)w->G;
        for (int l = 0; l < s->nl; l++)
            for (int j = 0; j < Lk; j++) g->dK[(size_t)(s->fch[l] / s->dh) * Lk + j] += c[j][l];
    }
    if (g->dDk)
        for (int l = 0; l < s->nl; l++) g->dDk[s->fch[l] / s->dh] += w->dd[l];
}

/* Channels [c0, c1) of every (b, t) (=) 0: sums over a head's lanes add there. */
static void zero_channels(real *x, int B, int L, int D, int c0, int c1) {
    for (size_t r = 0; r < (size_t)B * L; r++) memset(x + r * D + c0, 0, sizeof(real) * (c1 - c0));
}

static void bwd_heads(const struct h3_inner_bwd_args *g, const struct fb_plan *p, int h0, int h1) {
    const struct h3_inner_args *a = &g->f;
    int dh = a->head_dim;
    if (dh > 1) {
        zero_channels(g->dq, a->B, a->L, a->D, h0 * dh, h1 * dh);
        zero_channels(g->dkt, a->B, a->L, a->D, h0 * dh, h1 * dh);
    }
    struct h3b w = {.g = g, .tb = time_bufs(a->L)};
    w.XKV = cpu_scratch(SCRATCH_FC_A, sizeof(fb_cx) * p->M);
    w.Y = cpu_scratch(SCRATCH_FC_B, sizeof(fb_cx) * p->M);
    w.G = cpu_scratch(SCRATCH_FC_G, sizeof(fb_cx) * p->M);
    for (int f0 = h0 * dh; f0 < h1 * dh; f0 += VL) {
        struct h3p s;
        panel_init(&s, a, p, f0, h1 * dh - f0 < VL ? h1 * dh - f0 : VL);
        if (g->dK) memset(w.G, 0, sizeof(fb_cx) * p->M);
        w.dd = (vec){0};
        for (int b = 0; b < a->B; b++) bwd_entry(&s, &w, b);
        bwd_reduce(&s, &w);
    }
}

void cpu_h3_inner_bwd(const struct h3_inner_bwd_args *g) {
    const struct h3_inner_args *a = &g->f;
    check_args(a);
    HP_CHECK(g->dq && g->dkt && g->dv);
    if (a->B == 0) return;
    const struct fb_plan *p = fb_plan_get(fb_size_for(a->L));
    int heads = a->D / a->head_dim;
    int nt = fc_threads(5 * fc_fft_work((double)a->B * a->D * a->head_dim, p->n));
    nt = nt > heads ? heads : nt;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int h0, h1;
        fc_rows_of(heads, omp_get_thread_num(), omp_get_num_threads(), &h0, &h1);
        bwd_heads(g, p, h0, h1);
    }
}
