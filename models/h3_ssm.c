/* h3_ssm.c — the two SSM kinds an H3 slot can hold (spec/h3.md §1.4, §1.5):
 *   shift:    K[c, j] = C A^j B for the shift-down A, a learnable FIR of N taps
 *   diagonal: K[c, l] = 2 Re sum_n C~[c, n] Abar[c, n]^l (S4D-Lin or S4D-Inv A,
 *             bilinear or zoh), through the ops table's Vandermonde kernel
 * with their parameters, inits and optimizer groups as the authors' SSKernel
 * declares them, whichever slot they sit in. */
#include "h3.h"

#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "ssm_step.h"

#undef I /* complex values are built with CMPLX */

/* ---- declaration and init ------------------------------------------------ */

static size_t add(struct param_table *pt, const char *prefix, const char *name, enum param_init init,
                  double arg, enum opt_group g, int d0, int d1, int d2, int d3) {
    char full[PARAM_NAME];
    HP_CHECK(snprintf(full, sizeof full, "%s%s", prefix, name) < (int)sizeof full);
    return param_add(pt, full, init, arg, g, d0, d1, d2, d3, 0);
}

/* SSKernelShift registers B (SSM group) and then C, a plain parameter. */
static void declare_shift(struct h3_slot *s, struct param_table *pt, const char *pre) {
    int H = s->c.H, N = s->c.N;
    s->B = add(pt, pre, "B", INIT_CUSTOM, 0, GROUP_SSM, H, N, 0, 0);
    /* kaiming_uniform(a = sqrt 5) on an (H, 1, N) tensor: fan_in N, bound 1/sqrt(N). */
    s->C = add(pt, pre, "C", INIT_UNIFORM, 1 / sqrt((double)N), GROUP_DEFAULT, 1, H, N, 0);
}

/* SSKernelDiag: C is a plain parameter created first; log_dt, B, inv_A_real
 * and A_imag are registered into the SSM group. */
static void declare_diag(struct h3_slot *s, struct param_table *pt, const char *pre) {
    int H = s->c.H, N2 = s->N2;
    /* torch.randn(cfloat): real and imaginary parts each N(0, 1/2); C <- C B leaves it (B = 1). */
    s->C = add(pt, pre, "C", INIT_NORMAL, sqrt(0.5), GROUP_DEFAULT, 1, H, N2, 2);
    s->i_log_dt = pt->n;
    s->log_dt = add(pt, pre, "log_dt", INIT_CUSTOM, 0, GROUP_SSM, H, 0, 0, 0);
    s->B = add(pt, pre, "B", INIT_CUSTOM, 0, GROUP_SSM, H, N2, 2, 0);
    s->inv_A = add(pt, pre, "inv_A_real", INIT_CUSTOM, 0, GROUP_SSM, H, N2, 0, 0);
    s->A_im = add(pt, pre, "A_imag", INIT_CUSTOM, 0, GROUP_SSM, H, N2, 0, 0);
}

void h3_slot_declare(struct h3_slot *s, const struct h3_slot_cfg *c, struct param_table *pt, const char *prefix) {
    memset(s, 0, sizeof *s);
    s->c = *c;
    s->N2 = c->N / 2;
    if (c->kind == H3_SHIFT) declare_shift(s, pt, prefix);
    else declare_diag(s, pt, prefix);
}

/* Im A for mode n, S4D-Lin pi n or S4D-Inv (N/pi)(N/(2n+1) - 1), evaluated in
 * float32 step by step as the authors' init does, so that the initial values
 * equal theirs bit for bit in either build (README §5.1: pi n "computed in float32"). */
static float a_imag_init(const struct h3_slot *s, int n) {
    if (s->c.measure == H3_DIAG_LIN) return (float)M_PI * (float)n;
    float scale = 1.0f / (float)M_PI * (float)s->c.N;
    return scale * ((float)s->c.N / (float)(2 * n + 1) - 1.0f);
}

static void init_diag(const struct h3_slot *s, real *p, uint64_t seed) {
    int H = s->c.H;
    struct hp_rng r = hp_rng_make(seed, ((uint64_t)HP_STREAM_INIT << 32) | 0x10000 | (uint64_t)s->i_log_dt);
    double lo = log(s->c.dt_min), hi = log(s->c.dt_max);
    for (int h = 0; h < H; h++) p[s->log_dt + h] = (real)(lo + hp_rng_uniform(&r) * (hi - lo));
    for (int h = 0; h < H; h++)
        for (int n = 0; n < s->N2; n++) {
            size_t i = (size_t)h * s->N2 + n;
            p[s->inv_A + i] = (float)log(0.5); /* Re A = -0.5, a float32 value as the authors' */
            p[s->A_im + i] = (real)a_imag_init(s, n);
            p[s->B + 2 * i] = 1;
            p[s->B + 2 * i + 1] = 0;
        }
}

void h3_slot_init(const struct h3_slot *s, real *p, uint64_t seed) {
    if (s->c.kind == H3_DIAG) {
        init_diag(s, p, seed);
        return;
    }
    real *B = p + s->B;
    memset(B, 0, (size_t)s->c.H * s->c.N * sizeof(real));
    for (int c = 0; c < s->c.H; c++) B[(size_t)c * s->c.N] = 1; /* e1: the shift SSM starts as K = C */
}

/* ---- kernels --------------------------------------------------------------- */

int h3_slot_taps(const struct h3_slot *s, int L) { return s->c.kind == H3_SHIFT && s->c.N < L ? s->c.N : L; }

size_t h3_slot_modes(const struct h3_slot *s) { return s->c.kind == H3_DIAG ? (size_t)s->c.H * s->N2 : 0; }

static struct ssm_kernel_args diag_args(const struct h3_slot *s, const struct h3_kernel_args *a) {
    const real *p = a->p;
    return (struct ssm_kernel_args){
        .H = s->c.H, .N2 = s->N2, .L = a->L, .disc = s->c.disc, .a_rows = s->c.H,
        .log_dt = p + s->log_dt, .A_re = a->A_re, .A_im = p + s->A_im,
        .B = p + s->B, .C = p + s->C, .K = a->K,
    };
}

void h3_slot_kernel(const struct h3_slot *s, const struct ops *ops, const struct h3_kernel_args *a) {
    const real *p = a->p;
    if (s->c.kind == H3_SHIFT) {
        struct shift_kernel_args k = {s->c.H, s->c.N, h3_slot_taps(s, a->L), p + s->B, p + s->C, a->K};
        ops->shift_kernel(&k);
        return;
    }
    size_t n = h3_slot_modes(s);
    struct ewise_args e = {.kind = EW_NEG_EXP, .R = 1, .C = n, .a = ew_rows(p + s->inv_A, n),
                           .y = ew_rows_out(a->A_re, n)};
    ops->ewise(&e);
    struct ssm_kernel_args k = diag_args(s, a);
    ops->ssm_kernel(&k);
}

/* Diagonal: log_dt, A_imag, B, C directly; inv_A_real through
 * A_re = -exp(inv_A_real), so dinv = dA_re * A_re. */
void h3_slot_kernel_bwd(const struct h3_slot *s, const struct ops *ops, const struct h3_kernel_bwd_args *a) {
    const real *p = a->f.p;
    real *G = a->G;
    if (s->c.kind == H3_SHIFT) {
        struct shift_kernel_bwd_args k = {
            .f = {s->c.H, s->c.N, h3_slot_taps(s, a->f.L), p + s->B, p + s->C, NULL}, .dK = a->dK,
            .dB = G + s->B, .dC = G + s->C};
        ops->shift_kernel_bwd(&k);
        return;
    }
    size_t HN2 = h3_slot_modes(s);
    ops_fill(ops, a->dA_re, HN2, 0);
    struct ssm_kernel_bwd_args kb = {
        .f = diag_args(s, &a->f), .dK = a->dK,
        .dlog_dt = G + s->log_dt, .dA_re = a->dA_re, .dA_im = G + s->A_im,
        .dB = G + s->B, .dC = G + s->C,
    };
    ops->ssm_kernel_bwd(&kb);
    ops_acc_mul(ops, G + s->inv_A, a->dA_re, a->f.A_re, HN2);
}

/* ---- recurrent mode ----------------------------------------------------------- */

/* Kernel row h's discretised modes, in double as the kernel computes them:
 * bilinear Abar = (1 + dtA/2)/(1 - dtA/2), Bbar = B dt/(1 - dtA/2);
 * zoh Abar = exp(dtA), Bbar = B (exp(dtA) - 1)/A. */
enum { H3_MAX_N2 = 512 }; /* d_state <= 1024, the knob's limit */

struct diag_modes {
    double complex abar[H3_MAX_N2], bbar[H3_MAX_N2], c[H3_MAX_N2];
};

static void diag_modes(const struct h3_slot *s, const real *p, int h, struct diag_modes *m) {
    HP_CHECK(s->N2 <= H3_MAX_N2);
    double dt = exp((double)p[s->log_dt + h]);
    for (int n = 0; n < s->N2; n++) {
        size_t i = (size_t)h * s->N2 + n;
        double complex a = CMPLX(-exp((double)p[s->inv_A + i]), (double)p[s->A_im + i]), q;
        ssm_disc_pair(s->c.disc, dt, a, &m->abar[n], &q);
        m->bbar[n] = ssm_cplx(p + s->B + 2 * i) * q;
        m->c[n] = ssm_cplx(p + s->C + 2 * i);
    }
}

/* One channel's shift register: x <- (0, x_0..x_{N-2}) + B u, then C·x. */
static double shift_channel_step(int N, const real *B, const real *C, real *x, double u) {
    memmove(x + 1, x, (size_t)(N - 1) * sizeof *x);
    x[0] = 0;
    double y = 0;
    for (int n = 0; n < N; n++) {
        x[n] += (real)(B[n] * u);
        y += (double)C[n] * x[n];
    }
    return y;
}

static void shift_step(const struct h3_slot *s, const struct h3_slot_state *a, const real *u, real *y) {
    int N = s->c.N, C = s->c.H * a->group;
    for (int b = 0; b < a->B; b++)
        for (int c = 0; c < C; c++) {
            int h = c / a->group;
            size_t i = (size_t)b * C + c;
            real *x = a->state + (size_t)b * a->stride + (size_t)c * N;
            double v = shift_channel_step(N, a->p + s->B + (size_t)h * N, a->p + s->C + (size_t)h * N, x, u[i]);
            y[i] = (real)(v + (double)a->skip[h] * u[i]);
        }
}

static void diag_step(const struct h3_slot *s, const struct h3_slot_state *a, const real *u, real *y) {
    int C = s->c.H * a->group, N2 = s->N2;
    struct diag_modes m; /* 24 KiB at most, on the stack */
    for (int h = 0; h < s->c.H; h++) {
        diag_modes(s, a->p, h, &m);
        for (int b = 0; b < a->B; b++)
            for (int c = h * a->group; c < (h + 1) * a->group; c++) {
                size_t i = (size_t)b * C + c;
                real *z = a->state + (size_t)b * a->stride + (size_t)c * 2 * N2;
                double acc = (double)a->skip[h] * u[i];
                for (int n = 0; n < N2; n++) {
                    double complex zn = m.abar[n] * ssm_cplx(z + 2 * n) + m.bbar[n] * (double)u[i];
                    ssm_cplx_store(z + 2 * n, zn);
                    acc += 2 * creal(m.c[n] * zn);
                }
                y[i] = (real)acc;
            }
    }
}

void h3_slot_step(const struct h3_slot *s, const struct h3_slot_state *a, const real *u, real *y) {
    if (s->c.kind == H3_SHIFT) shift_step(s, a, u, y);
    else diag_step(s, a, u, y);
}

static void shift_prefill(const struct h3_slot *s, const struct h3_slot_state *a, int P, const real *u) {
    int N = s->c.N, C = s->c.H * a->group;
    for (int b = 0; b < a->B; b++)
        for (int c = 0; c < C; c++) {
            const real *Bs = a->p + s->B + (size_t)(c / a->group) * N;
            real *x = a->state + (size_t)b * a->stride + (size_t)c * N;
            for (int n = 0; n < N; n++) {
                double acc = 0;
                for (int j = 0; j <= n && j < P; j++) acc += (double)Bs[n - j] * u[((size_t)b * P + P - 1 - j) * C + c];
                x[n] = (real)acc;
            }
        }
}

static void diag_prefill(const struct h3_slot *s, const struct h3_slot_state *a, int P, const real *u) {
    int C = s->c.H * a->group, N2 = s->N2;
    struct diag_modes m;
    for (int h = 0; h < s->c.H; h++) {
        diag_modes(s, a->p, h, &m);
        for (int b = 0; b < a->B; b++)
            for (int c = h * a->group; c < (h + 1) * a->group; c++)
                for (int n = 0; n < N2; n++) {
                    double complex z = 0; /* Horner's rule over the prompt */
                    for (int t = 0; t < P; t++) z = m.abar[n] * z + m.bbar[n] * (double)u[((size_t)b * P + t) * C + c];
                    ssm_cplx_store(a->state + (size_t)b * a->stride + (size_t)c * 2 * N2 + 2 * n, z);
                }
    }
}

void h3_slot_prefill(const struct h3_slot *s, const struct h3_slot_state *a, int P, const real *u) {
    HP_CHECK(P >= 1);
    if (s->c.kind == H3_SHIFT) shift_prefill(s, a, P, u);
    else diag_prefill(s, a, P, u);
}
