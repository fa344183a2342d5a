/* test_s4d.c — the S4D layer in the float build: the authors' float64 fixture
 * within README §8's float32 limits (kernel 3e-5, mixer output 1e-5, scaled),
 * the parameter table against the fixture's names and shapes, the
 * initialisation's values and distributions, and configuration errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/safetensors.h"
#include "../models/layer.h"
#include "../models/s4d.h"
#include "testutil.h"

#define FIXTURE "tests/fixtures/reference/s4d.safetensors"

static void *make(struct param_table *pt, int H, const char *d_state, const char *dt_min, const char *dt_max,
                  char *err, size_t errlen) {
    struct knob_values kv;
    knob_defaults(&kv, layer_s4d.knobs, layer_s4d.n_knobs);
    if (d_state && knob_set(&kv, "d_state", d_state, err, errlen)) return NULL;
    if (dt_min && knob_set(&kv, "dt_min", dt_min, err, errlen)) return NULL;
    if (dt_max && knob_set(&kv, "dt_max", dt_max, err, errlen)) return NULL;
    struct layer_dims dims = {.D = H, .max_L = 31, .n_layer = 2, .layer_idx = 0};
    return layer_s4d.create(&kv, &dims, pt, "backbone.layers.0.mixer.", err, errlen);
}

static const struct param_spec *spec(const struct param_table *pt, const char *rel) {
    char name[PARAM_NAME];
    snprintf(name, sizeof name, "backbone.layers.0.mixer.%s", rel);
    int i = param_find(pt, name);
    ck_assert_msg(i >= 0, "no parameter %s", name);
    return &pt->v[i];
}

static double *fixture_tensor(const struct st_file *f, const char *name, size_t numel) {
    const struct st_tensor *t = st_get(f, name);
    ck_assert_msg(t != NULL, "fixture lacks %s", name);
    ck_assert_msg(t->numel == numel, "%s: %zu elements, expected %zu", name, t->numel, numel);
    double *v = xmalloc(numel * sizeof *v);
    st_to_f64(t, v);
    return v;
}

/* Forward of layer _i on the fixture's mixer input, parameters loaded by name. */
START_TEST(test_fixture) {
    enum { H = 32, B = 4, L = 31 };
    struct st_file f;
    char err[512], name[ST_NAME];
    ck_assert_msg(st_read(FIXTURE, &f, err, sizeof err) == 0, "%s", err);
    struct param_table pt;
    param_table_init(&pt);
    struct knob_values kv;
    knob_defaults(&kv, layer_s4d.knobs, layer_s4d.n_knobs);
    struct layer_dims dims = {.D = H, .max_L = L, .n_layer = 2, .layer_idx = _i};
    char prefix[64];
    snprintf(prefix, sizeof prefix, "backbone.layers.%d.mixer.", _i);
    void *s = layer_s4d.create(&kv, &dims, &pt, prefix, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    real *p = xcalloc(pt.total, sizeof(real));
    for (int i = 0; i < pt.n; i++) {
        snprintf(name, sizeof name, "param/%s", pt.v[i].name);
        double *v = fixture_tensor(&f, name, pt.v[i].numel);
        for (size_t j = 0; j < pt.v[i].numel; j++) p[pt.v[i].offset + j] = (real)v[j];
        free(v);
    }
    size_t n = (size_t)B * L * H;
    snprintf(name, sizeof name, "mixer/layer%d/in", _i);
    double *in = fixture_tensor(&f, name, n);
    real *x = xmalloc(n * sizeof *x), *y = xmalloc(n * sizeof *y);
    for (size_t j = 0; j < n; j++) x[j] = (real)in[j];
    real *act = xmalloc(layer_s4d.act_size(s, B, L) * sizeof(real));
    real *scratch = xmalloc(layer_s4d.scratch_size(s, B, L) * sizeof(real));
    struct layer_fwd a = {.B = B, .L = L, .x = x, .y = y, .p = p, .act = act, .scratch = scratch};
    layer_s4d.forward(s, ops_cpu(), &a);

    double *yd = xmalloc(n * sizeof *yd), *Kd = xmalloc((size_t)H * L * sizeof *Kd);
    for (size_t j = 0; j < n; j++) yd[j] = y[j];
    snprintf(name, sizeof name, "mixer/layer%d/out", _i);
    double *want = fixture_tensor(&f, name, n);
    tu_assert_close(name, yd, want, n, 1e-5);
    printf("  %s scaled err %.2e (limit 1e-5)\n", name, tu_scaled_err(yd, want, n, NULL));

    real *K = xmalloc((size_t)H * L * sizeof *K);
    s4d_kernel(s, ops_cpu(), p, L, K);
    for (size_t j = 0; j < (size_t)H * L; j++) Kd[j] = K[j];
    snprintf(name, sizeof name, "kernel/layer%d/s4d", _i);
    double *Kw = fixture_tensor(&f, name, (size_t)H * L);
    tu_assert_close(name, Kd, Kw, (size_t)H * L, 3e-5);
    printf("  %s scaled err %.2e (limit 3e-5)\n", name, tu_scaled_err(Kd, Kw, (size_t)H * L, NULL));

    free(in), free(x), free(y), free(act), free(scratch), free(yd), free(Kd), free(want), free(K), free(Kw);
    free(p);
    layer_s4d.destroy(s);
    param_table_free(&pt);
    st_free(&f);
}
END_TEST

/* Names, shapes, inits and optimizer groups as the authors declare them. */
START_TEST(test_param_table) {
    struct st_file f;
    char err[512], name[ST_NAME];
    ck_assert_msg(st_read(FIXTURE, &f, err, sizeof err) == 0, "%s", err);
    struct param_table pt;
    param_table_init(&pt);
    void *s = make(&pt, 32, NULL, NULL, NULL, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    int in_fixture = 0;
    for (int i = 0; i < f.n; i++)
        if (strncmp(f.t[i].name, "param/backbone.layers.0.mixer.", 30) == 0) in_fixture++;
    ck_assert_int_eq(pt.n, in_fixture);
    for (int i = 0; i < pt.n; i++) {
        snprintf(name, sizeof name, "param/%s", pt.v[i].name);
        const struct st_tensor *t = st_get(&f, name);
        ck_assert_msg(t != NULL, "%s is not in the fixture", name);
        ck_assert_msg(t->ndim == pt.v[i].ndim, "%s: ndim %d vs %d", name, pt.v[i].ndim, t->ndim);
        for (int d = 0; d < t->ndim; d++) ck_assert_int_eq(t->shape[d], pt.v[i].shape[d]);
    }
    const char *ssm[] = {"kernel.kernel.log_dt", "kernel.kernel.log_w_real", "kernel.kernel.w_imag"};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(spec(&pt, ssm[i])->group, GROUP_SSM);
        ck_assert_int_eq(spec(&pt, ssm[i])->init, INIT_CUSTOM);
    }
    const char *dflt[] = {"kernel.kernel.C", "D", "output_linear.weight", "output_linear.bias"};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(spec(&pt, dflt[i])->group, GROUP_DEFAULT);
    ck_assert_int_eq(spec(&pt, "kernel.kernel.C")->init, INIT_CUSTOM);
    ck_assert_int_eq(spec(&pt, "D")->init, INIT_NORMAL);
    ck_assert_double_eq(spec(&pt, "D")->init_arg, 1.0);
    ck_assert_int_eq(spec(&pt, "output_linear.weight")->init, INIT_NORMAL);
    ck_assert_double_eq(spec(&pt, "output_linear.weight")->init_arg, 0.02);
    ck_assert_int_eq(spec(&pt, "output_linear.bias")->init, INIT_ZERO);
    ck_assert_uint_eq(layer_s4d.state_size(s, 31), 32 * 64);
    layer_s4d.destroy(s);
    param_table_free(&pt);
    st_free(&f);
}
END_TEST

/* The initial values: Re A and Im A exactly as the authors' file holds them,
 * log_dt log-uniform in [log dt_min, log dt_max], B normalised so that a random
 * C gives unit kernel variance, D ~ N(0, 1), W ~ N(0, 0.02^2), b = 0. */
START_TEST(test_init) {
    enum { H = 256, N2 = 32 };
    struct st_file f;
    char err[512];
    ck_assert_msg(st_read(FIXTURE, &f, err, sizeof err) == 0, "%s", err);
    struct param_table pt;
    param_table_init(&pt);
    void *s = make(&pt, H, NULL, NULL, NULL, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    real *p = xcalloc(pt.total, sizeof(real)), *q = xcalloc(pt.total, sizeof(real));
    param_init_generic(&pt, p, 11);
    layer_s4d.init(s, p, 11);

    /* A: against the formula, and bit for bit against the authors' stored
     * float32 values (their init evaluates the formula in float32). */
    double *lw = fixture_tensor(&f, "param/backbone.layers.0.mixer.kernel.kernel.log_w_real", N2);
    double *wi = fixture_tensor(&f, "param/backbone.layers.0.mixer.kernel.kernel.w_imag", N2);
    const real *log_w_real = p + spec(&pt, "kernel.kernel.log_w_real")->offset;
    const real *w_imag = p + spec(&pt, "kernel.kernel.w_imag")->offset;
    for (int n = 0; n < N2; n++) {
        double formula = 64 / M_PI * (64.0 / (2 * n + 1) - 1);
        /* float32 evaluation: a few ulps of the term before the "- 1" cancels */
        double tol = 3e-7 * 64 / M_PI * 64.0 / (2 * n + 1);
        ck_assert_msg(fabs(w_imag[n] - formula) <= tol, "w_imag[%d] %.9g vs %.9g", n, w_imag[n], formula);
        ck_assert_msg(w_imag[n] == wi[n], "w_imag[%d] %.9g vs stored %.9g", n, w_imag[n], wi[n]);
        ck_assert_msg(fabs(log_w_real[n] - log(0.5 + 1e-4)) <= 1e-7, "log_w_real[%d] = %.9g", n, log_w_real[n]);
        ck_assert_msg(log_w_real[n] == lw[n], "log_w_real[%d] %.9g vs stored %.9g", n, log_w_real[n], lw[n]);
    }

    /* log_dt ~ U[log 0.001, log 0.1]: inside, spread over the range, centred. */
    const real *log_dt = p + spec(&pt, "kernel.kernel.log_dt")->offset;
    double lo = log(0.001), hi = log(0.1), mn = INFINITY, mx = -INFINITY, mean = 0;
    for (int h = 0; h < H; h++) {
        ck_assert_msg(log_dt[h] >= lo - 1e-6 && log_dt[h] <= hi + 1e-6, "log_dt[%d] = %g", h, log_dt[h]);
        mn = fmin(mn, log_dt[h]), mx = fmax(mx, log_dt[h]), mean += log_dt[h] / H;
    }
    /* sd of the mean of 256 uniforms on a range of 4.6 is 0.083; allow 4 sd. */
    ck_assert_msg(fabs(mean - (lo + hi) / 2) < 0.33, "log_dt mean %g, want %g", mean, (lo + hi) / 2);
    ck_assert_msg(mn < lo + 0.05 * (hi - lo) && mx > hi - 0.05 * (hi - lo), "log_dt range [%g, %g]", mn, mx);

    /* C = c B with c ~ CN(0, 1) per channel and B shared, normalised by
     * zeta = 2 sum |B/A|^2: then E_h[2 sum_n |C[h,n]/A_n|^2] = 1. Over 256
     * channels the statistic has sd ~0.042 (simulated); allow ~5 sd. */
    const real *C = p + spec(&pt, "kernel.kernel.C")->offset;
    double stat = 0;
    for (int n = 0; n < N2; n++) {
        double m2 = 0;
        for (int h = 0; h < H; h++) {
            const real *c = C + ((size_t)h * N2 + n) * 2;
            m2 += ((double)c[0] * c[0] + (double)c[1] * c[1]) / H;
        }
        stat += 2 * m2 / (0.25 + w_imag[n] * (double)w_imag[n]);
    }
    ck_assert_msg(fabs(stat - 1) < 0.2, "2 sum_n E|C/A|^2 = %g, want 1", stat);

    const struct param_spec *D = spec(&pt, "D"), *W = spec(&pt, "output_linear.weight"),
                            *b = spec(&pt, "output_linear.bias");
    double sd = 0, sw = 0;
    for (size_t j = 0; j < D->numel; j++) sd += (double)p[D->offset + j] * p[D->offset + j] / D->numel;
    for (size_t j = 0; j < W->numel; j++) sw += (double)p[W->offset + j] * p[W->offset + j] / W->numel;
    ck_assert_msg(fabs(sqrt(sd) - 1) < 0.15, "D rms %g, want 1", sqrt(sd));
    ck_assert_msg(fabs(sqrt(sw) - 0.02) < 0.001, "W rms %g, want 0.02", sqrt(sw));
    for (size_t j = 0; j < b->numel; j++) ck_assert(p[b->offset + j] == 0);
    printf("  init: log_dt mean %.3f range [%.3f, %.3f]; 2 sum E|C/A|^2 = %.3f; D rms %.3f; W rms %.4f\n", mean,
           mn, mx, stat, sqrt(sd), sqrt(sw));

    /* Deterministic in the seed, and the seed matters. */
    param_init_generic(&pt, q, 11);
    layer_s4d.init(s, q, 11);
    ck_assert(memcmp(p, q, pt.total * sizeof(real)) == 0);
    layer_s4d.init(s, q, 12);
    ck_assert(q[C - p] != C[0] && q[log_dt - p] != log_dt[0]);

    free(lw), free(wi), free(p), free(q);
    layer_s4d.destroy(s);
    param_table_free(&pt);
    st_free(&f);
}
END_TEST

/* dt knobs move the log_dt range. */
START_TEST(test_init_dt_range) {
    struct param_table pt;
    param_table_init(&pt);
    char err[256];
    void *s = make(&pt, 64, "16", "0.01", "0.02", err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    real *p = xcalloc(pt.total, sizeof(real));
    layer_s4d.init(s, p, 5);
    const real *log_dt = p + spec(&pt, "kernel.kernel.log_dt")->offset;
    for (int h = 0; h < 64; h++)
        ck_assert_msg(log_dt[h] >= log(0.01) - 1e-6 && log_dt[h] <= log(0.02) + 1e-6, "log_dt[%d] = %g", h,
                      log_dt[h]);
    ck_assert_uint_eq(spec(&pt, "kernel.kernel.w_imag")->numel, 8);
    free(p);
    layer_s4d.destroy(s);
    param_table_free(&pt);
}
END_TEST

/* Bad configurations are refused with a message naming the key and value. */
START_TEST(test_config_errors) {
    struct param_table pt;
    param_table_init(&pt);
    char err[256] = "";
    ck_assert_ptr_null(make(&pt, 32, "63", NULL, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "d_state") && strstr(err, "63"), "message: %s", err);
    ck_assert_ptr_null(make(&pt, 32, "2048", NULL, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "d_state") && strstr(err, "1024"), "message: %s", err);
    ck_assert_ptr_null(make(&pt, 32, NULL, "0.1", "0.01", err, sizeof err));
    ck_assert_msg(strstr(err, "dt_min") && strstr(err, "dt_max"), "message: %s", err);
    ck_assert_ptr_null(make(&pt, 32, NULL, "0.05", "0.05", err, sizeof err));
    ck_assert_msg(strstr(err, "dt_min"), "message: %s", err);
    ck_assert_int_eq(pt.n, 0); /* nothing declared on failure */
    param_table_free(&pt);
}
END_TEST

int main(void) {
    Suite *s = suite_create("s4d");
    TCase *tc = tcase_create("s4d");
    tcase_add_loop_test(tc, test_fixture, 0, 2);
    tcase_add_test(tc, test_param_table);
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_init_dt_range);
    tcase_add_test(tc, test_config_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
