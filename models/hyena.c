/* hyena.c — the order-2 Hyena operator (Poli et al. 2023, "Hyena Hierarchy",
 * arXiv 2302.10866; spec/h3.md §6). Inside the model's pre-norm block (which
 * supplies LN(x) and the residual):
 *
 *   z  = x W_inᵀ + b_in                       (B, L, 3D)  in_proj
 *   z' = short causal depthwise conv of z     3D channels, S = short_filter taps:
 *        z'[t, c] = b_s[c] + sum_{j<S} w_s[c, 0, S-1-j] z[t-j, c]
 *        (PyTorch's Conv1d with padding S-1, cut to the first L outputs)
 *   x0, x1, v = z'[:, 0:D], z'[:, D:2D], z'[:, 2D:3D]
 *   g  = v ⊙ x1
 *   u  = h * g + β ⊙ g                        causal long conv per channel with the
 *                                             implicit filter h (D, L) and skip β: ops->conv
 *   o  = u ⊙ x0
 *   out = o W_outᵀ + b_out
 * The filter h (an MLP over positional features times a decay window) is
 * stated in models/hyena.h and computed in models/hyena_filter.c.
 *
 * One long convolution, after the first gate: the reference code's order-2
 * operator (safari's HyenaOperator; its issue #9 notes that the paper's
 * recurrence z¹ = v, zⁿ⁺¹ = xⁿ ⊙ (hⁿ * zⁿ) would convolve twice). Causality
 * holds by construction (both convolutions are causal; the generic layer
 * suite perturbs future inputs, which is what safari issue #40 asked).
 *
 * Parameters (under "backbone.layers.{i}.mixer."), the reference's names and
 * named_parameters() order, weights stored (out, in):
 *   in_proj.weight (3D, D), in_proj.bias (3D)
 *   out_proj.weight (D, D), out_proj.bias (D)
 *   short_filter.weight (3D, 1, S), short_filter.bias (3D)
 *   filter_fn.bias (D), filter_fn.implicit_filter.* (models/hyena_filter.c)
 * Inits (knob `init`):
 *   torch: PyTorch's module defaults, the standalone operator's: every Linear
 *          weight and bias U(±1/sqrt(fan_in)) (fan_in D for the projections)
 *   lm:    safari's lm_simple re-draw (spec/h3.md §1.6) on top: every Linear
 *          weight N(0, 0.02²) and bias 0, out_proj.weight N(0, 0.02²/(2 n_layer))
 *   both:  short_filter weight and bias U(±1/sqrt(S)) (a Conv1d, fan_in 1·S,
 *          which lm_simple leaves alone); filter_fn.bias N(0, 1); freq = w.
 *
 * Recurrent mode: a cache of the history the convolutions need, per sequence
 * (K 3D + L D reals, K = min(S-1, L-1)): the last K rows of z (newest first)
 * and g at every position so far. A step computes the filter's first t+1 taps and the long
 * conv's sum over the history, so its cost grows with the position, like
 * attention's KV cache.
 *
 * Shapes: B batch, L length, D d_model, R = B·L rows, S short taps. */
#include "hyena.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linear.h"

static const struct knob hyena_knobs[] = {
    {"filter_order", KNOB_INT, "64", 1, 4096, NULL, "W: width of the implicit filter's MLP"},
    {"emb_dim", KNOB_INT, "3", 3, 63, NULL,
     "positional features into the filter MLP (odd): t and (emb_dim-1)/2 cos/sin pairs (long-AR config: 5)"},
    {"inner_mlps", KNOB_INT, "2", 0, HY_MAX_INNER, NULL, "hidden W x W layers of the filter MLP"},
    {"short_filter", KNOB_INT, "3", 1, 64, NULL, "taps of the causal depthwise conv on the three projections"},
    {"w", KNOB_REAL, "1", 0, 1e4, NULL, "initial frequency of the filter MLP's sines (long-AR config: 10)"},
    {"decay_target", KNOB_REAL, "0.01", 1e-12, 0.999999, NULL, "the window's value where each channel's decay ends"},
    {"fast_decay_pct", KNOB_REAL, "0.3", 1e-6, 1e6, NULL, "fraction of the layout where the fastest channel reaches decay_target"},
    {"slow_decay_pct", KNOB_REAL, "1.5", 1e-6, 1e6, NULL, "the same for the slowest channel"},
    {"l_max", KNOB_INT, "0", 0, 1 << 28, NULL,
     "positions the filter's features are laid out for (0: the model's longest input; reference configs: L + 2)"},
    {"init", KNOB_ENUM, "torch", 0, 0, "torch|lm",
     "Linear inits: PyTorch defaults (torch) or safari lm_simple's N(0, 0.02) re-draw (lm)"},
};

struct hyena {
    int D, S;
    double w;
    struct hy_filter f;
    /* offsets into the flat parameter buffer */
    size_t win, bin, wout, bout, sfw, sfb;
};

/* ---- create / init ---------------------------------------------------------- */

static size_t add(struct param_table *pt, const char *prefix, const char *name, enum param_init init, double arg,
                  int d0, int d1, int d2) {
    char full[PARAM_NAME];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return param_add(pt, full, init, arg, GROUP_DEFAULT, d0, d1, d2, 0);
}

static int check(const struct knob_values *kv, const struct layer_dims *dims, const char *prefix, char *err,
                 size_t errlen) {
    int E = knob_int(kv, "emb_dim"), lm = knob_int(kv, "l_max");
    if (dims->D < 1) return snprintf(err, errlen, "hyena: d_model = %d must be at least 1", dims->D), -1;
    if (E % 2 == 0)
        return snprintf(err, errlen, "key 'emb_dim': %d is even; it must be odd (t, then cos/sin pairs)", E), -1;
    if (lm != 0 && lm < dims->max_L)
        return snprintf(err, errlen, "key 'l_max': %d is shorter than the longest input %d (0 = that length)", lm,
                        dims->max_L),
               -1;
    if (strlen(prefix) + strlen("filter_fn.implicit_filter.10.weight") >= PARAM_NAME)
        return snprintf(err, errlen, "hyena: parameter prefix '%s' is too long (names are limited to %d characters)",
                        prefix, PARAM_NAME - 1),
               -1;
    return 0;
}

static void declare(struct hyena *s, struct param_table *pt, const char *pre, bool lm, int n_layer) {
    int D = s->D, S = s->S;
    double bD = 1 / sqrt((double)D), bS = 1 / sqrt((double)S);
    enum param_init wi = lm ? INIT_NORMAL : INIT_UNIFORM, bi = lm ? INIT_ZERO : INIT_UNIFORM;
    s->win = add(pt, pre, "in_proj.weight", wi, lm ? 0.02 : bD, 3 * D, D, 0);
    s->bin = add(pt, pre, "in_proj.bias", bi, lm ? 0 : bD, 3 * D, 0, 0);
    s->wout = add(pt, pre, "out_proj.weight", wi, lm ? 0.02 / sqrt(2.0 * n_layer) : bD, D, D, 0);
    s->bout = add(pt, pre, "out_proj.bias", bi, lm ? 0 : bD, D, 0, 0);
    s->sfw = add(pt, pre, "short_filter.weight", INIT_UNIFORM, bS, 3 * D, 1, S);
    s->sfb = add(pt, pre, "short_filter.bias", INIT_UNIFORM, bS, 3 * D, 0, 0);
}

static void *hyena_create(const struct knob_values *kv, const struct layer_dims *dims, struct param_table *pt,
                          const char *prefix, char *err, size_t errlen) {
    if (check(kv, dims, prefix, err, errlen) != 0) return NULL;
    struct hyena *s = xcalloc(1, sizeof *s);
    s->D = dims->D;
    s->S = knob_int(kv, "short_filter");
    s->w = knob_real(kv, "w");
    bool lm = strcmp(knob_str(kv, "init"), "lm") == 0;
    declare(s, pt, prefix, lm, dims->n_layer > 0 ? dims->n_layer : 1);
    struct hy_filter_cfg fc = {
        .D = s->D, .W = knob_int(kv, "filter_order"), .E = knob_int(kv, "emb_dim"),
        .n_inner = knob_int(kv, "inner_mlps"), .l_max = knob_int(kv, "l_max") ? knob_int(kv, "l_max") : dims->max_L,
        .target = knob_real(kv, "decay_target"), .fast_pct = knob_real(kv, "fast_decay_pct"),
        .slow_pct = knob_real(kv, "slow_decay_pct"), .init = lm ? HY_INIT_LM : HY_INIT_TORCH,
    };
    hy_filter_declare(&s->f, &fc, pt, prefix);
    return s;
}

static void hyena_init(const void *self, real *p, uint64_t seed) {
    (void)seed;
    const struct hyena *s = self;
    hy_filter_init(&s->f, p, s->w);
}

/* ---- activation and scratch layout ---------------------------------------------- */

/* Short-conv taps the op sees: all S, or L when the sequence is shorter. */
static int short_taps(const struct hyena *s, int L) { return s->S < L ? s->S : L; }

struct hy_act {
    real *z, *zc;     /* (R, 3D) in_proj output; after the short conv */
    real *g, *u, *o;  /* (R, D) v ⊙ x1; the long conv's output; u ⊙ x0 */
    real *ks;         /* (3D, Lks) short taps in the op's order (reversed) */
    struct hy_filter_act f;
};

static size_t act_layout(const struct hyena *s, int B, int L, real *base, struct hy_act *t) {
    size_t R = (size_t)B * L, D = (size_t)s->D;
    struct carver c = {base, 0};
    t->z = carve(&c, R * 3 * D), t->zc = carve(&c, R * 3 * D);
    t->g = carve(&c, R * D), t->u = carve(&c, R * D), t->o = carve(&c, R * D);
    t->ks = carve(&c, 3 * D * short_taps(s, L));
    hy_filter_act_layout(&s->f, L, &c, &t->f);
    return c.used;
}

struct hy_work {
    real *dz1, *dz2; /* (R, 3D) dz' then dz */
    real *d1, *d2;   /* (R, D) */
    real *dks;       /* (3D, Lks) */
    real *dh;        /* (D, L) */
    struct hy_filter_work f;
};

static size_t work_layout(const struct hyena *s, int B, int L, real *base, struct hy_work *w) {
    size_t R = (size_t)B * L, D = (size_t)s->D;
    struct carver c = {base, 0};
    w->dz1 = carve(&c, R * 3 * D), w->dz2 = carve(&c, R * 3 * D);
    w->d1 = carve(&c, R * D), w->d2 = carve(&c, R * D);
    w->dks = carve(&c, 3 * D * short_taps(s, L));
    w->dh = carve(&c, D * L);
    hy_filter_work_layout(&s->f, L, &c, &w->f);
    return c.used;
}

static size_t hyena_act_size(const void *self, int B, int L) {
    struct hy_act t;
    return act_layout(self, B, L, NULL, &t);
}

static size_t hyena_scratch_size(const void *self, int B, int L) {
    struct hy_work w;
    return work_layout(self, B, L, NULL, &w);
}

/* ---- pieces ------------------------------------------------------------------------ */

static struct linear_args lin_in(const struct hyena *s, const real *p, int R) {
    return (struct linear_args){.R = R, .I = s->D, .O = 3 * s->D, .W = p + s->win, .b = p + s->bin};
}

static struct linear_args lin_out(const struct hyena *s, const real *p, int R) {
    return (struct linear_args){.R = R, .I = s->D, .O = s->D, .W = p + s->wout, .b = p + s->bout};
}

static struct conv_args short_conv(const struct hyena *s, int B, int L, const struct hy_act *t) {
    return (struct conv_args){
        .B = B, .L = L, .H = 3 * s->D, .Lk = short_taps(s, L), .group = 1, .layout = CONV_BLH,
        .u = t->z, .k = t->ks, .D = NULL, .y = t->zc,
    };
}

static struct conv_args long_conv(const struct hyena *s, const real *p, int B, int L, const struct hy_act *t) {
    return (struct conv_args){
        .B = B, .L = L, .H = s->D, .Lk = L, .group = 1, .layout = CONV_BLH,
        .u = t->g, .k = t->f.h, .D = p + s->f.bias, .y = t->u,
    };
}

/* z' (=) from z: the op's causal conv with the taps reversed, then the bias. */
static void short_fwd(const struct hyena *s, const struct ops *ops, const real *p, int B, int L,
                      const struct hy_act *t) {
    int H = 3 * s->D, S = s->S, Lk = short_taps(s, L);
    /* ks[c, j] = w[c, 0, S-1-j]: each row read backwards from its last tap */
    ops->ewise(&(struct ewise_args){.kind = EW_COPY, .R = (size_t)H, .C = (size_t)Lk,
                                    .a = {p + s->sfw + S - 1, S, -1}, .y = {t->ks, Lk, 1}});
    struct conv_args ca = short_conv(s, B, L, t);
    ops->conv(&ca);
    ops->ewise(&(struct ewise_args){.kind = EW_COPY, .R = (size_t)B * L, .C = (size_t)H, .a = {p + s->sfb, 0, 1},
                                    .y = {t->zc, H, 1}, .acc = true});
}

/* y[r, c] (=) a[r, c] b[r, c] over (R, D) views with row strides lda, ldb, ldy. */
static void mul_rows(const struct ops *ops, size_t R, int D, const real *a, int lda, const real *b, int ldb, real *y,
                     int ldy) {
    ops->ewise(&(struct ewise_args){.kind = EW_MUL, .R = R, .C = (size_t)D, .a = {a, lda, 1}, .b = {b, ldb, 1},
                                    .y = {y, ldy, 1}});
}

static void hyena_forward(const void *self, const struct ops *ops, const struct layer_fwd *a) {
    const struct hyena *s = self;
    const real *p = a->p;
    int R = a->B * a->L, D = s->D;
    struct hy_act t;
    struct hy_work w;
    act_layout(s, a->B, a->L, a->act, &t);
    work_layout(s, a->B, a->L, a->scratch, &w);
    struct linear_args li = lin_in(s, p, R), lo = lin_out(s, p, R);
    linear_fwd(ops, &li, a->x, t.z);
    short_fwd(s, ops, p, a->B, a->L, &t);
    hy_filter_fwd(&s->f, ops, p, a->L, &t.f, w.f.dr); /* dr: a free (L, D) buffer here */
    mul_rows(ops, R, D, t.zc + 2 * D, 3 * D, t.zc + D, 3 * D, t.g, D); /* g = v x1 */
    struct conv_args ca = long_conv(s, p, a->B, a->L, &t);
    ops->conv(&ca);
    mul_rows(ops, R, D, t.u, D, t.zc, 3 * D, t.o, D); /* o = u x0 */
    linear_fwd(ops, &lo, t.o, a->y);
}

/* From dz' (dz1): the short conv's bias and taps (+=) and dz (=, into dz2). */
static void short_bwd(const struct hyena *s, const struct ops *ops, const struct layer_bwd *a, const struct hy_act *t,
                      const struct hy_work *w) {
    int H = 3 * s->D, S = s->S, Lk = short_taps(s, a->L);
    colsum_acc(ops, w->dz1, a->B * a->L, H, a->g + s->sfb);
    ops_fill(ops, w->dks, (size_t)H * Lk, 0);
    struct conv_bwd_args cb = {.f = short_conv(s, a->B, a->L, t), .dy = w->dz1, .du = w->dz2, .dk = w->dks};
    cb.f.y = NULL;
    ops->conv_bwd(&cb);
    /* dw[c, 0, S-1-j] += dks[c, j] */
    ops->ewise(&(struct ewise_args){.kind = EW_COPY, .R = (size_t)H, .C = (size_t)Lk, .a = {w->dks, Lk, 1},
                                    .y = {a->g + s->sfw + S - 1, S, -1}, .acc = true});
}

/* From do (d1): dx0 into dz1, then through the long conv (dh, dβ) and the first
 * gate: dx1, dv into dz1. */
static void gates_bwd(const struct hyena *s, const struct ops *ops, const struct layer_bwd *a, const struct hy_act *t,
                      const struct hy_work *w) {
    int D = s->D, L = a->L;
    size_t R = (size_t)a->B * L;
    mul_rows(ops, R, D, w->d1, D, t->zc, 3 * D, w->d2, D);  /* du */
    mul_rows(ops, R, D, w->d1, D, t->u, D, w->dz1, 3 * D); /* dx0 */
    ops_fill(ops, w->dh, (size_t)D * L, 0);
    struct conv_bwd_args cb = {.f = long_conv(s, a->p, a->B, L, t), .dy = w->d2, .du = w->d1, .dk = w->dh,
                               .dD = a->g + s->f.bias};
    cb.f.y = NULL;
    ops->conv_bwd(&cb); /* d1 = dg */
    mul_rows(ops, R, D, w->d1, D, t->zc + 2 * D, 3 * D, w->dz1 + D, 3 * D); /* dx1 */
    mul_rows(ops, R, D, w->d1, D, t->zc + D, 3 * D, w->dz1 + 2 * D, 3 * D); /* dv */
}

static void hyena_backward(const void *self, const struct ops *ops, const struct layer_bwd *a) {
    const struct hyena *s = self;
    const real *p = a->p;
    int R = a->B * a->L;
    struct hy_act t;
    struct hy_work w;
    act_layout(s, a->B, a->L, a->act, &t);
    work_layout(s, a->B, a->L, a->scratch, &w);
    struct linear_args li = lin_in(s, p, R), lo = lin_out(s, p, R);
    linear_bwd(ops, &lo, t.o, a->dy, w.d1, a->g + s->wout, a->g + s->bout);
    gates_bwd(s, ops, a, &t, &w);
    hy_filter_bwd(&s->f, ops, p, a->L, &t.f, w.dh, &w.f, a->g);
    short_bwd(s, ops, a, &t, &w);
    linear_bwd(ops, &li, a->x, w.dz2, a->dx, a->g + s->win, a->g + s->bin);
}

void hyena_filter(const void *self, const struct ops *ops, const real *p, int L, real *h) {
    const struct hyena *s = self;
    struct hy_filter_act t;
    struct carver c = {NULL, 0};
    hy_filter_act_layout(&s->f, L, &c, &t);
    size_t n_act = c.used;
    c.used += (size_t)L * s->D; /* r */
    real *buf = xmalloc(c.used * sizeof(real));
    c = (struct carver){buf, 0};
    hy_filter_act_layout(&s->f, L, &c, &t);
    hy_filter_fwd(&s->f, ops, p, L, &t, buf + n_act);
    memcpy(h, t.h, (size_t)s->D * L * sizeof(real));
    free(buf);
}

/* ---- recurrent mode ---------------------------------------------------------------------
 * One sequence's state: the last K rows of z, newest first (K, 3D), then g at
 * positions 0..L-1 (L, D). */

/* K: the short conv looks back S-1 rows, but no further than a sequence of L can. */
static int win_rows(const struct hyena *s, int L) { return s->S - 1 < L - 1 ? s->S - 1 : L - 1; }

static size_t hyena_state_size(const void *self, int L) {
    const struct hyena *s = self;
    return (size_t)win_rows(s, L) * 3 * s->D + (size_t)L * s->D;
}

/* Empty, or the prompt's last S-1 rows of z and every g from the forward's act. */
static void hyena_state_init(const void *self, const struct ops *ops, const struct layer_state_args *a) {
    (void)ops;
    const struct hyena *s = self;
    int D = s->D, P = a->prompt_L;
    size_t S = hyena_state_size(s, a->L), zrow = 3 * (size_t)D;
    int K = win_rows(s, a->L);
    HP_CHECK(P <= a->L);
    memset(a->state, 0, (size_t)a->B * S * sizeof(real));
    if (P == 0) return;
    struct hy_act t;
    act_layout(s, a->B, P, (real *)a->act, &t); /* views only: nothing is written */
    for (int b = 0; b < a->B; b++) {
        real *win = a->state + (size_t)b * S, *hist = win + (size_t)K * zrow;
        for (int j = 0; j < K && P - 1 - j >= 0; j++)
            memcpy(win + j * zrow, t.z + ((size_t)b * P + P - 1 - j) * zrow, zrow * sizeof(real));
        memcpy(hist, t.g + (size_t)b * P * D, (size_t)P * D * sizeof(real));
    }
}

/* z, z' (B, 3D); o (B, D); the filter's buffers and r for L rows. */
struct hy_step_buf {
    real *z, *zc, *o, *r;
    struct hy_filter_act f;
};

static size_t step_layout(const struct hyena *s, int B, int L, real *base, struct hy_step_buf *t) {
    struct carver c = {base, 0};
    size_t BD = (size_t)B * s->D;
    t->z = carve(&c, 3 * BD), t->zc = carve(&c, 3 * BD), t->o = carve(&c, BD);
    t->r = carve(&c, (size_t)L * s->D);
    hy_filter_act_layout(&s->f, L, &c, &t->f);
    return c.used;
}

static size_t hyena_step_scratch_size(const void *self, int B, int L) {
    struct hy_step_buf t;
    return step_layout(self, B, L, NULL, &t);
}

/* One sequence's z'_t (=) from z_t and its window of K rows, which then takes z_t in. */
static void short_step(const struct hyena *s, const real *p, int K, const real *z, real *win, real *zc) {
    int H = 3 * s->D, S = s->S;
    for (int c = 0; c < H; c++) {
        const real *w = p + s->sfw + (size_t)c * S;
        double acc = (double)p[s->sfb + c] + (double)w[S - 1] * z[c];
        for (int j = 1; j <= K; j++) acc += (double)w[S - 1 - j] * win[(size_t)(j - 1) * H + c];
        zc[c] = (real)acc;
    }
    if (K > 0) {
        memmove(win + H, win, (size_t)(K - 1) * H * sizeof(real));
        memcpy(win, z, (size_t)H * sizeof(real));
    }
}

static void hyena_step(const void *self, const struct ops *ops, const struct layer_step *a) {
    const struct hyena *s = self;
    int D = s->D, t = a->t, n = t + 1, K = win_rows(s, a->L);
    size_t S = hyena_state_size(s, a->L);
    HP_CHECK(t >= 0 && t < a->L);
    struct hy_step_buf sb;
    step_layout(s, a->B, a->L, a->scratch, &sb);
    struct linear_args li = lin_in(s, a->p, a->B), lo = lin_out(s, a->p, a->B);
    linear_fwd(ops, &li, a->x, sb.z);
    hy_filter_fwd(&s->f, ops, a->p, n, &sb.f, sb.r); /* taps 0..t, h (D, n) */
    const real *beta = a->p + s->f.bias;
    for (int b = 0; b < a->B; b++) {
        real *win = a->state + (size_t)b * S, *hist = win + (size_t)K * 3 * D;
        real *zc = sb.zc + (size_t)b * 3 * D;
        short_step(s, a->p, K, sb.z + (size_t)b * 3 * D, win, zc);
        for (int c = 0; c < D; c++) hist[(size_t)t * D + c] = zc[2 * D + c] * zc[D + c];
        for (int c = 0; c < D; c++) {
            const real *h = sb.f.h + (size_t)c * n;
            double acc = (double)beta[c] * hist[(size_t)t * D + c];
            for (int j = 0; j <= t; j++) acc += (double)h[j] * hist[(size_t)(t - j) * D + c];
            sb.o[(size_t)b * D + c] = (real)(acc * zc[c]);
        }
    }
    linear_fwd(ops, &lo, sb.o, a->y);
}

static void hyena_bind(void *self, const struct ops *ops) {
    struct hyena *s = self;
    hy_filter_bind(&s->f, ops);
}

static void hyena_destroy(void *self) {
    struct hyena *s = self;
    if (!s) return;
    hy_filter_free(&s->f);
    free(s);
}

const struct layer_kind layer_hyena = {
    .name = "hyena",
    .summary = "order-2 Hyena: W_o(x0 * (h * g + beta g)), g = v * x1; short conv on x0, x1, v; implicit MLP filter h",
    .knobs = hyena_knobs,
    .n_knobs = (int)(sizeof hyena_knobs / sizeof hyena_knobs[0]),
    .pos_emb = false,
    .create = hyena_create,
    .init = hyena_init,
    .act_size = hyena_act_size,
    .scratch_size = hyena_scratch_size,
    .forward = hyena_forward,
    .backward = hyena_backward,
    .state_size = hyena_state_size,
    .state_init = hyena_state_init,
    .step_scratch_size = hyena_step_scratch_size,
    .step = hyena_step,
    .bind = hyena_bind,
    .destroy = hyena_destroy,
};
