/* test_layers.c — the checks every registered layer goes through, with no
 * per-layer code (double build): finite-difference gradients of the input and
 * of every parameter tensor, causality, determinism; and the whole model's loss
 * gradient by finite differences for every layer kind.
 * A new layer added to models/registry.c is checked here automatically, with
 * its default knobs; `variants` below adds knob settings (a layer's ablation
 * options and their combinations) that go through the same checks. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/rng.h"
#include "../../models/layer.h"
#include "../../models/model.h"
#include "../testutil.h"

enum { TB = 2, TL = 13, TD = 16 };

/* Knob settings checked beyond each registered kind's defaults. */
static const struct variant {
    const char *layer, *knobs;
    int short_conv; /* taps of the short-conv front (models/short_conv.c), 0 = none */
} variants[] = {
    {"h3", "ssm=diag+diag", 0},
    {"h3", "ssm=shift+shift", 0},
    {"h3", "gate_kv=false", 0},
    {"h3", "gate_q=false", 0},
    {"h3", "gate_kv=false,gate_q=false", 0},
    {"h3", "measure=diag-inv", 0},
    {"h3", "disc=zoh", 0},
    {"h3", "head_dim=2", 0},
    {"h3", "head_dim=2,ssm=diag+diag", 0},
    {"h3", "head_dim=2,ssm=shift+shift", 0},
    {"h3", "ssm=diag+diag,disc=zoh,measure=diag-inv", 0},
    {"h3", "ssm=shift+shift,gate_kv=false,gate_q=false", 0},
    {"h3", "ssm=diag+diag,gate_q=false,measure=diag-inv", 0},
    {"h3", "ssm=shift+shift,d_state=8,gate_q=false", 0}, /* N < TL: shift taps end before L in both slots */
    {"h3", "head_dim=4,ssm=diag+diag,disc=zoh", 0},
    /* the fused inner op (ops h3_inner) in place of slot 2's conv and the q gate */
    {"h3", "fused=true", 0},
    {"h3", "fused=true,head_dim=2", 0},
    {"h3", "fused=true,ssm=diag+diag,disc=zoh", 0},
    {"h3", "fused=true,ssm=shift+shift,d_state=8", 0},
    /* attention through ops->attention (tiles, online softmax) */
    {"attention", "impl=tiled", 0},
    {"attention", "impl=tiled,n_heads=2", 0},
    /* the short-conv front on every kind; 20 taps > TL: the taps past L never reach an output */
    {"h3", "", 3},
    {"h3", "fused=true", 4},
    {"s4d", "", 1},
    {"s4d", "", 20},
    {"attention", "", 3},
    {"gss", "", 2},
    /* hyena: short taps past TL, no inner MLP layer, bands 2; the lm_simple inits, a wider feature layout */
    {"hyena", "short_filter=20,inner_mlps=0,emb_dim=5,w=10", 0},
    {"hyena", "init=lm,l_max=40,filter_order=8", 2},
};
enum { N_VARIANTS = sizeof variants / sizeof variants[0] };

static int n_kinds(void) {
    int n = 0;
    while (layer_kinds[n]) n++;
    return n;
}

/* Case i: registered kind i with its defaults, then the variants. Knobs get
 * dropout off where the kind has it, so FD sees a smooth map. */
struct lcase {
    const struct layer_kind *k;
    int short_conv;
    char knobs[160], label[192];
};

static struct lcase case_at(int i) {
    struct lcase c;
    int nk = n_kinds();
    const char *extra = i < nk ? "" : variants[i - nk].knobs;
    c.k = i < nk ? layer_kinds[i] : layer_find(variants[i - nk].layer);
    ck_assert_msg(c.k != NULL, "variant %d: no layer '%s'", i - nk, variants[i - nk].layer);
    bool drop = knob_find(c.k->knobs, c.k->n_knobs, "dropout") >= 0;
    snprintf(c.knobs, sizeof c.knobs, "%s%s%s", drop ? "dropout=0" : "", drop && *extra ? "," : "", extra);
    c.short_conv = i < nk ? 0 : variants[i - nk].short_conv;
    snprintf(c.label, sizeof c.label, "%s{%s}%s%.0d", c.k->name, c.knobs, c.short_conv ? " short_conv " : "",
             c.short_conv);
    return c;
}

/* A (TB, TL, TD) layer at its init with N(0, 0.02) weights scaled up 10x (else
 * the gated paths nearly vanish and the checks see no signal); x and the loss
 * weights dy random; evaluation mode. */
static void h_make(struct tu_layer *h, const struct lcase *c) {
    tu_layer_open(h, &(struct tu_layer_cfg){.k = c->k, .knobs = c->knobs, .D = TD, .B = TB, .L = TL,
                                            .short_conv = c->short_conv});
    tu_layer_init(h, 7);
    for (int t = 0; t < h->pt.n; t++)
        if (h->pt.v[t].init == INIT_NORMAL)
            for (size_t i = 0; i < h->pt.v[t].numel; i++) h->p[h->pt.v[t].offset + i] *= 10;
    h->seed = 1, h->stream = 2;
    struct hp_rng r = hp_rng_make(11, 1);
    for (size_t i = 0; i < h->n; i++) h->x[i] = hp_rng_normal(&r), h->dy[i] = hp_rng_normal(&r);
}

static void h_bwd(struct tu_layer *h) {
    tu_layer_forward(h);
    memset(h->g, 0, h->pt.total * sizeof(real));
    tu_layer_backward(h);
}

/* Central difference of loss(ctx) in *v, step scaled to the entry. */
static double fd(double (*loss)(void *), void *ctx, real *v) {
    double v0 = *v, eps = 1e-6 * fmax(1.0, fabs(v0));
    *v = v0 + eps;
    double lp = loss(ctx);
    *v = v0 - eps;
    double lm = loss(ctx);
    *v = v0;
    return (lp - lm) / (2 * eps);
}

/* Pass when |backward - fd| <= 1e-5 * (largest gradient of the tensor) + noise,
 * where noise = 10 * eps_mach * |loss| / step is the round-off floor of a
 * central difference (it matters for tensors whose gradients are tiny). */
static void check_entry(const struct lcase *c, const char *what, size_t i, double analytic, double numeric,
                        double scale, double noise) {
    double diff = fabs(analytic - numeric), tol = 1e-5 * scale + noise;
    ck_assert_msg(diff <= tol, "%s %s[%zu]: backward %.10g, finite difference %.10g (|diff| %.3g > tol %.3g)",
                  c->label, what, i, analytic, numeric, diff, tol);
}

static double fd_noise(double loss) { return 10 * 2.2e-16 * fmax(1.0, fabs(loss)) / 1e-6; }

static double max_abs(const real *v, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

START_TEST(test_layer_gradients) {
    struct lcase c = case_at(_i);
    struct tu_layer h;
    h_make(&h, &c);
    h_bwd(&h);
    double sx = max_abs(h.dx, h.n), noise = fd_noise(tu_layer_loss(&h));
    for (size_t i = 0; i < h.n; i += 37) check_entry(&c, "dx", i, h.dx[i], fd(tu_layer_loss, &h, &h.x[i]), sx, noise);
    for (int t = 0; t < h.pt.n; t++) {
        const struct param_spec *s = &h.pt.v[t];
        const real *g = h.g + s->offset;
        double sg = max_abs(g, s->numel);
        size_t stride = s->numel / 5 + 1, big = 0;
        for (size_t i = 0; i < s->numel; i++)
            if (fabs(g[i]) > fabs(g[big])) big = i;
        check_entry(&c, s->name, big, g[big], fd(tu_layer_loss, &h, &h.p[s->offset + big]), sg, noise);
        for (size_t i = 0; i < s->numel; i += stride)
            check_entry(&c, s->name, i, g[i], fd(tu_layer_loss, &h, &h.p[s->offset + i]), sg, noise);
    }
    tu_layer_close(&h);
}
END_TEST

START_TEST(test_layer_causal) {
    struct lcase c = case_at(_i);
    struct tu_layer h;
    h_make(&h, &c);
    real *y0 = h.dx; /* unused by forward */
    tu_layer_forward_xy(&h, h.x, y0);
    for (int t = 1; t < TL; t += 3) {
        real saved[TD];
        real *xt = h.x + (size_t)t * TD; /* batch 0, position t */
        memcpy(saved, xt, sizeof saved);
        for (int d = 0; d < TD; d++) xt[d] += 1.0 + d;
        tu_layer_forward(&h);
        for (int s = 0; s < t; s++)
            for (int d = 0; d < TD; d++) {
                size_t i = (size_t)s * TD + d;
                ck_assert_msg(fabs(h.y[i] - y0[i]) <= 1e-12 * (1 + fabs(y0[i])),
                              "%s: changing position %d moved output at %d (%g -> %g)", c.label, t, s, y0[i],
                              h.y[i]);
            }
        memcpy(xt, saved, sizeof saved);
    }
    tu_layer_close(&h);
}
END_TEST

START_TEST(test_layer_deterministic) {
    struct lcase c = case_at(_i);
    struct tu_layer h;
    h_make(&h, &c);
    real *y0 = h.dx; /* unused by forward */
    tu_layer_forward_xy(&h, h.x, y0);
    tu_layer_forward(&h);
    ck_assert_msg(memcmp(y0, h.y, h.n * sizeof(real)) == 0, "%s: two forwards differ", c.label);
    ck_assert_msg(h.k->state_size(h.self, TL) > 0, "%s: state_size is 0", c.label);
    tu_layer_close(&h);
}
END_TEST

/* Whole model: d loss / d parameter by finite differences, every tensor. */
static struct model *small_model(const struct lcase *lc) {
    struct model_cfg c = {.vocab = 7, .d_model = TD, .n_layer = 2, .d_inner = 2 * TD, .max_L = TL,
                          .embed_dropout = 0, .ln_eps = 1e-5, .kind = lc->k, .short_conv = lc->short_conv};
    tu_knobs(&c.layer_knobs, lc->k, lc->knobs);
    char err[256] = "";
    struct model *m = model_create(&c, err, sizeof err);
    ck_assert_msg(m != NULL, "%s: %s", lc->label, err);
    model_init(m, 3);
    return m;
}

struct model_at {
    struct model *m;
    const struct model_batch *b;
};
static double model_loss(void *ctx) {
    struct model_at *a = ctx;
    return model_forward(a->m, ops_cpu(), a->b);
}

START_TEST(test_model_gradients) {
    struct lcase lc = case_at(_i);
    struct model *m = small_model(&lc);
    int32_t tok[TB * TL], tgt[TB * TL];
    struct hp_rng r = hp_rng_make(5, 5);
    for (int i = 0; i < TB * TL; i++) tok[i] = (int32_t)hp_rng_below(&r, 7), tgt[i] = (i % 4 == 3) ? -1 : (int32_t)hp_rng_below(&r, 7);
    struct model_batch b = {TB, TL, tok, tgt, false, 0, 0};
    struct model_at at = {m, &b};
    double noise = fd_noise(model_loss(&at));
    model_zero_grad(m);
    model_backward(m, ops_cpu());
    const struct param_table *pt = model_params(m);
    real *p = model_param_data(m), *g = xcalloc(pt->total, sizeof(real));
    memcpy(g, model_grad_data(m), pt->total * sizeof(real));
    for (int t = 0; t < pt->n; t++) {
        const struct param_spec *s = &pt->v[t];
        double sg = max_abs(g + s->offset, s->numel);
        size_t big = 0;
        for (size_t i = 0; i < s->numel; i++)
            if (fabs(g[s->offset + i]) > fabs(g[s->offset + big])) big = i;
        for (size_t i = big, n = 0; n < 3; n++, i = (i + s->numel / 3 + 1) % s->numel)
            check_entry(&lc, s->name, i, g[s->offset + i], fd(model_loss, &at, &p[s->offset + i]), sg, noise);
    }
    free(g);
    model_free(m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("registry");
    tcase_set_timeout(tc, 120);
    int n = n_kinds() + N_VARIANTS;
    tcase_add_loop_test(tc, test_layer_gradients, 0, n);
    tcase_add_loop_test(tc, test_layer_causal, 0, n);
    tcase_add_loop_test(tc, test_layer_deterministic, 0, n);
    tcase_add_loop_test(tc, test_model_gradients, 0, n);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
