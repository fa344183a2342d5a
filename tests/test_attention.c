/* test_attention.c — the attention layer.
 *
 * Built twice: as the float suite (this file) and, included from
 * tests/f64/test_attention.c, as the double suite.
 *  - both builds: the authors' float64 fixtures (README §8 tolerance 1e-5
 *    scaled in float, ~1e-13 expected and 1e-10 allowed in double), a naive
 *    double reference for several head counts with and without dropout, the
 *    dropout mask read back exactly through a one-hot construction, causality,
 *    and knob validation; act and scratch guarded against overruns;
 *  - double only: central finite differences of loss = <R, y> for dx and every
 *    parameter tensor (1, 2 and 4 heads, odd L, with dropout off and on; with
 *    dropout the mask is fixed by (seed, stream), so the loss stays a smooth
 *    function of x and the parameters). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "../core/safetensors.h"
#include "../models/layer.h"
#include "testutil.h"

#define FIXTURE "tests/fixtures/reference/attention.safetensors"

#ifdef HIPPO_F64
#define TOL_OUT 1e-10 /* README §8: ~1e-13 expected in float64 */
#define TOL_REF 1e-12 /* the same formulas in double: round-off */
#else
#define TOL_OUT 1e-5 /* README §8: 1e-5 scaled for mixer outputs */
#define TOL_REF 1e-5 /* float gemms of width 32 and a softmax: a few ulps of float, scaled */
#endif

/* One attention layer (see tu_layer) with its head count and dropout. */
struct rig {
    struct tu_layer l;
    int NH;
    double drop;
};

/* impl: "auto" (the layer's default; the full path at these sizes), "full" or "tiled". */
static void rig_make_impl(struct rig *r, int D, int NH, double drop, int layer_idx, int B, int L, const char *impl) {
    char knobs[128];
    snprintf(knobs, sizeof knobs, "n_heads=%d,dropout=%.17g,impl=%s", NH, drop, impl);
    r->NH = NH, r->drop = drop;
    tu_layer_open(&r->l, &(struct tu_layer_cfg){.k = &layer_attention, .knobs = knobs, .D = D, .B = B, .L = L,
                                               .layer = layer_idx});
}

static void rig_make(struct rig *r, int D, int NH, double drop, int layer_idx, int B, int L) {
    rig_make_impl(r, D, NH, drop, layer_idx, B, L, "auto");
}

/* Every parameter N(0, sd^2) from a fixed stream, so attention is far from uniform. */
static void rig_random(struct rig *r, double sd, uint64_t seed) { tu_fill_normal(r->l.p, r->l.pt.total, sd, seed, 77); }

/* One forward of x into y with dropout drawn from (seed, stream) when training. */
static void rig_forward(struct rig *r, const real *x, real *y, bool training, uint64_t seed, uint64_t stream) {
    r->l.training = training, r->l.seed = seed, r->l.stream = stream;
    tu_layer_forward_xy(&r->l, x, y);
}

/* Naive double reference straight from the formulas; the dropout mask keeps
 * flat index ((b*NH + h)*L + t)*L + s iff hp_uniform_at(seed, stream, i) >= p. */
static void reference(struct rig *r, const real *x, double *y, bool drop, uint64_t seed, uint64_t stream) {
    int B = r->l.B, L = r->l.L, D = r->l.D, NH = r->NH, dh = D / NH;
    const real *W = tu_layer_P(&r->l, "Wqkv.weight"), *bW = tu_layer_P(&r->l, "Wqkv.bias");
    const real *Wo = tu_layer_P(&r->l, "out_proj.weight"), *bo = tu_layer_P(&r->l, "out_proj.bias");
    double *qkv = xmalloc((size_t)L * 3 * D * sizeof(double)), *o = xmalloc((size_t)L * D * sizeof(double));
    double *pr = xmalloc((size_t)L * sizeof(double));
    for (int b = 0; b < B; b++) {
        const real *xb = x + (size_t)b * L * D;
        for (int t = 0; t < L; t++)
            for (int j = 0; j < 3 * D; j++) {
                double acc = bW[j];
                for (int d = 0; d < D; d++) acc += (double)xb[t * D + d] * W[j * D + d];
                qkv[t * 3 * D + j] = acc;
            }
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < L; t++) {
                double m = -INFINITY, z = 0;
                for (int s = 0; s <= t; s++) {
                    double dot = 0;
                    for (int c = h * dh; c < (h + 1) * dh; c++) dot += qkv[t * 3 * D + c] * qkv[s * 3 * D + D + c];
                    pr[s] = dot / sqrt((double)dh);
                    m = fmax(m, pr[s]);
                }
                for (int s = 0; s <= t; s++) z += (pr[s] = exp(pr[s] - m));
                for (int s = 0; s <= t; s++) {
                    pr[s] /= z;
                    uint64_t i = (((uint64_t)b * NH + h) * L + t) * L + s;
                    if (drop) pr[s] = hp_uniform_at(seed, stream, i) >= r->drop ? pr[s] / (1 - r->drop) : 0;
                }
                for (int c = h * dh; c < (h + 1) * dh; c++) {
                    double acc = 0;
                    for (int s = 0; s <= t; s++) acc += pr[s] * qkv[s * 3 * D + 2 * D + c];
                    o[t * D + c] = acc;
                }
            }
        for (int t = 0; t < L; t++)
            for (int j = 0; j < D; j++) {
                double acc = bo[j];
                for (int d = 0; d < D; d++) acc += o[t * D + d] * Wo[j * D + d];
                y[((size_t)b * L + t) * D + j] = acc;
            }
    }
    free(qkv);
    free(o);
    free(pr);
}

/* Layer i of the authors' attention LM: mixer in -> out. */
START_TEST(test_fixture) {
    int i = _i;
    struct st_file f;
    char name[160];
    tu_st_open(FIXTURE, &f);
    snprintf(name, sizeof name, "mixer/layer%d/in", i);
    const struct st_tensor *tin = st_get(&f, name);
    snprintf(name, sizeof name, "mixer/layer%d/out", i);
    const struct st_tensor *tout = st_get(&f, name);
    ck_assert(tin && tout && tin->ndim == 3 && tin->shape[2] == 32 && tout->numel == tin->numel);
    struct rig r;
    rig_make(&r, 32, 1, 0.0, i, (int)tin->shape[0], (int)tin->shape[1]);
    tu_layer_load(&r.l, &f);
    snprintf(name, sizeof name, "mixer/layer%d/in", i);
    tu_load_real(&f, name, r.l.x, r.l.n);
    /* The fixtures ran in training mode with dropout 0. */
    rig_forward(&r, r.l.x, r.l.y, true, 1, 2);
    snprintf(name, sizeof name, "mixer/layer%d/out", i);
    double e = tu_check_tensor(&f, name, r.l.y, r.l.n, TOL_OUT);
    printf("attention %s fixture layer %d: scaled error %.3g\n", REAL_NAME, i, e);
    tu_layer_close(&r.l);
    st_free(&f);
}
END_TEST

/* Random parameters (biases included), NH = 1, 2, 4, odd L, training with and without dropout;
 * cases 6..11 the tiled path (ops->attention) at L = 150: two full tiles of 64 and a ragged one. */
static const int ref_heads[] = {1, 2, 4};
START_TEST(test_reference) {
    int NH = ref_heads[_i % 3];
    bool drop = _i % 6 >= 3, tiled = _i >= 6;
    struct rig r;
    rig_make_impl(&r, 32, NH, drop ? 0.25 : 0.0, 0, tiled ? 2 : 3, tiled ? 150 : 13, tiled ? "tiled" : "full");
    rig_random(&r, 0.3, 11 + (uint64_t)_i);
    tu_fill_normal(r.l.x, r.l.n, 1.0, 3, 5);
    double *want = xmalloc(r.l.n * sizeof(double));
    rig_forward(&r, r.l.x, r.l.y, true, 42, 9);
    reference(&r, r.l.x, want, drop, 42, 9);
    char what[64];
    snprintf(what, sizeof what, "NH=%d dropout=%d tiled=%d", NH, drop, tiled);
    tu_assert_close_real(what, r.l.y, want, r.l.n, TOL_REF);
    free(want);
    tu_layer_close(&r.l);
}
END_TEST

/* Read the mask back exactly: q = k = 0 makes P[t, s] = 1/(t+1); x_t puts a one at
 * column h*dh + t for every head and Wv = Wout = I, so y[b, t, h*dh + s] = Pd[b, h, t, s]. */
START_TEST(test_dropout_mask) {
    int NH = _i ? 2 : 1, D = 32, dh = D / NH, L = _i ? 16 : 31, B = 8;
    double p = 0.1;
    struct rig r;
    rig_make(&r, D, NH, p, 0, B, L);
    real *W = tu_layer_P(&r.l, "Wqkv.weight"), *Wo = tu_layer_P(&r.l, "out_proj.weight");
    for (int d = 0; d < D; d++) W[(2 * D + d) * D + d] = 1, Wo[d * D + d] = 1;
    real *x = r.l.x, *y = r.l.y;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            for (int h = 0; h < NH; h++) x[((size_t)b * L + t) * D + h * dh + t] = 1;
    uint64_t seed = 1234, stream = 5;
    rig_forward(&r, x, y, true, seed, stream);
    long dropped = 0, total = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < L; t++)
                for (int s = 0; s < L; s++) {
                    double got = y[((size_t)b * L + t) * D + h * dh + s];
                    uint64_t i = (((uint64_t)b * NH + h) * L + t) * L + s;
                    bool keep = s <= t && hp_uniform_at(seed, stream, i) >= p;
                    double want = keep ? 1.0 / ((t + 1) * (1 - p)) : 0.0;
                    ck_assert_msg(fabs(got - want) <= 1e-6 * (1.0 / (1 - p)),
                                  "b=%d h=%d t=%d s=%d: got %g want %g", b, h, t, s, got, want);
                    if (s <= t) dropped += !keep, total++;
                }
    /* binomial(total, p): 5 standard deviations */
    double frac = (double)dropped / total, sd = sqrt(p * (1 - p) / total);
    ck_assert_msg(fabs(frac - p) <= 5 * sd, "dropped fraction %.4f, expected %.2f +- %.4f", frac, p, 5 * sd);
    printf("attention dropout NH=%d: dropped %ld of %ld (%.4f, p = %.2f)\n", NH, dropped, total, frac, p);
    tu_layer_close(&r.l);
}
END_TEST

/* Same (seed, stream) twice: bitwise equal. Another stream or seed: different.
 * Evaluation mode: equals a dropout-0 layer with the same parameters. */
START_TEST(test_dropout_determinism) {
    int B = 2, L = 11, D = 32;
    struct rig r, r0;
    rig_make(&r, D, 2, 0.3, 0, B, L);
    rig_make(&r0, D, 2, 0.0, 0, B, L);
    rig_random(&r, 0.3, 8);
    memcpy(r0.l.p, r.l.p, r.l.pt.total * sizeof(real));
    size_t n = r.l.n;
    real *x = r.l.x, *y1 = r.l.y, *y2 = r.l.dx, *y3 = r0.l.y;
    tu_fill_normal(x, n, 1.0, 4, 5);
    rig_forward(&r, x, y1, true, 7, 100);
    rig_forward(&r, x, y2, true, 7, 100);
    ck_assert_msg(memcmp(y1, y2, n * sizeof(real)) == 0, "same seed and stream gave different outputs");
    rig_forward(&r, x, y2, true, 7, 101);
    ck_assert_msg(memcmp(y1, y2, n * sizeof(real)) != 0, "another stream gave the same output");
    rig_forward(&r, x, y2, true, 8, 100);
    ck_assert_msg(memcmp(y1, y2, n * sizeof(real)) != 0, "another seed gave the same output");
    rig_forward(&r, x, y2, false, 7, 100);
    rig_forward(&r0, x, y3, true, 7, 100);
    ck_assert_msg(memcmp(y2, y3, n * sizeof(real)) == 0, "evaluation mode applied dropout");
    tu_layer_close(&r.l);
    tu_layer_close(&r0.l);
}
END_TEST

/* Perturbing x at position t leaves y at positions < t bitwise unchanged (masked
 * probabilities are exactly 0), and does change y at t. NH = 1, 2, 4; odd L. */
START_TEST(test_causality) {
    int NH = ref_heads[_i % 3];
    bool drop = _i >= 3;
    int B = 2, L = 17, D = 32;
    struct rig r;
    rig_make(&r, D, NH, drop ? 0.2 : 0.0, 1, B, L);
    rig_random(&r, 0.3, 21);
    size_t n = r.l.n;
    real *x = r.l.x, *y0 = r.l.y, *y1 = r.l.dx, *xp = r.l.dy;
    tu_fill_normal(x, n, 1.0, 6, 5);
    rig_forward(&r, x, y0, true, 3, 4);
    for (int t = 0; t < L; t += 4) {
        memcpy(xp, x, n * sizeof(real));
        for (int b = 0; b < B; b++)
            for (int d = 0; d < D; d++) xp[((size_t)b * L + t) * D + d] += (real)(0.5 + 0.01 * d);
        rig_forward(&r, xp, y1, true, 3, 4);
        for (int b = 0; b < B; b++) {
            size_t row = (size_t)b * L * D;
            ck_assert_msg(memcmp(y0 + row, y1 + row, (size_t)t * D * sizeof(real)) == 0,
                          "NH=%d: perturbing t=%d changed an earlier output (b=%d)", NH, t, b);
            ck_assert_msg(memcmp(y0 + row + (size_t)t * D, y1 + row + (size_t)t * D, D * sizeof(real)) != 0,
                          "NH=%d: perturbing t=%d left y at t unchanged", NH, t);
        }
    }
    tu_layer_close(&r.l);
}
END_TEST

/* Bad configurations are refused with messages naming the values; sizes are as documented. */
START_TEST(test_config) {
    const struct layer_kind *k = &layer_attention;
    ck_assert(k->pos_emb);
    struct knob_values kv;
    knob_defaults(&kv, k->knobs, k->n_knobs);
    ck_assert_int_eq(knob_int(&kv, "n_heads"), 1);
    ck_assert(fabs(knob_real(&kv, "dropout") - 0.1) < 1e-12);
    char err[256] = "";
    struct param_table pt;
    param_table_init(&pt);
    struct layer_dims dims = {.D = 32, .max_L = 31, .n_layer = 2, .layer_idx = 0};
    ck_assert(knob_set(&kv, "n_heads", "5", err, sizeof err) == 0);
    ck_assert(k->create(&kv, &dims, &pt, "m.", err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "32") && strstr(err, "5") && strstr(err, "n_heads"), "message: %s", err);
    ck_assert(knob_set(&kv, "n_heads", "4", err, sizeof err) == 0);
    ck_assert(knob_set(&kv, "dropout", "1", err, sizeof err) == 0);
    err[0] = '\0';
    ck_assert(k->create(&kv, &dims, &pt, "m.", err, sizeof err) == NULL);
    ck_assert_msg(strstr(err, "dropout") && strstr(err, "1"), "message: %s", err);
    ck_assert(knob_set(&kv, "dropout", "-0.1", err, sizeof err) != 0);
    ck_assert_int_eq(pt.n, 0);
    ck_assert(knob_set(&kv, "dropout", "0.1", err, sizeof err) == 0);
    void *s = k->create(&kv, &dims, &pt, "m.", err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(pt.n, 4);
    const char *names[] = {"m.Wqkv.weight", "m.Wqkv.bias", "m.out_proj.weight", "m.out_proj.bias"};
    const int64_t shapes[4][2] = {{96, 32}, {96, 0}, {32, 32}, {32, 0}};
    for (int i = 0; i < 4; i++) {
        int j = param_find(&pt, names[i]);
        ck_assert_msg(j >= 0, "missing %s", names[i]);
        ck_assert_int_eq(pt.v[j].shape[0], shapes[i][0]);
        ck_assert_int_eq(pt.v[j].ndim, shapes[i][1] ? 2 : 1);
    }
    ck_assert(pt.v[param_find(&pt, "m.Wqkv.weight")].init == INIT_NORMAL);
    ck_assert(fabs(pt.v[param_find(&pt, "m.Wqkv.weight")].init_arg - 0.02) < 1e-15);
    ck_assert(fabs(pt.v[param_find(&pt, "m.out_proj.weight")].init_arg - 0.01) < 1e-15); /* 0.02/sqrt(4) */
    ck_assert(pt.v[param_find(&pt, "m.out_proj.bias")].init == INIT_ZERO);
    ck_assert_uint_eq(k->state_size(s, 31), 2 * 31 * 32);
    k->destroy(s);
    param_table_free(&pt);
}
END_TEST

/* The tiled path's backward against the full path's: same parameters, input,
 * dropout masks and upstream gradient; dx and every parameter gradient agree.
 * L = 200 (three full tiles and a ragged one), 2 heads, B 2, dropout on and off. */
START_TEST(test_tiled_matches_full) {
    bool drop = _i;
    struct rig f, t;
    rig_make_impl(&f, 32, 2, drop ? 0.2 : 0.0, 0, 2, 200, "full");
    rig_make_impl(&t, 32, 2, drop ? 0.2 : 0.0, 0, 2, 200, "tiled");
    rig_random(&f, 0.3, 5), rig_random(&t, 0.3, 5);
    tu_fill_normal(f.l.x, f.l.n, 1.0, 3, 5), tu_fill_normal(t.l.x, t.l.n, 1.0, 3, 5);
    tu_fill_normal(f.l.dy, f.l.n, 1.0, 4, 5), tu_fill_normal(t.l.dy, t.l.n, 1.0, 4, 5);
    struct rig *rs[2] = {&f, &t};
    for (int i = 0; i < 2; i++) {
        rs[i]->l.training = true, rs[i]->l.seed = 17, rs[i]->l.stream = 4;
        tu_layer_forward(&rs[i]->l);
        tu_layer_backward(&rs[i]->l);
    }
    double *want = tu_to_f64(f.l.y, f.l.n);
    tu_assert_close_real("tiled y", t.l.y, want, t.l.n, TOL_REF);
    free(want);
    want = tu_to_f64(f.l.dx, f.l.n);
    tu_assert_close_real("tiled dx", t.l.dx, want, t.l.n, TOL_REF);
    free(want);
    want = tu_to_f64(f.l.g, f.l.pt.total);
    tu_assert_close_real("tiled parameter gradients", t.l.g, want, t.l.pt.total, TOL_REF);
    free(want);
    tu_layer_close(&f.l), tu_layer_close(&t.l);
}
END_TEST

#ifdef HIPPO_F64
struct fd_case {
    int NH, B, L;
    double drop;
    const char *impl;
};
static const struct fd_case fd_cases[] = {
    {1, 2, 7, 0.0, "full"},
    {2, 2, 9, 0.0, "full"},
    {4, 1, 11, 0.0, "full"},
    {1, 2, 7, 0.3, "full"},  /* dropout on: mask fixed by (seed, stream) */
    {2, 2, 9, 0.5, "full"},
    {2, 2, 9, 0.0, "tiled"}, /* ops->attention: one ragged tile */
    {1, 1, 70, 0.3, "tiled"}, /* a tile boundary, dropout on */
};

/* Analytic gradients against central differences (step 1e-5) at the
 * largest-|g| entry and 5 random ones: |fd - g| / max(|g_i|, 1e-3 max|g|) <= 1e-6. */
START_TEST(test_fd) {
    const struct fd_case *c = &fd_cases[_i];
    struct rig r;
    rig_make_impl(&r, 16, c->NH, c->drop, 1, c->B, c->L, c->impl);
    struct tu_layer *l = &r.l;
    l->training = true, l->seed = 99, l->stream = 3;
    struct hp_rng g0 = hp_rng_make(1000 + (uint64_t)_i, 1);
    /* Weights large enough that attention is far from uniform, biases nonzero. */
    for (size_t i = 0; i < l->pt.total; i++) l->p[i] = 0.4 * hp_rng_normal(&g0);
    for (size_t i = 0; i < l->n; i++) l->x[i] = hp_rng_normal(&g0), l->dy[i] = hp_rng_normal(&g0);

    /* Backward: dx is overwritten (start from garbage); g accumulates (start from an offset). */
    for (size_t i = 0; i < l->n; i++) l->dx[i] = NAN;
    for (size_t i = 0; i < l->pt.total; i++) l->g[i] = 0.5;
    tu_layer_forward(l);
    tu_layer_backward(l);
    for (size_t i = 0; i < l->pt.total; i++) l->g[i] -= 0.5;

    struct tu_fd fd = {.loss = tu_layer_loss, .ctx = l, .step = 1e-5, .n_random = 5, .seed = 7, .stream = 31,
                       .floor = 1e-3, .tol = 1e-6};
    char what[160];
    snprintf(what, sizeof what, "NH=%d p=%.1f %s dx", c->NH, c->drop, c->impl);
    double worst = tu_fd_check(&fd, what, l->x, l->dx, l->n);
    for (int j = 0; j < l->pt.n; j++) {
        const struct param_spec *s = &l->pt.v[j];
        snprintf(what, sizeof what, "NH=%d p=%.1f %s", c->NH, c->drop, s->name);
        fd.seed = 8 + j;
        worst = fmax(worst, tu_fd_check(&fd, what, l->p + s->offset, l->g + s->offset, s->numel));
    }
    printf("attention FD NH=%d L=%d p=%.1f %s: worst relative error %.3g\n", c->NH, c->L, c->drop, c->impl, worst);
    tu_layer_close(l);
}
END_TEST
#endif /* HIPPO_F64 */

int main(void) {
    Suite *s = suite_create("attention_" REAL_NAME);
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_fixture, 0, 2);
    tcase_add_loop_test(tc, test_reference, 0, 12);
    tcase_add_loop_test(tc, test_tiled_matches_full, 0, 2);
    tcase_add_loop_test(tc, test_dropout_mask, 0, 2);
    tcase_add_test(tc, test_dropout_determinism);
    tcase_add_loop_test(tc, test_causality, 0, 6);
    tcase_add_test(tc, test_config);
#ifdef HIPPO_F64
    tcase_add_loop_test(tc, test_fd, 0, (int)(sizeof fd_cases / sizeof fd_cases[0]));
#endif
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
