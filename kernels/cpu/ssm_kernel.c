/* ssm_kernel.c — the diagonal SSM convolution kernel (bilinear or ZOH) by a
 * Vandermonde product over conjugate pairs, and its backward.
 *
 * All arithmetic is in double complex whatever `real` is. Powers Abar^l are
 * produced by repeated multiplication, re-anchored every SSM_ANCHOR steps
 * (bilinear: Abar^l by binary powering; ZOH: exp(l dt A)): the product's relative error grows by ~1 ulp (1e-16) per
 * step, so between anchors it stays below ~1e-14 — far inside float and the
 * f64 tests' tolerances — while costing one complex multiply per tap instead
 * of a complex exp. The backward needs sum_l dK_l z^l and its derivative in z,
 * which Horner's rule gives without any powers. */
#include "cpu.h"

#include <complex.h>
#include <math.h>
#include <string.h>

#define SSM_ANCHOR 64

/* Per-mode quantities of one (h, n): the discretised pole z = Abar, the
 * output coefficient Ct, and what the backward needs to chain through them. */
struct mode {
    double dt;
    double complex a, z, ct, q, bc; /* q: Ct = B*C*q; bc = B*C */
};

/* a / b written out: C's complex division calls a library routine (__divdc3)
 * for inf/NaN care that these finite, moderate values never need. */
static inline double complex cdiv(double complex a, double complex b) {
    double br = creal(b), bi = cimag(b), d = br * br + bi * bi;
    return ((creal(a) * br + cimag(a) * bi) + I * (cimag(a) * br - creal(a) * bi)) / d;
}

/* dt = exp(log_dt[h]), computed once per channel by the callers. */
static struct mode mode_at(const struct ssm_kernel_args *s, int h, int n, double dt) {
    struct mode m;
    int ar = s->a_rows == 1 ? 0 : h;
    m.dt = dt;
    m.a = s->A_re[ar * s->N2 + n] + I * (double)s->A_im[ar * s->N2 + n];
    double complex x = m.dt * m.a;
    if (s->disc == SSM_BILINEAR) {
        m.z = cdiv(1.0 + x / 2, 1.0 - x / 2);
        m.q = cdiv(m.dt, 1.0 - x / 2);
    } else {
        m.z = cexp(x);
        m.q = cdiv(m.z - 1.0, m.a);
    }
    size_t o = ((size_t)h * s->N2 + n) * 2;
    double complex c = s->C[o] + I * (double)s->C[o + 1];
    double complex b = s->B ? s->B[o] + I * (double)s->B[o + 1] : 1.0;
    m.bc = b * c;
    m.ct = m.bc * m.q;
    return m;
}


/* Modes of one channel in split re/im arrays so the loops over n vectorise
 * (plain complex multiplies compile to scalar code with NaN fix-ups). */
enum { SSM_NMAX = 1024 };

struct modes {
    double zr[SSM_NMAX], zi[SSM_NMAX]; /* Abar */
    double wr[SSM_NMAX], wi[SSM_NMAX]; /* running Ct * Abar^l */
};

/* The bilinear modes of channel h in split arrays, for all n in one loop that
 * vectorises (the scalar mode_at per mode, with complex types, was most of
 * the kernel's cost at N2 = 32, L = 31). Same formulas as mode_at. */
struct bil {
    double dr[SSM_NMAX], di[SSM_NMAX];   /* d = 1 - dt A / 2 */
    double zr[SSM_NMAX], zi[SSM_NMAX];   /* Abar = (1 + dt A / 2) / d */
    double qr[SSM_NMAX], qi[SSM_NMAX];   /* dt / d */
    double bcr[SSM_NMAX], bci[SSM_NMAX]; /* B C */
    double ctr[SSM_NMAX], cti[SSM_NMAX]; /* B C q */
};

static void bil_modes(const struct ssm_kernel_args *s, int h, double dt, struct bil *m) {
    const int N2 = s->N2;
    const real *Ar = s->A_re + (s->a_rows == 1 ? 0 : (size_t)h * N2), *Ai = s->A_im + (s->a_rows == 1 ? 0 : (size_t)h * N2);
    const real *C = s->C + (size_t)h * N2 * 2, *B = s->B ? s->B + (size_t)h * N2 * 2 : NULL;
    /* B C first, in loops without branches (a conditional load stops the vectoriser) */
    if (B) {
#pragma omp simd
        for (int n = 0; n < N2; n++) {
            double br = B[2 * n], bi = B[2 * n + 1], cr = C[2 * n], ci = C[2 * n + 1];
            m->bcr[n] = br * cr - bi * ci, m->bci[n] = br * ci + bi * cr;
        }
    } else {
        for (int n = 0; n < N2; n++) m->bcr[n] = C[2 * n], m->bci[n] = C[2 * n + 1];
    }
#pragma omp simd
    for (int n = 0; n < N2; n++) {
        double xr = dt * Ar[n], xi = dt * (double)Ai[n];
        double dr = 1.0 - xr / 2, di = -(xi / 2), nr = 1.0 + xr / 2, ni = xi / 2;
        double den = dr * dr + di * di;
        m->dr[n] = dr, m->di[n] = di;
        m->zr[n] = (nr * dr + ni * di) / den, m->zi[n] = (ni * dr - nr * di) / den;
        double qr = dt * dr / den, qi = -(dt * di) / den, bcr = m->bcr[n], bci = m->bci[n];
        m->qr[n] = qr, m->qi[n] = qi;
        m->ctr[n] = bcr * qr - bci * qi, m->cti[n] = bcr * qi + bci * qr;
    }
}

/* p (=) z^l for every mode by binary powering (about 2 log2 l complex
 * products, so ~1e-15 relative: what an anchor needs), vectorised over n. */
static void bil_power(int N2, const double *zr, const double *zi, int l, double *restrict pr, double *restrict pi,
                      double *restrict br, double *restrict bi) {
    for (int n = 0; n < N2; n++) pr[n] = 1, pi[n] = 0, br[n] = zr[n], bi[n] = zi[n];
    for (int e = l; e; e >>= 1) {
        if (e & 1) {
#pragma omp simd
            for (int n = 0; n < N2; n++) {
                double r = pr[n] * br[n] - pi[n] * bi[n];
                pi[n] = pr[n] * bi[n] + pi[n] * br[n], pr[n] = r;
            }
        }
#pragma omp simd
        for (int n = 0; n < N2; n++) {
            double r = br[n] * br[n] - bi[n] * bi[n];
            bi[n] = 2 * br[n] * bi[n], br[n] = r;
        }
    }
}

/* The running products at an anchor l: w = Ct Abar^l. Bilinear modes in one
 * vectorised pass (Abar^l by binary powering; the scalar exp(l log Abar) per
 * mode cost more than the whole kernel at L 128); ZOH through mode_at,
 * Abar^l = exp(l dt A) directly. */
static void modes_anchor(const struct ssm_kernel_args *s, int h, int l, struct modes *ms) {
    double dt = exp((double)s->log_dt[h]);
    const int N2 = s->N2;
    if (s->disc == SSM_BILINEAR) {
        struct bil *m = cpu_scratch(SCRATCH_SSM_MODE_CACHE, sizeof *m);
        bil_modes(s, h, dt, m);
        memcpy(ms->zr, m->zr, sizeof(double) * N2), memcpy(ms->zi, m->zi, sizeof(double) * N2);
        if (l == 0) {
            memcpy(ms->wr, m->ctr, sizeof(double) * N2), memcpy(ms->wi, m->cti, sizeof(double) * N2);
            return;
        }
        double *pr = m->qr, *pi = m->qi, *br = m->dr, *bi = m->di; /* free in the forward */
        bil_power(N2, m->zr, m->zi, l, pr, pi, br, bi);
        for (int n = 0; n < N2; n++) {
            ms->wr[n] = m->ctr[n] * pr[n] - m->cti[n] * pi[n];
            ms->wi[n] = m->ctr[n] * pi[n] + m->cti[n] * pr[n];
        }
        return;
    }
    for (int n = 0; n < N2; n++) {
        struct mode m = mode_at(s, h, n, dt);
        double complex w = m.ct * (l ? cexp(l * (m.dt * m.a)) : 1.0);
        ms->zr[n] = creal(m.z), ms->zi[n] = cimag(m.z);
        ms->wr[n] = creal(w), ms->wi[n] = cimag(w);
    }
}

/* Eight doubles: one 64-byte vector, the unit of the register-blocked loops. */
typedef double dvec __attribute__((vector_size(64)));
enum { DV = 8 };

static inline dvec dv_load(const double *p) {
    dvec v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void dv_store(double *p, dvec v) { memcpy(p, &v, sizeof v); }

/* kernel_row for N2 = DV * NB modes with the running products in registers
 * across the taps of an anchor span: with arrays in memory each tap's update
 * went through a store and a reload on the critical path. NB is a constant
 * after inlining. */
static inline __attribute__((always_inline)) void kernel_row_reg(const struct ssm_kernel_args *s, int h,
                                                                 struct modes *ms, const int NB) {
    const int L = s->L;
    for (int l0 = 0; l0 < L; l0 += SSM_ANCHOR) {
        modes_anchor(s, h, l0, ms);
        dvec zr[8], zi[8], wr[8], wi[8];
        for (int k = 0; k < NB; k++) {
            zr[k] = dv_load(ms->zr + DV * k), zi[k] = dv_load(ms->zi + DV * k);
            wr[k] = dv_load(ms->wr + DV * k), wi[k] = dv_load(ms->wi + DV * k);
        }
        int l1 = L - l0 < SSM_ANCHOR ? L : l0 + SSM_ANCHOR;
        for (int l = l0; l < l1; l++) {
            dvec acc = wr[0];
            for (int k = 1; k < NB; k++) acc += wr[k];
            for (int k = 0; k < NB; k++) {
                dvec r = wr[k] * zr[k] - wi[k] * zi[k];
                wi[k] = wr[k] * zi[k] + wi[k] * zr[k], wr[k] = r;
            }
            double sum = 0;
            for (int j = 0; j < DV; j++) sum += acc[j];
            s->K[(size_t)h * L + l] = (real)(2.0 * sum);
        }
    }
}

static void kernel_row(const struct ssm_kernel_args *s, int h, struct modes *ms) {
    const int L = s->L, N2 = s->N2;
    switch (N2) { /* d_state 16, 32, 64, 128: the common sizes */
    case 8: kernel_row_reg(s, h, ms, 1); return;
    case 16: kernel_row_reg(s, h, ms, 2); return;
    case 32: kernel_row_reg(s, h, ms, 4); return;
    case 64: kernel_row_reg(s, h, ms, 8); return;
    default: break;
    }
    double *restrict zr = ms->zr, *restrict zi = ms->zi, *restrict wr = ms->wr, *restrict wi = ms->wi;
    for (int l = 0; l < L; l++) {
        if (l % SSM_ANCHOR == 0) modes_anchor(s, h, l, ms);
        double acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int n = 0; n < N2; n++) {
            acc += wr[n];
            double r = wr[n] * zr[n] - wi[n] * zi[n];
            wi[n] = wr[n] * zi[n] + wi[n] * zr[n];
            wr[n] = r;
        }
        s->K[(size_t)h * L + l] = (real)(2.0 * acc);
    }
}

void cpu_ssm_kernel(const struct ssm_kernel_args *s) {
    HP_CHECK(s->H > 0 && s->N2 > 0 && s->N2 <= SSM_NMAX && s->L > 0 && (s->a_rows == 1 || s->a_rows == s->H));
#pragma omp parallel if (cpu_par(8.0 * s->H * s->N2 * s->L))
    {
        struct modes *ms = cpu_scratch(SCRATCH_SSM_MODES, sizeof *ms);
#pragma omp for schedule(static)
        for (int h = 0; h < s->H; h++) kernel_row(s, h, ms);
    }
}

/* S0[n] = sum_l dK_l z_n^l and S1[n] = sum_l dK_l l z_n^(l-1) = S0'(z_n) for
 * every mode of channel h, by Horner's rule for the polynomial and its
 * derivative together (backward stable; no powers stored), vectorised over n.
 * z in (zr, zi); results in split arrays S = (S0r, S0i, S1r, S1i), each N2. */
/* power_sums for N2 = DV * NB with the Horner state in registers (see kernel_row_reg). */
static inline __attribute__((always_inline)) void power_sums_reg(const real *dK, int L, const double *zr_,
                                                                 const double *zi_, double *S, const int NB) {
    const int N2 = DV * NB;
    dvec zr[8], zi[8], br[8], bi[8], dr[8], di[8];
    for (int k = 0; k < NB; k++) {
        zr[k] = dv_load(zr_ + DV * k), zi[k] = dv_load(zi_ + DV * k);
        br[k] = (dvec){0} + (double)dK[L - 1], bi[k] = (dvec){0}, dr[k] = (dvec){0}, di[k] = (dvec){0};
    }
    for (int l = L - 2; l >= 0; l--) {
        const double c = dK[l];
        for (int k = 0; k < NB; k++) {
            dvec ndr = dr[k] * zr[k] - di[k] * zi[k] + br[k], ndi = dr[k] * zi[k] + di[k] * zr[k] + bi[k];
            dvec nbr = br[k] * zr[k] - bi[k] * zi[k] + c, nbi = br[k] * zi[k] + bi[k] * zr[k];
            dr[k] = ndr, di[k] = ndi, br[k] = nbr, bi[k] = nbi;
        }
    }
    for (int k = 0; k < NB; k++) {
        dv_store(S + DV * k, br[k]), dv_store(S + N2 + DV * k, bi[k]);
        dv_store(S + 2 * N2 + DV * k, dr[k]), dv_store(S + 3 * N2 + DV * k, di[k]);
    }
}

static void power_sums(const struct ssm_kernel_bwd_args *g, int h, const double *zr, const double *zi,
                       struct modes *ms, double *S) {
    const struct ssm_kernel_args *s = &g->f;
    const int N2 = s->N2, L = s->L;
    const real *dK = g->dK + (size_t)h * L;
    switch (N2) {
    case 8: power_sums_reg(dK, L, zr, zi, S, 1); return;
    case 16: power_sums_reg(dK, L, zr, zi, S, 2); return;
    case 32: power_sums_reg(dK, L, zr, zi, S, 4); return;
    case 64: power_sums_reg(dK, L, zr, zi, S, 8); return;
    default: break;
    }
    double *restrict br = ms->wr, *restrict bi = ms->wi, *restrict dr = ms->zr, *restrict di = ms->zi;
    for (int n = 0; n < N2; n++) br[n] = dK[L - 1], bi[n] = 0, dr[n] = 0, di[n] = 0;
    for (int l = L - 2; l >= 0; l--) {
        const double c = dK[l];
#pragma omp simd
        for (int n = 0; n < N2; n++) {
            double ndr = dr[n] * zr[n] - di[n] * zi[n] + br[n], ndi = dr[n] * zi[n] + di[n] * zr[n] + bi[n];
            double nbr = br[n] * zr[n] - bi[n] * zi[n] + c, nbi = br[n] * zi[n] + bi[n] * zr[n];
            dr[n] = ndr, di[n] = ndi, br[n] = nbr, bi[n] = nbi;
        }
    }
    memcpy(S, br, sizeof(double) * N2), memcpy(S + N2, bi, sizeof(double) * N2);
    memcpy(S + 2 * N2, dr, sizeof(double) * N2), memcpy(S + 3 * N2, di, sizeof(double) * N2);
}

/* Gradients of one (h, n) mode from its power sums; returns the A gradient and
 * adds dlog_dt (into *gdt), dB, dC. Complex gradients are g = dL/dRe + i dL/dIm;
 * through a holomorphic w = f(v), g_v = g_w * conj(f'(v)); for a real r,
 * dL/dr = Re(g_w * conj(dw/dr)). */
static double complex mode_bwd(const struct ssm_kernel_bwd_args *g, int h, int n, const struct mode *mp,
                               double complex S0, double complex S1, double *gdt) {
    const struct ssm_kernel_args *s = &g->f;
    const struct mode m = *mp;
    double complex g_ct = 2.0 * conj(S0);     /* K = 2 Re(ct * z^l) */
    double complex g_z = conj(2.0 * m.ct * S1);
    double complex g_q = g_ct * conj(m.bc);
    size_t o = ((size_t)h * s->N2 + n) * 2;
    if (g->dC) {
        double complex b = s->B ? s->B[o] + I * (double)s->B[o + 1] : 1.0;
        double complex gc = g_ct * conj(b * m.q);
        g->dC[o] += (real)creal(gc);
        g->dC[o + 1] += (real)cimag(gc);
    }
    if (g->dB && s->B) {
        double complex c = s->C[o] + I * (double)s->C[o + 1];
        double complex gb = g_ct * conj(c * m.q);
        g->dB[o] += (real)creal(gb);
        g->dB[o + 1] += (real)cimag(gb);
    }
    double complex x = m.dt * m.a, dz_da, dz_ddt, dq_da, dq_ddt;
    if (s->disc == SSM_BILINEAR) {
        double complex w = cdiv(1.0, (1.0 - x / 2) * (1.0 - x / 2)); /* dz/dx */
        dz_da = w * m.dt;
        dz_ddt = w * m.a;
        dq_da = w * m.dt * m.dt / 2;
        dq_ddt = w;
    } else {
        dz_da = m.z * m.dt;
        dz_ddt = m.z * m.a;
        dq_da = cdiv(m.z * x - (m.z - 1.0), m.a * m.a);
        dq_ddt = m.z;
    }
    *gdt += creal(g_z * conj(dz_ddt)) + creal(g_q * conj(dq_ddt));
    return g_z * conj(dz_da) + g_q * conj(dq_da);
}

/* mode_bwd for every bilinear mode of channel h at once (split arrays; the
 * same formulas written out in real arithmetic so the loop vectorises):
 * w = 1/d^2 = dz/dx; dz/dA = w dt, dz/ddt = w A, dq/dA = w dt^2/2, dq/ddt = w.
 * A's gradient goes to (gar, gai); returns the dt gradient of the channel.
 * S (the power sums) is consumed: its S0 half is overwritten. */
/* dC += g_ct conj(B q) and dB += g_ct conj(C q) for channel h, each a loop
 * without branches (B absent: B = 1). */
static void bil_bwd_bc(const struct ssm_kernel_bwd_args *g, int h, const struct bil *m, const double *gcr,
                       const double *gci) {
    const struct ssm_kernel_args *s = &g->f;
    const int N2 = s->N2;
    const real *C = s->C + (size_t)h * N2 * 2, *B = s->B ? s->B + (size_t)h * N2 * 2 : NULL;
    real *dC = g->dC ? g->dC + (size_t)h * N2 * 2 : NULL, *dB = g->dB && B ? g->dB + (size_t)h * N2 * 2 : NULL;
    if (dC && B) {
#pragma omp simd
        for (int n = 0; n < N2; n++) {
            double ur = B[2 * n] * m->qr[n] - B[2 * n + 1] * m->qi[n], ui = B[2 * n] * m->qi[n] + B[2 * n + 1] * m->qr[n];
            dC[2 * n] += (real)(gcr[n] * ur + gci[n] * ui), dC[2 * n + 1] += (real)(gci[n] * ur - gcr[n] * ui);
        }
    } else if (dC) {
#pragma omp simd
        for (int n = 0; n < N2; n++) {
            double ur = m->qr[n], ui = m->qi[n];
            dC[2 * n] += (real)(gcr[n] * ur + gci[n] * ui), dC[2 * n + 1] += (real)(gci[n] * ur - gcr[n] * ui);
        }
    }
    if (dB) {
#pragma omp simd
        for (int n = 0; n < N2; n++) {
            double ur = C[2 * n] * m->qr[n] - C[2 * n + 1] * m->qi[n], ui = C[2 * n] * m->qi[n] + C[2 * n + 1] * m->qr[n];
            dB[2 * n] += (real)(gcr[n] * ur + gci[n] * ui), dB[2 * n + 1] += (real)(gci[n] * ur - gcr[n] * ui);
        }
    }
}

static double bil_bwd(const struct ssm_kernel_bwd_args *g, int h, double dt, const struct bil *m, double *S,
                      double *restrict gar, double *restrict gai) {
    const struct ssm_kernel_args *s = &g->f;
    const int N2 = s->N2;
    const real *Ar = s->A_re + (s->a_rows == 1 ? 0 : (size_t)h * N2), *Ai = s->A_im + (s->a_rows == 1 ? 0 : (size_t)h * N2);
    double *restrict gcr = S, *restrict gci = S + N2; /* S0, overwritten by g_ct = 2 conj(S0) */
    const double *s1r = S + 2 * N2, *s1i = S + 3 * N2;
    double gdt = 0;
#pragma omp simd reduction(+ : gdt)
    for (int n = 0; n < N2; n++) {
        double gctr = 2 * gcr[n], gcti = -2 * gci[n];
        double tr = m->ctr[n] * s1r[n] - m->cti[n] * s1i[n], ti = m->ctr[n] * s1i[n] + m->cti[n] * s1r[n];
        double gzr = 2 * tr, gzi = -2 * ti; /* g_z = conj(2 ct S1) */
        double gqr = gctr * m->bcr[n] + gcti * m->bci[n], gqi = gcti * m->bcr[n] - gctr * m->bci[n];
        double pr = m->dr[n] * m->dr[n] - m->di[n] * m->di[n], pi = 2 * m->dr[n] * m->di[n]; /* d^2 */
        double pd = pr * pr + pi * pi, wr = pr / pd, wi = -pi / pd;                          /* w = 1/d^2 */
        double ar = Ar[n], ai = Ai[n], war = wr * ar - wi * ai, wai = wr * ai + wi * ar;     /* w A */
        gdt += gzr * war + gzi * wai + gqr * wr + gqi * wi; /* Re(g_z conj(w A)) + Re(g_q conj(w)) */
        double vr = gzr * dt + gqr * dt * dt / 2, vi = gzi * dt + gqi * dt * dt / 2;
        gar[n] = vr * wr + vi * wi, gai[n] = vi * wr - vr * wi; /* (g_z dt + g_q dt^2/2) conj(w) */
        gcr[n] = gctr, gci[n] = gcti;
    }
    bil_bwd_bc(g, h, m, gcr, gci);
    return gdt;
}

/* Parallel over h. A's gradient goes to a per-h scratch row first and rows are
 * summed in h order, so shared A (a_rows = 1) gives a fixed result. */
void cpu_ssm_kernel_bwd(const struct ssm_kernel_bwd_args *g) {
    const struct ssm_kernel_args *s = &g->f;
    int H = s->H, N2 = s->N2;
    HP_CHECK(H > 0 && N2 > 0 && s->L > 0 && (s->a_rows == 1 || s->a_rows == H));
    HP_CHECK(N2 <= SSM_NMAX);
    double complex *ga = cpu_scratch(SCRATCH_SSM_GRAD_A, sizeof(double complex) * H * N2);
#pragma omp parallel if (cpu_par(12.0 * H * N2 * s->L))
    {
        struct modes *ms = cpu_scratch(SCRATCH_SSM_MODES, sizeof *ms);
        double *S = cpu_scratch(SCRATCH_SSM_SUMS, sizeof(double) * 6 * N2); /* sums; A gradient (re, im) */
        struct bil *bm = cpu_scratch(SCRATCH_SSM_MODE_CACHE, sizeof *bm > sizeof(struct mode) * N2 ? sizeof *bm
                                                                                                 : sizeof(struct mode) * N2);
        struct mode *md = (struct mode *)bm; /* the same slot: one path per call */
#pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            double gdt = 0, dt = exp((double)s->log_dt[h]), *gr = S + 4 * N2, *gi = S + 5 * N2;
            if (s->disc == SSM_BILINEAR) {
                bil_modes(s, h, dt, bm);
                power_sums(g, h, bm->zr, bm->zi, ms, S);
                gdt = bil_bwd(g, h, dt, bm, S, gr, gi);
                for (int n = 0; n < N2; n++) ga[(size_t)h * N2 + n] = gr[n] + I * gi[n];
            } else {
                double *zr = gr, *zi = gi; /* free until the gradients are written */
                for (int n = 0; n < N2; n++) md[n] = mode_at(s, h, n, dt), zr[n] = creal(md[n].z), zi[n] = cimag(md[n].z);
                power_sums(g, h, zr, zi, ms, S);
                for (int n = 0; n < N2; n++)
                    ga[(size_t)h * N2 + n] = mode_bwd(g, h, n, &md[n], S[n] + I * S[N2 + n],
                                                      S[2 * N2 + n] + I * S[3 * N2 + n], &gdt);
            }
            if (g->dlog_dt) g->dlog_dt[h] += (real)(gdt * dt);
        }
    }
    int rows = s->a_rows;
    for (int r = 0; r < rows; r++)
        for (int n = 0; n < N2; n++) {
            double complex sum = 0;
            for (int h = (rows == 1 ? 0 : r); h < (rows == 1 ? H : r + 1); h++) sum += ga[(size_t)h * N2 + n];
            if (g->dA_re) g->dA_re[r * N2 + n] += (real)creal(sum);
            if (g->dA_im) g->dA_im[r * N2 + n] += (real)cimag(sum);
        }
}
