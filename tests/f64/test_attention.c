/* test_attention.c (f64) — the attention layer in double: the authors' float64
 * fixtures to ~1e-10 scaled, and central finite differences of loss = <R, y>
 * for dx and every parameter tensor (1, 2 and 4 heads, odd L, with dropout off
 * and on; with dropout the mask is fixed by (seed, stream), so the loss stays
 * a smooth function of x and the parameters). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/rng.h"
#include "../../core/safetensors.h"
#include "../../models/layer.h"
#include "../testutil.h"

#define FIXTURE "tests/fixtures/reference/attention.safetensors"

struct rig {
    const struct layer_kind *k;
    struct param_table pt;
    void *self;
    real *p;
    int B, L, D;
    bool training;
    uint64_t seed, stream;
    real *act, *scratch;
};

static void rig_make(struct rig *r, int D, int NH, double drop, int layer_idx, int B, int L) {
    memset(r, 0, sizeof *r);
    r->k = &layer_attention;
    r->D = D, r->B = B, r->L = L;
    struct knob_values kv;
    knob_defaults(&kv, r->k->knobs, r->k->n_knobs);
    char v[32], err[256];
    snprintf(v, sizeof v, "%d", NH);
    ck_assert_msg(knob_set(&kv, "n_heads", v, err, sizeof err) == 0, "%s", err);
    snprintf(v, sizeof v, "%.17g", drop);
    ck_assert_msg(knob_set(&kv, "dropout", v, err, sizeof err) == 0, "%s", err);
    struct layer_dims dims = {.D = D, .max_L = 64, .n_layer = 2, .layer_idx = layer_idx};
    param_table_init(&r->pt);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "backbone.layers.%d.mixer.", layer_idx);
    r->self = r->k->create(&kv, &dims, &r->pt, prefix, err, sizeof err);
    ck_assert_msg(r->self != NULL, "create failed: %s", err);
    r->p = xcalloc(r->pt.total, sizeof(real));
    r->act = xmalloc(r->k->act_size(r->self, B, L) * sizeof(real));
    r->scratch = xmalloc(r->k->scratch_size(r->self, B, L) * sizeof(real));
}

static void rig_free(struct rig *r) {
    r->k->destroy(r->self);
    free(r->p), free(r->act), free(r->scratch);
    param_table_free(&r->pt);
}

static void rig_forward(struct rig *r, const real *x, real *y) {
    struct layer_fwd a = {.B = r->B, .L = r->L, .x = x, .y = y, .p = r->p, .act = r->act, .scratch = r->scratch,
                          .training = r->training, .seed = r->seed, .stream = r->stream};
    r->k->forward(r->self, ops_cpu(), &a);
}

static void fixture_case(int i) {
    struct st_file f;
    char err[512], name[160];
    ck_assert_msg(st_read(FIXTURE, &f, err, sizeof err) == 0, "%s", err);
    snprintf(name, sizeof name, "mixer/layer%d/in", i);
    const struct st_tensor *tin = st_get(&f, name);
    snprintf(name, sizeof name, "mixer/layer%d/out", i);
    const struct st_tensor *tout = st_get(&f, name);
    ck_assert(tin && tout && tin->ndim == 3 && tin->shape[2] == 32 && tout->numel == tin->numel);
    struct rig r;
    rig_make(&r, 32, 1, 0.0, i, (int)tin->shape[0], (int)tin->shape[1]);
    r.training = true; /* the fixtures ran in training mode with dropout 0 */
    for (int j = 0; j < r.pt.n; j++) {
        const struct param_spec *s = &r.pt.v[j];
        snprintf(name, sizeof name, "param/%s", s->name);
        const struct st_tensor *t = st_get(&f, name);
        ck_assert_msg(t != NULL && t->numel == s->numel, "fixture lacks %s or its shape differs", name);
        st_to_f64(t, r.p + s->offset);
    }
    size_t n = tin->numel;
    double *x = xmalloc(n * sizeof(double)), *want = xmalloc(n * sizeof(double)), *y = xmalloc(n * sizeof(double));
    st_to_f64(tin, x);
    st_to_f64(tout, want);
    rig_forward(&r, x, y);
    snprintf(name, sizeof name, "mixer/layer%d/out", i);
    tu_assert_close(name, y, want, n, 1e-10); /* README §8: ~1e-13 expected in float64 */
    printf("attention f64 fixture layer %d: scaled error %.3g\n", i, tu_scaled_err(y, want, n, NULL));
    free(x), free(want), free(y);
    rig_free(&r);
    st_free(&f);
}

START_TEST(test_fixture) { fixture_case(_i); }
END_TEST

/* <R, layer(x)> */
static double loss(struct rig *r, const double *x, const double *R, double *y) {
    rig_forward(r, x, y);
    double s = 0;
    for (size_t i = 0; i < (size_t)r->B * r->L * r->D; i++) s += R[i] * y[i];
    return s;
}

/* Central difference of the loss in coordinate v[i]. */
static double fd(struct rig *r, double *v, size_t i, const double *x, const double *R, double *y) {
    const double eps = 1e-5;
    double keep = v[i];
    v[i] = keep + eps;
    double lp = loss(r, x, R, y);
    v[i] = keep - eps;
    double lm = loss(r, x, R, y);
    v[i] = keep;
    return (lp - lm) / (2 * eps);
}

/* Compare analytic g (n entries) with finite differences of v at the largest-|g|
 * entry and 5 random ones: |fd - g| / max(|g_i|, 1e-3 max|g|) <= 1e-6. Returns the worst. */
static double check_entries(const char *what, struct rig *r, double *v, const double *g, size_t n,
                            const double *x, const double *R, double *y, uint64_t seed) {
    size_t big = 0;
    double gmax = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(g[i]) > gmax) gmax = fabs(g[i]), big = i;
    ck_assert_msg(gmax > 0, "%s: gradient is identically zero", what);
    struct hp_rng pick = hp_rng_make(seed, 31);
    double worst = 0;
    for (int k = 0; k < 6; k++) {
        size_t i = k == 0 ? big : (size_t)hp_rng_below(&pick, n);
        double num = fd(r, v, i, x, R, y);
        double err = fabs(num - g[i]) / fmax(fabs(g[i]), 1e-3 * gmax);
        ck_assert_msg(err <= 1e-6, "%s[%zu]: analytic %.12g, finite difference %.12g (rel %.3g)", what, i, g[i],
                      num, err);
        worst = fmax(worst, err);
    }
    return worst;
}

struct fd_case {
    int NH, B, L;
    double drop;
};
static const struct fd_case fd_cases[] = {
    {1, 2, 7, 0.0},
    {2, 2, 9, 0.0},
    {4, 1, 11, 0.0},
    {1, 2, 7, 0.3},  /* dropout on: mask fixed by (seed, stream) */
    {2, 2, 9, 0.5},
};

START_TEST(test_fd) {
    const struct fd_case *c = &fd_cases[_i];
    int D = 16;
    struct rig r;
    rig_make(&r, D, c->NH, c->drop, 1, c->B, c->L);
    r.training = true, r.seed = 99, r.stream = 3;
    size_t n = (size_t)c->B * c->L * D;
    struct hp_rng g0 = hp_rng_make(1000 + (uint64_t)_i, 1);
    /* Weights large enough that attention is far from uniform, biases nonzero. */
    for (size_t i = 0; i < r.pt.total; i++) r.p[i] = 0.4 * hp_rng_normal(&g0);
    double *x = xmalloc(n * sizeof(double)), *R = xmalloc(n * sizeof(double)), *y = xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) x[i] = hp_rng_normal(&g0), R[i] = hp_rng_normal(&g0);

    /* Backward: dx is overwritten (start from garbage); g accumulates (start from an offset). */
    double *dx = xmalloc(n * sizeof(double)), *g = xmalloc(r.pt.total * sizeof(double));
    for (size_t i = 0; i < n; i++) dx[i] = NAN;
    for (size_t i = 0; i < r.pt.total; i++) g[i] = 0.5;
    rig_forward(&r, x, y);
    struct layer_bwd b = {.B = c->B, .L = c->L, .x = x, .dy = R, .dx = dx, .p = r.p, .g = g, .act = r.act,
                          .scratch = r.scratch, .training = true, .seed = r.seed, .stream = r.stream};
    r.k->backward(r.self, ops_cpu(), &b);
    for (size_t i = 0; i < r.pt.total; i++) g[i] -= 0.5;

    char what[160];
    snprintf(what, sizeof what, "NH=%d p=%.1f dx", c->NH, c->drop);
    double worst = check_entries(what, &r, x, dx, n, x, R, y, 7);
    for (int j = 0; j < r.pt.n; j++) {
        const struct param_spec *s = &r.pt.v[j];
        snprintf(what, sizeof what, "NH=%d p=%.1f %s", c->NH, c->drop, s->name);
        worst = fmax(worst, check_entries(what, &r, r.p + s->offset, g + s->offset, s->numel, x, R, y, 8 + j));
    }
    printf("attention FD NH=%d L=%d p=%.1f: worst relative error %.3g\n", c->NH, c->L, c->drop, worst);
    free(x), free(R), free(y), free(dx), free(g);
    rig_free(&r);
}
END_TEST

int main(void) {
    Suite *s = suite_create("attention_f64");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_fixture, 0, 2);
    tcase_add_loop_test(tc, test_fd, 0, (int)(sizeof fd_cases / sizeof fd_cases[0]));
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
