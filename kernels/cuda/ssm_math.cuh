/* ssm_math.cuh — the diagonal SSM's per-mode arithmetic on the GPU (HD:
 * compiled into kernels/cuda/ssm_kernel.cu and ssm_conv.cu and into
 * tests/test_cuda_math.c): discretisation, the Vandermonde taps, the power
 * sums of the backward and each mode's gradients, all in double.
 *
 * Powers are z^l = exp(l log z) in double, one complex exp per (mode, tap):
 * no running product, so every tap is independent (a thread per tap) and its
 * error does not grow along the sequence — relative ~l ulp of the angle, 1e-10
 * at l = 1e6, far inside float (h3.md: long-L powers need double). The
 * formulas are those of kernels/cpu/ssm_kernel.c (mode_at, mode_bwd). */
#ifndef HIPPO_CUDA_SSM_MATH_CUH
#define HIPPO_CUDA_SSM_MATH_CUH

#include "hd.cuh"

/* One mode (h, n): the discrete pole z = Abar and its log, the output
 * coefficient Ct; and for the backward the continuous pole, dt, q (Ct = B C
 * q) and B C. */
struct ssm_mode {
    cd z, lz, ct;
    cd a, q, bc;
    double dt;
};

/* Mode from (dt, A, B C) by bilinear (zoh false) or zero-order hold:
 *   bilinear: z = (1 + x/2) / (1 - x/2),  q = dt / (1 - x/2)
 *   zoh:      z = exp(x),                 q = (z - 1) / A         (x = dt A) */
HD struct ssm_mode ssm_mode_make(double dt, cd a, cd bc, bool zoh) {
    struct ssm_mode m;
    cd x = cd_scale(a, dt), one = cd_make(1, 0);
    if (zoh) {
        m.z = cd_exp(x);
        m.q = cd_div(cd_sub(m.z, one), a);
    } else {
        cd d = cd_sub(one, cd_scale(x, 0.5));
        m.z = cd_div(cd_add(one, cd_scale(x, 0.5)), d);
        m.q = cd_div(cd_make(dt, 0), d);
    }
    m.lz = cd_log(m.z);
    m.a = a, m.bc = bc, m.dt = dt;
    m.ct = cd_mul(bc, m.q);
    return m;
}

/* The parameters ops.h's ssm_kernel reads (device pointers on the GPU). */
struct ssm_params {
    int H, N2, a_rows;
    bool zoh;
    const float *log_dt, *A_re, *A_im; /* (H), (a_rows, N2) x 2 */
    const float *B, *C;                /* (H, N2, 2) complex; B may be NULL (= 1) */
};

/* B and C of mode (h, n). */
HD cd ssm_b_at(const struct ssm_params *p, int h, int n) {
    size_t o = ((size_t)h * p->N2 + n) * 2;
    return p->B ? cd_make(p->B[o], p->B[o + 1]) : cd_make(1, 0);
}
HD cd ssm_c_at(const struct ssm_params *p, int h, int n) {
    size_t o = ((size_t)h * p->N2 + n) * 2;
    return cd_make(p->C[o], p->C[o + 1]);
}

/* Mode (h, n) of the layer's parameters. */
HD struct ssm_mode ssm_mode_at(const struct ssm_params *p, int h, int n) {
    size_t ar = (size_t)(p->a_rows == 1 ? 0 : h) * p->N2 + n;
    return ssm_mode_make(exp((double)p->log_dt[h]), cd_make(p->A_re[ar], p->A_im[ar]),
                         cd_mul(ssm_b_at(p, h, n), ssm_c_at(p, h, n)), p->zoh);
}

/* Mode from a discrete pole and coefficient given directly (state passing). */
HD struct ssm_mode ssm_mode_discrete(cd z, cd ct) {
    struct ssm_mode m;
    m.z = z, m.lz = cd_log(z), m.ct = ct;
    m.a = m.q = m.bc = cd_make(0, 0), m.dt = 0;
    return m;
}

/* z^e = exp(e log z); z^0 = 1 exactly (also for z = 0). */
HD cd ssm_pow(const struct ssm_mode *m, long e) { return e == 0 ? cd_make(1, 0) : cd_exp(cd_scale(m->lz, (double)e)); }

/* Tap l of the kernel: 2 Re sum_n Ct_n z_n^l over the n2 modes of one row. */
HD double ssm_tap(const struct ssm_mode *m, int n2, long l) {
    double acc = 0;
    for (int n = 0; n < n2; n++) {
        cd w = cd_mul(m[n].ct, ssm_pow(&m[n], l));
        acc += w.re;
    }
    return 2 * acc;
}

/* Terms of tap l for the power sums of the backward:
 *   S0 += dk z^l,  S1 += l dk z^(l-1)   (S1 = dS0/dz). */
HD void ssm_sums_add(const struct ssm_mode *m, long l, double dk, cd *s0, cd *s1) {
    if (l == 0) {
        s0->re += dk;
        return;
    }
    cd p = ssm_pow(m, l - 1), zl = cd_mul(p, m->z);
    *s0 = cd_add(*s0, cd_scale(zl, dk));
    *s1 = cd_add(*s1, cd_scale(p, dk * (double)l));
}

/* The power sums of one mode over the L taps of a kernel-gradient row dk, as
 * a block program (hd.cuh): thread tid takes taps tid, tid + nt, ...; the
 * four real parts are summed by fixed trees. part: 4 nt doubles; out (=):
 * S0, S1. */
HD void ssm_sums_block(const struct ssm_mode *m, const float *dk, int L, double *part, int nt, cd *out) {
    BLOCK_PASS(cd s0 = cd_make(0, 0), s1 = cd_make(0, 0); for (int l = tid; l < L; l += nt) ssm_sums_add(m, l, dk[l], &s0, &s1);
               part[tid] = s0.re, part[nt + tid] = s0.im, part[2 * nt + tid] = s1.re, part[3 * nt + tid] = s1.im);
    for (int k = 0; k < 4; k++) block_sum(part + k * nt, nt);
    BLOCK_PASS(if (tid == 0) out[0] = cd_make(part[0], part[nt]), out[1] = cd_make(part[2 * nt], part[3 * nt]));
}

/* Gradients of one mode from its power sums (K_l = 2 Re(Ct z^l)).
 * Complex gradients are g = dL/dRe + i dL/dIm; through a holomorphic w = f(v),
 * g_v = g_w conj(f'(v)); for a real r, dL/dr = Re(g_w conj(dw/dr)).
 * b, c: the mode's B (1 when the layer has none) and C. Returns the gradient
 * of A; *gdt gets the dt gradient, *gb and *gc those of B and C. */
HD cd ssm_mode_grads(const struct ssm_mode *m, cd s0, cd s1, cd b, cd c, bool zoh, double *gdt, cd *gb, cd *gc) {
    cd one = cd_make(1, 0);
    cd g_ct = cd_scale(cd_conj(s0), 2);
    cd g_z = cd_conj(cd_scale(cd_mul(m->ct, s1), 2));
    cd g_q = cd_mul(g_ct, cd_conj(m->bc));
    *gc = cd_mul(g_ct, cd_conj(cd_mul(b, m->q)));
    *gb = cd_mul(g_ct, cd_conj(cd_mul(c, m->q)));
    cd x = cd_scale(m->a, m->dt), dz_da, dz_ddt, dq_da, dq_ddt;
    if (zoh) {
        dz_da = cd_scale(m->z, m->dt);
        dz_ddt = cd_mul(m->z, m->a);
        dq_da = cd_div(cd_sub(cd_mul(m->z, x), cd_sub(m->z, one)), cd_mul(m->a, m->a));
        dq_ddt = m->z;
    } else {
        cd d = cd_sub(one, cd_scale(x, 0.5));
        cd w = cd_div(one, cd_mul(d, d)); /* dz/dx */
        dz_da = cd_scale(w, m->dt);
        dz_ddt = cd_mul(w, m->a);
        dq_da = cd_scale(w, m->dt * m->dt / 2);
        dq_ddt = w;
    }
    *gdt = cd_mul(g_z, cd_conj(dz_ddt)).re + cd_mul(g_q, cd_conj(dq_ddt)).re;
    return cd_add(cd_mul(g_z, cd_conj(dz_da)), cd_mul(g_q, cd_conj(dq_da)));
}

/* The reductions after the per-mode gradients, each formed by one thread in
 * a fixed order: channel h's dlog_dt term dt sum_n gdt[h, n], and A's
 * gradient at (r, n) summed over the channels sharing row r. */
HD double ssm_dlog_dt(const double *gdt, const struct ssm_mode *m, int n2, int h) {
    double s = 0;
    for (int n = 0; n < n2; n++) s += gdt[(size_t)h * n2 + n];
    return s * m[(size_t)h * n2].dt;
}
HD cd ssm_da(const cd *ga, int H, int n2, int a_rows, int r, int n) {
    int h0 = a_rows == 1 ? 0 : r, h1 = a_rows == 1 ? H : r + 1;
    cd s = cd_make(0, 0);
    for (int h = h0; h < h1; h++) s = cd_add(s, ga[(size_t)h * n2 + n]);
    return s;
}

/* Gradients of a discrete mode (state passing): dCt = (2 Re S0, -2 Im S0),
 * dAbar = (2 Re(Ct S1), -2 Im(Ct S1)), as (dL/dRe, dL/dIm) pairs. */
HD void ssm_discrete_grads(const struct ssm_mode *m, cd s0, cd s1, cd *gz, cd *gct) {
    *gct = cd_make(2 * s0.re, -2 * s0.im);
    cd cs = cd_mul(m->ct, s1);
    *gz = cd_make(2 * cs.re, -2 * cs.im);
}

#endif
