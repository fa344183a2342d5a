/* test_hyena.c — the Hyena layer against a naive reference and against our
 * float64 PyTorch fixture (tests/fixtures/ours/hyena.safetensors, made by
 * tools/make_fixtures.py from tools/hippo_ref.py).
 *
 * Built twice: as the float suite (this file) and, included from
 * tests/f64/test_hyena.c, as the double suite.
 *  - both builds: the implicit filter against its formula evaluated here in
 *    double (features, sine MLP, window) and the layer's forward against the
 *    operator written out with direct loops (in_proj, the short conv as
 *    PyTorch's padded Conv1d, the O(L²) long conv, gates, out_proj), on knob
 *    settings that move every size (emb_dim 3/5/7, 0 to 4 inner layers, short
 *    taps 1 to 5 and more taps than positions, l_max above L); each fixture
 *    layer's filter and mixer output from the fixture's parameters and mixer
 *    input, and that this comparison fails when one parameter is nudged (the
 *    whole model's loss, hidden states, logits and every gradient against the
 *    same file: tests/test_model_fixtures.c); causality at lengths where the
 *    dispatched conv runs direct, FFTW and FlashConv (a change at position t0
 *    must leave outputs before t0 alone up to round-off, against its effect
 *    from t0 on); parameter table, inits, knob errors, state size;
 *  - double only: Richardson finite differences of dx and every parameter on
 *    the fixture's layer-1 parameters and input and at a small random shape.
 * The registry-wide suites add their own differences, causality and
 * determinism (tests/f64/test_layers.c) and the recurrent mode against this
 * forward (tests/test_step.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "../core/safetensors.h"
#include "../models/hyena.h"
#include "../models/layer.h"
#include "testutil.h"

#define FIXTURE "tests/fixtures/ours/hyena.safetensors"
#define FIXTURE_KNOBS "emb_dim=5,w=10,l_max=21" /* tools/make_fixtures.py, case "hyena" */

#ifdef HIPPO_F64
#define TOL_FWD 1e-10
#define TOL_NAIVE 1e-12
#define TOL_LEAK 1e-10
#else
#define TOL_FWD 1e-5 /* as the other float fixture tests */
#define TOL_NAIVE 2e-5
#define TOL_LEAK 1e-4
#endif

struct shape {
    const char *knobs;
    int D, B, L;
};

static void hy_open(struct tu_layer *r, const struct shape *s, int layer) {
    tu_layer_open(r, &(struct tu_layer_cfg){.k = &layer_hyena, .knobs = s->knobs, .D = s->D, .B = s->B, .L = s->L,
                                           .layer = layer});
}

static void hy_random(struct tu_layer *r, uint64_t seed) {
    tu_layer_init(r, seed);
    tu_fill_normal(r->x, r->n, 1.0, seed, 78);
}

/* The knobs as the layer resolved them. */
struct hy_knobs {
    int W, E, inner, S, l_max;
    double target, fast, slow;
};

static struct hy_knobs knobs_of(const struct tu_layer *r, const char *spec) {
    struct knob_values kv;
    tu_knobs(&kv, &layer_hyena, spec);
    int lm = knob_int(&kv, "l_max");
    return (struct hy_knobs){knob_int(&kv, "filter_order"), knob_int(&kv, "emb_dim"), knob_int(&kv, "inner_mlps"),
                             knob_int(&kv, "short_filter"), lm ? lm : r->L, knob_real(&kv, "decay_target"),
                             knob_real(&kv, "fast_decay_pct"), knob_real(&kv, "slow_decay_pct")};
}

/* ---- naive reference (double, direct loops) ------------------------------------ */

/* out (=) = in Wᵀ + b for the linear `lin` of the layer (the tensors lin.weight
 * and, when has_bias, lin.bias; lin may hold one %d, filled with i); W's
 * shape gives the sizes. */
static void naive_linear(const struct tu_layer *r, const char *lin, int i, bool has_bias, const double *in,
                         double *out) {
    char name[48]; /* short enough that tu_layer_spec's prefix + name cannot truncate */
    snprintf(name, sizeof name, lin, i);
    size_t len = strlen(name);
    snprintf(name + len, sizeof name - len, ".weight");
    const struct param_spec *w = tu_layer_spec(r, name);
    snprintf(name + len, sizeof name - len, ".bias");
    const real *b = has_bias ? tu_layer_P(r, name) : NULL, *W = r->p + w->offset;
    int n_out = (int)w->shape[0], n_in = (int)w->shape[1];
    for (int o = 0; o < n_out; o++) {
        double acc = 0;
        for (int k = 0; k < n_in; k++) acc += (double)W[(size_t)o * n_in + k] * in[k];
        out[o] = acc + (b ? b[o] : 0);
    }
}

/* h (D, L): for each position, features -> sine MLP -> times the window. */
static void naive_filter(const struct tu_layer *r, const struct hy_knobs *k, double *h) {
    int D = r->D, L = r->L, W = k->W, bands = (k->E - 1) / 2;
    double *in = xmalloc((size_t)(k->E + 2 * W) * sizeof *in), *mid = in + k->E, *out = mid + W;
    const real *freq = tu_layer_P(r, "filter_fn.implicit_filter.1.freq");
    double *col = xmalloc((size_t)D * sizeof *col);
    for (int l = 0; l < L; l++) {
        double t = k->l_max > 1 ? (double)l / (k->l_max - 1) : 0, om = 2 * M_PI * l / k->l_max;
        in[0] = t;
        for (int j = 0; j < bands; j++) {
            double f = bands > 1 ? 1e-4 + j * (bands - 1 - 1e-4) / (bands - 1) : 1e-4;
            in[1 + j] = cos(f * om), in[1 + bands + j] = -sin(f * om);
        }
        const double *x = in;
        for (int i = 0; i <= k->inner; i++) {
            naive_linear(r, "filter_fn.implicit_filter.%d", 2 * i, true, x, out);
            for (int j = 0; j < W; j++) mid[j] = sin((double)freq[j] * out[j]);
            x = mid;
        }
        naive_linear(r, "filter_fn.implicit_filter.%d", 2 * k->inner + 2, false, mid, col);
        for (int c = 0; c < D; c++) {
            double lo = log(k->target) / k->slow, hi = log(k->target) / k->fast;
            double delta = D > 1 ? lo + c * (hi - lo) / (D - 1) : lo;
            h[(size_t)c * L + l] = col[c] * exp(-t * fabs(delta));
        }
    }
    free(in), free(col);
}

/* z' (B, L, 3D): in_proj, then the depthwise conv over the input padded with
 * S-1 zeros in front, PyTorch's Conv1d(padding = S-1) cut to L outputs. */
static void naive_short(const struct tu_layer *r, int S, double *zc) {
    int D = r->D, L = r->L, H = 3 * D;
    double *z = xmalloc((size_t)r->B * L * H * sizeof *z), *xd = xmalloc((size_t)D * sizeof *xd);
    const real *w = tu_layer_P(r, "short_filter.weight"), *b = tu_layer_P(r, "short_filter.bias");
    for (size_t t = 0; t < (size_t)r->B * L; t++) {
        for (int d = 0; d < D; d++) xd[d] = r->x[t * D + d];
        naive_linear(r, "in_proj", 0, true, xd, z + t * H);
    }
    for (int bb = 0; bb < r->B; bb++)
        for (int t = 0; t < L; t++)
            for (int c = 0; c < H; c++) {
                double acc = b[c];
                for (int k = 0; k < S; k++) {
                    int src = t + k - (S - 1); /* index into the unpadded input */
                    if (src >= 0) acc += (double)w[(size_t)c * S + k] * z[((size_t)bb * L + src) * H + c];
                }
                zc[((size_t)bb * L + t) * H + c] = acc;
            }
    free(z), free(xd);
}

/* The layer's output (B, L, D) from its parameters and r->x. */
static void naive_forward(const struct tu_layer *r, const struct hy_knobs *k, double *y) {
    int D = r->D, L = r->L;
    size_t R = (size_t)r->B * L;
    double *zc = xmalloc(R * 3 * D * sizeof *zc), *h = xmalloc((size_t)D * L * sizeof *h);
    double *o = xmalloc((size_t)D * sizeof *o);
    naive_short(r, k->S, zc);
    naive_filter(r, k, h);
    const real *beta = tu_layer_P(r, "filter_fn.bias");
    for (int b = 0; b < r->B; b++)
        for (int t = 0; t < L; t++) {
            const double *zt = zc + ((size_t)b * L + t) * 3 * D;
            for (int c = 0; c < D; c++) {
                double u = beta[c] * zt[2 * D + c] * zt[D + c];
                for (int j = 0; j <= t; j++) {
                    const double *zs = zc + ((size_t)b * L + t - j) * 3 * D;
                    u += h[(size_t)c * L + j] * zs[2 * D + c] * zs[D + c];
                }
                o[c] = u * zt[c];
            }
            naive_linear(r, "out_proj", 0, true, o, y + ((size_t)b * L + t) * D);
        }
    free(zc), free(h), free(o);
}

static const struct shape naive_shapes[] = {
    {"", 16, 1, 31},                                                     /* the defaults */
    {"emb_dim=5,w=10,l_max=33", 32, 2, 31},                              /* the long-AR config's filter */
    {"filter_order=7,emb_dim=5,inner_mlps=0,short_filter=1,l_max=20", 5, 1, 13},
    {"filter_order=9,emb_dim=7,inner_mlps=1,short_filter=5,w=3,l_max=140", 6, 2, 131},
    {"filter_order=4,inner_mlps=4,short_filter=4,decay_target=0.3,fast_decay_pct=0.5", 3, 2, 3}, /* S > L */
};
enum { N_NAIVE = sizeof naive_shapes / sizeof naive_shapes[0] };

/* The filter, then the whole forward, against the direct loops. */
START_TEST(test_naive) {
    const struct shape *s = &naive_shapes[_i];
    struct tu_layer r;
    hy_open(&r, s, 0);
    hy_random(&r, 100 + (uint64_t)_i);
    struct hy_knobs k = knobs_of(&r, s->knobs);
    size_t nh = (size_t)s->D * s->L;
    real *h = xmalloc(nh * sizeof *h);
    double *ref = xmalloc((nh > r.n ? nh : r.n) * sizeof *ref);
    hyena_filter(r.self, ops_cpu(), r.p, s->L, h);
    naive_filter(&r, &k, ref);
    double eh = tu_assert_close_real("h", h, ref, nh, TOL_NAIVE);
    tu_layer_forward(&r);
    naive_forward(&r, &k, ref);
    double ey = tu_assert_close_real("y", r.y, ref, r.n, TOL_NAIVE);
    printf("  {%s} D %d B %d L %d: filter err %.2e, output err %.2e (scaled; limit %g)\n", s->knobs, s->D, s->B,
           s->L, eh, ey, TOL_NAIVE);
    free(h), free(ref);
    tu_layer_close(&r);
}
END_TEST

/* ---- the fixture's layers -------------------------------------------------------- */

/* Layer `layer` of the fixture with its parameters and mixer input. */
static void fx_layer(struct tu_layer *r, const struct st_file *f, int layer) {
    const struct st_tensor *in = tu_st_need(f, "mixer/layer0/in");
    struct shape s = {FIXTURE_KNOBS, (int)in->shape[2], (int)in->shape[0], (int)in->shape[1]};
    hy_open(r, &s, layer);
    tu_layer_load(r, f);
    char name[64];
    snprintf(name, sizeof name, "mixer/layer%d/in", layer);
    tu_load_real(f, name, r->x, r->n);
}

/* The worst of the layer's filter and output against the fixture, as a multiple of TOL_FWD. */
static double fx_ratio(struct tu_layer *r, const struct st_file *f, int layer) {
    char name[64];
    size_t nh = (size_t)r->D * r->L;
    real *h = xmalloc(nh * sizeof *h);
    hyena_filter(r->self, ops_cpu(), r->p, r->L, h);
    snprintf(name, sizeof name, "kernel/layer%d/hyena", layer);
    double *ref = tu_load_f64_n(f, name, nh), *c = tu_to_f64(h, nh), e = tu_scaled_err(c, ref, nh, NULL);
    free(ref), free(c), free(h);
    tu_layer_forward(r);
    snprintf(name, sizeof name, "mixer/layer%d/out", layer);
    ref = tu_load_f64_n(f, name, r->n), c = tu_to_f64(r->y, r->n);
    e = fmax(e, tu_scaled_err(c, ref, r->n, NULL));
    free(ref), free(c);
    return e / TOL_FWD;
}

/* Case 0: both layers' filter and output within the limit. Each further case
 * changes one parameter of layer 1 slightly (one of each kind), and the same
 * comparison must then fail: it sees every parameter. */
static const struct {
    const char *name;
    size_t idx;
} fx_cases[] = {
    {NULL, 0},
    {"in_proj.weight", 700},
    {"short_filter.weight", 50},
    {"short_filter.bias", 70},
    {"filter_fn.bias", 3},
    {"filter_fn.implicit_filter.1.freq", 9},
    {"filter_fn.implicit_filter.0.weight", 17},
    {"filter_fn.implicit_filter.4.bias", 30},
    {"filter_fn.implicit_filter.6.weight", 400},
    {"out_proj.bias", 5},
};

START_TEST(test_fixture) {
    const char *nudge = fx_cases[_i].name;
    struct st_file f;
    tu_st_open(FIXTURE, &f);
    for (int i = nudge ? 1 : 0; i < 2; i++) {
        struct tu_layer r;
        fx_layer(&r, &f, i);
        double rel = sizeof(real) == 4 ? 1e-2 : 1e-7;
        if (nudge) {
            const struct param_spec *ps = tu_layer_spec(&r, nudge);
            ck_assert(fx_cases[_i].idx < ps->numel);
            real *p = r.p + ps->offset + fx_cases[_i].idx;
            *p += (real)(rel * (fabs(*p) + 1));
        }
        double q = fx_ratio(&r, &f, i);
        printf("  fixture layer %d, %s[%zu] nudged by %g: filter and output at %.3g of the limit %g\n", i,
               nudge ? nudge : "nothing", fx_cases[_i].idx, nudge ? rel : 0.0, q, TOL_FWD);
        ck_assert_msg(nudge ? q > 1 : q <= 1, "layer %d, %s nudged: error at %.3g of its limit", i,
                      nudge ? nudge : "nothing", q);
        tu_layer_close(&r);
    }
    st_free(&f);
}
END_TEST

/* ---- causality where each conv path runs ------------------------------------------- */

/* Positions t0 of batch 0 changed: the largest change of an output before t0,
 * relative to the largest change from t0 on, must be round-off. */
START_TEST(test_causal_long) {
    static const int lens[] = {40, 900, 5000};
    struct tu_layer r;
    hy_open(&r, &(struct shape){"filter_order=16,emb_dim=5,w=10", 4, 1, lens[_i]}, 0);
    hy_random(&r, 300);
    int D = r.D, L = r.L;
    real *y0 = r.dx;
    tu_layer_forward_xy(&r, r.x, y0);
    for (int t0 = 1; t0 < L; t0 += L / 3) {
        for (int d = 0; d < D; d++) r.x[(size_t)t0 * D + d] += 1.0 + d;
        tu_layer_forward(&r);
        double past = 0, future = 0;
        for (size_t i = 0; i < (size_t)L * D; i++) {
            double dlt = fabs((double)r.y[i] - y0[i]);
            if (i < (size_t)t0 * D) past = fmax(past, dlt);
            else future = fmax(future, dlt);
        }
        printf("  causal L %d, change at %d: past moved %.2e, future %.2e\n", L, t0, past, future);
        ck_assert_msg(future > 0 && past <= TOL_LEAK * future, "L %d: a change at %d moved earlier outputs by %g (%g after)",
                      L, t0, past, future);
        for (int d = 0; d < D; d++) r.x[(size_t)t0 * D + d] -= 1.0 + d;
    }
    tu_layer_close(&r);
}
END_TEST

/* ---- table, init, knobs ----------------------------------------------------------- */

static const struct {
    const char *name;
    int ndim;
    int64_t shape[3];
    enum opt_group group;
} want_table[] = {
    {"in_proj.weight", 2, {96, 32}, GROUP_DEFAULT},
    {"in_proj.bias", 1, {96}, GROUP_DEFAULT},
    {"out_proj.weight", 2, {32, 32}, GROUP_DEFAULT},
    {"out_proj.bias", 1, {32}, GROUP_DEFAULT},
    {"short_filter.weight", 3, {96, 1, 3}, GROUP_DEFAULT},
    {"short_filter.bias", 1, {96}, GROUP_DEFAULT},
    {"filter_fn.bias", 1, {32}, GROUP_DEFAULT},
    {"filter_fn.implicit_filter.0.weight", 2, {64, 5}, GROUP_SSM},
    {"filter_fn.implicit_filter.0.bias", 1, {64}, GROUP_SSM},
    {"filter_fn.implicit_filter.1.freq", 2, {1, 64}, GROUP_SSM},
    {"filter_fn.implicit_filter.2.weight", 2, {64, 64}, GROUP_SSM},
    {"filter_fn.implicit_filter.2.bias", 1, {64}, GROUP_SSM},
    {"filter_fn.implicit_filter.4.weight", 2, {64, 64}, GROUP_SSM},
    {"filter_fn.implicit_filter.4.bias", 1, {64}, GROUP_SSM},
    {"filter_fn.implicit_filter.6.weight", 2, {32, 64}, GROUP_SSM},
};
enum { N_TABLE = sizeof want_table / sizeof want_table[0] };

/* The recurrent cache: S-1 rows of z (3D) and L rows of g (D); no more z rows than L-1. */
START_TEST(test_state_size) {
    struct tu_layer r;
    hy_open(&r, &(struct shape){"", 32, 1, 31}, 0);
    ck_assert_uint_eq(layer_hyena.state_size(r.self, 31), 2 * 96 + 31 * 32);
    ck_assert_uint_eq(layer_hyena.state_size(r.self, 2), 1 * 96 + 2 * 32);
    ck_assert_uint_eq(layer_hyena.state_size(r.self, 1), 32);
    tu_layer_close(&r);
}
END_TEST

/* Each tensor's init by mode: {distribution, parameter} per tensor of want_table. */
static const struct {
    enum param_init init[2]; /* torch, lm */
    double arg[2];
} want_init[N_TABLE] = {
    {{INIT_UNIFORM, INIT_NORMAL}, {0.17677669529663687, 0.02}}, /* 1/sqrt(32) */
    {{INIT_UNIFORM, INIT_ZERO}, {0.17677669529663687, 0}},
    {{INIT_UNIFORM, INIT_NORMAL}, {0.17677669529663687, 0.01}}, /* 0.02/sqrt(2 n_layer), n_layer 2 */
    {{INIT_UNIFORM, INIT_ZERO}, {0.17677669529663687, 0}},
    {{INIT_UNIFORM, INIT_UNIFORM}, {0.57735026918962573, 0.57735026918962573}}, /* 1/sqrt(3) */
    {{INIT_UNIFORM, INIT_UNIFORM}, {0.57735026918962573, 0.57735026918962573}},
    {{INIT_NORMAL, INIT_NORMAL}, {1, 1}},
    {{INIT_UNIFORM, INIT_NORMAL}, {0.44721359549995794, 0.02}}, /* 1/sqrt(5) */
    {{INIT_UNIFORM, INIT_ZERO}, {0.44721359549995794, 0}},
    {{INIT_CUSTOM, INIT_CUSTOM}, {0, 0}},
    {{INIT_UNIFORM, INIT_NORMAL}, {0.125, 0.02}},
    {{INIT_UNIFORM, INIT_ZERO}, {0.125, 0}},
    {{INIT_UNIFORM, INIT_NORMAL}, {0.125, 0.02}},
    {{INIT_UNIFORM, INIT_ZERO}, {0.125, 0}},
    {{INIT_UNIFORM, INIT_NORMAL}, {0.125, 0.02}},
};

/* Names, shapes, order and groups (the reference's named_parameters()) and
 * declared inits in both modes; drawn values inside their bounds with the
 * variance of their law; freq = w exactly; the same seed, the same values. */
START_TEST(test_table_init) {
    static const char *modes[2] = {"emb_dim=5,w=7.5", "emb_dim=5,w=7.5,init=lm"};
    struct tu_layer r;
    hy_open(&r, &(struct shape){modes[_i], 32, 1, 31}, 0);
    tu_layer_init(&r, 5);
    ck_assert_int_eq(r.pt.n, N_TABLE);
    for (int i = 0; i < N_TABLE; i++) {
        const struct param_spec *s = &r.pt.v[i];
        ck_assert_msg(strncmp(s->name, r.prefix, strlen(r.prefix)) == 0 &&
                          strcmp(s->name + strlen(r.prefix), want_table[i].name) == 0,
                      "tensor %d is %s, want %s", i, s->name, want_table[i].name);
        ck_assert_msg(s->ndim == want_table[i].ndim && s->group == want_table[i].group, "%s: ndim or group", s->name);
        for (int d = 0; d < s->ndim; d++) ck_assert_msg(s->shape[d] == want_table[i].shape[d], "%s: dim %d", s->name, d);
        ck_assert_msg(s->init == want_init[i].init[_i], "%s: init %d", s->name, s->init);
        ck_assert_msg(fabs(s->init_arg - want_init[i].arg[_i]) <= 1e-15, "%s: init arg %.17g", s->name, s->init_arg);
        const real *v = r.p + s->offset;
        double m2 = 0, a = s->init_arg;
        for (size_t j = 0; j < s->numel; j++) m2 += (double)v[j] * v[j] / s->numel;
        if (s->init == INIT_CUSTOM)
            for (size_t j = 0; j < s->numel; j++) ck_assert(v[j] == (real)7.5);
        if (s->init == INIT_UNIFORM)
            for (size_t j = 0; j < s->numel; j++) ck_assert_msg(fabs(v[j]) <= a, "%s[%zu] = %g", s->name, j, v[j]);
        /* mean square a²/3 (uniform) or a² (normal): within 6 standard errors of it */
        double want = s->init == INIT_UNIFORM ? a * a / 3 : s->init == INIT_NORMAL ? a * a : 0;
        double se = want * (s->init == INIT_UNIFORM ? sqrt(0.8) : sqrt(2.0)) / sqrt((double)s->numel);
        if (s->init != INIT_CUSTOM)
            ck_assert_msg(fabs(m2 - want) <= 6 * se, "%s: mean square %g, want %g", s->name, m2, want);
    }
    struct tu_layer again;
    hy_open(&again, &(struct shape){modes[_i], 32, 1, 31}, 0);
    tu_layer_init(&again, 5);
    ck_assert_msg(memcmp(again.p, r.p, r.pt.total * sizeof(real)) == 0, "the same seed drew different parameters");
    tu_layer_close(&again);
    tu_layer_close(&r);
}
END_TEST

/* Each bad setting is refused with a message naming the key and the limit, and
 * declares nothing; a prefix too long for the names (given as its length) is
 * refused rather than truncated; l_max equal to the longest input is fine. */
static const struct {
    const char *knobs;
    int prefix_len; /* 0: the usual "backbone.layers.0.mixer." */
    const char *must1, *must2;
} bad_cfg[] = {
    {"emb_dim=4", 0, "emb_dim", "odd"},
    {"emb_dim=1", 0, "emb_dim", "between 3 and 63"},
    {"l_max=30", 0, "l_max", "31"},
    {"short_filter=0", 0, "short_filter", "between 1 and 64"},
    {"inner_mlps=5", 0, "inner_mlps", "4"},
    {"filter_order=0", 0, "filter_order", "4096"},
    {"init=xavier", 0, "init", "torch|lm"},
    {"decay_target=1", 0, "decay_target", "0.999999"},
    {"slow_decay_pct=0", 0, "slow_decay_pct", "between"},
    {"d_state=64", 0, "d_state", "filter_order, emb_dim"},
    {"", PARAM_NAME - 10, "prefix", "too long"},
    {"l_max=31", 0, NULL, NULL},
};

START_TEST(test_config_errors) {
    char prefix[PARAM_NAME] = "backbone.layers.0.mixer.", err[256] = "";
    if (bad_cfg[_i].prefix_len) memset(prefix, 'a', (size_t)bad_cfg[_i].prefix_len), prefix[bad_cfg[_i].prefix_len] = '\0';
    struct param_table pt;
    param_table_init(&pt);
    struct tu_layer_cfg c = {.k = &layer_hyena, .knobs = bad_cfg[_i].knobs, .D = 32, .B = 1, .L = 31, .layer = 0};
    void *made = tu_layer_create(&c, &pt, prefix, err, sizeof err);
    if (bad_cfg[_i].must1) {
        ck_assert_msg(made == NULL && pt.n == 0, "{%s} accepted", bad_cfg[_i].knobs);
        ck_assert_msg(strstr(err, bad_cfg[_i].must1) && strstr(err, bad_cfg[_i].must2), "{%s}: message '%s'",
                      bad_cfg[_i].knobs, err);
    } else {
        ck_assert_msg(made != NULL, "{%s}: %s", bad_cfg[_i].knobs, err);
        layer_hyena.destroy(made);
    }
    param_table_free(&pt);
}
END_TEST

#ifdef HIPPO_F64
/* dx and every parameter tensor against central differences of <dy, y>
 * (Richardson: steps h and h/2) at the largest-|gradient| entry and 4 random
 * ones; error relative to max(|analytic|, 1% of the tensor's largest) <= 1e-6.
 * Hyena has no log_dt tensor, so its step (the last argument) is the same. */
static const struct tu_fd hy_fd = {.step = 1e-4, .richardson = true, .n_random = 4, .seed = 99, .stream = 100,
                                   .floor = 0.01, .tol = 1e-6};

START_TEST(test_gradients_fixture) {
    struct st_file f;
    tu_st_open(FIXTURE, &f);
    struct tu_layer r;
    fx_layer(&r, &f, 1);
    tu_layer_fd_all(&r, hy_fd, hy_fd.step);
    tu_layer_close(&r);
    st_free(&f);
}
END_TEST

START_TEST(test_gradients_random) {
    struct tu_layer r;
    hy_open(&r, &(struct shape){"filter_order=9,emb_dim=7,inner_mlps=1,short_filter=5,w=3,l_max=40", 6, 2, 23}, 0);
    hy_random(&r, 400);
    tu_layer_fd_all(&r, hy_fd, hy_fd.step);
    tu_layer_close(&r);
}
END_TEST
#endif /* HIPPO_F64 */

int main(void) {
    Suite *s = suite_create("hyena_" REAL_NAME);
    TCase *tc = tcase_create("hyena");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_naive, 0, N_NAIVE);
    tcase_add_loop_test(tc, test_fixture, 0, (int)(sizeof fx_cases / sizeof fx_cases[0]));
    tcase_add_loop_test(tc, test_causal_long, 0, 3);
    tcase_add_test(tc, test_state_size);
    tcase_add_loop_test(tc, test_table_init, 0, 2);
    tcase_add_loop_test(tc, test_config_errors, 0, (int)(sizeof bad_cfg / sizeof bad_cfg[0]));
#ifdef HIPPO_F64
    tcase_add_test(tc, test_gradients_fixture);
    tcase_add_test(tc, test_gradients_random);
#endif
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
