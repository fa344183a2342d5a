/* test_gss.c — the Gated State Spaces layer against a naive reference and
 * against our float64 PyTorch fixture (tests/fixtures/ours/gss.safetensors,
 * made by tools/make_fixtures.py from tools/hippo_ref.py; GSS has no authors'
 * code to compare with).
 *
 * Built twice: as the float suite (this file) and, included from
 * tests/f64/test_gss.c, as the double suite.
 *  - both builds: the DSS kernel against a direct complex sum (exp(Λ l) per
 *    tap, not the op's recurrence) and the layer's forward against the
 *    formulas written out here with O(L²) loops, at awkward shapes (B = 1, odd
 *    L, widths that are no multiple of the vector width) on random parameters;
 *    the whole model against the fixture (loss, every hidden state, mixer
 *    output, logits, both kernels, every parameter gradient) — in float at the
 *    limits of the other float fixture tests (loss 2e-6 absolute, forward
 *    1e-5, kernels 3e-5, gradients 2e-4, scaled by the tensor's largest
 *    magnitude), in double to 1e-10 (loss 1e-11); that the same comparison
 *    fails when one parameter is nudged; parameter table, inits, knob errors,
 *    state size;
 *  - double only: Richardson finite differences of dx and every parameter
 *    (on the fixture's layer-1 parameters and input, and at a small random
 *    shape), to 1e-6 relative. The registry-wide suite (tests/f64/test_layers.c)
 *    adds its own differences, causality and determinism. */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "../core/safetensors.h"
#include "../models/gss.h"
#include "../models/layer.h"
#include "../models/model.h"
#include "testutil.h"

#define FIXTURE "tests/fixtures/ours/gss.safetensors"

#ifdef HIPPO_F64
#define TOL_LOSS 1e-11
#define TOL_FWD 1e-10
#define TOL_KERN 1e-10
#define TOL_GRAD 1e-10
#define TOL_NAIVE 1e-12
#else
#define TOL_LOSS 2e-6 /* fixtures README §5, as tests/test_model_fixtures.c */
#define TOL_FWD 1e-5
#define TOL_KERN 3e-5
#define TOL_GRAD 2e-4
#define TOL_NAIVE 1e-5
#endif

struct shape {
    int D, expand, H, N, B, L;
};

static void gss_open(struct tu_layer *r, const struct shape *s, int layer) {
    char knobs[128];
    snprintf(knobs, sizeof knobs, "expand=%d,d_ssm=%d,d_state=%d", s->expand, s->H, s->N);
    tu_layer_open(r, &(struct tu_layer_cfg){.k = &layer_gss, .knobs = knobs, .D = s->D, .B = s->B, .L = s->L,
                                           .layer = layer});
}

/* Init, then parameters away from the init's special values: Λ with random
 * decay and frequency (the init puts every mode at frequency 0 or π), the
 * DSS LayerNorm off identity, projections 10x larger so the GELUs bend. */
static void randomise(struct tu_layer *r, uint64_t seed) {
    tu_layer_init(r, seed);
    struct hp_rng g = hp_rng_make(seed, 77);
    const struct param_spec *lre = tu_layer_spec(r, "dss.Lambda_re_log");
    real *re = r->p + lre->offset, *im = tu_layer_P(r, "dss.Lambda_im");
    for (size_t n = 0; n < lre->numel; n++) {
        re[n] = (real)log(0.02 + 0.8 * hp_rng_uniform(&g)); /* Re Λ in [-0.82, -0.02] */
        im[n] = (real)(12 * hp_rng_uniform(&g) - 2);
    }
    const struct param_spec *nw = tu_layer_spec(r, "dss.norm.weight");
    for (size_t h = 0; h < nw->numel; h++) {
        r->p[nw->offset + h] = (real)(1 + 0.3 * hp_rng_normal(&g));
        tu_layer_P(r, "dss.norm.bias")[h] = (real)(0.3 * hp_rng_normal(&g));
    }
    const char *proj[] = {"to_u.weight", "to_v.weight", "to_gate.weight", "out_proj.weight"};
    for (int i = 0; i < 4; i++) {
        const struct param_spec *w = tu_layer_spec(r, proj[i]);
        for (size_t j = 0; j < w->numel; j++) r->p[w->offset + j] *= 10;
    }
    tu_fill_normal(r->x, r->n, 1.0, seed, 78);
}

/* ---- naive reference (double, direct loops) ------------------------------------ */

/* K[h, l] = Re sum_n C[h,n] (e^Λn - 1)/Λn e^{Λn l}, each power a fresh cexp. */
static void naive_kernel(const struct tu_layer *r, int H, int N, int L, double *K) {
    const real *re = tu_layer_P(r, "dss.Lambda_re_log"), *im = tu_layer_P(r, "dss.Lambda_im");
    const real *C = tu_layer_P(r, "dss.C");
    for (int h = 0; h < H; h++)
        for (int l = 0; l < L; l++) {
            double complex acc = 0;
            for (int n = 0; n < N; n++) {
                double complex lam = -exp((double)re[n]) + I * (double)im[n];
                double complex c = C[((size_t)h * N + n) * 2] + I * (double)C[((size_t)h * N + n) * 2 + 1];
                acc += c * (cexp(lam) - 1) / lam * cexp(lam * l);
            }
            K[(size_t)h * L + l] = creal(acc);
        }
}

static double gelu_d(double a) { return 0.5 * a * (1 + erf(a / sqrt(2.0))); }

/* out (n_out) = W (n_out, n_in) in (n_in) [+ b]. */
static void matvec(const real *W, const real *b, const double *in, int n_out, int n_in, double *out) {
    for (int o = 0; o < n_out; o++) {
        double s = b ? b[o] : 0;
        for (int i = 0; i < n_in; i++) s += (double)W[(size_t)o * n_in + i] * in[i];
        out[o] = s;
    }
}

/* w (B, L, H) = LN_dss(GELU(x W_vᵀ)) and u (B, L, E) = GELU(x W_uᵀ). */
static void naive_branches(const struct tu_layer *r, int E, int H, double *u, double *w) {
    int D = r->D;
    double *xd = xmalloc((size_t)D * sizeof *xd), *v = xmalloc((size_t)H * sizeof *v);
    const real *nw = tu_layer_P(r, "dss.norm.weight"), *nb = tu_layer_P(r, "dss.norm.bias");
    for (size_t t = 0; t < (size_t)r->B * r->L; t++) {
        for (int d = 0; d < D; d++) xd[d] = r->x[t * D + d];
        matvec(tu_layer_P(r, "to_u.weight"), NULL, xd, E, D, u + t * E);
        for (int e = 0; e < E; e++) u[t * E + e] = gelu_d(u[t * E + e]);
        matvec(tu_layer_P(r, "to_v.weight"), NULL, xd, H, D, v);
        double mu = 0, var = 0;
        for (int h = 0; h < H; h++) v[h] = gelu_d(v[h]), mu += v[h] / H;
        for (int h = 0; h < H; h++) var += (v[h] - mu) * (v[h] - mu) / H;
        for (int h = 0; h < H; h++) w[t * H + h] = (v[h] - mu) / sqrt(var + 1e-5) * nw[h] + nb[h];
    }
    free(xd), free(v);
}

/* The layer's output (B, L, D) from its parameters and r->x. */
static void naive_forward(const struct tu_layer *r, const struct shape *s, double *y) {
    int D = s->D, E = s->expand * s->D, H = s->H, L = s->L;
    size_t R = (size_t)s->B * L;
    double *u = xmalloc(R * E * sizeof *u), *w = xmalloc(R * H * sizeof *w), *K = xmalloc((size_t)H * L * sizeof *K);
    double *yd = xmalloc((size_t)H * sizeof *yd), *o = xmalloc((size_t)E * sizeof *o);
    naive_branches(r, E, H, u, w);
    naive_kernel(r, H, s->N, L, K);
    const real *Dd = tu_layer_P(r, "dss.D");
    for (int b = 0; b < s->B; b++)
        for (int l = 0; l < L; l++) {
            size_t t = (size_t)b * L + l;
            for (int h = 0; h < H; h++) {
                double acc = Dd[h] * w[t * H + h];
                for (int j = 0; j <= l; j++) acc += K[(size_t)h * L + j] * w[(t - j) * H + h];
                yd[h] = acc;
            }
            matvec(tu_layer_P(r, "to_gate.weight"), NULL, yd, E, H, o);
            for (int e = 0; e < E; e++) o[e] *= u[t * E + e];
            matvec(tu_layer_P(r, "out_proj.weight"), tu_layer_P(r, "out_proj.bias"), o, D, E, y + t * D);
        }
    free(u), free(w), free(K), free(yd), free(o);
}

static const struct shape naive_shapes[] = {
    {32, 4, 32, 64, 1, 31}, /* the defaults at the paper's length */
    {5, 3, 7, 9, 1, 13},    /* nothing a multiple of anything */
    {6, 1, 17, 3, 2, 131},  /* L > 2 anchors of the op's power recurrence */
};

START_TEST(test_kernel_naive) {
    const struct shape *s = &naive_shapes[_i];
    struct tu_layer r;
    gss_open(&r, s, 0);
    randomise(&r, 100 + (uint64_t)_i);
    size_t n = (size_t)s->H * s->L;
    real *K = xmalloc(n * sizeof *K);
    double *ref = xmalloc(n * sizeof *ref);
    gss_kernel(r.self, ops_cpu(), r.p, s->L, K);
    naive_kernel(&r, s->H, s->N, s->L, ref);
    double e = tu_assert_close_real("kernel", K, ref, n, TOL_NAIVE);
    printf("  kernel H %d N %d L %d: scaled err %.2e (limit %g)\n", s->H, s->N, s->L, e, TOL_NAIVE);
    free(K), free(ref);
    tu_layer_close(&r);
}
END_TEST

START_TEST(test_forward_naive) {
    const struct shape *s = &naive_shapes[_i];
    struct tu_layer r;
    gss_open(&r, s, 0);
    randomise(&r, 200 + (uint64_t)_i);
    tu_layer_forward(&r);
    double *ref = xmalloc(r.n * sizeof *ref);
    naive_forward(&r, s, ref);
    double e = tu_assert_close_real("y", r.y, ref, r.n, TOL_NAIVE);
    printf("  forward D %d E %d H %d N %d B %d L %d: scaled err %.2e (limit %g)\n", s->D, s->expand * s->D, s->H,
           s->N, s->B, s->L, e, TOL_NAIVE);
    free(ref);
    tu_layer_close(&r);
}
END_TEST

/* ---- the whole model against the fixture ---------------------------------------------- */

/* The worst tensor of a comparison, as a multiple of its limit. */
struct verdict {
    double ratio, err;
    char name[ST_NAME];
};

static void judge(struct verdict *v, const struct st_file *f, const char *name, const real *ours, double tol) {
    size_t n;
    double *ref = tu_load_f64(f, name, &n), *c = tu_to_f64(ours, n);
    double e = tu_scaled_err(c, ref, n, NULL);
    if (!(e / tol <= v->ratio)) { /* NaN counts as worst */
        v->ratio = isnan(e) ? INFINITY : e / tol, v->err = e;
        snprintf(v->name, sizeof v->name, "%s", name);
    }
    free(ref), free(c);
}

static int32_t *load_ids(const struct st_file *f, const char *name) {
    size_t n;
    double *v = tu_load_f64(f, name, &n);
    int32_t *ids = xmalloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)v[i];
    free(v);
    return ids;
}

struct fx_model {
    struct st_file f;
    struct model *m;
    int B, L;
    int32_t *ids, *tgt;
};

/* The fixture's model (default knobs) with every stored parameter, and no other. */
static void fx_open(struct fx_model *x) {
    tu_st_open(FIXTURE, &x->f);
    const struct st_tensor *ids = tu_st_need(&x->f, "input/ids");
    const struct st_tensor *emb = tu_st_need(&x->f, "param/backbone.embeddings.word_embeddings.weight");
    x->B = (int)ids->shape[0], x->L = (int)ids->shape[1];
    struct model_cfg c = {.vocab = (int)emb->shape[0], .d_model = (int)emb->shape[1], .n_layer = 2,
                          .d_inner = 128, .max_L = x->L, .embed_dropout = 0, .ln_eps = 1e-5, .kind = &layer_gss};
    tu_knobs(&c.layer_knobs, &layer_gss, "");
    char err[256] = "";
    x->m = model_create(&c, err, sizeof err);
    ck_assert_msg(x->m != NULL, "%s", err);
    const struct param_table *pt = model_params(x->m);
    int n_file = 0;
    for (int i = 0; i < x->f.n; i++) n_file += strncmp(x->f.t[i].name, "param/", 6) == 0;
    ck_assert_msg(n_file == pt->n, "file has %d parameters, model %d", n_file, pt->n);
    for (int i = 0; i < pt->n; i++) {
        char name[PARAM_NAME + 8];
        snprintf(name, sizeof name, "param/%s", pt->v[i].name);
        tu_load_real(&x->f, name, model_param_data(x->m) + pt->v[i].offset, pt->v[i].numel);
    }
    x->ids = load_ids(&x->f, "input/ids"), x->tgt = load_ids(&x->f, "input/targets");
}

static void fx_close(struct fx_model *x) {
    free(x->ids), free(x->tgt);
    model_free(x->m);
    st_free(&x->f);
}

/* Each layer's kernel from the model's parameters, through a standalone layer. */
static void judge_kernels(struct verdict *v, struct fx_model *x) {
    const struct param_table *pt = model_params(x->m);
    for (int i = 0; i < 2; i++) {
        struct tu_layer r;
        gss_open(&r, &(struct shape){32, 4, 32, 64, 1, x->L}, i);
        for (int t = 0; t < r.pt.n; t++) {
            int j = param_find(pt, r.pt.v[t].name);
            ck_assert(j >= 0);
            memcpy(r.p + r.pt.v[t].offset, model_param_data(x->m) + pt->v[j].offset, r.pt.v[t].numel * sizeof(real));
        }
        real *K = xmalloc((size_t)32 * x->L * sizeof *K);
        gss_kernel(r.self, ops_cpu(), r.p, x->L, K);
        char name[64];
        snprintf(name, sizeof name, "kernel/layer%d/gss", i);
        judge(v, &x->f, name, K, TOL_KERN);
        free(K);
        tu_layer_close(&r);
    }
}

/* Forward and backward on the stored batch; the worst tensor against its limit. */
static struct verdict fx_compare(struct fx_model *x) {
    struct verdict v = {0, 0, ""};
    struct model_batch b = {x->B, x->L, x->ids, x->tgt, true, 0, 0};
    double loss = model_forward(x->m, ops_cpu(), &b), *ref = tu_load_f64(&x->f, "output/loss", NULL);
    v.ratio = fabs(loss - ref[0]) / TOL_LOSS, v.err = fabs(loss - ref[0]);
    snprintf(v.name, sizeof v.name, "output/loss");
    free(ref);
    char name[64];
    judge(&v, &x->f, "hidden/embed", model_tap(x->m, TAP_EMBED, 0), TOL_FWD);
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "mixer/layer%d/in", i), judge(&v, &x->f, name, model_tap(x->m, TAP_MIXER_IN, i), TOL_FWD);
        snprintf(name, sizeof name, "mixer/layer%d/out", i), judge(&v, &x->f, name, model_tap(x->m, TAP_MIXER_OUT, i), TOL_FWD);
        snprintf(name, sizeof name, "mlp/layer%d/out", i), judge(&v, &x->f, name, model_tap(x->m, TAP_MLP_OUT, i), TOL_FWD);
        snprintf(name, sizeof name, "hidden/block%d", i), judge(&v, &x->f, name, model_tap(x->m, TAP_BLOCK, i), TOL_FWD);
    }
    judge(&v, &x->f, "hidden/ln_f", model_tap(x->m, TAP_LN_F, 0), TOL_FWD);
    judge(&v, &x->f, "output/logits", model_tap(x->m, TAP_LOGITS, 0), TOL_FWD);
    judge_kernels(&v, x);
    model_zero_grad(x->m);
    model_backward(x->m, ops_cpu());
    const struct param_table *pt = model_params(x->m);
    for (int i = 0; i < pt->n; i++) {
        char g[PARAM_NAME + 8];
        snprintf(g, sizeof g, "grad/%s", pt->v[i].name);
        judge(&v, &x->f, g, model_grad_data(x->m) + pt->v[i].offset, TOL_GRAD);
    }
    return v;
}

START_TEST(test_fixture_model) {
    struct fx_model x;
    fx_open(&x);
    struct verdict v = fx_compare(&x);
    printf("  gss fixture: worst %s, scaled err %.2e = %.3f of its limit\n", v.name, v.err, v.ratio);
    ck_assert_msg(v.ratio <= 1, "%s: error %.3g is %.3g times its limit", v.name, v.err, v.ratio);
    fx_close(&x);
}
END_TEST

/* The comparison above must notice a small change to any one parameter. */
static const struct {
    const char *name;
    size_t idx;
} nudges[] = {
    {"backbone.layers.1.mixer.dss.Lambda_im", 5},   {"backbone.layers.0.mixer.dss.Lambda_re_log", 40},
    {"backbone.layers.0.mixer.dss.C", 77},          {"backbone.layers.1.mixer.dss.D", 3},
    {"backbone.layers.0.mixer.dss.norm.bias", 11}, {"backbone.layers.1.mixer.to_gate.weight", 300},
};

START_TEST(test_fixture_can_fail) {
    struct fx_model x;
    fx_open(&x);
    const struct param_table *pt = model_params(x.m);
    int i = param_find(pt, nudges[_i].name);
    ck_assert(i >= 0 && nudges[_i].idx < pt->v[i].numel);
    real *p = model_param_data(x.m) + pt->v[i].offset + nudges[_i].idx;
    double rel = sizeof(real) == 4 ? 1e-2 : 1e-7; /* 1e-3 of one mode hides in float's 2e-4 */
    *p += (real)(rel * (fabs(*p) + 1));
    struct verdict v = fx_compare(&x);
    printf("  nudge %s[%zu] by %g: worst %s at %.3g of its limit\n", nudges[_i].name, nudges[_i].idx, rel, v.name,
           v.ratio);
    ck_assert_msg(v.ratio > 1, "nudging %s went unnoticed (worst %s at %.3g of its limit)", nudges[_i].name,
                  v.name, v.ratio);
    fx_close(&x);
}
END_TEST

/* ---- table, init, knobs ---------------------------------------------------------------- */

START_TEST(test_param_table) {
    struct tu_layer r;
    gss_open(&r, &(struct shape){32, 4, 24, 48, 1, 31}, 0);
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[3];
        enum param_init init;
        enum opt_group group;
    } want[] = {
        {"to_u.weight", 2, {128, 32}, INIT_NORMAL, GROUP_DEFAULT},
        {"to_v.weight", 2, {24, 32}, INIT_NORMAL, GROUP_DEFAULT},
        {"dss.norm.weight", 1, {24}, INIT_ONE, GROUP_DEFAULT},
        {"dss.norm.bias", 1, {24}, INIT_ZERO, GROUP_DEFAULT},
        {"dss.Lambda_re_log", 1, {48}, INIT_CUSTOM, GROUP_SSM},
        {"dss.Lambda_im", 1, {48}, INIT_CUSTOM, GROUP_SSM},
        {"dss.C", 3, {24, 48, 2}, INIT_NORMAL, GROUP_DEFAULT},
        {"dss.D", 1, {24}, INIT_NORMAL, GROUP_DEFAULT},
        {"to_gate.weight", 2, {128, 24}, INIT_NORMAL, GROUP_DEFAULT},
        {"out_proj.weight", 2, {32, 128}, INIT_NORMAL, GROUP_DEFAULT},
        {"out_proj.bias", 1, {32}, INIT_ZERO, GROUP_DEFAULT},
    };
    enum { NW = sizeof want / sizeof want[0] };
    ck_assert_int_eq(r.pt.n, NW);
    for (int i = 0; i < NW; i++) {
        const struct param_spec *s = &r.pt.v[i];
        char full[PARAM_NAME];
        snprintf(full, sizeof full, "backbone.layers.0.mixer.%s", want[i].name);
        ck_assert_str_eq(s->name, full);
        ck_assert_int_eq(s->ndim, want[i].ndim);
        for (int d = 0; d < s->ndim; d++) ck_assert_int_eq(s->shape[d], want[i].shape[d]);
        ck_assert_int_eq(s->init, want[i].init);
        ck_assert_int_eq(s->group, want[i].group);
    }
    ck_assert_double_eq_tol(tu_layer_spec(&r, "dss.C")->init_arg, sqrt(0.5), 1e-15);
    ck_assert_double_eq(tu_layer_spec(&r, "dss.D")->init_arg, 1.0);
    ck_assert_double_eq(tu_layer_spec(&r, "to_u.weight")->init_arg, 0.02);
    ck_assert_double_eq_tol(tu_layer_spec(&r, "out_proj.weight")->init_arg, 0.01, 1e-15); /* n_layer 2 */
    ck_assert_uint_eq(layer_gss.state_size(r.self, 31), 2 * 24 * 48);                     /* H x N complex */
    tu_layer_close(&r);
}
END_TEST

/* Λ is S4D-Lin exactly (float32 values); C, D and the weights have their
 * distributions; the same seed gives the same parameters. */
START_TEST(test_init) {
    struct tu_layer r;
    gss_open(&r, &(struct shape){32, 4, 64, 64, 1, 31}, 0);
    tu_layer_init(&r, 5);
    const real *re = tu_layer_P(&r, "dss.Lambda_re_log"), *im = tu_layer_P(&r, "dss.Lambda_im");
    for (int n = 0; n < 64; n++) {
        ck_assert(re[n] == (real)(float)log(0.5));
        ck_assert(im[n] == (real)((float)M_PI * (float)n));
    }
    const struct param_spec *C = tu_layer_spec(&r, "dss.C"), *D = tu_layer_spec(&r, "dss.D");
    double c2 = 0, d2 = 0;
    for (size_t j = 0; j < C->numel; j++) c2 += (double)r.p[C->offset + j] * r.p[C->offset + j] / C->numel;
    for (size_t j = 0; j < D->numel; j++) d2 += (double)r.p[D->offset + j] * r.p[D->offset + j] / D->numel;
    /* 8192 draws of N(0, 1/2): mean square 0.5 +- 0.008; 64 draws of N(0, 1): rms 1 +- 0.09. */
    ck_assert_msg(fabs(c2 - 0.5) < 0.04, "C mean square %g, want 0.5", c2);
    ck_assert_msg(fabs(sqrt(d2) - 1) < 0.3, "D rms %g, want 1", sqrt(d2));
    real *q = xcalloc(r.pt.total, sizeof(real));
    param_init_generic(&r.pt, q, 5);
    layer_gss.init(r.self, q, 5);
    ck_assert(memcmp(q, r.p, r.pt.total * sizeof(real)) == 0);
    printf("  init: C mean square %.3f, D rms %.3f\n", c2, sqrt(d2));
    free(q);
    tu_layer_close(&r);
}
END_TEST

static void *make(struct param_table *pt, const char *knobs, char *err, size_t errlen) {
    struct tu_layer_cfg c = {.k = &layer_gss, .knobs = knobs, .D = 32, .B = 1, .L = 31, .layer = 0};
    return tu_layer_create(&c, pt, "backbone.layers.0.mixer.", err, errlen);
}

START_TEST(test_config_errors) {
    static const struct {
        const char *knobs, *must1, *must2;
    } bad[] = {
        {"expand=0", "expand", "1 and 16"},       {"expand=17", "expand", "16"},
        {"d_ssm=0", "d_ssm", "4096"},             {"d_state=0", "d_state", "1024"},
        {"d_state=2048", "d_state", "1024"},      {"head_dim=1", "head_dim", "expand, d_ssm, d_state"},
        {"d_state=1.5", "d_state", "integer"},
    };
    struct param_table pt;
    param_table_init(&pt);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        ck_assert_ptr_null(make(&pt, bad[i].knobs, err, sizeof err));
        ck_assert_msg(strstr(err, bad[i].must1) && strstr(err, bad[i].must2), "%s: message '%s'", bad[i].knobs, err);
    }
    ck_assert_int_eq(pt.n, 0);
    /* A prefix too long for the parameter names is refused, not truncated. */
    char err[256] = "", prefix[PARAM_NAME];
    memset(prefix, 'a', sizeof prefix - 10);
    prefix[sizeof prefix - 10] = '\0';
    struct knob_values kv;
    knob_defaults(&kv, layer_gss.knobs, layer_gss.n_knobs);
    struct layer_dims dims = {32, 31, 2, 0};
    ck_assert_ptr_null(layer_gss.create(&kv, &dims, &pt, prefix, err, sizeof err));
    ck_assert_msg(strstr(err, "prefix"), "message '%s'", err);
    param_table_free(&pt);
}
END_TEST

#ifdef HIPPO_F64
/* dx and every parameter tensor against Richardson-extrapolated central
 * differences of <dy, y>: the largest-|gradient| entry and 4 random ones, error
 * relative to max(|analytic|, 1% of the tensor's largest gradient) <= 1e-6. */
static void gradient_check(struct tu_layer *r) {
    struct tu_fd fd = {.step = 1e-4, .richardson = true, .n_random = 4, .seed = 99, .stream = 100, .floor = 0.01,
                       .tol = 1e-6};
    tu_layer_fd_all(r, fd, 1e-5); /* log_dt: Im A up to ~1e3 makes the loss oscillate fast in it */
}

START_TEST(test_gradients_fixture) {
    struct st_file f;
    tu_st_open(FIXTURE, &f);
    struct tu_layer r;
    gss_open(&r, &(struct shape){32, 4, 32, 64, 2, 19}, 1);
    tu_layer_load(&r, &f);
    tu_load_real(&f, "mixer/layer1/in", r.x, r.n);
    gradient_check(&r);
    tu_layer_close(&r);
    st_free(&f);
}
END_TEST

START_TEST(test_gradients_random) {
    struct tu_layer r;
    gss_open(&r, &(struct shape){5, 3, 7, 9, 2, 11}, 0);
    randomise(&r, 300);
    gradient_check(&r);
    tu_layer_close(&r);
}
END_TEST
#endif /* HIPPO_F64 */

int main(void) {
    Suite *s = suite_create("gss_" REAL_NAME);
    TCase *tc = tcase_create("gss");
    tcase_set_timeout(tc, 60);
    int n_shapes = (int)(sizeof naive_shapes / sizeof naive_shapes[0]);
    tcase_add_loop_test(tc, test_kernel_naive, 0, n_shapes);
    tcase_add_loop_test(tc, test_forward_naive, 0, n_shapes);
    tcase_add_test(tc, test_fixture_model);
    tcase_add_loop_test(tc, test_fixture_can_fail, 0, (int)(sizeof nudges / sizeof nudges[0]));
    tcase_add_test(tc, test_param_table);
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_config_errors);
#ifdef HIPPO_F64
    tcase_add_test(tc, test_gradients_fixture);
    tcase_add_test(tc, test_gradients_random);
#endif
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
