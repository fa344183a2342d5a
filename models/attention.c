/* attention.c — causal multi-head softmax attention, the synthetics baseline
 * (h3.md §2.3, tests/fixtures/reference/README.md §5.3).
 *
 *   qkv = x Wqkvᵀ + b                       rows 0..D-1 of Wqkv give q, D..2D-1 k, 2D..3D-1 v
 *   S[b,h] = q_h k_hᵀ, P = softmax(S / sqrt(dh)) over keys s <= t (causal)
 *   Pd = dropout(P) in training (mask from hp_uniform_at(seed, stream, i) over (B, NH, L, L))
 *   o_h = Pd v_h,  y = o W_outᵀ + b_out
 * Head h owns columns h*dh..(h+1)*dh-1 of q, k, v and o. The reference adds
 * -10000 to masked scores; exp(-10000) underflows to exactly 0 in double, so an
 * exact causal softmax is identical. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "linear.h"

static const struct knob attn_knobs[] = {
    {"n_heads", KNOB_INT, "1", 1, 4096, NULL, "attention heads; d_model must be divisible by it"},
    {"dropout", KNOB_REAL, "0.1", 0, 1, NULL, "attention-probability dropout p, 0 <= p < 1"},
    {"impl", KNOB_ENUM, "auto", 0, 0, "auto|full|tiled",
     "full: (L, L) scores kept for backward; tiled: ops->attention, O(L) memory (online softmax, scores "
     "recomputed in backward); auto: tiled once B*n_heads*L*L exceeds 2^20 (L > 1024 at B = 1)"},
};

enum attn_impl { IMPL_AUTO, IMPL_FULL, IMPL_TILED };

struct attn {
    int D, NH, dh;
    enum attn_impl impl;
    double p;                      /* dropout probability */
    size_t wqkv, bqkv, wout, bout; /* offsets: (3D, D), (3D), (D, D), (D) */
};

/* Where each activation lives inside act (saved for backward). */
struct attn_act {
    real *qkv; /* (B, L, 3D) */
    real *P;   /* (B, NH, L, L) softmax probabilities */
    real *Pd;  /* (B, NH, L, L) after dropout; == P when dropout is off */
    real *o;   /* (B, L, D) heads' outputs, concatenated */
};

static size_t probs_size(const struct attn *s, int B, int L) { return (size_t)B * s->NH * L * L; }

/* The auto switch: the full path (its exact layout and bits) at the paper's
 * sizes (B 32, L <= 40: 51K score entries); tiled once the scores pass 2^20
 * entries (4 MiB; L > 1024 at B n_heads = 1), where it was measured as fast or
 * faster on one thread (L 512: 2.3 vs 2.6 ms, 1024: 15 vs 27, 4096: 323 vs
 * 405 fwd+bwd, d 64) and needs O(L) memory instead of O(L^2). */
#define ATTN_AUTO_TILED_ABOVE ((size_t)1 << 20)

static bool tiled(const struct attn *s, int B, int L) {
    return s->impl == IMPL_TILED || (s->impl == IMPL_AUTO && probs_size(s, B, L) > ATTN_AUTO_TILED_ABOVE);
}

/* act = [qkv | P | Pd (only when p > 0) | o]; Pd aliases P when no dropout was applied. */
static struct attn_act act_views(const struct attn *s, real *act, int B, int L, bool dropped) {
    size_t BL = (size_t)B * L, PP = probs_size(s, B, L);
    struct attn_act v;
    v.qkv = act;
    v.P = v.qkv + BL * 3 * s->D;
    real *pd_slot = v.P + PP;
    v.o = pd_slot + (s->p > 0 ? PP : 0);
    v.Pd = dropped ? pd_slot : v.P;
    return v;
}

static void *attn_create(const struct knob_values *kv, const struct layer_dims *dims, struct param_table *pt,
                         const char *prefix, char *err, size_t errlen) {
    int NH = knob_int(kv, "n_heads");
    double p = knob_real(kv, "dropout");
    if (dims->D % NH != 0) {
        snprintf(err, errlen, "attention: d_model = %d is not divisible by n_heads = %d", dims->D, NH);
        return NULL;
    }
    if (!(p >= 0 && p < 1)) {
        snprintf(err, errlen, "attention: dropout = %g must satisfy 0 <= dropout < 1", p);
        return NULL;
    }
    struct attn *s = xcalloc(1, sizeof *s);
    s->D = dims->D;
    s->NH = NH;
    s->dh = dims->D / NH;
    s->p = p;
    const char *impl = knob_str(kv, "impl");
    s->impl = !strcmp(impl, "full") ? IMPL_FULL : !strcmp(impl, "tiled") ? IMPL_TILED : IMPL_AUTO;
    int D = s->D;
    char name[PARAM_NAME];
    snprintf(name, sizeof name, "%sWqkv.weight", prefix);
    s->wqkv = param_add(pt, name, INIT_NORMAL, 0.02, GROUP_DEFAULT, 3 * D, D, 0);
    snprintf(name, sizeof name, "%sWqkv.bias", prefix);
    s->bqkv = param_add(pt, name, INIT_ZERO, 0, GROUP_DEFAULT, 3 * D, 0);
    /* GPT-2 style residual scaling of the output projection (h3.md §1.6). */
    snprintf(name, sizeof name, "%sout_proj.weight", prefix);
    s->wout = param_add(pt, name, INIT_NORMAL, 0.02 / sqrt(2.0 * dims->n_layer), GROUP_DEFAULT, D, D, 0);
    snprintf(name, sizeof name, "%sout_proj.bias", prefix);
    s->bout = param_add(pt, name, INIT_ZERO, 0, GROUP_DEFAULT, D, 0);
    return s;
}

static void attn_init(const void *self, real *p, uint64_t seed) {
    (void)self, (void)p, (void)seed; /* every tensor has a generic init */
}

/* Tiled: act = [qkv | o | lse (B, NH, L)]; no (L, L) buffer anywhere. */
static size_t attn_act_size(const void *self, int B, int L) {
    const struct attn *s = self;
    size_t BL = (size_t)B * L;
    if (tiled(s, B, L)) return BL * 4 * s->D + BL * s->NH;
    return BL * 4 * s->D + (s->p > 0 ? 2 : 1) * probs_size(s, B, L);
}

/* forward: scores (B, NH, L, L). backward: do (B, L, D), dPd and dS (B, NH, L, L), dqkv (B, L, 3D).
 * Tiled: do and dqkv only (ops->attention keeps its tiles in its own scratch). */
static size_t attn_scratch_size(const void *self, int B, int L) {
    const struct attn *s = self;
    size_t BL = (size_t)B * L;
    return BL * 4 * s->D + (tiled(s, B, L) ? 0 : 2 * probs_size(s, B, L));
}

static struct attention_args tiled_args(const struct attn *s, int B, int L, const real *act, bool drop,
                                        uint64_t seed, uint64_t stream) {
    size_t BL = (size_t)B * L;
    real *qkv = (real *)act;
    return (struct attention_args){.B = B, .L = L, .NH = s->NH, .dh = s->dh,
                                   .scale = (real)(1.0 / sqrt((double)s->dh)), .qkv = qkv,
                                   .o = qkv + BL * 3 * s->D, .lse = qkv + BL * 4 * s->D,
                                   .p = drop ? s->p : 0, .seed = seed, .stream = stream};
}

/* Per-head products batched over the B sequences: C[b] = op(A[b]) op(B[b]). */
static void head_gemm(const struct ops *ops, enum op_trans ta, enum op_trans tb, int M, int N, int K, int batch,
                      const real *A, int lda, size_t sa, const real *Bm, int ldb, size_t sb, real *C, int ldc,
                      size_t sc) {
    struct gemm_args g = {
        .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .alpha = 1, .beta = 0,
        .A = A, .lda = lda, .stride_a = sa,
        .B = Bm, .ldb = ldb, .stride_b = sb,
        .C = C, .ldc = ldc, .stride_c = sc,
        .batch = batch,
    };
    ops->gemm(&g);
}

/* Pd = P * keep / (1 - p), keep_i = (hp_uniform_at(seed, stream, i) >= p) with i the
 * flat (B, NH, L, L) index (ops dropout, causal). Entries above the diagonal are 0 in P
 * and stay 0. */
static void dropout_fwd(const struct attn *s, const struct ops *ops, int B, int L, uint64_t seed, uint64_t stream,
                        const real *P, real *Pd) {
    struct dropout_args d = {probs_size(s, B, L), L, s->p, seed, stream, P, Pd};
    ops->dropout(&d);
}

static void forward_tiled(const struct attn *s, const struct ops *ops, const struct layer_fwd *a) {
    int BL = a->B * a->L, D = s->D;
    struct attention_args t = tiled_args(s, a->B, a->L, a->act, a->training && s->p > 0, a->seed, a->stream);
    struct linear_args in = {.R = BL, .I = D, .O = 3 * D, .W = a->p + s->wqkv, .b = a->p + s->bqkv};
    struct linear_args out = {.R = BL, .I = D, .O = D, .W = a->p + s->wout, .b = a->p + s->bout};
    linear_fwd(ops, &in, a->x, (real *)t.qkv);
    ops->attention(&t);
    linear_fwd(ops, &out, t.o, a->y);
}

static void backward_tiled(const struct attn *s, const struct ops *ops, const struct layer_bwd *a) {
    int BL = a->B * a->L, D = s->D;
    struct attention_bwd_args g = {
        .f = tiled_args(s, a->B, a->L, a->act, a->training && s->p > 0, a->seed, a->stream),
        .dO = a->scratch, .dqkv = a->scratch + (size_t)BL * D};
    struct linear_args in = {.R = BL, .I = D, .O = 3 * D, .W = a->p + s->wqkv, .b = a->p + s->bqkv};
    struct linear_args out = {.R = BL, .I = D, .O = D, .W = a->p + s->wout, .b = a->p + s->bout};
    linear_bwd(ops, &out, g.f.o, a->dy, (real *)g.dO, a->g + s->wout, a->g + s->bout);
    ops->attention_bwd(&g);
    linear_bwd(ops, &in, a->x, g.dqkv, a->dx, a->g + s->wqkv, a->g + s->bqkv);
}

static void attn_forward(const void *self, const struct ops *ops, const struct layer_fwd *a) {
    const struct attn *s = self;
    if (tiled(s, a->B, a->L)) {
        forward_tiled(s, ops, a);
        return;
    }
    int B = a->B, L = a->L, D = s->D, NH = s->NH, dh = s->dh, BL = B * L;
    bool drop = a->training && s->p > 0;
    struct attn_act v = act_views(s, a->act, B, L, drop);
    real *S = a->scratch; /* (B, NH, L, L) */
    size_t LL = (size_t)L * L, sq = (size_t)L * 3 * D;

    struct linear_args in = {.R = BL, .I = D, .O = 3 * D, .W = a->p + s->wqkv, .b = a->p + s->bqkv};
    struct linear_args out = {.R = BL, .I = D, .O = D, .W = a->p + s->wout, .b = a->p + s->bout};
    linear_fwd(ops, &in, a->x, v.qkv);
    for (int h = 0; h < NH; h++) /* S[b,h] = q_h k_hᵀ, (L, L) */
        head_gemm(ops, OP_N, OP_T, L, L, dh, B, v.qkv + h * dh, 3 * D, sq, v.qkv + D + h * dh, 3 * D, sq,
                  S + h * LL, L, NH * LL);
    struct softmax_args sm = {
        .R = B * NH * L, .C = L, .causal_L = L, .scale = (real)(1.0 / sqrt((double)dh)), .x = S, .y = v.P};
    ops->softmax(&sm);
    if (drop) dropout_fwd(s, ops, B, L, a->seed, a->stream, v.P, v.Pd);
    for (int h = 0; h < NH; h++) /* o_h[b] = Pd[b,h] v_h, (L, dh) */
        head_gemm(ops, OP_N, OP_N, L, dh, L, B, v.Pd + h * LL, L, NH * LL, v.qkv + 2 * D + h * dh, 3 * D, sq,
                  v.o + h * dh, D, (size_t)L * D);
    linear_fwd(ops, &out, v.o, a->y);
}

/* dP = dPd * keep / (1 - p), in place. keep is read back from Pd: where P > 0 a kept
 * entry has Pd > 0; where P == 0 the softmax backward multiplies dP by 0 anyway. */
static void dropout_bwd(const struct attn *s, const struct ops *ops, size_t n, const real *Pd, real *dPd) {
    struct ewise_args e = {.kind = EW_KEEP, .R = 1, .C = n, .alpha = (real)(1.0 / (1.0 - s->p)), .a = ew_rows(Pd, n),
                           .b = ew_rows(dPd, n), .y = ew_rows_out(dPd, n)};
    ops->ewise(&e);
}

static void attn_backward(const void *self, const struct ops *ops, const struct layer_bwd *a) {
    const struct attn *s = self;
    if (tiled(s, a->B, a->L)) {
        backward_tiled(s, ops, a);
        return;
    }
    int B = a->B, L = a->L, D = s->D, NH = s->NH, dh = s->dh, BL = B * L;
    bool drop = a->training && s->p > 0;
    struct attn_act v = act_views(s, a->act, B, L, drop);
    size_t LL = (size_t)L * L, sq = (size_t)L * 3 * D, so = (size_t)L * D, PP = probs_size(s, B, L);
    real *dO = a->scratch;                  /* (B, L, D) */
    real *dPd = dO + (size_t)BL * D;        /* (B, NH, L, L) */
    real *dS = dPd + PP;                    /* (B, NH, L, L) */
    real *dqkv = dS + PP;                   /* (B, L, 3D) */
    const real *q = v.qkv, *k = v.qkv + D, *vv = v.qkv + 2 * D;

    struct linear_args in = {.R = BL, .I = D, .O = 3 * D, .W = a->p + s->wqkv, .b = a->p + s->bqkv};
    struct linear_args out = {.R = BL, .I = D, .O = D, .W = a->p + s->wout, .b = a->p + s->bout};
    linear_bwd(ops, &out, v.o, a->dy, dO, a->g + s->wout, a->g + s->bout);
    for (int h = 0; h < NH; h++) {
        int c = h * dh;
        /* dPd = dO_h v_hᵀ (L, L); dv_h = Pdᵀ dO_h (L, dh) */
        head_gemm(ops, OP_N, OP_T, L, L, dh, B, dO + c, D, so, vv + c, 3 * D, sq, dPd + h * LL, L, NH * LL);
        head_gemm(ops, OP_T, OP_N, L, dh, L, B, v.Pd + h * LL, L, NH * LL, dO + c, D, so, dqkv + 2 * D + c,
                  3 * D, sq);
    }
    if (drop) dropout_bwd(s, ops, PP, v.Pd, dPd);
    struct softmax_bwd_args sb = {
        .f = {.R = B * NH * L, .C = L, .causal_L = L, .scale = (real)(1.0 / sqrt((double)dh)), .x = NULL,
              .y = v.P},
        .y = v.P, .dy = dPd, .dx = dS};
    ops->softmax_bwd(&sb);
    for (int h = 0; h < NH; h++) {
        int c = h * dh;
        /* dq_h = dS k_h; dk_h = dSᵀ q_h (both (L, dh), scale already in dS) */
        head_gemm(ops, OP_N, OP_N, L, dh, L, B, dS + h * LL, L, NH * LL, k + c, 3 * D, sq, dqkv + c, 3 * D, sq);
        head_gemm(ops, OP_T, OP_N, L, dh, L, B, dS + h * LL, L, NH * LL, q + c, 3 * D, sq, dqkv + D + c, 3 * D,
                  sq);
    }
    linear_bwd(ops, &in, a->x, dqkv, a->dx, a->g + s->wqkv, a->g + s->bqkv);
}

/* The KV cache: keys and values of every past position, (L, 2D) per
 * sequence: row s = [k_s | v_s]. */
static size_t attn_state_size(const void *self, int L) {
    const struct attn *s = self;
    return 2 * (size_t)L * s->D;
}

/* ---- recurrent mode: a KV cache ----------------------------------------- */

/* Empty, or rows 0..P-1 filled with the prompt's keys and values from the
 * forward's qkv (act starts with it, (B, P, 3D)). */
static void attn_state_init(const void *self, const struct ops *ops, const struct layer_state_args *a) {
    (void)ops;
    const struct attn *s = self;
    int D = s->D, P = a->prompt_L;
    size_t S = attn_state_size(s, a->L);
    HP_CHECK(P <= a->L);
    memset(a->state, 0, (size_t)a->B * S * sizeof(real));
    for (int b = 0; b < a->B; b++)
        for (int t = 0; t < P; t++)
            memcpy(a->state + (size_t)b * S + (size_t)t * 2 * D, a->act + ((size_t)b * P + t) * 3 * D + D,
                   2 * (size_t)D * sizeof(real));
}

/* qkv (B, 3D), o (B, D), one head's scores (L). */
static size_t attn_step_scratch_size(const void *self, int B, int L) {
    const struct attn *s = self;
    return (size_t)B * 4 * s->D + (size_t)L;
}

/* o_h (=) = sum_{s <= t} softmax_s(q_h . k_h(s) / sqrt(dh)) v_h(s) over cache
 * rows 0..t of one sequence; e (t + 1) holds the unnormalised weights. */
static void attn_head_step(const struct attn *s, const real *q, const real *cache, int t, int h, real *e,
                           real *o) {
    int D = s->D, dh = s->dh;
    double scale = 1.0 / sqrt((double)dh), mx = -INFINITY, sum = 0;
    for (int r = 0; r <= t; r++) {
        const real *k = cache + (size_t)r * 2 * D + h * dh;
        double dot = 0;
        for (int i = 0; i < dh; i++) dot += (double)q[h * dh + i] * k[i];
        e[r] = (real)(dot * scale);
        mx = fmax(mx, e[r]);
    }
    for (int r = 0; r <= t; r++) sum += e[r] = (real)exp(e[r] - mx);
    for (int i = 0; i < dh; i++) {
        double acc = 0;
        for (int r = 0; r <= t; r++) acc += (double)e[r] * cache[(size_t)r * 2 * D + D + h * dh + i];
        o[h * dh + i] = (real)(acc / sum);
    }
}

static void attn_step(const void *self, const struct ops *ops, const struct layer_step *a) {
    const struct attn *s = self;
    int B = a->B, D = s->D, t = a->t;
    size_t S = attn_state_size(s, a->L);
    HP_CHECK(t >= 0 && t < a->L);
    real *qkv = a->scratch, *o = qkv + (size_t)B * 3 * D, *e = o + (size_t)B * D;
    struct linear_args in = {.R = B, .I = D, .O = 3 * D, .W = a->p + s->wqkv, .b = a->p + s->bqkv};
    struct linear_args out = {.R = B, .I = D, .O = D, .W = a->p + s->wout, .b = a->p + s->bout};
    linear_fwd(ops, &in, a->x, qkv);
    for (int b = 0; b < B; b++) {
        real *cache = a->state + (size_t)b * S;
        const real *row = qkv + (size_t)b * 3 * D;
        memcpy(cache + (size_t)t * 2 * D, row + D, 2 * (size_t)D * sizeof(real));
        for (int h = 0; h < s->NH; h++) attn_head_step(s, row, cache, t, h, e, o + (size_t)b * D);
    }
    linear_fwd(ops, &out, o, a->y);
}

static void attn_destroy(void *self) { free(self); }

const struct layer_kind layer_attention = {
    .name = "attention",
    .summary = "causal multi-head softmax attention (the synthetics baseline)",
    .knobs = attn_knobs,
    .n_knobs = (int)(sizeof attn_knobs / sizeof attn_knobs[0]),
    .pos_emb = true,
    .create = attn_create,
    .init = attn_init,
    .act_size = attn_act_size,
    .scratch_size = attn_scratch_size,
    .forward = attn_forward,
    .backward = attn_backward,
    .state_size = attn_state_size,
    .state_init = attn_state_init,
    .step_scratch_size = attn_step_scratch_size,
    .step = attn_step,
    .destroy = attn_destroy,
};
