/* conv_direct.c — causal long convolution in the time domain, O(L * Lk) per
 * channel: the fast path for short sequences and short (shift) kernels.
 * BLH with H a multiple of the vector width goes to the register-blocked
 * kernel in conv_blh.c; other BLH shapes run the loops here, vectorised over
 * channels (kernel taps transposed to (Lk, H)); BHL is a per-channel loop. */
#include "cpu.h"
#include "conv_table.h"
#include "fft_block.h"

#include <math.h>
#include <string.h>

/* Taps transposed and expanded per channel: kt[j*H + c] = k[c/group, j];
 * dexp[c] = D[c/group] (0 when D is NULL). */
static real *taps_by_channel(const struct conv_args *a, real **dexp) {
    int H = a->H, Lk = a->Lk, g = a->group;
    real *kt = xmalloc(sizeof(real) * ((size_t)Lk * H + H));
    for (int j = 0; j < Lk; j++)
        for (int c = 0; c < H; c++) kt[(size_t)j * H + c] = a->k[(size_t)(c / g) * Lk + j];
    *dexp = kt + (size_t)Lk * H;
    for (int c = 0; c < H; c++) (*dexp)[c] = a->D ? a->D[c / g] : 0;
    return kt;
}

static void check_args(const struct conv_args *a) {
    HP_CHECK(a->B >= 0 && a->L > 0 && a->H > 0 && a->group >= 1 && a->H % a->group == 0);
    HP_CHECK(a->Lk >= 1 && a->Lk <= a->L);
}

static double work(const struct conv_args *a) { return 2.0 * a->B * a->H * (double)a->L * a->Lk; }

/* y[b,t,:] = dexp * u[b,t,:] + sum_j kt[j,:] * u[b,t-j,:] */
static void fwd_blh(const struct conv_args *a) {
    int B = a->B, L = a->L, H = a->H, Lk = a->Lk;
    real *dexp, *kt = taps_by_channel(a, &dexp);
#pragma omp parallel for collapse(2) schedule(static) if (cpu_par(work(a)))
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) {
            const real *u0 = a->u + ((size_t)b * L + t) * H;
            real *y = a->y + ((size_t)b * L + t) * H;
#pragma omp simd
            for (int c = 0; c < H; c++) y[c] = dexp[c] * u0[c];
            int jn = t + 1 < Lk ? t + 1 : Lk;
            for (int j = 0; j < jn; j++) {
                const real *u = u0 - (size_t)j * H, *k = kt + (size_t)j * H;
#pragma omp simd
                for (int c = 0; c < H; c++) y[c] += k[c] * u[c];
            }
        }
    free(kt);
}

static void fwd_bhl(const struct conv_args *a) {
    int B = a->B, L = a->L, H = a->H, Lk = a->Lk, g = a->group;
#pragma omp parallel for schedule(static) if (cpu_par(work(a)))
    for (int bc = 0; bc < B * H; bc++) {
        int c = bc % H;
        const real *u = a->u + (size_t)bc * L, *k = a->k + (size_t)(c / g) * Lk;
        real *y = a->y + (size_t)bc * L;
        real d = a->D ? a->D[c / g] : 0;
        for (int t = 0; t < L; t++) y[t] = d * u[t];
        for (int j = 0; j < Lk; j++)
#pragma omp simd
            for (int t = j; t < L; t++) y[t] += k[j] * u[t - j];
    }
}

/* (B, X, Y) -> (B, Y, X) */
static real *transpose_new(const real *x, int B, int X, int Y) {
    real *t = xmalloc(sizeof(real) * (size_t)B * X * Y);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < X; i++)
            for (int j = 0; j < Y; j++) t[((size_t)b * Y + j) * X + i] = x[((size_t)b * X + i) * Y + j];
    return t;
}
static void transpose_into(const real *x, int B, int X, int Y, real *t) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < X; i++)
            for (int j = 0; j < Y; j++) t[((size_t)b * Y + j) * X + i] = x[((size_t)b * X + i) * Y + j];
}

/* BHL whose H fits the register-blocked kernel: transpose to BLH, run it,
 * transpose back (the copies cost O(B*L*H), the conv O(B*L*H*Lk)). */
static bool bhl_via_blh(const struct conv_args *a) {
    struct conv_args t = *a;
    t.layout = CONV_BLH;
    return a->layout == CONV_BHL && cpu_conv_blh_fits(&t);
}

static void fwd_bhl_via_blh(const struct conv_args *a) {
    struct conv_args t = *a;
    t.layout = CONV_BLH;
    t.u = transpose_new(a->u, a->B, a->H, a->L);
    t.y = xmalloc(sizeof(real) * (size_t)a->B * a->L * a->H);
    cpu_conv_blh(&t);
    transpose_into(t.y, a->B, a->L, a->H, a->y);
    free((void *)t.u), free(t.y);
}

static void bwd_bhl_via_blh(const struct conv_bwd_args *g) {
    struct conv_bwd_args t = *g;
    t.f.layout = CONV_BLH;
    t.f.u = transpose_new(g->f.u, g->f.B, g->f.H, g->f.L);
    t.dy = transpose_new(g->dy, g->f.B, g->f.H, g->f.L);
    t.du = g->du ? xmalloc(sizeof(real) * (size_t)g->f.B * g->f.L * g->f.H) : NULL;
    cpu_conv_blh_bwd(&t);
    if (g->du) transpose_into(t.du, g->f.B, g->f.L, g->f.H, g->du);
    free((void *)t.f.u), free((void *)t.dy), free(t.du);
}

void cpu_conv_direct(const struct conv_args *a) {
    check_args(a);
    if (cpu_conv_blh_fits(a)) cpu_conv_blh(a);
    else if (bhl_via_blh(a)) fwd_bhl_via_blh(a);
    else if (a->layout == CONV_BLH) fwd_blh(a);
    else fwd_bhl(a);
}

/* du[b,s,:] = dexp * dy[b,s,:] + sum_j kt[j,:] * dy[b,s+j,:] */
static void du_blh(const struct conv_bwd_args *g, const real *kt, const real *dexp) {
    const struct conv_args *a = &g->f;
    int B = a->B, L = a->L, H = a->H, Lk = a->Lk;
#pragma omp parallel for collapse(2) schedule(static) if (cpu_par(work(a)))
    for (int b = 0; b < B; b++)
        for (int s = 0; s < L; s++) {
            const real *dy0 = g->dy + ((size_t)b * L + s) * H;
            real *du = g->du + ((size_t)b * L + s) * H;
#pragma omp simd
            for (int c = 0; c < H; c++) du[c] = dexp[c] * dy0[c];
            int jn = L - s < Lk ? L - s : Lk;
            for (int j = 0; j < jn; j++) {
                const real *dy = dy0 + (size_t)j * H, *k = kt + (size_t)j * H;
#pragma omp simd
                for (int c = 0; c < H; c++) du[c] += k[c] * dy[c];
            }
        }
}

/* Per-channel tap gradients dkt[j,c] = sum_{b,t} dy[b,t,c] u[b,t-j,c] and
 * dd[c] = sum_{b,t} dy u. Batches are split statically over threads, each with
 * private sums, added in thread order (fixed result for a given thread count). */
static void dk_blh(const struct conv_bwd_args *g, real *dkt, real *dd) {
    const struct conv_args *a = &g->f;
    int B = a->B, L = a->L, H = a->H, Lk = a->Lk;
    size_t per = (size_t)Lk * H + H;
    int nt = cpu_par(work(a)) ? omp_get_max_threads() : 1;
    real *acc = xcalloc((size_t)nt * per, sizeof(real));
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t0 = omp_get_thread_num(), n = omp_get_num_threads();
        real *mk = acc + (size_t)t0 * per, *md = mk + (size_t)Lk * H;
        for (int b = B * t0 / n; b < B * (t0 + 1) / n; b++)
            for (int t = 0; t < L; t++) {
                const real *dy = g->dy + ((size_t)b * L + t) * H, *u0 = a->u + ((size_t)b * L + t) * H;
#pragma omp simd
                for (int c = 0; c < H; c++) md[c] += dy[c] * u0[c];
                int jn = t + 1 < Lk ? t + 1 : Lk;
                for (int j = 0; j < jn; j++) {
                    const real *u = u0 - (size_t)j * H;
                    real *k = mk + (size_t)j * H;
#pragma omp simd
                    for (int c = 0; c < H; c++) k[c] += dy[c] * u[c];
                }
            }
    }
    memset(dkt, 0, sizeof(real) * per);
    for (int t = 0; t < nt; t++)
        for (size_t i = 0; i < per; i++) dkt[i] += acc[(size_t)t * per + i];
    memcpy(dd, dkt + (size_t)Lk * H, sizeof(real) * H);
    free(acc);
}

static void bwd_blh(const struct conv_bwd_args *g) {
    const struct conv_args *a = &g->f;
    int H = a->H, Lk = a->Lk, gr = a->group;
    real *dexp, *kt = taps_by_channel(a, &dexp);
    if (g->du) du_blh(g, kt, dexp);
    if (g->dk || g->dD) {
        real *dkt = xmalloc(sizeof(real) * ((size_t)Lk * H + H)), *dd = kt; /* kt no longer needed */
        dk_blh(g, dkt, dd);
        for (int c = 0; c < H; c++) {
            if (g->dk)
                for (int j = 0; j < Lk; j++) g->dk[(size_t)(c / gr) * Lk + j] += dkt[(size_t)j * H + c];
            if (g->dD) g->dD[c / gr] += dd[c];
        }
        free(dkt);
    }
    free(kt);
}

/* BHL: parallel over kernel rows r; a row's thread handles every batch and
 * every channel of its group, so sums into dk[r], dD[r] need no reduction. */
static void bwd_bhl(const struct conv_bwd_args *g) {
    const struct conv_args *a = &g->f;
    int B = a->B, L = a->L, H = a->H, Lk = a->Lk, gr = a->group, rows = H / gr;
#pragma omp parallel for schedule(static) if (cpu_par(2 * work(a)))
    for (int r = 0; r < rows; r++) {
        const real *k = a->k + (size_t)r * Lk;
        real d = a->D ? a->D[r] : 0, dd = 0;
        real *dk = g->dk ? g->dk + (size_t)r * Lk : NULL;
        for (int b = 0; b < B; b++)
            for (int c = r * gr; c < (r + 1) * gr; c++) {
                size_t o = ((size_t)b * H + c) * L;
                const real *u = a->u + o, *dy = g->dy + o;
                if (g->du) {
                    real *du = g->du + o;
                    for (int s = 0; s < L; s++) du[s] = d * dy[s];
                    for (int j = 0; j < Lk; j++)
#pragma omp simd
                        for (int s = 0; s < L - j; s++) du[s] += k[j] * dy[s + j];
                }
                for (int t = 0; t < L; t++) dd += dy[t] * u[t];
                if (dk)
                    for (int j = 0; j < Lk; j++) {
                        real s = 0;
#pragma omp simd reduction(+ : s)
                        for (int t = j; t < L; t++) s += dy[t] * u[t - j];
                        dk[j] += s;
                    }
            }
        if (g->dD) g->dD[r] += dd;
    }
}

void cpu_conv_direct_bwd(const struct conv_bwd_args *g) {
    check_args(&g->f);
    if (cpu_conv_blh_fits(&g->f)) cpu_conv_blh_bwd(g);
    else if (bhl_via_blh(&g->f)) bwd_bhl_via_blh(g);
    else if (g->f.layout == CONV_BLH) bwd_blh(g);
    else bwd_bhl(g);
}

/* The dispatch (conv_table.h): the shape's direct kernel class picks a row;
 * FlashConv is the FFT engine when the row allows it for this H, FFTW
 * otherwise; direct while L * Lk <= ratio * n log2 n for that engine. */
static enum conv_kernel_class kernel_class(const struct conv_args *a) {
    if (cpu_conv_blh_fits(a)) return CONV_CLASS_BLH_BLOCKED;
    if (bhl_via_blh(a)) return CONV_CLASS_BHL_BLOCKED;
    return a->layout == CONV_BLH ? CONV_CLASS_BLH_LOOPS : CONV_CLASS_BHL_LOOPS;
}

enum cpu_conv_engine cpu_conv_path(const struct conv_args *a) {
    const struct conv_table *t = conv_table_active();
    const struct conv_rule *r = &t->rules[kernel_class(a)];
    bool flash = (a->H >= r->flash_min_H || (a->L <= t->short_L && a->H >= r->flash_min_H_short)) &&
                 a->L <= FB_MAX_N / 2;
    int n = flash ? fb_size_for(a->L) : cpu_conv_fft_size(a->L + a->Lk - 1);
    double ratio = flash ? (a->B == 1 ? r->ratio_flash_b1 : r->ratio_flash) : r->ratio_fftw;
    if ((double)a->L * a->Lk <= ratio * n * log2((double)n)) return CPU_CONV_DIRECT;
    return flash ? CPU_CONV_FLASH : CPU_CONV_FFTW;
}

const char *cpu_conv_path_name(const struct conv_args *a) {
    static const char *names[] = {"direct", "fftw", "flash"};
    return names[cpu_conv_path(a)];
}

bool cpu_conv_use_fft(const struct conv_args *a) { return cpu_conv_path(a) != CPU_CONV_DIRECT; }

void cpu_conv(const struct conv_args *a) {
    switch (cpu_conv_path(a)) {
    case CPU_CONV_DIRECT: cpu_conv_direct(a); break;
    case CPU_CONV_FFTW: cpu_conv_fft(a); break;
    default: cpu_conv_flash(a); break;
    }
}

void cpu_conv_bwd(const struct conv_bwd_args *g) {
    switch (cpu_conv_path(&g->f)) {
    case CPU_CONV_DIRECT: cpu_conv_direct_bwd(g); break;
    case CPU_CONV_FFTW: cpu_conv_fft_bwd(g); break;
    default: cpu_conv_flash_bwd(g); break;
    }
}
