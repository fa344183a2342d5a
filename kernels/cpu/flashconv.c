/* flashconv.c — FlashConv on the CPU: the causal long convolution fused per
 * panel of VL channel rows (FLASHCONV.md).
 *
 * For each panel (VL channels of one batch entry): gather u, real FFT of
 * size n >= 2L (fft_block.h; the zero half is implicit), multiply by the
 * kernel spectrum (computed once per panel per call, reused over the batch),
 * inverse FFT, add D u, store — all while the panel's buffers (n/2 complex
 * vectors each, 128 bytes per element) sit in L1/L2; no full-size
 * intermediate exists for the tensor. The backward reuses the same panels:
 * du = dy correlated with k (the conjugate spectrum), dk = irfft of
 * sum_b conj(U) DY per channel (one inverse per panel, after the batch loop),
 * dD = sum dy u.
 *
 * Work split: the forward over (panel, batch range) tasks; the backward over
 * contiguous kernel-row ranges per thread (fc_rows_of), so each row's
 * gradient is summed on one thread in a fixed order. */
#include "flashconv.h"

#include <string.h>

const char *cpu_flash_isa(void) { return fb_isa(); }

/* ---- panels --------------------------------------------------------------- */

struct fc_lanes fc_lanes_of(enum conv_layout lay, int L, int H, int b, int c0, int n) {
    struct fc_lanes ln = {.n = n, .st = lay == CONV_BLH ? H : 1, .contig = lay == CONV_BLH && n == VL};
    for (int l = 0; l < n; l++)
        ln.off[l] = lay == CONV_BLH ? (size_t)b * L * H + c0 + l : ((size_t)b * H + c0 + l) * L;
    return ln;
}

struct fc_lanes fc_lanes_ch(int L, int C, int b, const int *ch, int n) {
    struct fc_lanes ln = {.n = n, .st = C, .contig = n == VL};
    for (int l = 0; l < n; l++) {
        ln.off[l] = (size_t)b * L * C + ch[l];
        ln.contig = ln.contig && ch[l] == ch[0] + l;
    }
    return ln;
}

void fc_gather(const real *src, const struct fc_lanes *ln, int L, vec *dst) {
    if (ln->contig) {
        const real *s = src + ln->off[0];
        for (int t = 0; t < L; t++) dst[t] = vload(s + (ptrdiff_t)t * ln->st);
        return;
    }
    fc_zero(dst, 0, L);
    for (int l = 0; l < ln->n; l++) { /* one row at a time: sequential reads in BHL */
        const real *s = src + ln->off[l];
        for (int t = 0; t < L; t++) dst[t][l] = s[(ptrdiff_t)t * ln->st];
    }
}

void fc_scatter(const vec *src, const struct fc_lanes *ln, int L, real *dst) {
    if (ln->contig) {
        real *d = dst + ln->off[0];
        for (int t = 0; t < L; t++) vstore(d + (ptrdiff_t)t * ln->st, src[t]);
        return;
    }
    for (int l = 0; l < ln->n; l++) {
        real *d = dst + ln->off[l];
        for (int t = 0; t < L; t++) d[(ptrdiff_t)t * ln->st] = src[t][l];
    }
}

void fc_scatter_add(const vec *src, const struct fc_lanes *ln, int L, real *dst) {
    if (ln->contig) {
        real *d = dst + ln->off[0];
        for (int t = 0; t < L; t++) vstore(d + (ptrdiff_t)t * ln->st, vload(d + (ptrdiff_t)t * ln->st) + src[t]);
        return;
    }
    for (int l = 0; l < ln->n; l++) {
        real *d = dst + ln->off[l];
        for (int t = 0; t < L; t++) d[(ptrdiff_t)t * ln->st] += src[t][l];
    }
}

vec fc_lane_vals(const real *table, int c0, int n, int group) {
    vec v = {0};
    if (table)
        for (int l = 0; l < n; l++) v[l] = table[(c0 + l) / group];
    return v;
}

void fc_kernel_spectrum(const struct fb_plan *p, const real *k, int Lk, int c0, int nl, int group, fb_cx *K) {
    vec *x = (vec *)K;
    fc_zero(x, 0, p->M);
    for (int l = 0; l < nl; l++) {
        const real *row = k + (size_t)((c0 + l) / group) * Lk;
        for (int j = 0; j < Lk; j++) x[j][l] = row[j];
    }
    fb_rfft(p, K, (real)1 / p->M);
}

/* ---- forward -------------------------------------------------------------- */

static void check_args(const struct conv_args *a) {
    HP_CHECK(a->B >= 0 && a->L > 0 && a->H > 0 && a->group >= 1 && a->H % a->group == 0);
    HP_CHECK(a->Lk >= 1 && a->Lk <= a->L && a->L <= FB_MAX_N / 2);
}

/* y = k * u + D u for channels c0..c0+nl-1 of batch entries b0..b1-1. */
static void fwd_panel(const struct conv_args *a, const struct fb_plan *p, int c0, int nl, int b0, int b1) {
    fb_cx *K = cpu_scratch(SCRATCH_FC_K, sizeof(fb_cx) * p->M);
    fb_cx *X = cpu_scratch(SCRATCH_FC_A, sizeof(fb_cx) * p->M);
    vec *u = cpu_scratch(SCRATCH_FC_T0, sizeof(vec) * a->L), *x = (vec *)X;
    fc_kernel_spectrum(p, a->k, a->Lk, c0, nl, a->group, K);
    vec d = fc_lane_vals(a->D, c0, nl, a->group);
    for (int b = b0; b < b1; b++) {
        struct fc_lanes ln = fc_lanes_of(a->layout, a->L, a->H, b, c0, nl);
        fc_gather(a->u, &ln, a->L, u);
        memcpy(x, u, sizeof(vec) * a->L);
        fc_zero(x, a->L, p->M);
        fb_fft(p, X, true);
        fb_conv(p, X, K, false);
        fb_ifft(p, X, true);
        for (int t = 0; t < a->L; t++) x[t] += d * u[t];
        fc_scatter(x, &ln, a->L, a->y);
    }
}

void cpu_conv_flash(const struct conv_args *a) {
    check_args(a);
    if (a->B == 0) return;
    const struct fb_plan *p = fb_plan_get(fb_size_for(a->L));
    int panels = (a->H + VL - 1) / VL, nt = fc_threads(3 * fc_fft_work((double)a->B * a->H, p->n));
    /* enough tasks for every thread: split the batch when panels are few */
    int bsplit = panels >= 2 * nt ? 1 : (2 * nt + panels - 1) / panels;
    bsplit = bsplit > a->B ? a->B : bsplit;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int task = 0; task < panels * bsplit; task++) {
        int pi = task / bsplit, bs = task % bsplit, c0 = pi * VL;
        int nl = a->H - c0 < VL ? a->H - c0 : VL;
        fwd_panel(a, p, c0, nl, a->B * bs / bsplit, a->B * (bs + 1) / bsplit);
    }
}

/* ---- backward ------------------------------------------------------------- */

/* Per-panel state of the backward: the kernel spectrum (for du), the
 * gradient spectrum sum G (for dk) and the lane sums of dy u (for dD). */
struct bwd_panel {
    const struct fb_plan *p;
    int c0, nl;
    fb_cx *K, *G, *X, *U;
    vec *dy, d, dd;
};

/* One batch entry of a panel's backward. */
static void bwd_entry(const struct conv_bwd_args *g, struct bwd_panel *s, int b) {
    const struct conv_args *a = &g->f;
    const struct fb_plan *p = s->p;
    int L = a->L;
    vec *x = (vec *)s->X, *u = (vec *)s->U;
    struct fc_lanes ln = fc_lanes_of(a->layout, L, a->H, b, s->c0, s->nl);
    fc_gather(g->dy, &ln, L, s->dy);
    memcpy(x, s->dy, sizeof(vec) * L);
    fc_zero(x, L, p->M);
    fb_fft(p, s->X, true);
    if (g->dk || g->dD) {
        fc_gather(a->u, &ln, L, u);
        for (int t = 0; t < L; t++) s->dd += s->dy[t] * u[t];
    }
    if (g->dk) {
        fc_zero(u, L, p->M);
        fb_fft(p, s->U, true);
        fb_corr_acc(p, s->U, s->X, s->G);
    }
    if (g->du) {
        fb_conv(p, s->X, s->K, true);
        fb_ifft(p, s->X, true);
        for (int t = 0; t < L; t++) x[t] += s->d * s->dy[t];
        fc_scatter(x, &ln, L, g->du);
    }
}

/* dk and dD of a panel's channels into their rows, in lane order. */
static void bwd_reduce(const struct conv_bwd_args *g, struct bwd_panel *s) {
    const struct conv_args *a = &g->f;
    if (g->dk) {
        fb_irfft(s->p, s->G, (real)1 / s->p->M);
        const vec *c = (const vec *)s->G;
        for (int l = 0; l < s->nl; l++) {
            real *dk = g->dk + (size_t)((s->c0 + l) / a->group) * a->Lk;
            for (int j = 0; j < a->Lk; j++) dk[j] += c[j][l];
        }
    }
    if (g->dD)
        for (int l = 0; l < s->nl; l++) g->dD[(s->c0 + l) / a->group] += s->dd[l];
}

static void bwd_panel(const struct conv_bwd_args *g, const struct fb_plan *p, int c0, int nl) {
    const struct conv_args *a = &g->f;
    struct bwd_panel s = {
        .p = p, .c0 = c0, .nl = nl,
        .K = cpu_scratch(SCRATCH_FC_K, sizeof(fb_cx) * p->M),
        .G = cpu_scratch(SCRATCH_FC_G, sizeof(fb_cx) * p->M),
        .X = cpu_scratch(SCRATCH_FC_A, sizeof(fb_cx) * p->M),
        .U = cpu_scratch(SCRATCH_FC_B, sizeof(fb_cx) * p->M),
        .dy = cpu_scratch(SCRATCH_FC_T0, sizeof(vec) * a->L),
        .d = fc_lane_vals(a->D, c0, nl, a->group),
    };
    if (g->du) fc_kernel_spectrum(p, a->k, a->Lk, c0, nl, a->group, s.K);
    if (g->dk) memset(s.G, 0, sizeof(fb_cx) * p->M);
    for (int b = 0; b < a->B; b++) bwd_entry(g, &s, b);
    bwd_reduce(g, &s);
}

void cpu_conv_flash_bwd(const struct conv_bwd_args *g) {
    const struct conv_args *a = &g->f;
    check_args(a);
    if (a->B == 0) return;
    const struct fb_plan *p = fb_plan_get(fb_size_for(a->L));
    int rows = a->H / a->group, nt = fc_threads(5 * fc_fft_work((double)a->B * a->H, p->n));
    nt = nt > rows ? rows : nt;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int r0, r1;
        fc_rows_of(rows, omp_get_thread_num(), omp_get_num_threads(), &r0, &r1);
        for (int c0 = r0 * a->group; c0 < r1 * a->group; c0 += VL) {
            int nl = r1 * a->group - c0 < VL ? r1 * a->group - c0 : VL;
            bwd_panel(g, p, c0, nl);
        }
    }
}
