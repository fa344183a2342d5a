/* test_h3.c — the H3 layer in the float build against float64 fixtures: the
 * authors' (h3, h3_headdim8) and ours (head_dim 2, zoh, a large mixer output,
 * d_state 16 < L). For both layers of each file: the shift and diagonal kernels
 * (README §8 limit 3e-5 scaled) and the mixer output (1e-5 scaled). The mixer
 * output is tiny at the authors' init (~1e-3), so every comparison is scaled by
 * the tensor's own largest magnitude (tu_assert_close), never by the residual
 * stream's. Buffers are guarded against overruns. Gradients are checked by
 * finite differences in tests/f64/test_h3.c and through the whole model against
 * the authors' grad tensors in the model suites. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/safetensors.h"
#include "../models/h3.h"
#include "../models/layer.h"
#include "testutil.h"

#define GUARD 64      /* reals past act and scratch that must stay untouched */
#define TOL_OUT 1e-5  /* README §8: mixer outputs */
#define TOL_KERN 3e-5 /* README §8: kernels */

struct fixture {
    const char *path;
    int N, dh;
    const char *disc;
};
static const struct fixture fixtures[] = {
    {"tests/fixtures/reference/h3.safetensors", 64, 1, "bilinear"},
    {"tests/fixtures/reference/h3_headdim8.safetensors", 64, 8, "bilinear"},
    {"tests/fixtures/ours/h3_headdim2.safetensors", 64, 2, "bilinear"},
    {"tests/fixtures/ours/h3_zoh.safetensors", 64, 1, "zoh"},
    {"tests/fixtures/ours/h3_big.safetensors", 64, 1, "bilinear"},
    {"tests/fixtures/ours/h3_n16.safetensors", 16, 1, "bilinear"},
};
#define N_FIXTURES ((int)(sizeof fixtures / sizeof fixtures[0]))

static void set_knob(struct knob_values *kv, const char *key, const char *val) {
    char err[256];
    ck_assert_msg(knob_set(kv, key, val, err, sizeof err) == 0, "%s", err);
}

static void *create(const struct fixture *fx, int D, int layer, struct param_table *pt) {
    struct knob_values kv;
    char num[32], prefix[64], err[256];
    knob_defaults(&kv, layer_h3.knobs, layer_h3.n_knobs);
    snprintf(num, sizeof num, "%d", fx->N);
    set_knob(&kv, "d_state", num);
    snprintf(num, sizeof num, "%d", fx->dh);
    set_knob(&kv, "head_dim", num);
    set_knob(&kv, "disc", fx->disc);
    struct layer_dims dims = {.D = D, .max_L = 64, .n_layer = 2, .layer_idx = layer};
    snprintf(prefix, sizeof prefix, "backbone.layers.%d.mixer.", layer);
    void *s = layer_h3.create(&kv, &dims, pt, prefix, err, sizeof err);
    ck_assert_msg(s != NULL, "create: %s", err);
    return s;
}

/* A fixture tensor as doubles (allocated), its element count checked. */
static double *get(const struct st_file *f, const char *name, size_t numel) {
    const struct st_tensor *t = st_get(f, name);
    ck_assert_msg(t != NULL, "fixture lacks %s", name);
    ck_assert_msg(t->numel == numel, "%s: %zu elements, expected %zu", name, t->numel, numel);
    double *v = xmalloc(numel * sizeof *v);
    st_to_f64(t, v);
    return v;
}

static void load_params(const struct param_table *pt, const struct st_file *f, real *p) {
    for (int i = 0; i < pt->n; i++) {
        const struct param_spec *ps = &pt->v[i];
        char name[ST_NAME];
        snprintf(name, sizeof name, "param/%s", ps->name);
        double *v = get(f, name, ps->numel);
        for (size_t j = 0; j < ps->numel; j++) p[ps->offset + j] = (real)v[j];
        free(v);
    }
}

static void compare(const char *what, const real *c, const double *ref, size_t n, double tol) {
    double *cd = xmalloc(n * sizeof *cd);
    for (size_t i = 0; i < n; i++) cd[i] = c[i];
    tu_assert_close(what, cd, ref, n, tol);
    free(cd);
}

static real *guarded(size_t n) {
    real *b = xmalloc((n + GUARD) * sizeof(real));
    for (size_t i = 0; i < GUARD; i++) b[n + i] = (real)(1000 + i);
    return b;
}
static void check_guard(const real *b, size_t n, const char *what) {
    for (size_t i = 0; i < GUARD; i++) ck_assert_msg(b[n + i] == (real)(1000 + i), "%s overrun at +%zu", what, i);
}

static void check_kernels(const struct st_file *f, void *s, const real *p, int D, int H, int L, int layer) {
    char name[64];
    real *Ks = xmalloc((size_t)D * L * sizeof(real)), *Kd = xmalloc((size_t)H * L * sizeof(real));
    h3_kernels(s, ops_cpu(), p, L, Ks, Kd);
    snprintf(name, sizeof name, "kernel/layer%d/shift", layer);
    double *want = get(f, name, (size_t)D * L);
    compare(name, Ks, want, (size_t)D * L, TOL_KERN);
    free(want);
    snprintf(name, sizeof name, "kernel/layer%d/diag", layer);
    want = get(f, name, (size_t)H * L);
    compare(name, Kd, want, (size_t)H * L, TOL_KERN);
    free(want), free(Ks), free(Kd);
}

START_TEST(test_fixture) {
    const struct fixture *fx = &fixtures[_i / 2];
    int layer = _i % 2;
    struct st_file f;
    char err[512], name[64];
    ck_assert_msg(st_read(fx->path, &f, err, sizeof err) == 0, "%s", err);
    snprintf(name, sizeof name, "mixer/layer%d/in", layer);
    const struct st_tensor *in = st_get(&f, name);
    ck_assert_msg(in && in->ndim == 3, "%s: no 3-d %s", fx->path, name);
    int B = (int)in->shape[0], L = (int)in->shape[1], D = (int)in->shape[2], H = D / fx->dh;
    size_t n = (size_t)B * L * D;

    struct param_table pt;
    param_table_init(&pt);
    void *s = create(fx, D, layer, &pt);
    real *p = xcalloc(pt.total, sizeof(real));
    load_params(&pt, &f, p);
    check_kernels(&f, s, p, D, H, L, layer);

    double *xin = get(&f, name, n);
    real *x = xmalloc(n * sizeof(real)), *y = xmalloc(n * sizeof(real));
    for (size_t i = 0; i < n; i++) x[i] = (real)xin[i];
    size_t na = layer_h3.act_size(s, B, L), ns = layer_h3.scratch_size(s, B, L);
    real *act = guarded(na), *scr = guarded(ns);
    struct layer_fwd a = {.B = B, .L = L, .x = x, .y = y, .p = p, .act = act, .scratch = scr};
    layer_h3.forward(s, ops_cpu(), &a);
    check_guard(act, na, "act");
    check_guard(scr, ns, "scratch");
    snprintf(name, sizeof name, "mixer/layer%d/out", layer);
    double *want = get(&f, name, n);
    compare(name, y, want, n, TOL_OUT);

    free(xin), free(x), free(y), free(act), free(scr), free(want), free(p);
    layer_h3.destroy(s);
    param_table_free(&pt);
    st_free(&f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("h3");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_fixture, 0, 2 * N_FIXTURES);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
