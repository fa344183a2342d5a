/* h3.c — the H3 layer (Fu et al., ICLR 2023; spec/h3.md §1), convolution mode:
 *   q, k, v = x W_Qᵀ + b_Q, x W_Kᵀ + b_K, x W_Vᵀ + b_V           (B, L, D) each
 *   k~ = causalconv(k, K_shift) + D_K k        shift SSM: a learnable FIR of N taps
 *   kv[t, h, i, j] = k~[t, h d_h + i] v[t, h d_h + j]           outer product per head
 *   y  = causalconv(kv, K_diag[h]) + D[h] kv    diagonal SSM, shared by head h's d_h² entries
 *   o[t, j H + h] = sum_i q[t, h d_h + i] y[t, h, i, j]          (the reference's (j h) order)
 *   out = o W_Oᵀ + b_O
 * For d_h = 1 the outer product and the contraction are elementwise products.
 * The backward is exact through both kernels. Parameter names, shapes and order
 * are the authors' (tests/fixtures/reference/README.md §5.1), so their weights
 * load directly. */
#include "h3.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "carve.h"
#include "layer.h"
#include "linear.h"

enum h3_measure { MEASURE_DIAG_LIN, MEASURE_DIAG_INV };

static const struct knob h3_knobs[] = {
    {"d_state", KNOB_INT, "64", 2, 1024, NULL, "SSM state size N (even): N shift taps, N/2 complex diagonal modes"},
    {"head_dim", KNOB_INT, "1", 1, 1024, NULL, "channels per head d_h (must divide d_model); d_h > 1: outer-product state"},
    {"disc", KNOB_ENUM, "bilinear", 0, 0, "bilinear|zoh", "discretisation of the diagonal SSM (the authors': bilinear)"},
    {"measure", KNOB_ENUM, "diag-lin", 0, 0, "diag-lin|diag-inv", "init of A: S4D-Lin (Im A = pi n) or S4D-Inv"},
    {"dt_min", KNOB_REAL, "0.001", 1e-7, 10, NULL, "smallest initial step size (log_dt ~ U[log dt_min, log dt_max])"},
    {"dt_max", KNOB_REAL, "0.1", 1e-7, 10, NULL, "largest initial step size"},
};

struct h3 {
    int D, N, N2, dh, H, E; /* E = H d_h² = D d_h kv channels */
    enum ssm_disc disc;
    enum h3_measure measure;
    double dt_min, dt_max;
    /* Offsets into the flat parameter buffer. k_proj and v_proj sit at
     * wq/bq + proj_stride and + 2 proj_stride, so the three projections run
     * as one batched gemm while staying separate tensors. */
    size_t sD, Dd, wq, bq, proj_stride, sB, sC, kC, log_dt, kB, inv_A, A_im, wo, bo;
    /* Parameter-table indices of the custom-init tensors: their RNG sub-streams. */
    int i_log_dt;
};

/* ---- the shift SSM kernel ---------------------------------------------- */

/* K[j] = sum_n B[n] C[n + j] (j < Lk) and its backward, per channel, as
 * fixed-width blocks of SK_W outputs over zero-padded copies of B and C: no
 * triangular limits, so every inner loop is one full-width multiply-add
 * (the shorter, ragged loops cost ~3x more at N = 64, L = 31). */
enum { SK_W = 16 };

static int round_up(int n, int w) { return (n + w - 1) / w * w; }

/* out[o] = sum_{j < J} w[j] src[o + step * j], for o < n_out (a multiple of SK_W). */
static void sk_blocks(int n_out, int J, const real *restrict w, const real *restrict src, int step,
                      real *restrict out) {
    for (int o = 0; o < n_out; o += SK_W) {
        real acc[SK_W] = {0};
        for (int j = 0; j < J; j++) {
            const real wj = w[j], *s = src + o + (ptrdiff_t)step * j;
#pragma omp simd
            for (int t = 0; t < SK_W; t++) acc[t] += wj * s[t];
        }
        memcpy(out + o, acc, sizeof acc);
    }
}

void h3_shift_kernel(int D, int N, int Lk, const real *B, const real *C, real *K) {
    const int Lv = round_up(Lk, SK_W);
    real *cp = xcalloc((size_t)(N + Lv) + (size_t)Lv, sizeof(real)), *out = cp + N + Lv; /* C, zeros; (Lv) */
    for (int c = 0; c < D; c++) {
        memcpy(cp, C + (size_t)c * N, (size_t)N * sizeof(real));
        sk_blocks(Lv, N, B + (size_t)c * N, cp, 1, out); /* K[j] = sum_n B[n] cp[j + n] */
        memcpy(K + (size_t)c * Lk, out, (size_t)Lk * sizeof(real));
    }
    free(cp);
}

void h3_shift_kernel_bwd(int D, int N, int Lk, const real *B, const real *C, const real *dK, real *dB,
                         real *dC) {
    const int Nv = round_up(N, SK_W);
    /* cp: C then zeros (Nv + Lk); bp: Lk zeros, B, zeros (Lk + Nv); out (Nv) */
    real *cp = xcalloc(3 * (size_t)Nv + 2 * (size_t)Lk, sizeof(real)), *bp = cp + Nv + Lk, *out = bp + Lk + Nv;
    for (int c = 0; c < D; c++) {
        const real *dk = dK + (size_t)c * Lk;
        memcpy(cp, C + (size_t)c * N, (size_t)N * sizeof(real));
        memcpy(bp + Lk, B + (size_t)c * N, (size_t)N * sizeof(real));
        sk_blocks(Nv, Lk, dk, cp, 1, out); /* dB[n] = sum_j dK[j] C[n + j] */
        for (int n = 0; n < N; n++) dB[(size_t)c * N + n] += out[n];
        sk_blocks(Nv, Lk, dk, bp + Lk, -1, out); /* dC[m] = sum_j dK[j] B[m - j] */
        for (int n = 0; n < N; n++) dC[(size_t)c * N + n] += out[n];
    }
    free(cp);
}

/* ---- the diagonal SSM kernel ------------------------------------------- */

static struct ssm_kernel_args diag_kernel_args(const struct h3 *s, const real *p, int L, const real *A_re,
                                               real *K) {
    return (struct ssm_kernel_args){
        .H = s->H, .N2 = s->N2, .L = L, .disc = s->disc, .a_rows = s->H,
        .log_dt = p + s->log_dt, .A_re = A_re, .A_im = p + s->A_im,
        .B = p + s->kB, .C = p + s->kC, .K = K,
    };
}

void h3_diag_kernel(const void *self, const struct ops *ops, const real *p, int L, real *A_re, real *K) {
    const struct h3 *s = self;
    const real *inv = p + s->inv_A;
    for (int i = 0; i < s->H * s->N2; i++) A_re[i] = (real)-exp((double)inv[i]);
    struct ssm_kernel_args k = diag_kernel_args(s, p, L, A_re, K);
    ops->ssm_kernel(&k);
}

void h3_kernels(const void *self, const struct ops *ops, const real *p, int L, real *K_shift, real *K_diag) {
    const struct h3 *s = self;
    int Lk = s->N < L ? s->N : L;
    real *A_re = xmalloc((size_t)s->H * s->N2 * sizeof(real));
    real *Ks = xmalloc((size_t)s->D * Lk * sizeof(real));
    h3_shift_kernel(s->D, s->N, Lk, p + s->sB, p + s->sC, Ks);
    for (int c = 0; c < s->D; c++)
        for (int j = 0; j < L; j++) K_shift[(size_t)c * L + j] = j < Lk ? Ks[(size_t)c * Lk + j] : 0;
    h3_diag_kernel(s, ops, p, L, A_re, K_diag);
    free(Ks);
    free(A_re);
}

/* ---- create / init ------------------------------------------------------ */

static size_t add(struct param_table *pt, const char *prefix, const char *name, enum param_init init,
                  double arg, enum opt_group g, int d0, int d1, int d2, int d3) {
    char full[PARAM_NAME];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return param_add(pt, full, init, arg, g, d0, d1, d2, d3, 0);
}

static int check_knobs(const struct knob_values *kv, const struct layer_dims *dims, const char *prefix,
                       char *err, size_t errlen) {
    int N = knob_int(kv, "d_state"), dh = knob_int(kv, "head_dim");
    double lo = knob_real(kv, "dt_min"), hi = knob_real(kv, "dt_max");
    if (N % 2 != 0) {
        snprintf(err, errlen, "key 'd_state': %d is odd; it must be even (N/2 complex conjugate pairs)", N);
        return -1;
    }
    if (dims->D % dh != 0) {
        snprintf(err, errlen, "key 'head_dim': %d does not divide d_model %d", dh, dims->D);
        return -1;
    }
    if (lo > hi) {
        snprintf(err, errlen, "key 'dt_min': %g is larger than dt_max %g", lo, hi);
        return -1;
    }
    if (strlen(prefix) + strlen("ssm_k_kernel.kernel.B") >= PARAM_NAME) {
        snprintf(err, errlen, "H3 parameter prefix '%s' is too long (names are limited to %d characters)",
                 prefix, PARAM_NAME - 1);
        return -1;
    }
    return 0;
}

/* Declares the tensors in the authors' named_parameters() order. */
static void declare(struct h3 *s, struct param_table *pt, const char *pre) {
    int D = s->D, N = s->N, N2 = s->N2, H = s->H;
    s->sD = add(pt, pre, "ssm_k_D", INIT_NORMAL, 1, GROUP_DEFAULT, D, 0, 0, 0);
    s->Dd = add(pt, pre, "D", INIT_NORMAL, 1, GROUP_DEFAULT, H, 0, 0, 0);
    s->wq = add(pt, pre, "q_proj.weight", INIT_NORMAL, 0.02, GROUP_DEFAULT, D, D, 0, 0);
    s->bq = add(pt, pre, "q_proj.bias", INIT_ZERO, 0, GROUP_DEFAULT, D, 0, 0, 0);
    size_t wk = add(pt, pre, "k_proj.weight", INIT_NORMAL, 0.02, GROUP_DEFAULT, D, D, 0, 0);
    size_t bk = add(pt, pre, "k_proj.bias", INIT_ZERO, 0, GROUP_DEFAULT, D, 0, 0, 0);
    size_t wv = add(pt, pre, "v_proj.weight", INIT_NORMAL, 0.02, GROUP_DEFAULT, D, D, 0, 0);
    size_t bv = add(pt, pre, "v_proj.bias", INIT_ZERO, 0, GROUP_DEFAULT, D, 0, 0, 0);
    s->proj_stride = wk - s->wq;
    HP_CHECK(wv - wk == s->proj_stride && bk - s->bq == s->proj_stride && bv - bk == s->proj_stride);
    s->sB = add(pt, pre, "ssm_k_kernel.kernel.B", INIT_CUSTOM, 0, GROUP_SSM, D, N, 0, 0);
    /* kaiming_uniform(a = sqrt 5) on a (D, 1, N) tensor: fan_in N, bound 1/sqrt(N). */
    s->sC = add(pt, pre, "ssm_k_kernel.kernel.C", INIT_UNIFORM, 1 / sqrt((double)N), GROUP_DEFAULT, 1, D, N, 0);
    /* torch.randn(cfloat): real and imaginary parts each N(0, 1/2); C <- C B leaves it (B = 1). */
    s->kC = add(pt, pre, "kernel.kernel.C", INIT_NORMAL, sqrt(0.5), GROUP_DEFAULT, 1, H, N2, 2);
    s->i_log_dt = pt->n;
    s->log_dt = add(pt, pre, "kernel.kernel.log_dt", INIT_CUSTOM, 0, GROUP_SSM, H, 0, 0, 0);
    s->kB = add(pt, pre, "kernel.kernel.B", INIT_CUSTOM, 0, GROUP_SSM, H, N2, 2, 0);
    s->inv_A = add(pt, pre, "kernel.kernel.inv_A_real", INIT_CUSTOM, 0, GROUP_SSM, H, N2, 0, 0);
    s->A_im = add(pt, pre, "kernel.kernel.A_imag", INIT_CUSTOM, 0, GROUP_SSM, H, N2, 0, 0);
    s->wo = add(pt, pre, "output_linear.weight", INIT_NORMAL, 0.02, GROUP_DEFAULT, D, D, 0, 0);
    s->bo = add(pt, pre, "output_linear.bias", INIT_ZERO, 0, GROUP_DEFAULT, D, 0, 0, 0);
}

static void *h3_create(const struct knob_values *kv, const struct layer_dims *dims, struct param_table *pt,
                       const char *prefix, char *err, size_t errlen) {
    if (check_knobs(kv, dims, prefix, err, errlen) != 0) return NULL;
    struct h3 *s = xcalloc(1, sizeof *s);
    s->D = dims->D;
    s->N = knob_int(kv, "d_state");
    s->N2 = s->N / 2;
    s->dh = knob_int(kv, "head_dim");
    s->H = s->D / s->dh;
    s->E = s->D * s->dh;
    s->disc = strcmp(knob_str(kv, "disc"), "zoh") == 0 ? SSM_ZOH : SSM_BILINEAR;
    s->measure = strcmp(knob_str(kv, "measure"), "diag-inv") == 0 ? MEASURE_DIAG_INV : MEASURE_DIAG_LIN;
    s->dt_min = knob_real(kv, "dt_min");
    s->dt_max = knob_real(kv, "dt_max");
    declare(s, pt, prefix);
    return s;
}

/* Im A for mode n, S4D-Lin pi n or S4D-Inv (N/pi)(N/(2n+1) - 1), evaluated in
 * float32 step by step as the authors' init does, so that the initial values
 * equal theirs bit for bit in either build (README §5.1: pi n "computed in float32"). */
static float a_imag_init(const struct h3 *s, int n) {
    if (s->measure == MEASURE_DIAG_LIN) return (float)M_PI * (float)n;
    float scale = 1.0f / (float)M_PI * (float)s->N;
    return scale * ((float)s->N / (float)(2 * n + 1) - 1.0f);
}

static void h3_init(const void *self, real *p, uint64_t seed) {
    const struct h3 *s = self;
    real *sB = p + s->sB;
    memset(sB, 0, (size_t)s->D * s->N * sizeof(real));
    for (int c = 0; c < s->D; c++) sB[(size_t)c * s->N] = 1; /* e1: the shift SSM starts as K = C */
    struct hp_rng r = hp_rng_make(seed, ((uint64_t)HP_STREAM_INIT << 32) | 0x10000 | (uint64_t)s->i_log_dt);
    double lo = log(s->dt_min), hi = log(s->dt_max);
    for (int h = 0; h < s->H; h++) p[s->log_dt + h] = (real)(lo + hp_rng_uniform(&r) * (hi - lo));
    for (int h = 0; h < s->H; h++)
        for (int n = 0; n < s->N2; n++) {
            size_t i = (size_t)h * s->N2 + n;
            p[s->inv_A + i] = (float)log(0.5); /* Re A = -0.5, a float32 value as the authors' */
            p[s->A_im + i] = (real)a_imag_init(s, n);
            p[s->kB + 2 * i] = 1;
            p[s->kB + 2 * i + 1] = 0;
        }
}

/* ---- activation and scratch layout ------------------------------------- */


struct h3_act {
    real *qkv;        /* (3, B, L, D): q, k, v */
    real *kt;         /* (B, L, D) k~, the shift SSM's output */
    real *kv;         /* (B, L, E) */
    real *y;          /* (B, L, E) the diagonal SSM's output */
    real *o;          /* (B, L, D) gated output before output_linear */
    real *Ks;         /* (D, Lk) */
    real *Kd;         /* (H, L) */
    real *A_re;       /* (H, N2) */
};

static size_t act_layout(const struct h3 *s, int B, int L, real *base, struct h3_act *t) {
    size_t R = (size_t)B * L;
    int Lk = s->N < L ? s->N : L;
    struct carver c = {base, 0};
    t->qkv = carve(&c, 3 * R * s->D);
    t->kt = carve(&c, R * s->D);
    t->kv = carve(&c, R * s->E);
    t->y = carve(&c, R * s->E);
    t->o = carve(&c, R * s->D);
    t->Ks = carve(&c, (size_t)s->D * Lk);
    t->Kd = carve(&c, (size_t)s->H * L);
    t->A_re = carve(&c, (size_t)s->H * s->N2);
    return c.used;
}

struct h3_work {
    real *dout_o;     /* (B, L, D) gradient of o */
    real *dqkv;       /* (3, B, L, D) */
    real *dy;         /* (B, L, E) */
    real *dkv;        /* (B, L, E) */
    real *dkt;        /* (B, L, D) */
    real *dKs;        /* (D, Lk) */
    real *dKd;        /* (H, L) */
    real *dA_re;      /* (H, N2) */
};

static size_t work_layout(const struct h3 *s, int B, int L, real *base, struct h3_work *w) {
    size_t R = (size_t)B * L;
    int Lk = s->N < L ? s->N : L;
    struct carver c = {base, 0};
    w->dout_o = carve(&c, R * s->D);
    w->dqkv = carve(&c, 3 * R * s->D);
    w->dy = carve(&c, R * s->E);
    w->dkv = carve(&c, R * s->E);
    w->dkt = carve(&c, R * s->D);
    w->dKs = carve(&c, (size_t)s->D * Lk);
    w->dKd = carve(&c, (size_t)s->H * L);
    w->dA_re = carve(&c, (size_t)s->H * s->N2);
    return c.used;
}

static size_t h3_act_size(const void *self, int B, int L) {
    struct h3_act t;
    return act_layout(self, B, L, NULL, &t);
}

static size_t h3_scratch_size(const void *self, int B, int L) {
    struct h3_work w;
    return work_layout(self, B, L, NULL, &w);
}

/* ---- pieces of the forward and backward -------------------------------- */

/* q, k, v (=) = x Wᵀ + b for the three projections as one batched gemm. */
static void proj_fwd(const struct h3 *s, const struct ops *ops, const real *p, const real *x, int R,
                     real *qkv) {
    int D = s->D;
    struct gemm_args g = {
        .ta = OP_N, .tb = OP_T, .M = R, .N = D, .K = D, .alpha = 1, .beta = 0,
        .A = x, .lda = D, .stride_a = 0,
        .B = p + s->wq, .ldb = D, .stride_b = s->proj_stride,
        .C = qkv, .ldc = D, .stride_c = (size_t)R * D,
        .batch = 3, .bias = p + s->bq, .stride_bias = s->proj_stride,
    };
    ops->gemm(&g);
}

/* dW (+=) dᵀ x, db (+=) column sums, dx (=) dq W_Q + dk W_K + dv W_V. */
static void proj_bwd(const struct h3 *s, const struct ops *ops, const real *p, const real *x, int R,
                     const real *dqkv, real *G, real *dx) {
    int D = s->D;
    struct gemm_args g = {
        .ta = OP_T, .tb = OP_N, .M = D, .N = D, .K = R, .alpha = 1, .beta = 1,
        .A = dqkv, .lda = D, .stride_a = (size_t)R * D,
        .B = x, .ldb = D, .stride_b = 0,
        .C = G + s->wq, .ldc = D, .stride_c = s->proj_stride,
        .batch = 3,
    };
    ops->gemm(&g);
    for (int m = 0; m < 3; m++) colsum_acc(dqkv + (size_t)m * R * D, R, D, G + s->bq + m * s->proj_stride);
    if (!dx) return;
    for (int m = 0; m < 3; m++)
        ops_gemm(ops, OP_N, OP_N, R, D, D, 1, dqkv + (size_t)m * R * D, D, p + s->wq + m * s->proj_stride, D,
                 m ? 1 : 0, dx, D);
}

static struct conv_args shift_conv(const struct h3 *s, const real *p, int B, int L, const real *k,
                                   const real *Ks, real *kt) {
    return (struct conv_args){
        .B = B, .L = L, .H = s->D, .Lk = s->N < L ? s->N : L, .group = 1, .layout = CONV_BLH,
        .u = k, .k = Ks, .D = p + s->sD, .y = kt,
    };
}

static struct conv_args diag_conv(const struct h3 *s, const real *p, int B, int L, const real *kv,
                                  const real *Kd, real *y) {
    return (struct conv_args){
        .B = B, .L = L, .H = s->E, .Lk = L, .group = s->dh * s->dh, .layout = CONV_BLH,
        .u = kv, .k = Kd, .D = p + s->Dd, .y = y,
    };
}

/* kv[r, (h d_h + i) d_h + j] (=) = k~[r, h d_h + i] v[r, h d_h + j]. */
static void outer_fwd(const struct h3 *s, int R, const real *kt, const real *v, real *kv) {
    int D = s->D, dh = s->dh;
    if (dh == 1) {
        for (size_t i = 0; i < (size_t)R * D; i++) kv[i] = kt[i] * v[i];
        return;
    }
    for (size_t r = 0; r < (size_t)R; r++)
        for (int c = 0; c < D; c++) {
            real a = kt[r * D + c];
            const real *vh = v + r * D + (c / dh) * dh;
            real *row = kv + r * s->E + (size_t)c * dh;
            for (int j = 0; j < dh; j++) row[j] = a * vh[j];
        }
}

/* dk~ (=), dv (=) from dkv. */
static void outer_bwd(const struct h3 *s, int R, const real *kt, const real *v, const real *dkv, real *dkt,
                      real *dv) {
    int D = s->D, dh = s->dh;
    if (dh == 1) {
        for (size_t i = 0; i < (size_t)R * D; i++) {
            dkt[i] = dkv[i] * v[i];
            dv[i] = dkv[i] * kt[i];
        }
        return;
    }
    memset(dv, 0, (size_t)R * D * sizeof(real));
    for (size_t r = 0; r < (size_t)R; r++)
        for (int c = 0; c < D; c++) {
            const real *g = dkv + r * s->E + (size_t)c * dh;
            const real *vh = v + r * D + (c / dh) * dh;
            real *dvh = dv + r * D + (c / dh) * dh;
            real a = kt[r * D + c], acc = 0;
            for (int j = 0; j < dh; j++) {
                acc += g[j] * vh[j];
                dvh[j] += g[j] * a;
            }
            dkt[r * D + c] = acc;
        }
}

/* o[r, j H + h] (=) = sum_i q[r, h d_h + i] y[r, (h d_h + i) d_h + j]. */
static void gate_fwd(const struct h3 *s, int R, const real *q, const real *y, real *o) {
    int D = s->D, dh = s->dh, H = s->H;
    if (dh == 1) {
        for (size_t i = 0; i < (size_t)R * D; i++) o[i] = q[i] * y[i];
        return;
    }
    memset(o, 0, (size_t)R * D * sizeof(real));
    for (size_t r = 0; r < (size_t)R; r++)
        for (int c = 0; c < D; c++) {
            int h = c / dh;
            real a = q[r * D + c];
            const real *yr = y + r * s->E + (size_t)c * dh;
            real *orow = o + r * D + h;
            for (int j = 0; j < dh; j++) orow[(size_t)j * H] += a * yr[j];
        }
}

/* dq (=), dy (=) from do. */
static void gate_bwd(const struct h3 *s, int R, const real *q, const real *y, const real *dout_o, real *dq,
                     real *dy) {
    int D = s->D, dh = s->dh, H = s->H;
    if (dh == 1) {
        for (size_t i = 0; i < (size_t)R * D; i++) {
            dq[i] = dout_o[i] * y[i];
            dy[i] = dout_o[i] * q[i];
        }
        return;
    }
    for (size_t r = 0; r < (size_t)R; r++)
        for (int c = 0; c < D; c++) {
            int h = c / dh;
            real a = q[r * D + c], acc = 0;
            const real *yr = y + r * s->E + (size_t)c * dh;
            const real *g = dout_o + r * D + h;
            real *dyr = dy + r * s->E + (size_t)c * dh;
            for (int j = 0; j < dh; j++) {
                acc += g[(size_t)j * H] * yr[j];
                dyr[j] = g[(size_t)j * H] * a;
            }
            dq[r * D + c] = acc;
        }
}

/* ---- forward / backward -------------------------------------------------- */

static void h3_forward(const void *self, const struct ops *ops, const struct layer_fwd *a) {
    const struct h3 *s = self;
    const real *p = a->p;
    int R = a->B * a->L, L = a->L, Lk = s->N < L ? s->N : L;
    struct h3_act t;
    act_layout(s, a->B, L, a->act, &t);
    real *q = t.qkv, *k = q + (size_t)R * s->D, *v = k + (size_t)R * s->D;

    proj_fwd(s, ops, p, a->x, R, t.qkv);
    h3_shift_kernel(s->D, s->N, Lk, p + s->sB, p + s->sC, t.Ks);
    struct conv_args cs = shift_conv(s, p, a->B, L, k, t.Ks, t.kt);
    ops->conv(&cs);
    outer_fwd(s, R, t.kt, v, t.kv);
    h3_diag_kernel(s, ops, p, L, t.A_re, t.Kd);
    struct conv_args cd = diag_conv(s, p, a->B, L, t.kv, t.Kd, t.y);
    ops->conv(&cd);
    gate_fwd(s, R, q, t.y, t.o);
    struct linear_args lo = {.R = R, .I = s->D, .O = s->D, .W = p + s->wo, .b = p + s->bo};
    linear_fwd(ops, &lo, t.o, a->y);
}

/* Diagonal kernel backward: log_dt, A_imag, B, C directly; inv_A_real through
 * A_re = -exp(inv_A_real), so dinv = dA_re * A_re. */
static void diag_kernel_bwd(const struct h3 *s, const struct ops *ops, const real *p, int L,
                            const struct h3_act *t, const struct h3_work *w, real *G) {
    size_t HN2 = (size_t)s->H * s->N2;
    memset(w->dA_re, 0, HN2 * sizeof(real));
    struct ssm_kernel_bwd_args kb = {
        .f = diag_kernel_args(s, p, L, t->A_re, t->Kd), .dK = w->dKd,
        .dlog_dt = G + s->log_dt, .dA_re = w->dA_re, .dA_im = G + s->A_im,
        .dB = G + s->kB, .dC = G + s->kC,
    };
    ops->ssm_kernel_bwd(&kb);
    for (size_t i = 0; i < HN2; i++) G[s->inv_A + i] += w->dA_re[i] * t->A_re[i];
}

static void h3_backward(const void *self, const struct ops *ops, const struct layer_bwd *a) {
    const struct h3 *s = self;
    const real *p = a->p;
    real *G = a->g;
    int R = a->B * a->L, L = a->L, Lk = s->N < L ? s->N : L;
    size_t RD = (size_t)R * s->D;
    struct h3_act t;
    struct h3_work w;
    act_layout(s, a->B, L, a->act, &t);
    work_layout(s, a->B, L, a->scratch, &w);
    real *q = t.qkv, *k = q + RD, *v = k + RD;
    real *dq = w.dqkv, *dk = dq + RD, *dv = dk + RD;

    struct linear_args lo = {.R = R, .I = s->D, .O = s->D, .W = p + s->wo, .b = p + s->bo};
    linear_bwd(ops, &lo, t.o, a->dy, w.dout_o, G + s->wo, G + s->bo);
    gate_bwd(s, R, q, t.y, w.dout_o, dq, w.dy);

    memset(w.dKd, 0, (size_t)s->H * L * sizeof(real));
    struct conv_bwd_args bd = {
        .f = diag_conv(s, p, a->B, L, t.kv, t.Kd, NULL), .dy = w.dy, .du = w.dkv, .dk = w.dKd, .dD = G + s->Dd,
    };
    ops->conv_bwd(&bd);
    diag_kernel_bwd(s, ops, p, L, &t, &w, G);
    outer_bwd(s, R, t.kt, v, w.dkv, w.dkt, dv);

    memset(w.dKs, 0, (size_t)s->D * Lk * sizeof(real));
    struct conv_bwd_args bs = {
        .f = shift_conv(s, p, a->B, L, k, t.Ks, NULL), .dy = w.dkt, .du = dk, .dk = w.dKs, .dD = G + s->sD,
    };
    ops->conv_bwd(&bs);
    h3_shift_kernel_bwd(s->D, s->N, Lk, p + s->sB, p + s->sC, w.dKs, G + s->sB, G + s->sC);
    proj_bwd(s, ops, p, a->x, R, w.dqkv, G, a->dx);
}

/* Shift state: D x N reals; diagonal state: H d_h² x N2 complex = H d_h² N reals. */
static size_t h3_state_size(const void *self, int L) {
    (void)L;
    const struct h3 *s = self;
    return (size_t)s->D * s->N + (size_t)s->H * s->dh * s->dh * s->N;
}

static void h3_destroy(void *self) { free(self); }

const struct layer_kind layer_h3 = {
    .name = "h3",
    .summary = "H3: q * SSM_diag(SSM_shift(k) * v), shift + diagonal SSMs, optional outer-product heads",
    .knobs = h3_knobs,
    .n_knobs = (int)(sizeof h3_knobs / sizeof h3_knobs[0]),
    .pos_emb = false,
    .create = h3_create,
    .init = h3_init,
    .act_size = h3_act_size,
    .scratch_size = h3_scratch_size,
    .forward = h3_forward,
    .backward = h3_backward,
    .state_size = h3_state_size,
    .destroy = h3_destroy,
};
