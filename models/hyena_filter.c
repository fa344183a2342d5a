/* hyena_filter.c — Hyena's implicit long filter (formula in models/hyena.h):
 * a small sine-activated MLP over fixed positional features, times a fixed
 * exponential-decay window per channel, evaluated through the ops table's gemm.
 *
 * Parameters (under "<prefix>filter_fn."), in the reference's
 * named_parameters() order:
 *   bias (D)                               β, the long conv's skip: N(0, 1)
 *   implicit_filter.0.weight (W, E), .0.bias (W)
 *   implicit_filter.1.freq (1, W)          = w, shared by every sine
 *   implicit_filter.{2i}.weight (W, W), .{2i}.bias (W)   i = 1..n_inner
 *   implicit_filter.{2 n_inner + 2}.weight (D, W)        no bias
 * Linear inits by hy_init (hyena.h). The MLP's tensors (freq included) form
 * the SSM optimizer group (lr min(ssm_lr, lr), no weight decay), as the
 * reference gives the filter its own lr with weight decay 0; β takes the
 * global lr and weight decay, as it does there. The reference's positional
 * features are a parameter with lr 1e-5; here they are fixed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyena.h"
#include "linear.h"

static size_t add(struct param_table *pt, const char *prefix, const char *name, enum param_init init, double arg,
                  enum opt_group g, int d0, int d1) {
    char full[PARAM_NAME];
    snprintf(full, sizeof full, "%sfilter_fn.%s", prefix, name);
    return param_add(pt, full, init, arg, g, d0, d1, 0);
}

/* z (l_max, E) and the window (l_max, D), in double. */
static void tables(struct hy_filter *f, const struct hy_filter_cfg *c) {
    int Lm = f->l_max, E = f->E, D = f->D, bands = (E - 1) / 2;
    double slow = log(c->target) / c->slow_pct, fast = log(c->target) / c->fast_pct;
    f->feat = xmalloc((size_t)Lm * E * sizeof(real));
    f->win = xmalloc((size_t)Lm * D * sizeof(real));
    for (int l = 0; l < Lm; l++) {
        double t = Lm > 1 ? (double)l / (Lm - 1) : 0, om = 2 * M_PI * l / Lm;
        real *z = f->feat + (size_t)l * E, *w = f->win + (size_t)l * D;
        z[0] = (real)t;
        for (int k = 0; k < bands; k++) {
            double fk = bands > 1 ? 1e-4 + k * (bands - 1 - 1e-4) / (bands - 1) : 1e-4;
            z[1 + k] = (real)cos(fk * om);
            z[1 + bands + k] = (real)-sin(fk * om);
        }
        for (int ch = 0; ch < D; ch++) {
            double delta = D > 1 ? slow + ch * (fast - slow) / (D - 1) : slow;
            w[ch] = (real)exp(-t * fabs(delta));
        }
    }
}

void hy_filter_declare(struct hy_filter *f, const struct hy_filter_cfg *c, struct param_table *pt,
                       const char *prefix) {
    memset(f, 0, sizeof *f);
    f->D = c->D, f->W = c->W, f->E = c->E, f->l_max = c->l_max, f->n_lin = c->n_inner + 2;
    f->bias = add(pt, prefix, "bias", INIT_NORMAL, 1, GROUP_DEFAULT, c->D, 0);
    for (int i = 0; i < f->n_lin; i++) {
        bool last = i == f->n_lin - 1;
        f->in[i] = i == 0 ? c->E : c->W;
        f->out[i] = last ? c->D : c->W;
        bool lm = c->init == HY_INIT_LM;
        double bound = 1 / sqrt((double)f->in[i]);
        char name[64];
        snprintf(name, sizeof name, "implicit_filter.%d.weight", 2 * i);
        f->w[i] = add(pt, prefix, name, lm ? INIT_NORMAL : INIT_UNIFORM, lm ? 0.02 : bound, GROUP_SSM, f->out[i],
                      f->in[i]);
        if (!last) {
            snprintf(name, sizeof name, "implicit_filter.%d.bias", 2 * i);
            f->b[i] = add(pt, prefix, name, lm ? INIT_ZERO : INIT_UNIFORM, lm ? 0 : bound, GROUP_SSM, f->out[i], 0);
        }
        if (i == 0) f->freq = add(pt, prefix, "implicit_filter.1.freq", INIT_CUSTOM, 0, GROUP_SSM, 1, c->W);
    }
    tables(f, c);
    f->feat_dev = f->feat, f->win_dev = f->win;
}

static void unbind(struct hy_filter *f) {
    if (f->dev) f->dev->free(f->feat_dev), f->dev->free(f->win_dev);
    f->dev = NULL;
    f->feat_dev = f->feat, f->win_dev = f->win;
}

void hy_filter_bind(struct hy_filter *f, const struct ops *ops) {
    unbind(f);
    if (ops->host_memory) return;
    size_t nf = (size_t)f->l_max * f->E * sizeof(real), nw = (size_t)f->l_max * f->D * sizeof(real);
    f->dev = ops;
    f->feat_dev = ops->alloc(nf), f->win_dev = ops->alloc(nw);
    ops->upload(f->feat_dev, f->feat, nf);
    ops->upload(f->win_dev, f->win, nw);
}

void hy_filter_free(struct hy_filter *f) {
    unbind(f);
    free(f->feat);
    free(f->win);
    f->feat = f->win = f->feat_dev = f->win_dev = NULL;
}

void hy_filter_init(const struct hy_filter *f, real *p, double w) {
    for (int j = 0; j < f->W; j++) p[f->freq + j] = (real)w;
}

void hy_filter_act_layout(const struct hy_filter *f, int L, struct carver *c, struct hy_filter_act *t) {
    for (int i = 0; i < f->n_lin - 1; i++) {
        t->a[i] = carve(c, (size_t)L * f->W);
        t->s[i] = carve(c, (size_t)L * f->W);
    }
    t->h = carve(c, (size_t)f->D * L);
}

void hy_filter_work_layout(const struct hy_filter *f, int L, struct carver *c, struct hy_filter_work *w) {
    w->dr = carve(c, (size_t)L * f->D);
    w->d1 = carve(c, (size_t)L * f->W);
    w->d2 = carve(c, (size_t)L * f->W);
}

static struct linear_args lin(const struct hy_filter *f, const real *p, int i, int L) {
    bool last = i == f->n_lin - 1;
    return (struct linear_args){.R = L, .I = f->in[i], .O = f->out[i], .W = p + f->w[i], .b = last ? NULL : p + f->b[i]};
}

void hy_filter_fwd(const struct hy_filter *f, const struct ops *ops, const real *p, int L,
                   const struct hy_filter_act *t, real *r) {
    HP_CHECK(L >= 1 && L <= f->l_max);
    int W = f->W, D = f->D, nh = f->n_lin - 1;
    const real *in = f->feat_dev;
    for (int i = 0; i < nh; i++) {
        struct linear_args la = lin(f, p, i, L);
        linear_fwd(ops, &la, in, t->a[i]);
        struct sine_args sa = {L, W, p + f->freq, t->a[i], t->s[i]};
        ops->sine(&sa);
        in = t->s[i];
    }
    struct linear_args la = lin(f, p, nh, L);
    linear_fwd(ops, &la, in, r);
    /* h[c, l] = r[l, c] win[l, c]: the product, transposed to (D, L) */
    struct ewise_args e = {.kind = EW_MUL, .R = (size_t)D, .C = (size_t)L, .a = {r, 1, D}, .b = {f->win_dev, 1, D},
                           .y = {t->h, L, 1}};
    ops->ewise(&e);
}

void hy_filter_bwd(const struct hy_filter *f, const struct ops *ops, const real *p, int L,
                   const struct hy_filter_act *t, const real *dh, const struct hy_filter_work *w, real *G) {
    int D = f->D, nh = f->n_lin - 1;
    /* dr[l, c] = dh[c, l] win[l, c] */
    struct ewise_args e = {.kind = EW_MUL, .R = (size_t)L, .C = (size_t)D, .a = {dh, 1, L}, .b = {f->win_dev, D, 1},
                           .y = {w->dr, D, 1}};
    ops->ewise(&e);
    struct linear_args la = lin(f, p, nh, L);
    linear_bwd(ops, &la, t->s[nh - 1], w->dr, w->d1, G + f->w[nh], NULL); /* nh >= 1 */
    for (int i = nh - 1; i >= 0; i--) { /* d1 holds ds_i */
        struct sine_bwd_args sb = {{L, f->W, p + f->freq, t->a[i], NULL}, w->d1, w->d2, G + f->freq};
        ops->sine_bwd(&sb);
        la = lin(f, p, i, L);
        linear_bwd(ops, &la, i ? t->s[i - 1] : f->feat_dev, w->d2, i ? w->d1 : NULL, G + f->w[i], G + f->b[i]);
    }
}
