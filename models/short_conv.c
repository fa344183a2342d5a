/* short_conv.c — a short depthwise causal convolution in front of any layer
 * (zoology's fair-comparison recipe gives every mixer one), as a wrapper
 * kind around the layer's own:
 *
 *   s[b, t, d] = sum_{j < k} w[d, k-1-j] x[b, t-j, d] + bias[d]   (x[t] = 0 for t < 0)
 *   y = Mixer(s)
 *
 * Parameters, declared after the mixer's own under the same prefix
 * ("backbone.layers.{i}.mixer."), so a model without the option keeps its
 * layout and names: short_conv.weight (D, 1, k) in PyTorch's Conv1d(D, D, k,
 * groups=D, padding=k-1) layout (a cross-correlation over the left-padded
 * input, so the tap at lag j is weight[d, 0, k-1-j]) and short_conv.bias (D),
 * both U(-1/sqrt(k), 1/sqrt(k)) as Conv1d initialises them (fan_in = k).
 *
 * Recurrent mode: the state is the mixer's, then the last min(k-1, L-1)
 * inputs x of each sequence (newest first), which state_size adds to the
 * mixer's: (B, S_in) of the mixer's states, then (B, rows, D) of history.
 * Shapes: B batch, L length, D d_model, k taps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carve.h"
#include "layer.h"

struct short_conv {
    const struct layer_kind *inner;
    void *in;
    int D, k;
    size_t w, b; /* parameter offsets */
};

/* Act: [s (B, L, D)][the mixer's act]. Scratch: [taps by lag (D, k)]
 * [their gradient (D, k)][ds (B, L, D)][the mixer's scratch]. */
struct sc_views {
    real *s, *inner;
};
struct sc_scratch {
    real *taps, *dtaps, *ds, *inner;
};

static struct sc_views act_views(const struct short_conv *c, real *base, int B, int L) {
    struct carver cv = {base, 0};
    struct sc_views v;
    v.s = carve(&cv, (size_t)B * L * c->D);
    v.inner = carve(&cv, c->inner->act_size(c->in, B, L));
    return v;
}

static struct sc_scratch scratch_views(const struct short_conv *c, real *base, int B, int L, size_t *used) {
    struct carver cv = {base, 0};
    struct sc_scratch v;
    v.taps = carve(&cv, (size_t)c->D * c->k), v.dtaps = carve(&cv, (size_t)c->D * c->k);
    v.ds = carve(&cv, (size_t)B * L * c->D);
    v.inner = carve(&cv, c->inner->scratch_size(c->in, B, L));
    if (used) *used = cv.used;
    return v;
}

static size_t sc_act_size(const void *self, int B, int L) {
    struct carver cv = {NULL, 0};
    const struct short_conv *c = self;
    carve(&cv, (size_t)B * L * c->D), carve(&cv, c->inner->act_size(c->in, B, L));
    return cv.used;
}

static size_t sc_scratch_size(const void *self, int B, int L) {
    size_t used;
    scratch_views(self, NULL, B, L, &used);
    return used;
}

static struct conv_args conv_of(const struct short_conv *c, int B, int L, const real *x, const real *taps, real *s) {
    /* The op wants Lk <= L; taps past L never touch an output. */
    int Lk = c->k < L ? c->k : L;
    return (struct conv_args){.B = B, .L = L, .H = c->D, .Lk = Lk, .group = 1, .layout = CONV_BLH,
                              .u = x, .k = taps, .D = NULL, .y = s};
}

/* The op's kernel rows are (H, Lk) with Lk = min(k, L), in its order (lag j):
 * taps[d, j] (=) weight[d, 0, k-1-j], each row read backwards from its last tap. */
static void pack_taps(const struct short_conv *c, const struct ops *ops, const real *p, int L, real *taps) {
    int Lk = c->k < L ? c->k : L;
    ops->ewise(&(struct ewise_args){.kind = EW_COPY, .R = (size_t)c->D, .C = (size_t)Lk,
                                    .a = {p + c->w + c->k - 1, c->k, -1}, .y = {taps, Lk, 1}});
}

static void sc_forward(const void *self, const struct ops *ops, const struct layer_fwd *a) {
    const struct short_conv *c = self;
    struct sc_views v = act_views(c, a->act, a->B, a->L);
    struct sc_scratch sv = scratch_views(c, a->scratch, a->B, a->L, NULL);
    pack_taps(c, ops, a->p, a->L, sv.taps);
    struct conv_args ca = conv_of(c, a->B, a->L, a->x, sv.taps, v.s);
    ops->conv(&ca);
    ops->ewise(&(struct ewise_args){.kind = EW_COPY, .R = (size_t)a->B * a->L, .C = (size_t)c->D,
                                    .a = {a->p + c->b, 0, 1}, .y = {v.s, c->D, 1}, .acc = true}); /* + bias */
    struct layer_fwd in = *a;
    in.x = v.s, in.act = v.inner, in.scratch = sv.inner;
    c->inner->forward(c->in, ops, &in);
}

static void sc_backward(const void *self, const struct ops *ops, const struct layer_bwd *a) {
    const struct short_conv *c = self;
    struct sc_views v = act_views(c, a->act, a->B, a->L);
    struct sc_scratch sv = scratch_views(c, a->scratch, a->B, a->L, NULL);
    struct layer_bwd in = *a;
    in.x = v.s, in.dx = sv.ds, in.act = v.inner, in.scratch = sv.inner;
    c->inner->backward(c->in, ops, &in);
    /* The mixer's scratch is free again: the taps are re-packed (it never held them). */
    pack_taps(c, ops, a->p, a->L, sv.taps);
    int Lk = c->k < a->L ? c->k : a->L;
    ops_fill(ops, sv.dtaps, (size_t)c->D * Lk, 0);
    struct conv_bwd_args g = {.f = conv_of(c, a->B, a->L, a->x, sv.taps, NULL), .dy = sv.ds, .du = a->dx,
                              .dk = sv.dtaps, .dD = NULL};
    ops->conv_bwd(&g);
    /* weight[d, 0, k-1-j] += dtaps[d, j] */
    ops->ewise(&(struct ewise_args){.kind = EW_COPY, .R = (size_t)c->D, .C = (size_t)Lk, .a = {sv.dtaps, Lk, 1},
                                    .y = {a->g + c->w + c->k - 1, c->k, -1}, .acc = true});
    struct colsum_args cs = {(size_t)a->B * a->L, c->D, sv.ds, (size_t)c->D, a->g + c->b};
    ops->colsum(&cs);
}

/* ---- recurrent mode ---- */

/* Inputs kept per sequence: k - 1, but no more than a sequence of L positions can look back. */
static int hist_rows(const struct short_conv *c, int L) { return c->k - 1 < L - 1 ? c->k - 1 : L - 1; }

static size_t sc_state_size(const void *self, int L) {
    const struct short_conv *c = self;
    return c->inner->state_size(c->in, L) + (size_t)hist_rows(c, L) * c->D;
}

/* The (B, S) state as the mixer's (B, S_in) block, then the (B, k-1, D) history. */
static real *hist_of(const struct short_conv *c, real *state, int B, int L) {
    return state + (size_t)B * c->inner->state_size(c->in, L);
}

static void sc_state_init(const void *self, const struct ops *ops, const struct layer_state_args *a) {
    const struct short_conv *c = self;
    real *hist = hist_of(c, a->state, a->B, a->L);
    const int H = hist_rows(c, a->L);
    memset(hist, 0, sizeof(real) * (size_t)a->B * H * c->D);
    for (int b = 0; b < a->B; b++)
        for (int j = 1; j <= H && j <= a->prompt_L; j++) /* hist[j-1] = x[P - j] */
            memcpy(hist + ((size_t)b * H + j - 1) * c->D,
                   a->x + ((size_t)b * a->prompt_L + a->prompt_L - j) * c->D, sizeof(real) * c->D);
    struct layer_state_args in = *a;
    if (a->prompt_L > 0) {
        struct sc_views v = act_views(c, (real *)a->act, a->B, a->prompt_L);
        in.x = v.s, in.act = v.inner;
    }
    c->inner->state_init(c->in, ops, &in);
}

static size_t sc_step_scratch_size(const void *self, int B, int L) {
    const struct short_conv *c = self;
    struct carver cv = {NULL, 0};
    carve(&cv, (size_t)B * c->D), carve(&cv, c->inner->step_scratch_size(c->in, B, L));
    return cv.used;
}

static void sc_step(const void *self, const struct ops *ops, const struct layer_step *a) {
    const struct short_conv *c = self;
    struct carver cv = {a->scratch, 0};
    real *s = carve(&cv, (size_t)a->B * c->D), *inner_scratch = carve(&cv, c->inner->step_scratch_size(c->in, a->B, a->L));
    real *hist = hist_of(c, a->state, a->B, a->L);
    const int H = hist_rows(c, a->L);
    const real *w = a->p + c->w, *bias = a->p + c->b;
    for (int b = 0; b < a->B; b++) {
        const real *x = a->x + (size_t)b * c->D;
        real *h = hist + (size_t)b * H * c->D, *o = s + (size_t)b * c->D;
        for (int d = 0; d < c->D; d++) {
            real acc = w[(size_t)d * c->k + c->k - 1] * x[d]; /* lag 0, then older inputs */
            for (int j = 1; j <= H; j++) acc += w[(size_t)d * c->k + c->k - 1 - j] * h[(size_t)(j - 1) * c->D + d];
            o[d] = acc + bias[d];
        }
        if (H > 0) {
            memmove(h + c->D, h, sizeof(real) * (size_t)(H - 1) * c->D);
            memcpy(h, x, sizeof(real) * c->D);
        }
    }
    struct layer_step in = *a;
    in.x = s, in.scratch = inner_scratch;
    c->inner->step(c->in, ops, &in);
}

/* ---- create / destroy ---- */

static void sc_init(const void *self, real *p, uint64_t seed) {
    const struct short_conv *c = self;
    if (c->inner->init) c->inner->init(c->in, p, seed);
}

static void sc_bind(void *self, const struct ops *ops) {
    struct short_conv *c = self;
    if (c->inner->bind) c->inner->bind(c->in, ops);
}

static void sc_destroy(void *self) {
    struct short_conv *c = self;
    c->inner->destroy(c->in);
    free(c);
}

static const struct layer_kind wrap_step = {
    .name = "short_conv", .summary = "a short depthwise causal conv in front of the mixer",
    .act_size = sc_act_size, .scratch_size = sc_scratch_size, .forward = sc_forward, .backward = sc_backward,
    .state_size = sc_state_size, .state_init = sc_state_init, .step_scratch_size = sc_step_scratch_size,
    .step = sc_step, .init = sc_init, .bind = sc_bind, .destroy = sc_destroy,
};

/* The same without a recurrent mode, for mixers that have none. */
static const struct layer_kind wrap_nostep = {
    .name = "short_conv", .summary = "a short depthwise causal conv in front of the mixer",
    .act_size = sc_act_size, .scratch_size = sc_scratch_size, .forward = sc_forward, .backward = sc_backward,
    .state_size = sc_state_size, .init = sc_init, .bind = sc_bind, .destroy = sc_destroy,
};

const struct layer_kind *short_conv_kind(const struct layer_kind *inner) {
    return inner->step ? &wrap_step : &wrap_nostep;
}

void *short_conv_create(const struct layer_kind *inner, int taps, const struct knob_values *kv,
                        const struct layer_dims *dims, struct param_table *pt, const char *prefix, char *err,
                        size_t errlen) {
    if (taps < 1 || taps > SHORT_CONV_MAX) {
        snprintf(err, errlen, "short_conv = %d taps: must be in [1, %d] (0 = none)", taps, SHORT_CONV_MAX);
        return NULL;
    }
    void *in = inner->create(kv, dims, pt, prefix, err, errlen);
    if (!in) return NULL;
    struct short_conv *c = xcalloc(1, sizeof *c);
    c->inner = inner, c->in = in, c->D = dims->D, c->k = taps;
    char name[PARAM_NAME];
    double bound = 1 / sqrt((double)taps);
    snprintf(name, sizeof name, "%sshort_conv.weight", prefix);
    c->w = param_add(pt, name, INIT_UNIFORM, bound, GROUP_DEFAULT, dims->D, 1, taps, 0);
    snprintf(name, sizeof name, "%sshort_conv.bias", prefix);
    c->b = param_add(pt, name, INIT_UNIFORM, bound, GROUP_DEFAULT, dims->D, 0);
    return c;
}
