/* test_h3.c — the H3 layer against float64 fixtures and a naive reference.
 *
 * Built twice: as the float suite (this file) and, included from
 * tests/f64/test_h3.c, as the double suite.
 *  - both builds: the authors' fixtures (h3, h3_headdim8) and ours (head_dim 2,
 *    zoh, a large mixer output, d_state 16 < L, the ablations diag+diag,
 *    shift+shift and both gates off), both kernels and the mixer
 *    output of both layers, within README §8's float32 limits (kernels 3e-5,
 *    outputs 1e-5, scaled by the tensor's own largest magnitude: the mixer
 *    output is ~1e-3 at the authors' init) or to round-off in double; the
 *    deterministic SSM inits bit for bit against the authors' stored values;
 *    inits, shapes and optimizer groups of every slot kind in either slot,
 *    knob validation, state size; act and scratch guarded against overruns;
 *  - double only (tests/f64/test_h3.c): a naive reference from the formulas (direct
 *    loops, complex powers by repeated multiplication), checked on the fixtures
 *    and then against the layer on random parameters for the cases the fixtures
 *    lack (zoh, head_dim 2 and 4, L > N, diag-inv, every ssm and gate setting);
 *    finite-difference gradients of dx and every parameter tensor (head_dim 1
 *    and 2, bilinear and zoh, odd L, B = 2, the ablations); gradient
 *    accumulation; causality (head_dim 1 and 4).
 * Gradients are also checked through the whole model against the authors'
 * grad tensors in the model suites. */
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
    const char *ssm;     /* NULL: shift+diag */
    bool kv_off, q_off;  /* gate_kv, gate_q false */
};

static const char *cfg_ssm(const struct cfg *c) { return c->ssm ? c->ssm : "shift+diag"; }

/* Whether slot (0 or 1) of the `ssm` value holds a diagonal SSM. */
static bool slot_diag(const char *ssm, int slot) {
    return strcmp(ssm, "diag+diag") == 0 || (slot == 1 && strcmp(ssm, "shift+diag") == 0);
}

/* The fixtures' kernel tensor tag of a slot (tools/hippo_ref.py h3_slot_tags). */
static const char *slot_tag(const char *ssm, int slot) {
    bool d = slot_diag(ssm, slot);
    return slot ? (d ? "diag" : "slot2_shift") : (d ? "slot1_diag" : "shift");
}

/* One H3 layer (see tu_layer) and the configuration it was made from. */
struct rig {
    struct cfg c;
    struct tu_layer l;
};

static void rig_open(struct rig *r, const struct cfg *c, int layer_idx) {
    char knobs[200];
    snprintf(knobs, sizeof knobs, "d_state=%d,head_dim=%d,disc=%s,measure=%s,ssm=%s,gate_kv=%s,gate_q=%s", c->N,
             c->dh, c->disc, c->measure, cfg_ssm(c), c->kv_off ? "false" : "true", c->q_off ? "false" : "true");
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
    const char *disc, *ssm;
    bool kv_off, q_off;
};
static const struct fixture fixtures[] = {
    {"tests/fixtures/reference/h3.safetensors", 64, 1, "bilinear", NULL, false, false},
    {"tests/fixtures/reference/h3_headdim8.safetensors", 64, 8, "bilinear", NULL, false, false},
    {"tests/fixtures/ours/h3_headdim2.safetensors", 64, 2, "bilinear", NULL, false, false},
    {"tests/fixtures/ours/h3_zoh.safetensors", 64, 1, "zoh", NULL, false, false},
    {"tests/fixtures/ours/h3_big.safetensors", 64, 1, "bilinear", NULL, false, false},
    {"tests/fixtures/ours/h3_n16.safetensors", 16, 1, "bilinear", NULL, false, false},
    {"tests/fixtures/ours/h3_diag_diag.safetensors", 64, 1, "bilinear", "diag+diag", false, false},
    {"tests/fixtures/ours/h3_shift_shift.safetensors", 64, 1, "bilinear", "shift+shift", false, false},
    {"tests/fixtures/ours/h3_nogates.safetensors", 64, 1, "bilinear", NULL, true, true},
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
                    .L = (int)in->shape[1], .disc = fx->disc, .measure = "diag-lin", .ssm = fx->ssm,
                    .kv_off = fx->kv_off, .q_off = fx->q_off};
    struct rig r;
    rig_open(&r, &c, layer);
    tu_layer_load(&r.l, &f);
    tu_load_real(&f, name, r.l.x, r.l.n);
    int L = c.L, H = c.D / c.dh;
    real *Ks = xmalloc((size_t)c.D * L * sizeof(real)), *Kd = xmalloc((size_t)H * L * sizeof(real));
    h3_kernels(r.l.self, ops_cpu(), r.l.p, L, Ks, Kd);
    snprintf(name, sizeof name, "kernel/layer%d/%s", layer, slot_tag(cfg_ssm(&c), 0));
    tu_check_tensor(&f, name, Ks, (size_t)c.D * L, TOL_KERN);
    snprintf(name, sizeof name, "kernel/layer%d/%s", layer, slot_tag(cfg_ssm(&c), 1));
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

/* Each slot, whatever it holds, has its kind's tensors, shapes, inits and
 * optimizer groups: channels D in slot 1 (on k), H = D / d_h in slot 2. */
static const char *const ssm_values[] = {"shift+diag", "diag+diag", "shift+shift"};

static void check_shift_slot(const struct rig *r, const char *pre, int C) {
    char nb[48], nc[48]; /* + the 63-character prefix fits PARAM_NAME */
    snprintf(nb, sizeof nb, "%sB", pre), snprintf(nc, sizeof nc, "%sC", pre);
    const struct param_spec *b = tu_layer_spec(&r->l, nb), *c = tu_layer_spec(&r->l, nc);
    int N = r->c.N;
    ck_assert_msg(b->ndim == 2 && b->shape[0] == C && b->shape[1] == N && b->group == GROUP_SSM, "%s", b->name);
    ck_assert_msg(c->ndim == 3 && c->shape[0] == 1 && c->shape[1] == C && c->group == GROUP_DEFAULT, "%s", c->name);
    ck_assert(c->init == INIT_UNIFORM && c->init_arg == 1 / sqrt((double)N));
    for (int i = 0; i < C * N; i++)
        ck_assert_msg(r->l.p[b->offset + i] == (i % N == 0), "%s[%d] = %g, want e1", b->name, i, r->l.p[b->offset + i]);
}

static void check_diag_slot(const struct rig *r, const char *pre, int C) {
    static const char *ssm_leaves[] = {"log_dt", "B", "inv_A_real", "A_imag"};
    const struct param_spec *ps[4];
    char name[48];
    int N2 = r->c.N / 2;
    for (int k = 0; k < 4; k++) {
        snprintf(name, sizeof name, "%s%s", pre, ssm_leaves[k]);
        ps[k] = tu_layer_spec(&r->l, name);
        ck_assert_msg(ps[k]->group == GROUP_SSM && ps[k]->shape[0] == C, "%s: group or channels", ps[k]->name);
    }
    snprintf(name, sizeof name, "%sC", pre);
    const struct param_spec *c = tu_layer_spec(&r->l, name);
    ck_assert_msg(c->group == GROUP_DEFAULT && c->ndim == 4 && c->shape[1] == C && c->shape[2] == N2, "%s", c->name);
    const real *p = r->l.p;
    for (int h = 0; h < C; h++) {
        double ld = p[ps[0]->offset + h];
        ck_assert_msg(ld >= log(0.001) && ld <= log(0.1), "%s[%d] = %g", ps[0]->name, h, ld);
        for (int n = 0; n < N2; n++) {
            size_t i = (size_t)h * N2 + n;
            ck_assert(p[ps[1]->offset + 2 * i] == 1 && p[ps[1]->offset + 2 * i + 1] == 0);
            ck_assert(fabs(p[ps[2]->offset + i] - log(0.5)) <= 1e-7);
            ck_assert(fabs(p[ps[3]->offset + i] - M_PI * n) <= 1e-5 * (1 + n));
        }
    }
}

START_TEST(test_slots) {
    const char *ssm = ssm_values[_i % 3];
    struct cfg c = {.D = 16, .N = 8, .dh = _i < 3 ? 1 : 2, .B = 1, .L = 4, .disc = "bilinear",
                    .measure = "diag-lin", .ssm = ssm};
    struct rig r;
    rig_open(&r, &c, 0);
    tu_layer_init(&r.l, 3);
    int C[2] = {c.D, c.D / c.dh}, n_ssm = 0;
    const char *pre[2] = {"ssm_k_kernel.kernel.", "kernel.kernel."};
    for (int k = 0; k < 2; k++) {
        if (slot_diag(ssm, k)) check_diag_slot(&r, pre[k], C[k]);
        else check_shift_slot(&r, pre[k], C[k]);
        n_ssm += slot_diag(ssm, k) ? 4 : 1;
    }
    int n_group = 0;
    for (int i = 0; i < r.l.pt.n; i++) n_group += r.l.pt.v[i].group == GROUP_SSM;
    ck_assert_int_eq(n_group, n_ssm);
    ck_assert_int_eq(r.l.pt.n, 10 + (slot_diag(ssm, 0) ? 5 : 2) + (slot_diag(ssm, 1) ? 5 : 2));
    if (slot_diag(ssm, 0)) /* the two diagonal slots draw log_dt from their own sub-streams */
        ck_assert(memcmp(P(&r, "ssm_k_kernel.kernel.log_dt"), P(&r, "kernel.kernel.log_dt"), C[1] * sizeof(real)) != 0);
    /* The state is D N + E N reals whatever the slots hold (N2 complex modes = N reals). */
    ck_assert_uint_eq(layer_h3.state_size(r.l.self, 4), (size_t)c.D * c.N * (1 + c.dh));
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
    ck_assert(knob_set(&kv, "ssm", "diag", err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "ssm") && strstr(err, "shift+diag|diag+diag|shift+shift"), "message: %s", err);
    ck_assert(knob_set(&kv, "gate_kv", "maybe", err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "gate_kv") && strstr(err, "true or false"), "message: %s", err);
    /* Gates off need head_dim 1: the message names the gate and the head_dim. */
    static const char *gates[] = {"gate_kv", "gate_q"};
    for (int g = 0; g < 2; g++) {
        knob_defaults(&kv, layer_h3.knobs, layer_h3.n_knobs);
        ck_assert(knob_set(&kv, gates[g], "false", err, sizeof err) == 0);
        ck_assert(knob_set(&kv, "head_dim", "4", err, sizeof err) == 0);
        ck_assert(layer_h3.create(&kv, &dims, &pt, "m.", err, sizeof err) == NULL);
        ck_assert_msg(strstr(err, gates[g]) && strstr(err, "head_dim") && strstr(err, "4"), "message: %s", err);
        ck_assert(knob_set(&kv, "head_dim", "1", err, sizeof err) == 0);
        s = layer_h3.create(&kv, &dims, &pt, "m.", err, sizeof err);
        ck_assert_msg(s != NULL, "%s false, head_dim 1: %s", gates[g], err);
        layer_h3.destroy(s);
    }
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
/* The double-only tests (tests/f64/test_h3.c, which includes this file). */
static void add_f64_tests(TCase *tc);
#endif


int main(void) {
    Suite *s = suite_create("h3_" REAL_NAME);
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_fixture, 0, 2 * N_FIXTURES);
    tcase_add_loop_test(tc, test_init_matches_authors, 0, 2);
#ifdef HIPPO_F64
    add_f64_tests(tc);
#endif
    tcase_add_loop_test(tc, test_init, 0, 2);
    tcase_add_test(tc, test_groups);
    tcase_add_loop_test(tc, test_slots, 0, 6);
    tcase_add_test(tc, test_config);
    tcase_add_test(tc, test_state_size);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
