/* h3.c — the H3 layer (Fu et al., ICLR 2023; spec/h3.md §1), convolution mode:
 *   q, k, v = x W_Qᵀ + b_Q, x W_Kᵀ + b_K, x W_Vᵀ + b_V           (B, L, D) each
 *   k~ = SSM_1(k) = causalconv(k, K_1) + D_K k  slot 1: shift SSM, a learnable FIR of N taps
 *   kv[t, h, i, j] = k~[t, h d_h + i] v[t, h d_h + j]           outer product per head
 *   y  = SSM_2(kv) = causalconv(kv, K_2[h]) + D[h] kv   slot 2: diagonal SSM, shared by head h's d_h² entries
 *   o[t, j H + h] = sum_i q[t, h d_h + i] y[t, h, i, j]          (the reference's (j h) order)
 *   out = o W_Oᵀ + b_O
 * For d_h = 1 the outer product and the contraction are elementwise products.
 * The backward is exact through both kernels. Parameter names, shapes and order
 * are the authors' (tests/fixtures/reference/README.md §5.1), so their weights
 * load directly.
 *
 * Ablations (the paper's SSM and gating variants) are knobs of this layer:
 *  - ssm: which SSM sits in each slot, shift+diag (H3), diag+diag or
 *    shift+shift. A slot keeps its tensor prefix and skip whatever it holds
 *    (models/h3.h); the SSM kinds themselves live in models/h3_ssm.c.
 *  - gate_kv = false: kv = k~ + v. A sum rather than dropping v: every
 *    projection stays live (v still reaches the output), and with gate_q off
 *    too the layer is linear in x, the cleanest "no gating" control.
 *  - gate_q = false: o = y + q, likewise.
 * head_dim > 1 needs both gates: the k·v product is what builds the d_h × d_h
 * state of a head and the q contraction is what reads it out; without them
 * there is no outer-product state to define, so create() rejects it. */
#include "h3.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carve.h"
#include "layer.h"
#include "linear.h"

static const struct knob h3_knobs[] = {
    {"d_state", KNOB_INT, "64", 2, 1024, NULL, "SSM state size N (even): N shift taps, N/2 complex diagonal modes"},
    {"head_dim", KNOB_INT, "1", 1, 1024, NULL, "channels per head d_h (must divide d_model); d_h > 1: outer-product state"},
    {"disc", KNOB_ENUM, "bilinear", 0, 0, "bilinear|zoh", "discretisation of the diagonal SSM (the authors': bilinear)"},
    {"measure", KNOB_ENUM, "diag-lin", 0, 0, "diag-lin|diag-inv", "init of A: S4D-Lin (Im A = pi n) or S4D-Inv"},
    {"dt_min", KNOB_REAL, "0.001", 1e-7, 10, NULL, "smallest initial step size (log_dt ~ U[log dt_min, log dt_max])"},
    {"dt_max", KNOB_REAL, "0.1", 1e-7, 10, NULL, "largest initial step size"},
    {"ssm", KNOB_ENUM, "shift+diag", 0, 0, "shift+diag|diag+diag|shift+shift",
     "SSM on k + SSM on k~ v: H3's shift+diag, or the ablations diag+diag, shift+shift"},
    {"gate_kv", KNOB_BOOL, "true", 0, 1, NULL, "k~ * v (false: k~ + v, no multiplicative interaction; needs head_dim 1)"},
    {"gate_q", KNOB_BOOL, "true", 0, 1, NULL, "q * SSM_2 output (false: SSM_2 output + q; needs head_dim 1)"},
    {"fused", KNOB_BOOL, "false", 0, 1, NULL,
     "SSM_2 and the q gate as one fused op (ops h3_inner; needs both gates): no (B, L, E) buffers for its output"},
};

/* Slot kinds per value of the `ssm` knob, in the order of its choices. */
static const struct {
    const char *name;
    enum h3_kind kind[2];
} ssm_variants[] = {
    {"shift+diag", {H3_SHIFT, H3_DIAG}},
    {"diag+diag", {H3_DIAG, H3_DIAG}},
    {"shift+shift", {H3_SHIFT, H3_SHIFT}},
};

struct h3 {
    int D, N, dh, H, E; /* E = H d_h² = D d_h kv channels */
    bool gate_kv, gate_q;
    /* The fused inner op: k~ v, slot 2's conv, skip and the q contraction in
     * one pass per channel panel, y recomputed in the backward instead of
     * stored, so kv and y (B, L, E) and their gradients are never allocated
     * (6% less peak memory at d 64, L 64K). Off by default: it measured 2-8%
     * slower per training step from L 32 to 64K (the separate conv already
     * runs FlashConv above the crossover; the recomputation costs an FFT per
     * row). */
    bool fused;
    struct h3_slot slot[2]; /* [0] on k (D channels), [1] on kv (H channels, group d_h²) */
    /* Offsets into the flat parameter buffer. k_proj and v_proj sit at
     * wq/bq + proj_stride and + 2 proj_stride, so the three projections run
     * as one batched gemm while staying separate tensors. */
    size_t sD, Dd, wq, bq, proj_stride, wo, bo;
};

/* ---- create / init ------------------------------------------------------ */

static size_t add(struct param_table *pt, const char *prefix, const char *name, enum param_init init,
                  double arg, enum opt_group g, int d0, int d1, int d2, int d3) {
    char full[PARAM_NAME];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return param_add(pt, full, init, arg, g, d0, d1, d2, d3, 0);
}

static int check_gates(const struct knob_values *kv, char *err, size_t errlen) {
    int dh = knob_int(kv, "head_dim");
    const char *off = !knob_bool(kv, "gate_kv") ? "gate_kv" : !knob_bool(kv, "gate_q") ? "gate_q" : NULL;
    if (dh > 1 && off) {
        snprintf(err, errlen,
                 "key '%s': false needs head_dim 1 (head_dim is %d): the k*v product builds a head's "
                 "d_h x d_h state and the q contraction reads it out, so without both gates there is none",
                 off, dh);
        return -1;
    }
    if (off && knob_bool(kv, "fused")) {
        snprintf(err, errlen, "key 'fused': true needs both gates (%s is false): the fused op is q * SSM_2(k~ * v)",
                 off);
        return -1;
    }
    return 0;
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
    if (strlen(prefix) + strlen("ssm_k_kernel.kernel.inv_A_real") >= PARAM_NAME) {
        snprintf(err, errlen, "H3 parameter prefix '%s' is too long (names are limited to %d characters)",
                 prefix, PARAM_NAME - 1);
        return -1;
    }
    return check_gates(kv, err, errlen);
}

/* Both slots' settings from the knobs; slot 1 has D channels, slot 2 H. */
static void slot_cfgs(const struct h3 *s, const struct knob_values *kv, struct h3_slot_cfg c[2]) {
    const char *ssm = knob_str(kv, "ssm");
    int v = 0, nv = (int)(sizeof ssm_variants / sizeof ssm_variants[0]);
    while (v < nv && strcmp(ssm_variants[v].name, ssm) != 0) v++;
    HP_CHECK(v < nv); /* knob_set admits only the knob's choices, each listed here */
    for (int i = 0; i < 2; i++)
        c[i] = (struct h3_slot_cfg){
            .kind = ssm_variants[v].kind[i], .H = i ? s->H : s->D, .N = s->N,
            .disc = strcmp(knob_str(kv, "disc"), "zoh") == 0 ? SSM_ZOH : SSM_BILINEAR,
            .measure = strcmp(knob_str(kv, "measure"), "diag-inv") == 0 ? H3_DIAG_INV : H3_DIAG_LIN,
            .dt_min = knob_real(kv, "dt_min"), .dt_max = knob_real(kv, "dt_max"),
        };
}

/* Declares the tensors in the authors' named_parameters() order. */
static void declare(struct h3 *s, const struct h3_slot_cfg c[2], struct param_table *pt, const char *pre) {
    int D = s->D, H = s->H;
    char sub[PARAM_NAME];
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
    snprintf(sub, sizeof sub, "%sssm_k_kernel.kernel.", pre);
    h3_slot_declare(&s->slot[0], &c[0], pt, sub);
    snprintf(sub, sizeof sub, "%skernel.kernel.", pre);
    h3_slot_declare(&s->slot[1], &c[1], pt, sub);
    s->wo = add(pt, pre, "output_linear.weight", INIT_NORMAL, 0.02, GROUP_DEFAULT, D, D, 0, 0);
    s->bo = add(pt, pre, "output_linear.bias", INIT_ZERO, 0, GROUP_DEFAULT, D, 0, 0, 0);
}

static void *h3_create(const struct knob_values *kv, const struct layer_dims *dims, struct param_table *pt,
                       const char *prefix, char *err, size_t errlen) {
    if (check_knobs(kv, dims, prefix, err, errlen) != 0) return NULL;
    struct h3 *s = xcalloc(1, sizeof *s);
    s->D = dims->D;
    s->N = knob_int(kv, "d_state");
    s->dh = knob_int(kv, "head_dim");
    s->H = s->D / s->dh;
    s->E = s->D * s->dh;
    s->gate_kv = knob_bool(kv, "gate_kv");
    s->gate_q = knob_bool(kv, "gate_q");
    s->fused = knob_bool(kv, "fused");
    struct h3_slot_cfg c[2];
    slot_cfgs(s, kv, c);
    declare(s, c, pt, prefix);
    return s;
}

static void h3_init(const void *self, real *p, uint64_t seed) {
    const struct h3 *s = self;
    for (int i = 0; i < 2; i++) h3_slot_init(&s->slot[i], p, seed);
}

void h3_kernels(const void *self, const struct ops *ops, const real *p, int L, real *K1, real *K2) {
    const struct h3 *s = self;
    real *out[2] = {K1, K2};
    for (int i = 0; i < 2; i++) {
        const struct h3_slot *sl = &s->slot[i];
        int Lk = h3_slot_taps(sl, L), C = sl->c.H;
        real *K = xmalloc((size_t)C * Lk * sizeof(real)), *A_re = xmalloc((h3_slot_modes(sl) + 1) * sizeof(real));
        h3_slot_kernel(sl, ops, &(struct h3_kernel_args){.p = p, .L = L, .A_re = A_re, .K = K});
        for (int c = 0; c < C; c++)
            for (int j = 0; j < L; j++) out[i][(size_t)c * L + j] = j < Lk ? K[(size_t)c * Lk + j] : 0;
        free(K), free(A_re);
    }
}

/* ---- activation and scratch layout ------------------------------------- */

struct h3_act {
    real *qkv;        /* (3, B, L, D): q, k, v */
    real *kt;         /* (B, L, D) k~, slot 1's output */
    real *kv;         /* (B, L, E) slot 2's input */
    real *y;          /* (B, L, E) slot 2's output */
    real *o;          /* (B, L, D) gated output before output_linear */
    real *K[2];       /* (D, taps_1), (H, taps_2) the slots' kernels */
    real *A_re[2];    /* (D, N2), (H, N2) for diagonal slots, else empty */
};

static size_t act_layout(const struct h3 *s, int B, int L, real *base, struct h3_act *t) {
    size_t R = (size_t)B * L;
    struct carver c = {base, 0};
    t->qkv = carve(&c, 3 * R * s->D);
    t->kt = carve(&c, R * s->D);
    t->kv = carve(&c, s->fused ? 0 : R * s->E); /* the fused op forms k~ v itself */
    t->y = carve(&c, s->fused ? 0 : R * s->E);  /* and recomputes y in the backward */
    t->o = carve(&c, R * s->D);
    for (int i = 0; i < 2; i++) t->K[i] = carve(&c, (size_t)s->slot[i].c.H * h3_slot_taps(&s->slot[i], L));
    for (int i = 0; i < 2; i++) t->A_re[i] = carve(&c, h3_slot_modes(&s->slot[i]));
    return c.used;
}

struct h3_work {
    real *dout_o;     /* (B, L, D) gradient of o */
    real *dqkv;       /* (3, B, L, D) */
    real *dy;         /* (B, L, E) */
    real *dkv;        /* (B, L, E) */
    real *dkt;        /* (B, L, D) */
    real *dK[2];      /* as K */
    real *dA_re[2];   /* as A_re */
};

static size_t work_layout(const struct h3 *s, int B, int L, real *base, struct h3_work *w) {
    size_t R = (size_t)B * L;
    struct carver c = {base, 0};
    w->dout_o = carve(&c, R * s->D);
    w->dqkv = carve(&c, 3 * R * s->D);
    w->dy = carve(&c, s->fused ? 0 : R * s->E);
    w->dkv = carve(&c, s->fused ? 0 : R * s->E);
    w->dkt = carve(&c, R * s->D);
    for (int i = 0; i < 2; i++) w->dK[i] = carve(&c, (size_t)s->slot[i].c.H * h3_slot_taps(&s->slot[i], L));
    for (int i = 0; i < 2; i++) w->dA_re[i] = carve(&c, h3_slot_modes(&s->slot[i]));
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
    for (int m = 0; m < 3; m++) colsum_acc(ops, dqkv + (size_t)m * R * D, R, D, G + s->bq + m * s->proj_stride);
    if (!dx) return;
    for (int m = 0; m < 3; m++)
        ops_gemm(ops, OP_N, OP_N, R, D, D, 1, dqkv + (size_t)m * R * D, D, p + s->wq + m * s->proj_stride, D,
                 m ? 1 : 0, dx, D);
}


/* Slot i's convolution: slot 1 over k (D channels), slot 2 over kv (E
 * channels, each kernel row shared by the d_h² entries of a head). */
static struct conv_args slot_conv(const struct h3 *s, int i, const real *p, int B, int L, const real *u,
                                  const real *K, real *y) {
    const struct h3_slot *sl = &s->slot[i];
    int group = i ? s->dh * s->dh : 1;
    return (struct conv_args){
        .B = B, .L = L, .H = sl->c.H * group, .Lk = h3_slot_taps(sl, L), .group = group, .layout = CONV_BLH,
        .u = u, .k = K, .D = p + (i ? s->Dd : s->sD), .y = y,
    };
}

/* kv (=) = the heads' k~ ⊗ v (ops head_outer); or k~ + v without gate_kv. */
static void outer_fwd(const struct h3 *s, const struct ops *ops, int R, const real *kt, const real *v, real *kv) {
    if (!s->gate_kv) {
        ops_add(ops, kv, kt, v, (size_t)R * s->D);
        return;
    }
    struct head_outer_args a = {R, s->D, s->dh, kt, v, kv};
    ops->head_outer(&a);
}

/* dk~ (=), dv (=) from dkv. */
static void outer_bwd(const struct h3 *s, const struct ops *ops, int R, const real *kt, const real *v,
                      const real *dkv, real *dkt, real *dv) {
    if (!s->gate_kv) {
        ops_copy(ops, dkt, dkv, (size_t)R * s->D);
        ops_copy(ops, dv, dkv, (size_t)R * s->D);
        return;
    }
    struct head_outer_bwd_args g = {{R, s->D, s->dh, kt, v, NULL}, dkv, dkt, dv};
    ops->head_outer_bwd(&g);
}

/* o (=) = the heads' contraction of y by q (ops head_contract); or y + q without gate_q. */
static void gate_fwd(const struct h3 *s, const struct ops *ops, int R, const real *q, const real *y, real *o) {
    if (!s->gate_q) {
        ops_add(ops, o, y, q, (size_t)R * s->D);
        return;
    }
    struct head_contract_args a = {R, s->D, s->dh, q, y, o};
    ops->head_contract(&a);
}

/* dq (=), dy (=) from do. */
static void gate_bwd(const struct h3 *s, const struct ops *ops, int R, const real *q, const real *y,
                     const real *dout_o, real *dq, real *dy) {
    if (!s->gate_q) {
        ops_copy(ops, dq, dout_o, (size_t)R * s->D);
        ops_copy(ops, dy, dout_o, (size_t)R * s->D);
        return;
    }
    struct head_contract_bwd_args g = {{R, s->D, s->dh, q, y, NULL}, dout_o, dq, dy};
    ops->head_contract_bwd(&g);
}

/* ---- forward / backward -------------------------------------------------- */

/* Slot i's kernel into t->K[i], then its convolution of u into y. */
static void slot_fwd(const struct h3 *s, int i, const struct ops *ops, const struct layer_fwd *a,
                     const struct h3_act *t, const real *u, real *y) {
    h3_slot_kernel(&s->slot[i], ops, &(struct h3_kernel_args){.p = a->p, .L = a->L, .A_re = t->A_re[i], .K = t->K[i]});
    struct conv_args c = slot_conv(s, i, a->p, a->B, a->L, u, t->K[i], y);
    ops->conv(&c);
}

/* The fused op is the both-gates form (create() refuses it otherwise); its
 * layout has no y, so a backend must provide it. */
static bool use_fused(const struct h3 *s, const struct ops *ops) {
    if (s->fused && !ops->h3_inner) hp_die("h3: fused=true, but this backend has no h3_inner op");
    return s->fused;
}

static struct h3_inner_args inner_args(const struct h3 *s, const real *p, int B, int L, const struct h3_act *t) {
    size_t RD = (size_t)B * L * s->D;
    return (struct h3_inner_args){
        .B = B, .L = L, .D = s->D, .head_dim = s->dh, .Lk = h3_slot_taps(&s->slot[1], L),
        .q = t->qkv, .kt = t->kt, .v = t->qkv + 2 * RD, .K = t->K[1], .Dk = p + s->Dd, .o = t->o,
    };
}

static void h3_forward(const void *self, const struct ops *ops, const struct layer_fwd *a) {
    const struct h3 *s = self;
    int R = a->B * a->L;
    struct h3_act t;
    act_layout(s, a->B, a->L, a->act, &t);
    real *q = t.qkv, *k = q + (size_t)R * s->D, *v = k + (size_t)R * s->D;

    proj_fwd(s, ops, a->p, a->x, R, t.qkv);
    slot_fwd(s, 0, ops, a, &t, k, t.kt);
    if (use_fused(s, ops)) {
        h3_slot_kernel(&s->slot[1], ops, &(struct h3_kernel_args){.p = a->p, .L = a->L, .A_re = t.A_re[1], .K = t.K[1]});
        struct h3_inner_args in = inner_args(s, a->p, a->B, a->L, &t);
        ops->h3_inner(&in);
    } else {
        outer_fwd(s, ops, R, t.kt, v, t.kv);
        slot_fwd(s, 1, ops, a, &t, t.kv, t.y);
        gate_fwd(s, ops, R, q, t.y, t.o);
    }
    struct linear_args lo = {.R = R, .I = s->D, .O = s->D, .W = a->p + s->wo, .b = a->p + s->bo};
    linear_fwd(ops, &lo, t.o, a->y);
}

/* Slot i's kernel and skip gradients from dK[i] (slot_bwd or the fused op left it). */
static void slot_kernel_bwd(const struct h3 *s, int i, const struct ops *ops, const struct layer_bwd *a,
                            const struct h3_act *t, const struct h3_work *w) {
    struct h3_kernel_bwd_args kb = {
        .f = {.p = a->p, .L = a->L, .A_re = t->A_re[i], .K = t->K[i]}, .dK = w->dK[i], .dA_re = w->dA_re[i],
        .G = a->g,
    };
    h3_slot_kernel_bwd(&s->slot[i], ops, &kb);
}

/* Back through slot i: du (=) from dy; its kernel's and skip's gradients (+=). */
static void slot_bwd(const struct h3 *s, int i, const struct ops *ops, const struct layer_bwd *a,
                     const struct h3_act *t, const struct h3_work *w, const real *u, const real *dy, real *du) {
    const struct h3_slot *sl = &s->slot[i];
    ops_fill(ops, w->dK[i], (size_t)sl->c.H * h3_slot_taps(sl, a->L), 0);
    struct conv_bwd_args b = {
        .f = slot_conv(s, i, a->p, a->B, a->L, u, t->K[i], NULL), .dy = dy, .du = du, .dk = w->dK[i],
        .dD = a->g + (i ? s->Dd : s->sD),
    };
    ops->conv_bwd(&b);
    slot_kernel_bwd(s, i, ops, a, t, w);
}

/* The fused op's backward: dq, dk~, dv (=) and slot 2's dK, dD (+=). */
static void inner_bwd(const struct h3 *s, const struct ops *ops, const struct layer_bwd *a, const struct h3_act *t,
                      const struct h3_work *w) {
    size_t RD = (size_t)a->B * a->L * s->D;
    ops_fill(ops, w->dK[1], (size_t)s->slot[1].c.H * h3_slot_taps(&s->slot[1], a->L), 0);
    struct h3_inner_bwd_args g = {
        .f = inner_args(s, a->p, a->B, a->L, t), .dout = w->dout_o, .dq = w->dqkv, .dkt = w->dkt,
        .dv = w->dqkv + 2 * RD, .dK = w->dK[1], .dDk = a->g + s->Dd,
    };
    ops->h3_inner_bwd(&g);
    slot_kernel_bwd(s, 1, ops, a, t, w);
}

static void h3_backward(const void *self, const struct ops *ops, const struct layer_bwd *a) {
    const struct h3 *s = self;
    int R = a->B * a->L;
    size_t RD = (size_t)R * s->D;
    struct h3_act t;
    struct h3_work w;
    act_layout(s, a->B, a->L, a->act, &t);
    work_layout(s, a->B, a->L, a->scratch, &w);
    real *q = t.qkv, *k = q + RD, *v = k + RD;
    real *dq = w.dqkv, *dk = dq + RD, *dv = dk + RD;

    struct linear_args lo = {.R = R, .I = s->D, .O = s->D, .W = a->p + s->wo, .b = a->p + s->bo};
    linear_bwd(ops, &lo, t.o, a->dy, w.dout_o, a->g + s->wo, a->g + s->bo);
    if (use_fused(s, ops)) {
        inner_bwd(s, ops, a, &t, &w);
    } else {
        gate_bwd(s, ops, R, q, t.y, w.dout_o, dq, w.dy);
        slot_bwd(s, 1, ops, a, &t, &w, t.kv, w.dy, w.dkv);
        outer_bwd(s, ops, R, t.kt, v, w.dkv, w.dkt, dv);
    }
    slot_bwd(s, 0, ops, a, &t, &w, k, w.dkt, dk);
    proj_bwd(s, ops, a->p, a->x, R, w.dqkv, a->g, a->dx);
}

/* Slot 1: D x N reals (shift) or D x N2 complex (diagonal), D N either way;
 * slot 2 likewise E N (each kv channel keeps N shift taps or N2 complex
 * modes). Exactly the buffer the recurrent mode below uses. */
static size_t h3_state_size(const void *self, int L) {
    (void)L;
    const struct h3 *s = self;
    return (size_t)s->D * s->N + (size_t)s->E * s->N;
}

/* ---- recurrent mode (spec/h3.md §1.7) -------------------------------------
 * A sequence's state is slot 1's (D channels x N) then slot 2's (E x N),
 * in the layouts of models/h3.h. A token runs the forward's pieces with
 * R = B rows: projections, slot 1 step, k~ v, slot 2 step, q gate, W_O. */

static struct h3_slot_state slot_state(const struct h3 *s, int i, int B, const real *p, real *state) {
    return (struct h3_slot_state){
        .B = B, .group = i ? s->dh * s->dh : 1, .p = p, .skip = p + (i ? s->Dd : s->sD),
        .state = state + (i ? (size_t)s->D * s->N : 0), .stride = h3_state_size(s, 0),
    };
}

/* Empty, or set from the prompt's k (slot 1's input) and kv (slot 2's) that
 * the forward left in act; with the fused op kv was never stored, and is
 * formed here from k~ and v. */
static void h3_state_init(const void *self, const struct ops *ops, const struct layer_state_args *a) {
    const struct h3 *s = self;
    int P = a->prompt_L;
    memset(a->state, 0, (size_t)a->B * h3_state_size(s, a->L) * sizeof(real));
    if (P == 0) return;
    struct h3_act t;
    act_layout(s, a->B, P, (real *)a->act, &t); /* views only: nothing is written */
    size_t RD = (size_t)a->B * P * s->D;
    const real *k = t.qkv + RD;
    real *kv = s->fused ? xmalloc((size_t)a->B * P * s->E * sizeof(real)) : t.kv;
    if (s->fused) outer_fwd(s, ops, a->B * P, t.kt, k + RD, kv);
    for (int i = 0; i < 2; i++) {
        struct h3_slot_state st = slot_state(s, i, a->B, a->p, a->state);
        h3_slot_prefill(&s->slot[i], &st, P, i ? kv : k);
    }
    if (s->fused) free(kv);
}

/* q, k, v (3, B, D), k~ (B, D), kv and y (B, E), o (B, D). */
static size_t h3_step_scratch_size(const void *self, int B, int L) {
    (void)L;
    const struct h3 *s = self;
    return (size_t)B * (5 * (size_t)s->D + 2 * (size_t)s->E);
}

static void h3_step(const void *self, const struct ops *ops, const struct layer_step *a) {
    const struct h3 *s = self;
    int B = a->B;
    size_t BD = (size_t)B * s->D, BE = (size_t)B * s->E;
    real *q = a->scratch, *k = q + BD, *v = k + BD, *kt = v + BD, *kv = kt + BD, *y = kv + BE, *o = y + BE;
    proj_fwd(s, ops, a->p, a->x, B, q);
    struct h3_slot_state s1 = slot_state(s, 0, B, a->p, a->state), s2 = slot_state(s, 1, B, a->p, a->state);
    h3_slot_step(&s->slot[0], &s1, k, kt);
    outer_fwd(s, ops, B, kt, v, kv);
    h3_slot_step(&s->slot[1], &s2, kv, y);
    gate_fwd(s, ops, B, q, y, o);
    struct linear_args lo = {.R = B, .I = s->D, .O = s->D, .W = a->p + s->wo, .b = a->p + s->bo};
    linear_fwd(ops, &lo, o, a->y);
}

static void h3_destroy(void *self) { free(self); }

const struct layer_kind layer_h3 = {
    .name = "h3",
    .summary = "H3: q * SSM_diag(SSM_shift(k) * v), shift + diagonal SSMs, optional outer-product heads; "
               "ablations ssm, gate_kv, gate_q",
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
    .state_init = h3_state_init,
    .step_scratch_size = h3_step_scratch_size,
    .step = h3_step,
    .destroy = h3_destroy,
};
