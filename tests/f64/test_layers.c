/* test_layers.c — the checks every registered layer goes through, with no
 * per-layer code (double build): finite-difference gradients of the input and
 * of every parameter tensor, causality, determinism; and the whole model's loss
 * gradient by finite differences for every layer kind.
 * A new layer added to models/registry.c is checked here automatically. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/rng.h"
#include "../../models/layer.h"
#include "../../models/model.h"
#include "../testutil.h"

enum { TB = 2, TL = 13, TD = 16 };

struct harness {
    const struct layer_kind *k;
    void *self;
    struct param_table pt;
    struct knob_values kv;
    real *p, *g, *act, *scratch;
    real x[TB * TL * TD], y[TB * TL * TD], w[TB * TL * TD], dx[TB * TL * TD];
};

/* Layer knobs for the checks: defaults, with dropout off so FD sees a smooth map. */
static void layer_knobs(const struct layer_kind *k, struct knob_values *kv) {
    char err[256];
    knob_defaults(kv, k->knobs, k->n_knobs);
    if (knob_find(k->knobs, k->n_knobs, "dropout") >= 0) ck_assert(knob_set(kv, "dropout", "0", err, sizeof err) == 0);
}

static void h_make(struct harness *h, const struct layer_kind *k) {
    memset(h, 0, sizeof *h);
    h->k = k;
    layer_knobs(k, &h->kv);
    param_table_init(&h->pt);
    struct layer_dims dims = {TD, TL, 2, 0};
    char err[256] = "";
    h->self = k->create(&h->kv, &dims, &h->pt, "mixer.", err, sizeof err);
    ck_assert_msg(h->self != NULL, "%s: create failed: %s", k->name, err);
    h->p = xcalloc(h->pt.total, sizeof(real));
    h->g = xcalloc(h->pt.total, sizeof(real));
    param_init_generic(&h->pt, h->p, 7);
    if (k->init) k->init(h->self, h->p, 7);
    /* N(0, 0.02) weights make the gated paths nearly vanish; scale them up so
     * every path carries signal the check can see. */
    for (int t = 0; t < h->pt.n; t++)
        if (h->pt.v[t].init == INIT_NORMAL)
            for (size_t i = 0; i < h->pt.v[t].numel; i++) h->p[h->pt.v[t].offset + i] *= 10;
    h->act = xcalloc(k->act_size(h->self, TB, TL) + 1, sizeof(real));
    h->scratch = xcalloc(k->scratch_size(h->self, TB, TL) + 1, sizeof(real));
    struct hp_rng r = hp_rng_make(11, 1);
    for (int i = 0; i < TB * TL * TD; i++) h->x[i] = hp_rng_normal(&r), h->w[i] = hp_rng_normal(&r);
}

static void h_free(struct harness *h) {
    h->k->destroy(h->self);
    param_table_free(&h->pt);
    free(h->p), free(h->g), free(h->act), free(h->scratch);
}

static void h_fwd(struct harness *h, const real *x, real *y) {
    struct layer_fwd a = {TB, TL, x, y, h->p, h->act, h->scratch, false, 1, 2};
    h->k->forward(h->self, ops_cpu(), &a);
}

static double h_loss(struct harness *h) {
    h_fwd(h, h->x, h->y);
    double s = 0;
    for (int i = 0; i < TB * TL * TD; i++) s += h->w[i] * h->y[i];
    return s;
}

static void h_bwd(struct harness *h) {
    h_fwd(h, h->x, h->y);
    memset(h->g, 0, h->pt.total * sizeof(real));
    struct layer_bwd a = {TB, TL, h->x, h->w, h->dx, h->p, h->g, h->act, h->scratch, false, 1, 2};
    h->k->backward(h->self, ops_cpu(), &a);
}

/* Central difference of the loss in *v, step eps scaled to the entry. */
static double fd(struct harness *h, real *v) {
    double v0 = *v, eps = 1e-6 * fmax(1.0, fabs(v0));
    *v = v0 + eps;
    double lp = h_loss(h);
    *v = v0 - eps;
    double lm = h_loss(h);
    *v = v0;
    return (lp - lm) / (2 * eps);
}

/* Pass when |backward - fd| <= 1e-5 * (largest gradient of the tensor) + noise,
 * where noise = 10 * eps_mach * |loss| / step is the round-off floor of a
 * central difference (it matters for tensors whose gradients are tiny). */
static void check_entry(const char *what, size_t i, double analytic, double numeric, double scale, double noise) {
    double diff = fabs(analytic - numeric), tol = 1e-5 * scale + noise;
    ck_assert_msg(diff <= tol, "%s[%zu]: backward %.10g, finite difference %.10g (|diff| %.3g > tol %.3g)", what, i,
                  analytic, numeric, diff, tol);
}

static double fd_noise(double loss) { return 10 * 2.2e-16 * fmax(1.0, fabs(loss)) / 1e-6; }

static double max_abs(const real *v, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

START_TEST(test_layer_gradients) {
    const struct layer_kind *k = layer_kinds[_i];
    struct harness h;
    h_make(&h, k);
    h_bwd(&h);
    real *dx = xcalloc(TB * TL * TD, sizeof(real)), *g = xcalloc(h.pt.total, sizeof(real));
    memcpy(dx, h.dx, sizeof h.dx);
    memcpy(g, h.g, h.pt.total * sizeof(real));
    double sx = max_abs(dx, TB * TL * TD), noise = fd_noise(h_loss(&h));
    for (size_t i = 0; i < TB * TL * TD; i += 37) check_entry("dx", i, dx[i], fd(&h, &h.x[i]), sx, noise);
    for (int t = 0; t < h.pt.n; t++) {
        const struct param_spec *s = &h.pt.v[t];
        double sg = max_abs(g + s->offset, s->numel);
        size_t stride = s->numel / 5 + 1, big = 0;
        for (size_t i = 0; i < s->numel; i++)
            if (fabs(g[s->offset + i]) > fabs(g[s->offset + big])) big = i;
        check_entry(s->name, big, g[s->offset + big], fd(&h, &h.p[s->offset + big]), sg, noise);
        for (size_t i = 0; i < s->numel; i += stride)
            check_entry(s->name, i, g[s->offset + i], fd(&h, &h.p[s->offset + i]), sg, noise);
    }
    free(dx), free(g);
    h_free(&h);
}
END_TEST

START_TEST(test_layer_causal) {
    const struct layer_kind *k = layer_kinds[_i];
    struct harness h;
    h_make(&h, k);
    real *y0 = xcalloc(TB * TL * TD, sizeof(real));
    h_fwd(&h, h.x, y0);
    for (int t = 1; t < TL; t += 3) {
        real saved[TD];
        real *xt = h.x + (size_t)t * TD; /* batch 0, position t */
        memcpy(saved, xt, sizeof saved);
        for (int d = 0; d < TD; d++) xt[d] += 1.0 + d;
        h_fwd(&h, h.x, h.y);
        for (int s = 0; s < t; s++)
            for (int d = 0; d < TD; d++) {
                size_t i = (size_t)s * TD + d;
                ck_assert_msg(fabs(h.y[i] - y0[i]) <= 1e-12 * (1 + fabs(y0[i])),
                              "%s: changing position %d moved output at %d (%g -> %g)", k->name, t, s, y0[i],
                              h.y[i]);
            }
        memcpy(xt, saved, sizeof saved);
    }
    free(y0);
    h_free(&h);
}
END_TEST

START_TEST(test_layer_deterministic) {
    const struct layer_kind *k = layer_kinds[_i];
    struct harness h;
    h_make(&h, k);
    real *y0 = xcalloc(TB * TL * TD, sizeof(real));
    h_fwd(&h, h.x, y0);
    h_fwd(&h, h.x, h.y);
    ck_assert_msg(memcmp(y0, h.y, sizeof h.y) == 0, "%s: two forwards differ", k->name);
    ck_assert_msg(k->state_size(h.self, TL) > 0, "%s: state_size is 0", k->name);
    free(y0);
    h_free(&h);
}
END_TEST

/* Whole model: d loss / d parameter by finite differences, every tensor. */
static struct model *small_model(const struct layer_kind *k) {
    struct model_cfg c = {.vocab = 7, .d_model = TD, .n_layer = 2, .d_inner = 2 * TD, .max_L = TL,
                          .embed_dropout = 0, .ln_eps = 1e-5, .kind = k};
    layer_knobs(k, &c.layer_knobs);
    char err[256] = "";
    struct model *m = model_create(&c, err, sizeof err);
    ck_assert_msg(m != NULL, "%s: %s", k->name, err);
    model_init(m, 3);
    return m;
}

static double model_loss(struct model *m, const struct model_batch *b) { return model_forward(m, ops_cpu(), b); }

START_TEST(test_model_gradients) {
    const struct layer_kind *k = layer_kinds[_i];
    struct model *m = small_model(k);
    int32_t tok[TB * TL], tgt[TB * TL];
    struct hp_rng r = hp_rng_make(5, 5);
    for (int i = 0; i < TB * TL; i++) tok[i] = (int32_t)hp_rng_below(&r, 7), tgt[i] = (i % 4 == 3) ? -1 : (int32_t)hp_rng_below(&r, 7);
    struct model_batch b = {TB, TL, tok, tgt, false, 0, 0};
    double noise = fd_noise(model_loss(m, &b));
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
        for (size_t i = big, n = 0; n < 3; n++, i = (i + s->numel / 3 + 1) % s->numel) {
            real *v = &p[s->offset + i];
            double v0 = *v, eps = 1e-6 * fmax(1.0, fabs(v0));
            *v = v0 + eps;
            double lp = model_loss(m, &b);
            *v = v0 - eps;
            double lm = model_loss(m, &b);
            *v = v0;
            check_entry(s->name, i, g[s->offset + i], (lp - lm) / (2 * eps), sg, noise);
        }
    }
    free(g);
    model_free(m);
}
END_TEST

static int n_kinds(void) {
    int n = 0;
    while (layer_kinds[n]) n++;
    return n;
}

int main(void) {
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("registry");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_layer_gradients, 0, n_kinds());
    tcase_add_loop_test(tc, test_layer_causal, 0, n_kinds());
    tcase_add_loop_test(tc, test_layer_deterministic, 0, n_kinds());
    tcase_add_loop_test(tc, test_model_gradients, 0, n_kinds());
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
