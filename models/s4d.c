/* s4d.c — the S4D baseline as safari's synthetics use it (h3.md §2.1,
 * tests/fixtures/reference/README.md §5.2):
 *
 *   K[h, l] = 2 Re sum_n C[h,n] (exp(dt_h A_n) - 1)/A_n exp(dt_h A_n l)   (ZOH)
 *   y = K * x + D ⊙ x        causal, per channel, over time
 *   g = GELU_erf(y)          the exact GELU (the MLPs use the tanh one)
 *   out = g Wᵀ + b
 *
 * with A_n = -exp(log_w_real[n]) + i w_imag[n] shared by all H = d_model
 * channels (n_ssm = 1) and B folded into C at init. Shapes: B batch, L length,
 * H channels (= d_model), N2 = N/2 complex modes. */
#include "s4d.h"

#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#undef I /* linear_args has a field I; complex values are built with CMPLX */

#include "../core/rng.h"
#include "layer.h"
#include "linear.h"
#include "ssm_step.h"

static const struct knob s4d_knobs[] = {
    {"d_state", KNOB_INT, "64", 2, 1024, NULL, "SSM state size N (even; N/2 complex modes)"},
    {"dt_min", KNOB_REAL, "0.001", 1e-6, 1e3, NULL, "smallest initial step size (log-uniform)"},
    {"dt_max", KNOB_REAL, "0.1", 1e-6, 1e3, NULL, "largest initial step size (log-uniform)"},
};

struct s4d {
    int H, N2;
    double dt_min, dt_max;
    /* offsets into the flat parameter/gradient buffers */
    size_t log_dt;     /* (H) */
    size_t log_w_real; /* (1, N2) */
    size_t w_imag;     /* (1, N2) */
    size_t C;          /* (1, H, N2, 2) */
    size_t D;          /* (1, H) */
    size_t W;          /* (H, H) output_linear.weight */
    size_t b;          /* (H) output_linear.bias */
    int idx_log_dt, idx_C; /* parameter-table indices: they key the init streams */
};

static void *s4d_create(const struct knob_values *kv, const struct layer_dims *dims, struct param_table *pt,
                        const char *prefix, char *err, size_t errlen) {
    int N = knob_int(kv, "d_state");
    double dt_min = knob_real(kv, "dt_min"), dt_max = knob_real(kv, "dt_max");
    if (N % 2 != 0) {
        snprintf(err, errlen, "s4d: key 'd_state': %d must be even (N/2 conjugate pairs)", N);
        return NULL;
    }
    if (!(dt_min < dt_max)) {
        snprintf(err, errlen, "s4d: key 'dt_min': %g must be less than dt_max = %g", dt_min, dt_max);
        return NULL;
    }
    if (dims->D < 1) {
        snprintf(err, errlen, "s4d: d_model = %d must be at least 1", dims->D);
        return NULL;
    }
    struct s4d *s = xcalloc(1, sizeof *s);
    int H = dims->D, N2 = N / 2;
    s->H = H;
    s->N2 = N2;
    s->dt_min = dt_min;
    s->dt_max = dt_max;
    char name[PARAM_NAME];
#define NAME(x) (snprintf(name, sizeof name, "%s%s", prefix, (x)), name)
    /* The authors' named_parameters() order. */
    s->D = param_add(pt, NAME("D"), INIT_NORMAL, 1.0, GROUP_DEFAULT, 1, H, 0);
    s->C = param_add(pt, NAME("kernel.kernel.C"), INIT_CUSTOM, 0, GROUP_DEFAULT, 1, H, N2, 2, 0);
    s->idx_C = pt->n - 1;
    s->log_dt = param_add(pt, NAME("kernel.kernel.log_dt"), INIT_CUSTOM, 0, GROUP_SSM, H, 0);
    s->idx_log_dt = pt->n - 1;
    s->log_w_real = param_add(pt, NAME("kernel.kernel.log_w_real"), INIT_CUSTOM, 0, GROUP_SSM, 1, N2, 0);
    s->w_imag = param_add(pt, NAME("kernel.kernel.w_imag"), INIT_CUSTOM, 0, GROUP_SSM, 1, N2, 0);
    s->W = param_add(pt, NAME("output_linear.weight"), INIT_NORMAL, 0.02, GROUP_DEFAULT, H, H, 0);
    s->b = param_add(pt, NAME("output_linear.bias"), INIT_ZERO, 0, GROUP_DEFAULT, H, 0);
#undef NAME
    return s;
}

/* Init streams: sub 0x10000 | tensor index draws that tensor (log_dt, C);
 * sub 0x20000 | index of C draws the B that is folded into C. */
static struct hp_rng init_stream(uint64_t seed, uint64_t sub, int idx) {
    return hp_rng_make(seed, ((uint64_t)HP_STREAM_INIT << 32) | sub | (uint64_t)idx);
}

/* A complex normal as torch.randn(cfloat) draws it: E|z|^2 = 1. */
static void complex_normal(struct hp_rng *r, double *re, double *im) {
    *re = hp_rng_normal(r) * M_SQRT1_2;
    *im = hp_rng_normal(r) * M_SQRT1_2;
}

/* Im A_n of S4D-Inv in float32 operations, in the authors' order. */
static float inv_w_imag(int N, int n) {
    float scale = 1.0f / (float)M_PI * (float)N;
    return scale * ((float)N / (float)(2 * n + 1) - 1.0f);
}

/* S4D-Inv: A_n = -0.5 + i (N/pi)(N/(2n+1) - 1), stored as log_w_real =
 * log(0.5 + 1e-4) (safari's margin, as the authors' file holds) and w_imag,
 * both evaluated in float32 step by step as the authors' code does, so the
 * initial values equal theirs bit for bit in either build.
 * B_n ~ CN(0, 1) normalised by zeta = 2 sum_n |B_n/A_n|^2 (the kernel's
 * variance with a random C), then folded into C[h,n] = conj(c[h,n] B_n) with
 * c ~ CN(0, 1): the stored value is the real view of the conjugate. */
static void s4d_init(const void *self, real *p, uint64_t seed) {
    const struct s4d *s = self;
    int H = s->H, N2 = s->N2;
    struct hp_rng r = init_stream(seed, 0x10000, s->idx_log_dt);
    double lo = log(s->dt_min), hi = log(s->dt_max);
    for (int h = 0; h < H; h++) p[s->log_dt + h] = (real)(lo + hp_rng_uniform(&r) * (hi - lo));

    double Bre[S4D_MAX_N2], Bim[S4D_MAX_N2], zeta = 0;
    struct hp_rng rb = init_stream(seed, 0x20000, s->idx_C);
    float log_w_real = (float)log((double)(0.5f + 1e-4f));
    for (int n = 0; n < N2; n++) {
        double wr = -0.5, wi = inv_w_imag(2 * N2, n);
        p[s->log_w_real + n] = log_w_real;
        p[s->w_imag + n] = (real)wi;
        complex_normal(&rb, &Bre[n], &Bim[n]);
        zeta += 2 * (Bre[n] * Bre[n] + Bim[n] * Bim[n]) / (wr * wr + wi * wi);
    }
    double scale = 1 / sqrt(zeta);
    struct hp_rng rc = init_stream(seed, 0x10000, s->idx_C);
    for (int h = 0; h < H; h++)
        for (int n = 0; n < N2; n++) {
            double cr, ci;
            complex_normal(&rc, &cr, &ci);
            double br = Bre[n] * scale, bi = Bim[n] * scale;
            real *c = p + s->C + ((size_t)h * N2 + n) * 2;
            c[0] = (real)(cr * br - ci * bi);
            c[1] = (real)-(cr * bi + ci * br);
        }
}

/* A_re (=) -exp(log_w_real), the shared modes' real parts (N2). */
static void a_real(const struct s4d *s, const struct ops *ops, const real *p, real *A_re) {
    struct ewise_args e = {.kind = EW_NEG_EXP, .R = 1, .C = (size_t)s->N2, .a = ew_rows(p + s->log_w_real, s->N2),
                           .y = ew_rows_out(A_re, s->N2)};
    ops->ewise(&e);
}

static struct ssm_kernel_args kernel_args(const struct s4d *s, const real *p, int L, const real *A_re,
                                          real *K) {
    return (struct ssm_kernel_args){
        .H = s->H, .N2 = s->N2, .L = L, .disc = SSM_ZOH, .a_rows = 1,
        .log_dt = p + s->log_dt, .A_re = A_re, .A_im = p + s->w_imag,
        .B = NULL, .C = p + s->C, .K = K,
    };
}

/* K (=) and A_re (=), both in the backend's memory. */
static void kernel_fwd(const struct s4d *s, const struct ops *ops, const real *p, int L, real *A_re, real *K) {
    a_real(s, ops, p, A_re);
    struct ssm_kernel_args ka = kernel_args(s, p, L, A_re, K);
    ops->ssm_kernel(&ka);
}

void s4d_kernel(const void *self, const struct ops *ops, const real *p, int L, real *K) {
    const struct s4d *s = self;
    real *A_re = ops->alloc((size_t)s->N2 * sizeof(real));
    kernel_fwd(s, ops, p, L, A_re, K);
    ops->free(A_re);
}

/* act: K (H, L), then y (B, L, H) before the GELU, g (B, L, H) after it, A_re (N2). */
static size_t s4d_act_size(const void *self, int B, int L) {
    const struct s4d *s = self;
    return (size_t)s->H * L + 2 * (size_t)B * L * s->H + (size_t)s->N2;
}

/* scratch: dg and dy-before-GELU (B, L, H) each, then dK (H, L), dA_re (N2). */
static size_t s4d_scratch_size(const void *self, int B, int L) {
    const struct s4d *s = self;
    return 2 * (size_t)B * L * s->H + (size_t)s->H * L + (size_t)s->N2;
}

static struct conv_args conv_args(const struct s4d *s, int B, int L, const real *x, const real *p, const real *K,
                                  real *y) {
    return (struct conv_args){
        .B = B, .L = L, .H = s->H, .Lk = L, .group = 1, .layout = CONV_BLH,
        .u = x, .k = K, .D = p + s->D, .y = y,
    };
}

static struct linear_args out_linear(const struct s4d *s, int B, int L, const real *p) {
    return (struct linear_args){.R = B * L, .I = s->H, .O = s->H, .W = p + s->W, .b = p + s->b};
}

static void s4d_forward(const void *self, const struct ops *ops, const struct layer_fwd *a) {
    const struct s4d *s = self;
    size_t BLH = (size_t)a->B * a->L * s->H;
    real *K = a->act, *y = K + (size_t)s->H * a->L, *g = y + BLH, *A_re = g + BLH;
    kernel_fwd(s, ops, a->p, a->L, A_re, K);
    struct conv_args ca = conv_args(s, a->B, a->L, a->x, a->p, K, y);
    ops->conv(&ca);
    ops->gelu(&(struct gelu_args){.n = BLH, .kind = GELU_ERF, .x = y, .y = g});
    struct linear_args la = out_linear(s, a->B, a->L, a->p);
    linear_fwd(ops, &la, g, a->y);
}

static void s4d_backward(const void *self, const struct ops *ops, const struct layer_bwd *a) {
    const struct s4d *s = self;
    int H = s->H, N2 = s->N2, L = a->L;
    size_t BLH = (size_t)a->B * L * H;
    const real *K = a->act, *y = K + (size_t)H * L, *g = y + BLH, *A_re = g + BLH;
    real *dg = a->scratch, *dy = dg + BLH, *dK = dy + BLH, *dA_re = dK + (size_t)H * L;

    struct linear_args la = out_linear(s, a->B, L, a->p);
    linear_bwd(ops, &la, g, a->dy, dg, a->g + s->W, a->g + s->b);
    ops->gelu_bwd(&(struct gelu_bwd_args){
        .f = {.n = BLH, .kind = GELU_ERF, .x = y, .y = (real *)g}, .dy = dg, .dx = dy}); /* g: read only; no erf again */

    ops_fill(ops, dK, (size_t)H * L, 0);
    struct conv_args ca = conv_args(s, a->B, L, a->x, a->p, K, NULL);
    ops->conv_bwd(&(struct conv_bwd_args){.f = ca, .dy = dy, .du = a->dx, .dk = dK, .dD = a->g + s->D});

    ops_fill(ops, dA_re, (size_t)N2, 0);
    ops->ssm_kernel_bwd(&(struct ssm_kernel_bwd_args){
        .f = kernel_args(s, a->p, L, A_re, NULL), .dK = dK, .dlog_dt = a->g + s->log_dt, .dA_re = dA_re,
        .dA_im = a->g + s->w_imag, .dB = NULL, .dC = a->g + s->C});
    /* A_re = -exp(log_w_real), so dA_re/dlog_w_real = A_re. */
    ops_acc_mul(ops, a->g + s->log_w_real, dA_re, A_re, (size_t)N2);
}

/* H x N/2 complex modes per sequence: (H, N2, 2) as (re, im). */
static size_t s4d_state_size(const void *self, int L) {
    (void)L;
    const struct s4d *s = self;
    return (size_t)s->H * 2 * s->N2;
}

/* ---- recurrent mode ------------------------------------------------------
 * Per channel h and mode n: z <- Abar z + Bbar u, y = 2 Re sum_n C z + D u,
 * with the forward's ZOH pair Abar = exp(dt A), Bbar = (exp(dt A) - 1)/A (B is
 * folded into C), so that y_t = sum_l K_l u_{t-l} + D u_t exactly as the
 * convolution. Discretisation and the state update run in double whatever
 * `real` is, as the kernel does. */

/* Channel h's modes: Abar, Bbar and C per n. */
struct zoh_modes {
    double complex abar[S4D_MAX_N2], bbar[S4D_MAX_N2], c[S4D_MAX_N2];
};

static void zoh_modes(const struct s4d *s, const real *p, int h, struct zoh_modes *m) {
    double dt = exp((double)p[s->log_dt + h]);
    for (int n = 0; n < s->N2; n++) {
        double complex a = CMPLX(-exp((double)p[s->log_w_real + n]), (double)p[s->w_imag + n]);
        ssm_disc_pair(SSM_ZOH, dt, a, &m->abar[n], &m->bbar[n]);
        m->c[n] = ssm_cplx(p + s->C + ((size_t)h * s->N2 + n) * 2);
    }
}

/* Empty, or the state after the prompt: z_P = sum_t Abar^{P-1-t} Bbar u_t, by
 * Horner's rule over the prompt's inputs (the layer's own input x). */
static void s4d_state_init(const void *self, const struct ops *ops, const struct layer_state_args *a) {
    (void)ops;
    const struct s4d *s = self;
    int H = s->H, N2 = s->N2, P = a->prompt_L;
    size_t S = s4d_state_size(s, a->L);
    memset(a->state, 0, (size_t)a->B * S * sizeof(real));
    if (P == 0) return;
    struct zoh_modes m_, *m = &m_; /* 24 KiB at most, on the stack */
    for (int h = 0; h < H; h++) {
        zoh_modes(s, a->p, h, m);
        for (int b = 0; b < a->B; b++)
            for (int n = 0; n < N2; n++) {
                double complex z = 0;
                for (int t = 0; t < P; t++) z = m->abar[n] * z + m->bbar[n] * (double)a->x[((size_t)b * P + t) * H + h];
                ssm_cplx_store(a->state + (size_t)b * S + ((size_t)h * N2 + n) * 2, z);
            }
    }
}

/* y (B, H) and its GELU g (B, H). */
static size_t s4d_step_scratch_size(const void *self, int B, int L) {
    (void)L;
    const struct s4d *s = self;
    return 2 * (size_t)B * s->H;
}

/* y[b, h] (=) = 2 Re sum_n C z + D u after z <- Abar z + Bbar u. */
static void ssm_step(const struct s4d *s, const struct layer_step *a, real *y) {
    int H = s->H, N2 = s->N2;
    size_t S = s4d_state_size(s, a->L);
    struct zoh_modes m_, *m = &m_; /* 24 KiB at most, on the stack */
    for (int h = 0; h < H; h++) {
        zoh_modes(s, a->p, h, m);
        for (int b = 0; b < a->B; b++) {
            double u = a->x[(size_t)b * H + h], acc = a->p[s->D + h] * u;
            real *st = a->state + (size_t)b * S + (size_t)h * N2 * 2;
            for (int n = 0; n < N2; n++) {
                double complex z = m->abar[n] * ssm_cplx(st + 2 * n) + m->bbar[n] * u;
                ssm_cplx_store(st + 2 * n, z);
                acc += 2 * creal(m->c[n] * z);
            }
            y[(size_t)b * H + h] = (real)acc;
        }
    }
}

static void s4d_step(const void *self, const struct ops *ops, const struct layer_step *a) {
    const struct s4d *s = self;
    size_t BH = (size_t)a->B * s->H;
    real *y = a->scratch, *g = y + BH;
    ssm_step(s, a, y);
    ops->gelu(&(struct gelu_args){.n = BH, .kind = GELU_ERF, .x = y, .y = g});
    struct linear_args la = out_linear(s, a->B, 1, a->p);
    linear_fwd(ops, &la, g, a->y);
}

static void s4d_destroy(void *self) { free(self); }

const struct layer_kind layer_s4d = {
    .name = "s4d",
    .summary = "S4D (safari): shared diagonal S4D-Inv A, ZOH kernel, D skip, exact GELU, output linear",
    .knobs = s4d_knobs,
    .n_knobs = sizeof s4d_knobs / sizeof s4d_knobs[0],
    .pos_emb = false,
    .create = s4d_create,
    .init = s4d_init,
    .act_size = s4d_act_size,
    .scratch_size = s4d_scratch_size,
    .forward = s4d_forward,
    .backward = s4d_backward,
    .state_size = s4d_state_size,
    .state_init = s4d_state_init,
    .step_scratch_size = s4d_step_scratch_size,
    .step = s4d_step,
    .destroy = s4d_destroy,
};
