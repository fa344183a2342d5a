/* conv_fft.c — causal long convolution by FFT (FFTW, float or double per
 * `real`), for long sequences with long kernels.
 *
 * Linear (not circular) convolution: signals are zero-padded to n >= L+Lk-1,
 * so y = irfft(rfft(u) * rfft(k))[:L] / n has no wrap-around. The backward uses
 * the same padding: du = irfft(conj(K) * DY)[:L] / n (a correlation, which
 * reaches forward in time) and dk = irfft(sum conj(U) * DY)[:Lk] / n.
 * Work is split over kernel rows (the `group` channels sharing one row stay on
 * one thread), so gradient sums need no cross-thread reduction.
 * Plans use FFTW_ESTIMATE: MEASURE may choose a different algorithm in each
 * process, which would make results differ run to run in the last bits. */
#include "cpu.h"

#include <fftw3.h>
#include <string.h>

#ifdef HIPPO_F64
#define FFTW(name) fftw_##name
typedef fftw_complex cpx;
typedef fftw_plan plan_t;
#else
#define FFTW(name) fftwf_##name
typedef fftwf_complex cpx;
typedef fftwf_plan plan_t;
#endif

struct fft_plans {
    int n;
    plan_t r2c, c2r;
};

#define PLAN_CACHE 64
static struct fft_plans plan_cache[PLAN_CACHE];
static int plan_count;

/* Plans for size n, created once. FFTW's planner is not thread-safe, so lookup
 * and creation run in one named critical section; execution (new-array
 * execute) is thread-safe. Arrays are 64-byte aligned like all xmalloc ones. */
static struct fft_plans plans_for(int n) {
    struct fft_plans p = {0};
#pragma omp critical(hippo_fftw_planner)
    {
        for (int i = 0; i < plan_count && !p.n; i++)
            if (plan_cache[i].n == n) p = plan_cache[i];
        if (!p.n) {
            HP_CHECK(plan_count < PLAN_CACHE);
            real *x = xmalloc(sizeof(real) * n);
            cpx *X = xmalloc(sizeof(cpx) * (n / 2 + 1));
            p.n = n;
            p.r2c = FFTW(plan_dft_r2c_1d)(n, x, X, FFTW_ESTIMATE);
            p.c2r = FFTW(plan_dft_c2r_1d)(n, X, x, FFTW_ESTIMATE);
            HP_CHECK(p.r2c && p.c2r);
            plan_cache[plan_count++] = p;
            free(x);
            free(X);
        }
    }
    return p;
}

/* Smallest n >= m of the form 2^a or 3 * 2^a: with ESTIMATE plans, sizes
 * with factors of 5 or 9 measured up to 2x slower than the next power of
 * two (kernels/cpu/CONV.md). */
int cpu_conv_fft_size(int m) {
    int n = 1;
    while (n < m) n *= 2;
    return n / 4 * 3 >= m && n >= 4 ? n / 4 * 3 : n;
}

/* Element t of channel c in batch b, per layout. */
static size_t at(const struct conv_args *a, int b, int c, int t) {
    return a->layout == CONV_BLH ? ((size_t)b * a->L + t) * a->H + c : ((size_t)b * a->H + c) * a->L + t;
}

/* Per-thread scratch: a padded real signal and two spectra. */
struct scratch {
    real *x;
    cpx *X, *Y;
};

static struct scratch scratch_new(int n) {
    struct scratch s = {
        .x = xmalloc(sizeof(real) * n),
        .X = xmalloc(sizeof(cpx) * (n / 2 + 1)),
        .Y = xmalloc(sizeof(cpx) * (n / 2 + 1)),
    };
    return s;
}

static void scratch_free(struct scratch *s) {
    free(s->x);
    free(s->X);
    free(s->Y);
}

/* X = rfft(zero-padded channel (b, c) of v). */
static void load_spectrum(const struct conv_args *a, const real *v, int b, int c, struct fft_plans p, real *x,
                          cpx *X) {
    for (int t = 0; t < a->L; t++) x[t] = v[at(a, b, c, t)];
    memset(x + a->L, 0, sizeof(real) * (p.n - a->L));
    FFTW(execute_dft_r2c)(p.r2c, x, X);
}

/* Row stride of the kernel spectra: n/2+1 rounded up to 8 complex values
 * (64 bytes or more), so every row keeps the alignment the plans were made
 * with — new-array execute requires it (a misaligned row crashed at n = 32). */
static int spec_stride(int n) { return (n / 2 + 1 + 7) / 8 * 8; }

/* Kf[r] = rfft(zero-padded k[r]) / n for every kernel row: (rows, spec_stride). */
static cpx *kernel_spectra(const struct conv_args *a, struct fft_plans p) {
    int rows = a->H / a->group, nf = p.n / 2 + 1, ns = spec_stride(p.n);
    cpx *Kf = xmalloc(sizeof(cpx) * (size_t)rows * ns);
    real *x = xmalloc(sizeof(real) * p.n);
    for (int r = 0; r < rows; r++) {
        memcpy(x, a->k + (size_t)r * a->Lk, sizeof(real) * a->Lk);
        memset(x + a->Lk, 0, sizeof(real) * (p.n - a->Lk));
        cpx *K = Kf + (size_t)r * ns;
        FFTW(execute_dft_r2c)(p.r2c, x, K);
        for (int f = 0; f < nf; f++) {
            K[f][0] /= p.n;
            K[f][1] /= p.n;
        }
    }
    free(x);
    return Kf;
}

static void check_args(const struct conv_args *a) {
    HP_CHECK(a->B >= 0 && a->L > 0 && a->H > 0 && a->group >= 1 && a->H % a->group == 0);
    HP_CHECK(a->Lk >= 1 && a->Lk <= a->L);
}

static double fft_work(const struct conv_args *a, int n) { return 10.0 * a->B * a->H * (double)n; }

void cpu_conv_fft(const struct conv_args *a) {
    check_args(a);
    struct fft_plans p = plans_for(cpu_conv_fft_size(a->L + a->Lk - 1));
    int rows = a->H / a->group, nf = p.n / 2 + 1;
    cpx *Kf = kernel_spectra(a, p);
#pragma omp parallel if (cpu_par(fft_work(a, p.n)))
    {
        struct scratch s = scratch_new(p.n);
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            const cpx *K = Kf + (size_t)r * spec_stride(p.n);
            real d = a->D ? a->D[r] : 0;
            for (int b = 0; b < a->B; b++)
                for (int c = r * a->group; c < (r + 1) * a->group; c++) {
                    load_spectrum(a, a->u, b, c, p, s.x, s.X);
                    for (int f = 0; f < nf; f++) {
                        real re = s.X[f][0] * K[f][0] - s.X[f][1] * K[f][1];
                        real im = s.X[f][0] * K[f][1] + s.X[f][1] * K[f][0];
                        s.X[f][0] = re;
                        s.X[f][1] = im;
                    }
                    FFTW(execute_dft_c2r)(p.c2r, s.X, s.x);
                    for (int t = 0; t < a->L; t++) {
                        size_t i = at(a, b, c, t);
                        a->y[i] = s.x[t] + d * a->u[i];
                    }
                }
        }
        scratch_free(&s);
    }
    free(Kf);
}

/* One channel's backward: du (when wanted), and adds conj(U) * DY into G
 * (when dk is wanted) and dy.u into *dd. */
static void channel_bwd(const struct conv_bwd_args *g, int b, int c, struct fft_plans p, const cpx *K, real d,
                        struct scratch *s, cpx *G, real *dd) {
    const struct conv_args *a = &g->f;
    int nf = p.n / 2 + 1;
    load_spectrum(a, g->dy, b, c, p, s->x, s->Y);
    for (int t = 0; t < a->L; t++) {
        size_t i = at(a, b, c, t);
        *dd += g->dy[i] * a->u[i];
    }
    if (G) {
        load_spectrum(a, a->u, b, c, p, s->x, s->X);
        for (int f = 0; f < nf; f++) { /* G += conj(U) * DY */
            G[f][0] += s->X[f][0] * s->Y[f][0] + s->X[f][1] * s->Y[f][1];
            G[f][1] += s->X[f][0] * s->Y[f][1] - s->X[f][1] * s->Y[f][0];
        }
    }
    if (g->du) {
        for (int f = 0; f < nf; f++) { /* X = conj(K) * DY  (K already / n) */
            s->X[f][0] = K[f][0] * s->Y[f][0] + K[f][1] * s->Y[f][1];
            s->X[f][1] = K[f][0] * s->Y[f][1] - K[f][1] * s->Y[f][0];
        }
        FFTW(execute_dft_c2r)(p.c2r, s->X, s->x);
        for (int t = 0; t < a->L; t++) {
            size_t i = at(a, b, c, t);
            g->du[i] = s->x[t] + d * g->dy[i];
        }
    }
}

void cpu_conv_fft_bwd(const struct conv_bwd_args *g) {
    const struct conv_args *a = &g->f;
    check_args(a);
    struct fft_plans p = plans_for(cpu_conv_fft_size(a->L + a->Lk - 1));
    int rows = a->H / a->group, nf = p.n / 2 + 1;
    cpx *Kf = kernel_spectra(a, p);
#pragma omp parallel if (cpu_par(2 * fft_work(a, p.n)))
    {
        struct scratch s = scratch_new(p.n);
        cpx *G = g->dk ? xmalloc(sizeof(cpx) * nf) : NULL;
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            real d = a->D ? a->D[r] : 0, dd = 0;
            if (G) memset(G, 0, sizeof(cpx) * nf);
            for (int b = 0; b < a->B; b++)
                for (int c = r * a->group; c < (r + 1) * a->group; c++)
                    channel_bwd(g, b, c, p, Kf + (size_t)r * spec_stride(p.n), d, &s, G, &dd);
            if (G) {
                FFTW(execute_dft_c2r)(p.c2r, G, s.x);
                for (int j = 0; j < a->Lk; j++) g->dk[(size_t)r * a->Lk + j] += s.x[j] / p.n;
            }
            if (g->dD) g->dD[r] += dd;
        }
        free(G);
        scratch_free(&s);
    }
    free(Kf);
}
