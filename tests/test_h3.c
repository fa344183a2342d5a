/* test_h3.c — the H3 layer against float64 fixtures and a naive reference.
 *
 * Built twice: as the float suite (this file) and, included from
 * tests/f64/test_h3.c, as the double suite.
 *  - both builds: the authors' fixtures (h3, h3_headdim8) and ours (head_dim 2,
 *    zoh, a large mixer output, d_state 16 < L), both kernels and the mixer
 *    output of both layers, within README §8's float32 limits (kernels 3e-5,
 *    outputs 1e-5, scaled by the tensor's own largest magnitude: the mixer
 *    output is ~1e-3 at the authors' init) or to round-off in double; the
 *    deterministic SSM inits bit for bit against the authors' stored values;
 *    inits and optimizer groups, knob validation, state size; act and scratch
 *    guarded against overruns;
 *  - double only: a naive reference written here from the formulas (direct
 *    loops, complex powers by repeated multiplication), checked on the fixtures
 *    and then against the layer on random parameters for the cases the fixtures
 *    lack (zoh, head_dim 2 and 4, L > N, diag-inv); finite-difference gradients
 *    of dx and every parameter tensor (head_dim 1 and 2, bilinear and zoh, odd
 *    L, B = 2); gradient accumulation; causality (head_dim 1 and 4).
 * Gradients are also checked through the whole model against the authors'
 * grad tensors in the model suites. */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "../core/safetensors.h"
#include "../models/h3.h"
#include "../models/layer.h"
#include "testutil.h"

#ifdef HIPPO_F64
/* 1e-13 is what the formulas reach in double (README §8); the kernels' powers
 * and the convolutions add rounding of the same order, so allow 1e-11. */
#define TOL_OUT 1e-11
#define TOL_KERN 1e-11
#else
#define TOL_OUT 1e-5  /* README §8: mixer outputs */
#define TOL_KERN 3e-5 /* README §8: kernels */
#endif

struct cfg {
    int D, N, dh, B, L;
    const char *disc, *measure;
};

/* One H3 layer (see tu_layer) and the configuration it was made from. */
struct rig {
    struct cfg c;
    struct tu_layer l;
};

static void rig_open(struct rig *r, const struct cfg *c, int layer_idx) {
    char knobs[160];
    snprintf(knobs, sizeof knobs, "d_state=%d,head_dim=%d,disc=%s,measure=%s", c->N, c->dh, c->disc, c->measure);
    r->c = *c;
    tu_layer_open(&r->l, &(struct tu_layer_cfg){.k = &layer_h3, .knobs = knobs, .D = c->D, .B = c->B, .L = c->L,
                                               .layer = layer_idx});
}

static real *P(const struct rig *r, const char *name) { return tu_layer_P(&r->l, name); }

/* ---- the authors' fixtures and ours ------------------------------------------ */

/* The authors' files and ours (tests/fixtures/ours, made by tools/make_fixtures.py
 * from a float64 re-implementation): same tensor names, B and L from the file. */
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

#ifdef HIPPO_F64
static void reference(const struct rig *r, double *out);
#endif

/* Kernels and mixer output of `layer` on the file's mixer input, every
 * parameter loaded by name. */
static void check_fixture(const struct fixture *fx, int layer) {
    struct st_file f;
    char name[64];
    tu_st_open(fx->path, &f);
    snprintf(name, sizeof name, "mixer/layer%d/in", layer);
    const struct st_tensor *in = st_get(&f, name);
    ck_assert_msg(in && in->ndim == 3, "%s: no 3-d %s", fx->path, name);
    struct cfg c = {.D = (int)in->shape[2], .N = fx->N, .dh = fx->dh, .B = (int)in->shape[0],
                    .L = (int)in->shape[1], .disc = fx->disc, .measure = "diag-lin"};
    struct rig r;
    rig_open(&r, &c, layer);
    tu_layer_load(&r.l, &f);
    tu_load_real(&f, name, r.l.x, r.l.n);
    int L = c.L, H = c.D / c.dh;
    real *Ks = xmalloc((size_t)c.D * L * sizeof(real)), *Kd = xmalloc((size_t)H * L * sizeof(real));
    h3_kernels(r.l.self, ops_cpu(), r.l.p, L, Ks, Kd);
    snprintf(name, sizeof name, "kernel/layer%d/shift", layer);
    tu_check_tensor(&f, name, Ks, (size_t)c.D * L, TOL_KERN);
    snprintf(name, sizeof name, "kernel/layer%d/diag", layer);
    tu_check_tensor(&f, name, Kd, (size_t)H * L, TOL_KERN);

    tu_layer_forward(&r.l);
    snprintf(name, sizeof name, "mixer/layer%d/out", layer);
    tu_check_tensor(&f, name, r.l.y, r.l.n, TOL_OUT);
#ifdef HIPPO_F64
    /* validates the naive reference used on random configs below */
    double *want = tu_load_f64_n(&f, name, r.l.n), *mine = xmalloc(r.l.n * sizeof(double));
    reference(&r, mine);
    tu_assert_close("naive reference vs fixture", mine, want, r.l.n, 1e-12);
    free(want), free(mine);
#endif
    free(Ks), free(Kd);
    tu_layer_close(&r.l);
    st_free(&f);
}

START_TEST(test_fixture) { check_fixture(&fixtures[_i / 2], _i % 2); }
END_TEST

/* The deterministic SSM inits equal the authors' stored initial values bit for
 * bit (A_imag = pi n and log 0.5 in float32, B = 1, shift B = e1). */
START_TEST(test_init_matches_authors) {
    struct st_file f;
    char name[ST_NAME];
    tu_st_open(fixtures[_i].path, &f);
    struct cfg c = {.D = 32, .N = 64, .dh = fixtures[_i].dh, .B = 1, .L = 4, .disc = "bilinear", .measure = "diag-lin"};
    struct rig r;
    rig_open(&r, &c, 0);
    layer_h3.init(r.l.self, r.l.p, 1);
    static const char *fixed[] = {"kernel.kernel.A_imag", "kernel.kernel.inv_A_real", "kernel.kernel.B",
                                  "ssm_k_kernel.kernel.B"};
    for (int k = 0; k < 4; k++) {
        const struct param_spec *ps = tu_layer_spec(&r.l, fixed[k]);
        snprintf(name, sizeof name, "param/%s", ps->name);
        double *v = tu_load_f64_n(&f, name, ps->numel);
        for (size_t i = 0; i < ps->numel; i++)
            ck_assert_msg((double)r.l.p[ps->offset + i] == v[i], "%s[%zu]: init %.17g, authors' %.17g", ps->name, i,
                          (double)r.l.p[ps->offset + i], v[i]);
        free(v);
    }
    tu_layer_close(&r.l);
    st_free(&f);
}
END_TEST

/* ---- inits, groups, knobs, state -------------------------------------------- */

static double tensor_sd(const real *v, size_t n) {
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) s += v[i], s2 += (double)v[i] * v[i];
    return sqrt(s2 / n - (s / n) * (s / n));
}

START_TEST(test_init) {
    const char *measure = _i ? "diag-inv" : "diag-lin";
    struct cfg c = {.D = 32, .N = 64, .dh = 1, .B = 1, .L = 4, .disc = "bilinear", .measure = measure};
    struct rig r;
    rig_open(&r, &c, 0);
    tu_layer_init(&r.l, 7);
    int N = c.N, N2 = N / 2, H = c.D;
    const real *sB = P(&r, "ssm_k_kernel.kernel.B"), *kB = P(&r, "kernel.kernel.B");
    const real *ia = P(&r, "kernel.kernel.inv_A_real"), *ai = P(&r, "kernel.kernel.A_imag");
    const real *ld = P(&r, "kernel.kernel.log_dt");
    for (int i = 0; i < c.D * N; i++) ck_assert_msg(sB[i] == (i % N == 0), "shift B[%d] = %g, want e1", i, sB[i]);
    for (int h = 0; h < H; h++)
        for (int n = 0; n < N2; n++) {
            int i = h * N2 + n;
            double want = _i ? (N / M_PI) * (N / (2.0 * n + 1) - 1) : M_PI * n;
            /* float32 evaluation, as the authors': a few float ulps of the terms (the
             * S4D-Inv difference N/(2n+1) - 1 cancels: ~(N/pi) 1e-7 absolute) */
            ck_assert_msg(fabs(ai[i] - want) <= 1e-5 + 1e-6 * want, "A_imag[%d] = %.17g, want %.17g", i, ai[i], want);
            ck_assert_msg(fabs(ia[i] - log(0.5)) <= 1e-7, "inv_A_real[%d] = %g", i, ia[i]);
            ck_assert_msg(kB[2 * i] == 1 && kB[2 * i + 1] == 0, "B[%d] = %g%+gi, want 1", i, kB[2 * i], kB[2 * i + 1]);
        }
    double lo = INFINITY, hi = -INFINITY;
    for (int h = 0; h < H; h++) lo = fmin(lo, ld[h]), hi = fmax(hi, ld[h]);
    ck_assert_msg(lo >= log(0.001) && hi <= log(0.1), "log_dt outside [log 0.001, log 0.1]: %g..%g", lo, hi);
    ck_assert_msg(hi - lo > 0.5 * log(100.0), "log_dt spread %g is too narrow for U[log 1e-3, log 0.1]", hi - lo);
    /* Generic parts: shift C ~ U(-1/8, 1/8) (sd 1/8/sqrt 3), diagonal C parts ~ N(0, 1/2). */
    const struct param_spec *sc = tu_layer_spec(&r.l, "ssm_k_kernel.kernel.C");
    const struct param_spec *kc = tu_layer_spec(&r.l, "kernel.kernel.C");
    for (size_t i = 0; i < sc->numel; i++) ck_assert(fabs(r.l.p[sc->offset + i]) <= 0.125);
    double sd_sc = tensor_sd(r.l.p + sc->offset, sc->numel), sd_kc = tensor_sd(r.l.p + kc->offset, kc->numel);
    ck_assert_msg(fabs(sd_sc / (0.125 / sqrt(3.0)) - 1) < 0.1, "shift C sd %g", sd_sc);
    ck_assert_msg(fabs(sd_kc / sqrt(0.5) - 1) < 0.1, "diagonal C sd %g", sd_kc);
    /* Deterministic in the seed, different for another seed. */
    real *again = xcalloc(r.l.pt.total, sizeof(real));
    param_init_generic(&r.l.pt, again, 7);
    layer_h3.init(r.l.self, again, 7);
    ck_assert(memcmp(again, r.l.p, r.l.pt.total * sizeof(real)) == 0);
    layer_h3.init(r.l.self, again, 8);
    ck_assert_msg(memcmp(again + tu_layer_spec(&r.l, "kernel.kernel.log_dt")->offset, ld, H * sizeof(real)) != 0,
                  "log_dt does not depend on the seed");
    free(again);
    tu_layer_close(&r.l);
}
END_TEST

START_TEST(test_groups) {
    static const char *ssm[] = {"ssm_k_kernel.kernel.B", "kernel.kernel.log_dt", "kernel.kernel.B",
                                "kernel.kernel.inv_A_real", "kernel.kernel.A_imag"};
    struct cfg c = {.D = 32, .N = 64, .dh = 8, .B = 1, .L = 4, .disc = "bilinear", .measure = "diag-lin"};
    struct rig r;
    rig_open(&r, &c, 0);
    const struct param_table *pt = &r.l.pt;
    ck_assert_int_eq(pt->n, 17);
    int n_ssm = 0;
    for (int i = 0; i < pt->n; i++) {
        bool want = false;
        for (int k = 0; k < 5; k++) want |= strcmp(pt->v[i].name + strlen(r.l.prefix), ssm[k]) == 0;
        ck_assert_msg((pt->v[i].group == GROUP_SSM) == want, "%s: wrong optimizer group", pt->v[i].name);
        n_ssm += want;
    }
    ck_assert_int_eq(n_ssm, 5);
    /* The projections and output_linear are N(0, 0.02) (not rescaled), biases 0. */
    const struct param_spec *ow = tu_layer_spec(&r.l, "output_linear.weight");
    ck_assert(ow->init == INIT_NORMAL && ow->init_arg == 0.02);
    ck_assert(tu_layer_spec(&r.l, "q_proj.bias")->init == INIT_ZERO);
    tu_layer_close(&r.l);
}
END_TEST

static void *try_create(const char *key, const char *val, int D, char *err, size_t errlen, struct param_table *pt) {
    struct knob_values kv;
    knob_defaults(&kv, layer_h3.knobs, layer_h3.n_knobs);
    ck_assert_msg(knob_set(&kv, key, val, err, errlen) == 0, "%s", err);
    struct layer_dims dims = {.D = D, .max_L = 16, .n_layer = 2, .layer_idx = 0};
    return layer_h3.create(&kv, &dims, pt, "m.", err, errlen);
}

START_TEST(test_config) {
    char err[256];
    struct param_table pt;
    param_table_init(&pt);
    ck_assert(try_create("head_dim", "3", 32, err, sizeof err, &pt) == NULL);
    ck_assert_msg(strstr(err, "head_dim") && strstr(err, "3") && strstr(err, "32"), "message: %s", err);
    ck_assert(try_create("d_state", "63", 32, err, sizeof err, &pt) == NULL);
    ck_assert_msg(strstr(err, "d_state") && strstr(err, "63"), "message: %s", err);
    struct knob_values kv;
    knob_defaults(&kv, layer_h3.knobs, layer_h3.n_knobs);
    ck_assert(knob_set(&kv, "d_state", "2048", err, sizeof err) != 0);
    ck_assert(knob_set(&kv, "disc", "euler", err, sizeof err) != 0);
    ck_assert(knob_set(&kv, "measure", "legs", err, sizeof err) != 0);
    ck_assert(knob_set(&kv, "dt_min", "0.5", err, sizeof err) == 0);
    struct layer_dims dims = {.D = 32, .max_L = 16, .n_layer = 2, .layer_idx = 0};
    ck_assert(layer_h3.create(&kv, &dims, &pt, "m.", err, sizeof err) == NULL); /* dt_min > dt_max */
    ck_assert_msg(strstr(err, "dt_min"), "message: %s", err);
    void *s = try_create("d_state", "2", 32, err, sizeof err, &pt);
    ck_assert_msg(s != NULL, "d_state 2: %s", err);
    layer_h3.destroy(s);
    param_table_free(&pt);
}
END_TEST

START_TEST(test_state_size) {
    struct rig r;
    struct cfg c = {.D = 32, .N = 64, .dh = 1, .B = 1, .L = 4, .disc = "bilinear", .measure = "diag-lin"};
    rig_open(&r, &c, 0);
    ck_assert_uint_eq(layer_h3.state_size(r.l.self, 31), 128 * 32); /* h3.md §1.7: 128 d reals */
    tu_layer_close(&r.l);
    c.dh = 8;
    rig_open(&r, &c, 0);
    ck_assert_uint_eq(layer_h3.state_size(r.l.self, 31), 32 * 64 + 4 * 64 * 64);
    tu_layer_close(&r.l);
}
END_TEST

#ifdef HIPPO_F64
/* ---- naive double reference, straight from README §5.1 ------------------- */

/* Init, then noise on every tensor so that no path is trivial (dense shift B,
 * B != 1, varied Re A) and the output is O(1). */
static void rig_randomize(struct rig *r, uint64_t seed) {
    static const struct { const char *name; double sd; } noise[] = {
        {"q_proj.weight", 0.3}, {"k_proj.weight", 0.3}, {"v_proj.weight", 0.3}, {"output_linear.weight", 0.3},
        {"q_proj.bias", 0.1}, {"k_proj.bias", 0.1}, {"v_proj.bias", 0.1}, {"output_linear.bias", 0.1},
        {"ssm_k_kernel.kernel.B", 0.5}, {"ssm_k_kernel.kernel.C", 0.3}, {"kernel.kernel.B", 0.2},
        {"kernel.kernel.inv_A_real", 0.3}, {"kernel.kernel.A_imag", 0.1}, {"kernel.kernel.log_dt", 0.5},
    };
    tu_layer_init(&r->l, seed);
    for (size_t k = 0; k < sizeof noise / sizeof noise[0]; k++) {
        const struct param_spec *ps = tu_layer_spec(&r->l, noise[k].name);
        struct hp_rng g = hp_rng_make(seed, 100 + k);
        for (size_t i = 0; i < ps->numel; i++) r->l.p[ps->offset + i] += (real)(noise[k].sd * hp_rng_normal(&g));
    }
    /* log_dt up to ~log 0.3 so that the diagonal kernel decays and rotates visibly. */
    const struct param_spec *ld = tu_layer_spec(&r->l, "kernel.kernel.log_dt");
    for (size_t i = 0; i < ld->numel; i++) r->l.p[ld->offset + i] += (real)2.0;
    tu_fill_normal(r->l.x, r->l.n, 1.0, seed + 1, 5);
}

static void ref_proj(const struct rig *r, const char *w, const char *b, double *out) {
    int R = r->c.B * r->c.L, D = r->c.D;
    const real *W = P(r, w), *bb = P(r, b);
    for (int t = 0; t < R; t++)
        for (int o = 0; o < D; o++) {
            double acc = bb[o];
            for (int i = 0; i < D; i++) acc += (double)r->l.x[(size_t)t * D + i] * W[o * D + i];
            out[(size_t)t * D + o] = acc;
        }
}

/* K_diag (H, L) with powers by repeated multiplication. */
static void ref_diag_kernel(const struct rig *r, int L, double *K) {
    int H = r->c.D / r->c.dh, N2 = r->c.N / 2;
    bool zoh = strcmp(r->c.disc, "zoh") == 0;
    const real *ld = P(r, "kernel.kernel.log_dt"), *ia = P(r, "kernel.kernel.inv_A_real");
    const real *ai = P(r, "kernel.kernel.A_imag"), *Bc = P(r, "kernel.kernel.B"), *Cc = P(r, "kernel.kernel.C");
    for (int h = 0; h < H; h++) {
        for (int l = 0; l < L; l++) K[h * L + l] = 0;
        double dt = exp((double)ld[h]);
        for (int n = 0; n < N2; n++) {
            int i = h * N2 + n;
            double complex A = -exp((double)ia[i]) + I * (double)ai[i], x = dt * A;
            double complex bc = (Bc[2 * i] + I * (double)Bc[2 * i + 1]) * (Cc[2 * i] + I * (double)Cc[2 * i + 1]);
            double complex z = zoh ? cexp(x) : (1 + x / 2) / (1 - x / 2);
            double complex ct = zoh ? bc * (z - 1) / A : bc * dt / (1 - x / 2), pw = 1;
            for (int l = 0; l < L; l++, pw *= z) K[h * L + l] += 2 * creal(ct * pw);
        }
    }
}

/* K_shift (D, L), zero from tap N on. */
static void ref_shift_kernel(const struct rig *r, int L, double *K) {
    int D = r->c.D, N = r->c.N;
    const real *Bs = P(r, "ssm_k_kernel.kernel.B"), *Cs = P(r, "ssm_k_kernel.kernel.C");
    for (int c = 0; c < D; c++)
        for (int j = 0; j < L; j++) {
            double acc = 0;
            for (int n = 0; j < N && n < N - j; n++) acc += (double)Bs[c * N + n] * Cs[c * N + n + j];
            K[c * L + j] = acc;
        }
}

static void reference(const struct rig *r, double *out) {
    int B = r->c.B, L = r->c.L, D = r->c.D, dh = r->c.dh, H = D / dh;
    size_t n = r->l.n;
    double *q = xmalloc(n * sizeof(double)), *k = xmalloc(n * sizeof(double)), *v = xmalloc(n * sizeof(double));
    double *kt = xmalloc(n * sizeof(double)), *o = xcalloc(n, sizeof(double));
    double *Ks = xmalloc((size_t)D * L * sizeof(double)), *Kd = xmalloc((size_t)H * L * sizeof(double));
    ref_proj(r, "q_proj.weight", "q_proj.bias", q);
    ref_proj(r, "k_proj.weight", "k_proj.bias", k);
    ref_proj(r, "v_proj.weight", "v_proj.bias", v);
    ref_shift_kernel(r, L, Ks);
    ref_diag_kernel(r, L, Kd);
    const real *sD = P(r, "ssm_k_D"), *Dd = P(r, "D");
#define AT(a, b, t, c) a[((size_t)(b) * L + (t)) * D + (c)]
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            for (int c = 0; c < D; c++) {
                double acc = sD[c] * AT(k, b, t, c);
                for (int j = 0; j <= t; j++) acc += Ks[c * L + j] * AT(k, b, t - j, c);
                AT(kt, b, t, c) = acc;
            }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < dh; i++)
                    for (int j = 0; j < dh; j++) {
                        double y = Dd[h] * AT(kt, b, t, h * dh + i) * AT(v, b, t, h * dh + j);
                        for (int s = 0; s <= t; s++)
                            y += Kd[h * L + s] * AT(kt, b, t - s, h * dh + i) * AT(v, b, t - s, h * dh + j);
                        AT(o, b, t, j * H + h) += AT(q, b, t, h * dh + i) * y;
                    }
#undef AT
    const real *Wo = P(r, "output_linear.weight"), *bo = P(r, "output_linear.bias");
    for (size_t t = 0; t < (size_t)B * L; t++)
        for (int e = 0; e < D; e++) {
            double acc = bo[e];
            for (int c = 0; c < D; c++) acc += o[t * D + c] * Wo[e * D + c];
            out[t * D + e] = acc;
        }
    free(q), free(k), free(v), free(kt), free(o), free(Ks), free(Kd);
}

/* ---- random configurations against the naive reference ------------------ */

static const struct cfg ref_cfgs[] = {
    {.D = 8, .N = 8, .dh = 1, .B = 2, .L = 7, .disc = "zoh", .measure = "diag-lin"},
    {.D = 8, .N = 4, .dh = 2, .B = 2, .L = 9, .disc = "bilinear", .measure = "diag-lin"},
    {.D = 8, .N = 6, .dh = 2, .B = 3, .L = 11, .disc = "zoh", .measure = "diag-inv"},
    {.D = 8, .N = 8, .dh = 4, .B = 1, .L = 13, .disc = "bilinear", .measure = "diag-inv"},
    {.D = 12, .N = 2, .dh = 3, .B = 2, .L = 5, .disc = "zoh", .measure = "diag-lin"},
    {.D = 16, .N = 16, .dh = 1, .B = 2, .L = 40, .disc = "bilinear", .measure = "diag-lin"},
};

START_TEST(test_reference) {
    struct rig r;
    rig_open(&r, &ref_cfgs[_i], 0);
    rig_randomize(&r, 11 + _i);
    tu_layer_forward(&r.l);
    double *want = xmalloc(r.l.n * sizeof(double));
    reference(&r, want);
    char what[96];
    snprintf(what, sizeof what, "config %d (dh %d, N %d, L %d, %s)", _i, r.c.dh, r.c.N, r.c.L, r.c.disc);
    tu_assert_close_real(what, r.l.y, want, r.l.n, 1e-12);
    free(want);
    tu_layer_close(&r.l);
}
END_TEST

/* ---- finite differences --------------------------------------------------- */

static const struct cfg fd_cfgs[] = {
    {.D = 8, .N = 8, .dh = 1, .B = 2, .L = 7, .disc = "bilinear", .measure = "diag-lin"},
    {.D = 8, .N = 4, .dh = 1, .B = 2, .L = 9, .disc = "zoh", .measure = "diag-lin"},
    {.D = 8, .N = 4, .dh = 2, .B = 2, .L = 9, .disc = "bilinear", .measure = "diag-lin"},
    {.D = 8, .N = 8, .dh = 2, .B = 2, .L = 7, .disc = "zoh", .measure = "diag-inv"},
};

/* loss = <dy, y>; central differences with step 1e-5 at the largest entry and
 * four random ones, error relative to max(|g_i|, 1e-2 max|g|) <= 1e-6. */
START_TEST(test_fd) {
    struct rig r;
    rig_open(&r, &fd_cfgs[_i], 1);
    rig_randomize(&r, 21 + _i);
    tu_fill_normal(r.l.dy, r.l.n, 1.0, 99 + _i, 5);
    tu_layer_forward(&r.l);
    tu_layer_backward(&r.l);
    struct tu_fd fd = {.loss = tu_layer_loss, .ctx = &r.l, .step = 1e-5, .n_random = 4, .seed = 1, .stream = 9,
                       .floor = 1e-2, .tol = 1e-6};
    char what[160];
    snprintf(what, sizeof what, "config %d dx", _i);
    tu_fd_check(&fd, what, r.l.x, r.l.dx, r.l.n);
    for (int t = 0; t < r.l.pt.n; t++) {
        const struct param_spec *ps = &r.l.pt.v[t];
        snprintf(what, sizeof what, "config %d %s", _i, ps->name);
        fd.seed = 2 + t;
        tu_fd_check(&fd, what, r.l.p + ps->offset, r.l.g + ps->offset, ps->numel);
    }
    tu_layer_close(&r.l);
}
END_TEST

/* Gradients accumulate (+=): a second backward doubles them; dx is overwritten. */
START_TEST(test_accumulate) {
    struct rig r;
    rig_open(&r, &fd_cfgs[2], 0);
    rig_randomize(&r, 5);
    tu_fill_normal(r.l.dy, r.l.n, 1.0, 6, 5);
    tu_layer_forward(&r.l);
    tu_layer_backward(&r.l);
    size_t np = r.l.pt.total, n = r.l.n;
    real *g1 = xmalloc(np * sizeof(real)), *dx1 = xmalloc(n * sizeof(real));
    memcpy(g1, r.l.g, np * sizeof(real));
    memcpy(dx1, r.l.dx, n * sizeof(real));
    for (size_t i = 0; i < n; i++) r.l.dx[i] = 1e3; /* must be overwritten */
    tu_layer_backward(&r.l);
    for (size_t i = 0; i < np; i++)
        ck_assert_msg(fabs(r.l.g[i] - 2 * g1[i]) <= 1e-12 * fmax(1, fabs(g1[i])), "g[%zu] did not accumulate", i);
    for (size_t i = 0; i < n; i++) ck_assert_msg(r.l.dx[i] == dx1[i], "dx[%zu] not overwritten", i);
    free(g1), free(dx1);
    tu_layer_close(&r.l);
}
END_TEST

/* ---- causality -------------------------------------------------------- */

START_TEST(test_causality) {
    struct cfg c = {.D = 8, .N = 8, .dh = _i ? 4 : 1, .B = 2, .L = 12, .disc = "bilinear", .measure = "diag-lin"};
    struct rig r;
    rig_open(&r, &c, 0);
    rig_randomize(&r, 31 + _i);
    size_t n = r.l.n;
    tu_layer_forward(&r.l);
    real *y0 = xmalloc(n * sizeof(real));
    memcpy(y0, r.l.y, n * sizeof(real));
    double ymax = 0;
    for (size_t i = 0; i < n; i++) ymax = fmax(ymax, fabs(y0[i]));
    int t0 = 6;
    for (int d = 0; d < c.D; d++) r.l.x[((size_t)1 * c.L + t0) * c.D + d] += 1;
    tu_layer_forward(&r.l);
    for (int b = 0; b < c.B; b++)
        for (int t = 0; t < c.L; t++) {
            double diff = 0;
            for (int d = 0; d < c.D; d++) {
                size_t i = ((size_t)b * c.L + t) * c.D + d;
                diff = fmax(diff, fabs(r.l.y[i] - y0[i]));
            }
            bool may_change = b == 1 && t >= t0;
            /* FFT convolutions leave round-off everywhere: allow 1e-13 of the output scale. */
            if (!may_change) ck_assert_msg(diff <= 1e-13 * ymax, "y[%d, %d] moved by %g after x[1, %d]", b, t, diff, t0);
            if (b == 1 && t == t0) ck_assert_msg(diff > 1e-3 * ymax, "y[1, %d] did not respond", t0);
        }
    free(y0);
    tu_layer_close(&r.l);
}
END_TEST
#endif /* HIPPO_F64 */

int main(void) {
    Suite *s = suite_create("h3_" REAL_NAME);
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_fixture, 0, 2 * N_FIXTURES);
    tcase_add_loop_test(tc, test_init_matches_authors, 0, 2);
#ifdef HIPPO_F64
    tcase_add_loop_test(tc, test_reference, 0, (int)(sizeof ref_cfgs / sizeof ref_cfgs[0]));
    tcase_add_loop_test(tc, test_fd, 0, (int)(sizeof fd_cfgs / sizeof fd_cfgs[0]));
    tcase_add_test(tc, test_accumulate);
    tcase_add_loop_test(tc, test_causality, 0, 2);
#endif
    tcase_add_loop_test(tc, test_init, 0, 2);
    tcase_add_test(tc, test_groups);
    tcase_add_test(tc, test_config);
    tcase_add_test(tc, test_state_size);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
