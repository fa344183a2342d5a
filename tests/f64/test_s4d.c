/* test_s4d.c (f64) — the S4D layer in double precision: the authors' float64
 * fixture to ~1e-10 (kernel and mixer output of both layers), finite-difference
 * gradients of dx and every parameter tensor, and causality. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/rng.h"
#include "../../core/safetensors.h"
#include "../../models/layer.h"
#include "../../models/s4d.h"
#include "../testutil.h"

#define FIXTURE "tests/fixtures/reference/s4d.safetensors"

/* One S4D layer with its parameter table, parameters and buffers. */
struct rig {
    struct param_table pt;
    void *s;
    int H, B, L;
    real *p, *g, *act, *scratch, *x, *y, *dy, *dx;
};

static void rig_open(struct rig *r, int H, int N, int B, int L, int layer_idx) {
    memset(r, 0, sizeof *r);
    struct knob_values kv;
    knob_defaults(&kv, layer_s4d.knobs, layer_s4d.n_knobs);
    char num[16], err[256];
    snprintf(num, sizeof num, "%d", N);
    ck_assert_msg(knob_set(&kv, "d_state", num, err, sizeof err) == 0, "%s", err);
    param_table_init(&r->pt);
    struct layer_dims dims = {.D = H, .max_L = L, .n_layer = 2, .layer_idx = layer_idx};
    char prefix[64];
    snprintf(prefix, sizeof prefix, "backbone.layers.%d.mixer.", layer_idx);
    r->s = layer_s4d.create(&kv, &dims, &r->pt, prefix, err, sizeof err);
    ck_assert_msg(r->s != NULL, "create: %s", err);
    r->H = H, r->B = B, r->L = L;
    size_t n = (size_t)B * L * H;
    r->p = xcalloc(r->pt.total, sizeof(real));
    r->g = xcalloc(r->pt.total, sizeof(real));
    r->act = xcalloc(layer_s4d.act_size(r->s, B, L) + 1, sizeof(real));
    r->scratch = xcalloc(layer_s4d.scratch_size(r->s, B, L) + 1, sizeof(real));
    r->x = xcalloc(n, sizeof(real));
    r->y = xcalloc(n, sizeof(real));
    r->dy = xcalloc(n, sizeof(real));
    r->dx = xcalloc(n, sizeof(real));
}

static void rig_close(struct rig *r) {
    layer_s4d.destroy(r->s);
    param_table_free(&r->pt);
    free(r->p), free(r->g), free(r->act), free(r->scratch);
    free(r->x), free(r->y), free(r->dy), free(r->dx);
}

static void rig_forward(struct rig *r) {
    struct layer_fwd a = {.B = r->B, .L = r->L, .x = r->x, .y = r->y, .p = r->p, .act = r->act,
                          .scratch = r->scratch};
    layer_s4d.forward(r->s, ops_cpu(), &a);
}

static void rig_backward(struct rig *r) {
    struct layer_bwd a = {.B = r->B, .L = r->L, .x = r->x, .dy = r->dy, .dx = r->dx, .p = r->p, .g = r->g,
                          .act = r->act, .scratch = r->scratch};
    layer_s4d.backward(r->s, ops_cpu(), &a);
}

/* Copy every parameter of layer i from the fixture ("param/" + its name). */
static void load_params(struct rig *r, const struct st_file *f) {
    for (int i = 0; i < r->pt.n; i++) {
        const struct param_spec *ps = &r->pt.v[i];
        char name[ST_NAME];
        snprintf(name, sizeof name, "param/%s", ps->name);
        const struct st_tensor *t = st_get(f, name);
        ck_assert_msg(t != NULL, "fixture lacks %s", name);
        ck_assert_msg(t->numel == ps->numel && t->ndim == ps->ndim, "%s: shape differs from the fixture", name);
        for (int d = 0; d < t->ndim; d++) ck_assert_msg(t->shape[d] == ps->shape[d], "%s: dim %d differs", name, d);
        double *v = xmalloc(t->numel * sizeof *v);
        st_to_f64(t, v);
        for (size_t j = 0; j < t->numel; j++) r->p[ps->offset + j] = (real)v[j];
        free(v);
    }
}

static double *fixture_tensor(const struct st_file *f, const char *name, size_t numel) {
    const struct st_tensor *t = st_get(f, name);
    ck_assert_msg(t != NULL, "fixture lacks %s", name);
    ck_assert_msg(t->numel == numel, "%s: %zu elements, expected %zu", name, t->numel, numel);
    double *v = xmalloc(numel * sizeof *v);
    st_to_f64(t, v);
    return v;
}

/* Fixture: kernel and mixer output of layer _i, to 1e-10 of each tensor's scale. */
START_TEST(test_fixture_f64) {
    struct st_file f;
    char err[512], name[128];
    ck_assert_msg(st_read(FIXTURE, &f, err, sizeof err) == 0, "%s", err);
    struct rig r;
    rig_open(&r, 32, 64, 4, 31, _i);
    load_params(&r, &f);
    size_t n = (size_t)r.B * r.L * r.H;
    snprintf(name, sizeof name, "mixer/layer%d/in", _i);
    double *in = fixture_tensor(&f, name, n);
    for (size_t j = 0; j < n; j++) r.x[j] = in[j];
    rig_forward(&r);
    snprintf(name, sizeof name, "mixer/layer%d/out", _i);
    double *want = fixture_tensor(&f, name, n);
    tu_assert_close(name, r.y, want, n, 1e-10);
    printf("  %s scaled err %.2e\n", name, tu_scaled_err(r.y, want, n, NULL));

    double *K = xmalloc((size_t)r.H * r.L * sizeof *K);
    s4d_kernel(r.s, ops_cpu(), r.p, r.L, K);
    snprintf(name, sizeof name, "kernel/layer%d/s4d", _i);
    double *Kw = fixture_tensor(&f, name, (size_t)r.H * r.L);
    tu_assert_close(name, K, Kw, (size_t)r.H * r.L, 1e-10);
    printf("  %s scaled err %.2e\n", name, tu_scaled_err(K, Kw, (size_t)r.H * r.L, NULL));
    free(in), free(want), free(K), free(Kw);
    rig_close(&r);
    st_free(&f);
}
END_TEST

/* loss = <R, y> with R = r->dy. */
static double loss_of(struct rig *r) {
    rig_forward(r);
    double s = 0;
    for (size_t j = 0; j < (size_t)r->B * r->L * r->H; j++) s += r->dy[j] * r->y[j];
    return s;
}

/* Richardson-extrapolated central difference of the loss in *v: error O(h^4). */
static double fd(struct rig *r, real *v, double h) {
    real v0 = *v;
    double d[2];
    for (int k = 0; k < 2; k++) {
        double hk = k ? h / 2 : h;
        *v = v0 + hk;
        double lp = loss_of(r);
        *v = v0 - hk;
        double lm = loss_of(r);
        d[k] = (lp - lm) / (2 * hk);
    }
    *v = v0;
    return (4 * d[1] - d[0]) / 3;
}

/* Compare analytic gradients ga (n entries) with finite differences of the
 * values v: the largest-|gradient| entry and 4 random ones. The error is
 * relative to max(|analytic|, 1% of the tensor's largest gradient). */
static void check_entries(struct rig *r, const char *what, real *v, const real *ga, size_t n, double h,
                          uint64_t key) {
    size_t big = 0;
    double gmax = 0;
    for (size_t j = 0; j < n; j++)
        if (fabs(ga[j]) > gmax) gmax = fabs(ga[j]), big = j;
    ck_assert_msg(gmax > 0, "%s: gradient is all zero", what);
    struct hp_rng rng = hp_rng_make(99, key);
    double worst = 0;
    for (int k = 0; k < 5; k++) {
        size_t j = k == 0 ? big : (size_t)hp_rng_below(&rng, n);
        double num = fd(r, v + j, h);
        double den = fmax(fabs(ga[j]), 0.01 * gmax);
        double e = fabs(num - ga[j]) / den;
        worst = fmax(worst, e);
        ck_assert_msg(e <= 1e-6, "%s[%zu]: analytic %.12g, finite difference %.12g (rel err %.3g)", what, j,
                      ga[j], num, e);
    }
    printf("  fd %-48s worst rel err %.2e (max |grad| %.3g)\n", what, worst, gmax);
}

static void fill_normal(real *v, size_t n, double scale, uint64_t stream) {
    struct hp_rng rng = hp_rng_make(1234, stream);
    for (size_t j = 0; j < n; j++) v[j] = (real)(scale * hp_rng_normal(&rng));
}

/* Gradients of dx and every parameter tensor against finite differences. */
static void gradient_check(struct rig *r) {
    size_t n = (size_t)r->B * r->L * r->H;
    fill_normal(r->dy, n, 1.0, 2);
    rig_forward(r);
    memset(r->g, 0, r->pt.total * sizeof(real));
    rig_backward(r);
    check_entries(r, "dx", r->x, r->dx, n, 1e-4, 100);
    for (int i = 0; i < r->pt.n; i++) {
        const struct param_spec *ps = &r->pt.v[i];
        /* Im A up to ~1e3 makes the loss oscillate fast in log_dt (README §2). */
        double h = strstr(ps->name, "log_dt") ? 1e-5 : 1e-4;
        check_entries(r, ps->name, r->p + ps->offset, r->g + ps->offset, ps->numel, h, 200 + (uint64_t)i);
    }
}

/* Small layer at its own initialisation, random input. */
START_TEST(test_gradients_init) {
    struct rig r;
    rig_open(&r, 5, 8, 2, 9, 0);
    param_init_generic(&r.pt, r.p, 7);
    layer_s4d.init(r.s, r.p, 7);
    fill_normal(r.x, (size_t)r.B * r.L * r.H, 1.0, 1);
    gradient_check(&r);
    rig_close(&r);
}
END_TEST

/* The authors' layer-1 parameters (N = 64, Im A up to 1283) on one fixture example. */
START_TEST(test_gradients_fixture) {
    struct st_file f;
    char err[512];
    ck_assert_msg(st_read(FIXTURE, &f, err, sizeof err) == 0, "%s", err);
    struct rig r;
    rig_open(&r, 32, 64, 1, 31, 1);
    load_params(&r, &f);
    double *in = fixture_tensor(&f, "mixer/layer1/in", (size_t)4 * 31 * 32);
    for (size_t j = 0; j < (size_t)31 * 32; j++) r.x[j] = in[j];
    gradient_check(&r);
    free(in);
    rig_close(&r);
    st_free(&f);
}
END_TEST

/* Changing x at time t (one example, all channels) leaves y before t unchanged
 * and changes y at t. */
START_TEST(test_causality) {
    struct rig r;
    rig_open(&r, 6, 16, 2, 12, 0); /* H = 6: `keep` below holds one time step */
    param_init_generic(&r.pt, r.p, 3);
    layer_s4d.init(r.s, r.p, 3);
    size_t n = (size_t)r.B * r.L * r.H;
    fill_normal(r.x, n, 1.0, 5);
    rig_forward(&r);
    real *y0 = xmalloc(n * sizeof *y0);
    memcpy(y0, r.y, n * sizeof *y0);
    double ymax = 0;
    for (size_t j = 0; j < n; j++) ymax = fmax(ymax, fabs(y0[j]));
    for (int t = 0; t < r.L; t++) {
        for (int b = 0; b < r.B; b++) {
            real *xt = r.x + ((size_t)b * r.L + t) * r.H;
            real keep[6];
            memcpy(keep, xt, sizeof keep);
            for (int c = 0; c < r.H; c++) xt[c] += 1;
            rig_forward(&r);
            memcpy(xt, keep, sizeof keep); /* restore exactly: x + 1 - 1 may differ from x */
            double before = 0, at = 0;
            for (int l = 0; l < r.L; l++)
                for (int c = 0; c < r.H; c++) {
                    size_t j = ((size_t)b * r.L + l) * r.H + c;
                    double d = fabs(r.y[j] - y0[j]);
                    if (l < t) before = fmax(before, d);
                    if (l == t) at = fmax(at, d);
                }
            ck_assert_msg(before <= 1e-13 * ymax, "t=%d b=%d: output before t moved by %g", t, b, before);
            ck_assert_msg(at > 1e-6 * ymax, "t=%d b=%d: output at t did not respond (%g)", t, b, at);
            /* The other example is untouched. */
            for (size_t j = 0; j < n; j++)
                if ((int)(j / ((size_t)r.L * r.H)) != b)
                    ck_assert_msg(r.y[j] == y0[j], "t=%d b=%d: example leak at %zu", t, b, j);
        }
    }
    free(y0);
    rig_close(&r);
}
END_TEST

int main(void) {
    Suite *s = suite_create("s4d_f64");
    TCase *tc = tcase_create("s4d");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_fixture_f64, 0, 2);
    tcase_add_test(tc, test_gradients_init);
    tcase_add_test(tc, test_gradients_fixture);
    tcase_add_test(tc, test_causality);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
