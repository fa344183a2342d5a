/* test_s4d.c — the S4D layer against the authors' float64 fixture.
 *
 * Built twice: as the float suite (this file) and, included from
 * tests/f64/test_s4d.c, as the double suite.
 *  - both builds: kernel and mixer output of both fixture layers, within README
 *    §8's float32 limits (kernel 3e-5, mixer output 1e-5, scaled) or to 1e-10
 *    in double; the parameter table against the fixture's names and shapes; the
 *    initialisation's values and distributions; configuration errors;
 *  - double only: finite-difference gradients of dx and every parameter tensor
 *    (at the layer's own init and at the authors' trained parameters), and
 *    causality. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "../core/safetensors.h"
#include "../models/layer.h"
#include "../models/s4d.h"
#include "testutil.h"

#define FIXTURE "tests/fixtures/reference/s4d.safetensors"

#ifdef HIPPO_F64
#define TOL_OUT 1e-10
#define TOL_KERN 1e-10
#else
#define TOL_OUT 1e-5  /* README §8: mixer outputs */
#define TOL_KERN 3e-5 /* README §8: kernels */
#endif

/* An S4D layer of width H as block `layer`; knobs over the defaults. */
static void s4d_open(struct tu_layer *r, const char *knobs, int H, int B, int L, int layer) {
    tu_layer_open(r, &(struct tu_layer_cfg){.k = &layer_s4d, .knobs = knobs, .D = H, .B = B, .L = L, .layer = layer});
}

/* Forward of layer _i on the fixture's mixer input, parameters loaded by name. */
START_TEST(test_fixture) {
    enum { H = 32, B = 4, L = 31 };
    struct st_file f;
    char name[ST_NAME];
    tu_st_open(FIXTURE, &f);
    struct tu_layer r;
    s4d_open(&r, "d_state=64", H, B, L, _i);
    tu_layer_load(&r, &f);
    snprintf(name, sizeof name, "mixer/layer%d/in", _i);
    tu_load_real(&f, name, r.x, r.n);
    tu_layer_forward(&r);
    snprintf(name, sizeof name, "mixer/layer%d/out", _i);
    double e = tu_check_tensor(&f, name, r.y, r.n, TOL_OUT);
    printf("  %s scaled err %.2e (limit %g)\n", name, e, TOL_OUT);

    real *K = xmalloc((size_t)H * L * sizeof *K);
    s4d_kernel(r.self, ops_cpu(), r.p, L, K);
    snprintf(name, sizeof name, "kernel/layer%d/s4d", _i);
    e = tu_check_tensor(&f, name, K, (size_t)H * L, TOL_KERN);
    printf("  %s scaled err %.2e (limit %g)\n", name, e, TOL_KERN);
    free(K);
    tu_layer_close(&r);
    st_free(&f);
}
END_TEST

/* Names and shapes (every fixture tensor of layer 0 and no other), inits and
 * optimizer groups as the authors declare them. */
START_TEST(test_param_table) {
    struct st_file f;
    tu_st_open(FIXTURE, &f);
    struct tu_layer r;
    s4d_open(&r, "", 32, 1, 31, 0);
    tu_layer_load(&r, &f);
    const char *ssm[] = {"kernel.kernel.log_dt", "kernel.kernel.log_w_real", "kernel.kernel.w_imag"};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(tu_layer_spec(&r, ssm[i])->group, GROUP_SSM);
        ck_assert_int_eq(tu_layer_spec(&r, ssm[i])->init, INIT_CUSTOM);
    }
    const char *dflt[] = {"kernel.kernel.C", "D", "output_linear.weight", "output_linear.bias"};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(tu_layer_spec(&r, dflt[i])->group, GROUP_DEFAULT);
    ck_assert_int_eq(tu_layer_spec(&r, "kernel.kernel.C")->init, INIT_CUSTOM);
    ck_assert_int_eq(tu_layer_spec(&r, "D")->init, INIT_NORMAL);
    ck_assert_double_eq(tu_layer_spec(&r, "D")->init_arg, 1.0);
    ck_assert_int_eq(tu_layer_spec(&r, "output_linear.weight")->init, INIT_NORMAL);
    ck_assert_double_eq(tu_layer_spec(&r, "output_linear.weight")->init_arg, 0.02);
    ck_assert_int_eq(tu_layer_spec(&r, "output_linear.bias")->init, INIT_ZERO);
    ck_assert_uint_eq(layer_s4d.state_size(r.self, 31), 32 * 64);
    tu_layer_close(&r);
    st_free(&f);
}
END_TEST

/* The initial values: Re A and Im A exactly as the authors' file holds them,
 * log_dt log-uniform in [log dt_min, log dt_max], B normalised so that a random
 * C gives unit kernel variance, D ~ N(0, 1), W ~ N(0, 0.02^2), b = 0. */
START_TEST(test_init) {
    enum { H = 256, N2 = 32 };
    struct st_file f;
    tu_st_open(FIXTURE, &f);
    struct tu_layer r;
    s4d_open(&r, "", H, 1, 31, 0);
    real *p = r.p, *q = xcalloc(r.pt.total, sizeof(real));
    tu_layer_init(&r, 11);

    /* A: against the formula, and bit for bit against the authors' stored
     * float32 values (their init evaluates the formula in float32). */
    double *lw = tu_load_f64_n(&f, "param/backbone.layers.0.mixer.kernel.kernel.log_w_real", N2);
    double *wi = tu_load_f64_n(&f, "param/backbone.layers.0.mixer.kernel.kernel.w_imag", N2);
    const real *log_w_real = tu_layer_P(&r, "kernel.kernel.log_w_real");
    const real *w_imag = tu_layer_P(&r, "kernel.kernel.w_imag");
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
    const real *log_dt = tu_layer_P(&r, "kernel.kernel.log_dt");
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
    const real *C = tu_layer_P(&r, "kernel.kernel.C");
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

    const struct param_spec *D = tu_layer_spec(&r, "D"), *W = tu_layer_spec(&r, "output_linear.weight"),
                            *b = tu_layer_spec(&r, "output_linear.bias");
    double sd = 0, sw = 0;
    for (size_t j = 0; j < D->numel; j++) sd += (double)p[D->offset + j] * p[D->offset + j] / D->numel;
    for (size_t j = 0; j < W->numel; j++) sw += (double)p[W->offset + j] * p[W->offset + j] / W->numel;
    ck_assert_msg(fabs(sqrt(sd) - 1) < 0.15, "D rms %g, want 1", sqrt(sd));
    ck_assert_msg(fabs(sqrt(sw) - 0.02) < 0.001, "W rms %g, want 0.02", sqrt(sw));
    for (size_t j = 0; j < b->numel; j++) ck_assert(p[b->offset + j] == 0);
    printf("  init: log_dt mean %.3f range [%.3f, %.3f]; 2 sum E|C/A|^2 = %.3f; D rms %.3f; W rms %.4f\n", mean,
           mn, mx, stat, sqrt(sd), sqrt(sw));

    /* Deterministic in the seed, and the seed matters. */
    param_init_generic(&r.pt, q, 11);
    layer_s4d.init(r.self, q, 11);
    ck_assert(memcmp(p, q, r.pt.total * sizeof(real)) == 0);
    layer_s4d.init(r.self, q, 12);
    ck_assert(q[C - p] != C[0] && q[log_dt - p] != log_dt[0]);

    free(lw), free(wi), free(q);
    tu_layer_close(&r);
    st_free(&f);
}
END_TEST

/* dt knobs move the log_dt range. */
START_TEST(test_init_dt_range) {
    struct tu_layer r;
    s4d_open(&r, "d_state=16,dt_min=0.01,dt_max=0.02", 64, 1, 31, 0);
    layer_s4d.init(r.self, r.p, 5);
    const real *log_dt = tu_layer_P(&r, "kernel.kernel.log_dt");
    for (int h = 0; h < 64; h++)
        ck_assert_msg(log_dt[h] >= log(0.01) - 1e-6 && log_dt[h] <= log(0.02) + 1e-6, "log_dt[%d] = %g", h,
                      log_dt[h]);
    ck_assert_uint_eq(tu_layer_spec(&r, "kernel.kernel.w_imag")->numel, 8);
    tu_layer_close(&r);
}
END_TEST

static void *make(struct param_table *pt, const char *knobs, char *err, size_t errlen) {
    struct tu_layer_cfg c = {.k = &layer_s4d, .knobs = knobs, .D = 32, .B = 1, .L = 31, .layer = 0};
    return tu_layer_create(&c, pt, "backbone.layers.0.mixer.", err, errlen);
}

/* Bad configurations are refused with a message naming the key and value. */
START_TEST(test_config_errors) {
    struct param_table pt;
    param_table_init(&pt);
    char err[256] = "";
    ck_assert_ptr_null(make(&pt, "d_state=63", err, sizeof err));
    ck_assert_msg(strstr(err, "d_state") && strstr(err, "63"), "message: %s", err);
    ck_assert_ptr_null(make(&pt, "d_state=2048", err, sizeof err));
    ck_assert_msg(strstr(err, "d_state") && strstr(err, "1024"), "message: %s", err);
    ck_assert_ptr_null(make(&pt, "dt_min=0.1,dt_max=0.01", err, sizeof err));
    ck_assert_msg(strstr(err, "dt_min") && strstr(err, "dt_max"), "message: %s", err);
    ck_assert_ptr_null(make(&pt, "dt_min=0.05,dt_max=0.05", err, sizeof err));
    ck_assert_msg(strstr(err, "dt_min"), "message: %s", err);
    ck_assert_int_eq(pt.n, 0); /* nothing declared on failure */
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

/* Small layer at its own initialisation, random input. */
START_TEST(test_gradients_init) {
    struct tu_layer r;
    s4d_open(&r, "d_state=8", 5, 2, 9, 0);
    tu_layer_init(&r, 7);
    tu_fill_normal(r.x, r.n, 1.0, 1234, 1);
    gradient_check(&r);
    tu_layer_close(&r);
}
END_TEST

/* The authors' layer-1 parameters (N = 64, Im A up to 1283) on one fixture example. */
START_TEST(test_gradients_fixture) {
    struct st_file f;
    tu_st_open(FIXTURE, &f);
    struct tu_layer r;
    s4d_open(&r, "d_state=64", 32, 1, 31, 1);
    tu_layer_load(&r, &f);
    double *in = tu_load_f64_n(&f, "mixer/layer1/in", (size_t)4 * 31 * 32);
    for (size_t j = 0; j < r.n; j++) r.x[j] = in[j];
    gradient_check(&r);
    free(in);
    tu_layer_close(&r);
    st_free(&f);
}
END_TEST

/* Changing x at time t (one example, all channels) leaves y before t unchanged
 * and changes y at t. */
START_TEST(test_causality) {
    struct tu_layer r;
    s4d_open(&r, "d_state=16", 6, 2, 12, 0); /* H = 6: `keep` below holds one time step */
    tu_layer_init(&r, 3);
    size_t n = r.n;
    tu_fill_normal(r.x, n, 1.0, 1234, 5);
    tu_layer_forward(&r);
    real *y0 = xmalloc(n * sizeof *y0);
    memcpy(y0, r.y, n * sizeof *y0);
    double ymax = 0;
    for (size_t j = 0; j < n; j++) ymax = fmax(ymax, fabs(y0[j]));
    for (int t = 0; t < r.L; t++) {
        for (int b = 0; b < r.B; b++) {
            real *xt = r.x + ((size_t)b * r.L + t) * r.D;
            real keep[6];
            memcpy(keep, xt, sizeof keep);
            for (int c = 0; c < r.D; c++) xt[c] += 1;
            tu_layer_forward(&r);
            memcpy(xt, keep, sizeof keep); /* restore exactly: x + 1 - 1 may differ from x */
            double before = 0, at = 0;
            for (int l = 0; l < r.L; l++)
                for (int c = 0; c < r.D; c++) {
                    size_t j = ((size_t)b * r.L + l) * r.D + c;
                    double d = fabs(r.y[j] - y0[j]);
                    if (l < t) before = fmax(before, d);
                    if (l == t) at = fmax(at, d);
                }
            ck_assert_msg(before <= 1e-13 * ymax, "t=%d b=%d: output before t moved by %g", t, b, before);
            ck_assert_msg(at > 1e-6 * ymax, "t=%d b=%d: output at t did not respond (%g)", t, b, at);
            /* The other example is untouched. */
            for (size_t j = 0; j < n; j++)
                if ((int)(j / ((size_t)r.L * r.D)) != b)
                    ck_assert_msg(r.y[j] == y0[j], "t=%d b=%d: example leak at %zu", t, b, j);
        }
    }
    free(y0);
    tu_layer_close(&r);
}
END_TEST
#endif /* HIPPO_F64 */

int main(void) {
    Suite *s = suite_create("s4d_" REAL_NAME);
    TCase *tc = tcase_create("s4d");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_fixture, 0, 2);
    tcase_add_test(tc, test_param_table);
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_init_dt_range);
    tcase_add_test(tc, test_config_errors);
#ifdef HIPPO_F64
    tcase_add_test(tc, test_gradients_init);
    tcase_add_test(tc, test_gradients_fixture);
    tcase_add_test(tc, test_causality);
#endif
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
