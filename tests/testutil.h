/* testutil.h — shared helpers for the Check suites: tensor comparison with
 * index and values in the message, the suite runner, fixture reading, a
 * standalone layer rig with guarded buffers, and finite-difference gradient
 * checks. Header-only (static inline) so each test binary stays one file and
 * the Makefile's dependency on this header rebuilds every suite when it
 * changes. Tolerances are scaled by the reference's largest magnitude, as
 * tests/fixtures/reference/README.md prescribes. */
#ifndef HIPPO_TESTUTIL_H
#define HIPPO_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "../core/rng.h"
#include "../core/safetensors.h"
#include "../models/layer.h"

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures"
#endif

/* ---- comparison ---------------------------------------------------------- */

/* max |c - r| / max |r| over n elements; NaN anywhere gives +inf. *worst gets
 * the index of the largest difference. */
static inline double tu_scaled_err(const double *c, const double *r, size_t n, size_t *worst) {
    double maxr = 0, maxd = 0;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(c[i]) || isnan(r[i])) {
            if (worst) *worst = i;
            return INFINITY;
        }
        if (fabs(r[i]) > maxr) maxr = fabs(r[i]);
        double d = fabs(c[i] - r[i]);
        if (d > maxd) {
            maxd = d;
            w = i;
        }
    }
    if (worst) *worst = w;
    return maxr > 0 ? maxd / maxr : maxd;
}

/* Assert scaled error <= tol, naming the tensor, index and both values. */
#define tu_assert_close(what, c, r, n, tol)                                                        \
    do {                                                                                           \
        size_t tu_w_;                                                                              \
        double tu_e_ = tu_scaled_err((c), (r), (n), &tu_w_);                                       \
        ck_assert_msg(tu_e_ <= (tol), "%s: scaled error %.3g > %.3g at [%zu]: got %.10g want %.10g", \
                      (what), tu_e_, (double)(tol), tu_w_, (c)[tu_w_], (r)[tu_w_]);                \
    } while (0)

/* A real buffer as freshly allocated doubles. */
static inline double *tu_to_f64(const real *a, size_t n) {
    double *d = xmalloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = a[i];
    return d;
}

/* tu_assert_close for a real (float or double) result against doubles;
 * returns the scaled error for reports. */
static inline double tu_assert_close_real(const char *what, const real *c, const double *ref, size_t n, double tol) {
    double *cd = tu_to_f64(c, n), e = tu_scaled_err(cd, ref, n, NULL);
    tu_assert_close(what, cd, ref, n, tol);
    free(cd);
    return e;
}

/* ---- suite runner -------------------------------------------------------- */

/* Run every test of s (CK_VERBOSITY may ask for more output); the exit status
 * is the verdict. */
static inline int tu_run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- fixtures (safetensors) ---------------------------------------------- */

static inline void tu_st_open(const char *path, struct st_file *f) {
    char err[512];
    ck_assert_msg(st_read(path, f, err, sizeof err) == 0, "%s", err);
}

static inline const struct st_tensor *tu_st_need(const struct st_file *f, const char *name) {
    const struct st_tensor *t = st_get(f, name);
    ck_assert_msg(t != NULL, "fixture lacks %s", name);
    return t;
}

/* Tensor `name` as freshly allocated doubles; *n (if given) gets its size. */
static inline double *tu_load_f64(const struct st_file *f, const char *name, size_t *n) {
    const struct st_tensor *t = tu_st_need(f, name);
    double *v = xmalloc((t->numel + 1) * sizeof(double));
    st_to_f64(t, v);
    if (n) *n = t->numel;
    return v;
}

/* The same, with its element count checked against numel. */
static inline double *tu_load_f64_n(const struct st_file *f, const char *name, size_t numel) {
    size_t n;
    double *v = tu_load_f64(f, name, &n);
    ck_assert_msg(n == numel, "%s: %zu elements, expected %zu", name, n, numel);
    return v;
}

/* Tensor `name` (numel elements, checked) converted into dst. */
static inline void tu_load_real(const struct st_file *f, const char *name, real *dst, size_t numel) {
    double *v = tu_load_f64_n(f, name, numel);
    for (size_t i = 0; i < numel; i++) dst[i] = (real)v[i];
    free(v);
}

/* Assert that fixture tensor `name` matches a real result (scaled, tol);
 * returns the scaled error. */
static inline double tu_check_tensor(const struct st_file *f, const char *name, const real *c, size_t numel,
                                     double tol) {
    double *want = tu_load_f64_n(f, name, numel);
    double e = tu_assert_close_real(name, c, want, numel, tol);
    free(want);
    return e;
}

/* ---- knobs ----------------------------------------------------------------- */

/* Set "key=value,key=value" (empty: nothing); 0, or -1 with knob_set's message. */
static inline int tu_knobs_set(struct knob_values *kv, const char *spec, char *err, size_t errlen) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        ck_assert_msg(eq != NULL, "knob spec '%s' lacks '='", tok);
        *eq = '\0';
        if (knob_set(kv, tok, eq + 1, err, errlen) != 0) return -1;
    }
    return 0;
}

/* A kind's defaults with spec applied; every knob must be accepted. */
static inline void tu_knobs(struct knob_values *kv, const struct layer_kind *k, const char *spec) {
    char err[256];
    knob_defaults(kv, k->knobs, k->n_knobs);
    ck_assert_msg(tu_knobs_set(kv, spec, err, sizeof err) == 0, "%s", err);
}

/* ---- guard regions --------------------------------------------------------- */

#define TU_GUARD 64 /* reals past a buffer that the code under test must leave alone */

/* n zeroed reals followed by TU_GUARD marked ones. */
static inline real *tu_guarded(size_t n) {
    real *b = xcalloc(n + TU_GUARD, sizeof(real));
    for (size_t i = 0; i < TU_GUARD; i++) b[n + i] = (real)(1000 + i);
    return b;
}

static inline void tu_check_guard(const real *b, size_t n, const char *what) {
    for (size_t i = 0; i < TU_GUARD; i++)
        ck_assert_msg(b[n + i] == (real)(1000 + i), "%s overrun at +%zu", what, i);
}

/* ---- random data ----------------------------------------------------------- */

/* v[i] ~ N(0, sd^2) from stream (seed, stream). */
static inline void tu_fill_normal(real *v, size_t n, double sd, uint64_t seed, uint64_t stream) {
    struct hp_rng g = hp_rng_make(seed, stream);
    for (size_t i = 0; i < n; i++) v[i] = (real)(sd * hp_rng_normal(&g));
}

/* ---- a standalone layer ------------------------------------------------------ */

/* One layer outside a model, named like block `layer` of the fixtures
 * ("backbone.layers.<layer>.mixer."), with parameters, gradients, guarded act
 * and scratch, and (B, L, D) buffers x, y, dy, dx. */
struct tu_layer_cfg {
    const struct layer_kind *k;
    const char *knobs; /* "key=value,..." over the kind's defaults */
    int D, B, L, layer;
    int short_conv; /* > 0: the kind behind a short-conv front of this many taps */
};

struct tu_layer {
    const struct layer_kind *k;
    void *self;
    struct param_table pt;
    char prefix[64];
    int D, B, L;
    size_t n, n_act, n_scr; /* n = B * L * D */
    real *p, *g, *act, *scratch;
    real *x, *y, *dy, *dx;
    bool training; /* dropout, with the mask fixed by (seed, stream) */
    uint64_t seed, stream;
};

/* create() with the knobs and dims of c; NULL with the knob's or create's message. */
static inline void *tu_layer_create(const struct tu_layer_cfg *c, struct param_table *pt, const char *prefix,
                                    char *err, size_t errlen) {
    struct knob_values kv;
    knob_defaults(&kv, c->k->knobs, c->k->n_knobs);
    if (tu_knobs_set(&kv, c->knobs ? c->knobs : "", err, errlen) != 0) return NULL;
    struct layer_dims dims = {.D = c->D, .max_L = c->L, .n_layer = 2, .layer_idx = c->layer};
    if (c->short_conv > 0) return short_conv_create(c->k, c->short_conv, &kv, &dims, pt, prefix, err, errlen);
    return c->k->create(&kv, &dims, pt, prefix, err, errlen);
}

static inline void tu_layer_open(struct tu_layer *r, const struct tu_layer_cfg *c) {
    memset(r, 0, sizeof *r);
    r->k = c->short_conv > 0 ? short_conv_kind(c->k) : c->k, r->D = c->D, r->B = c->B, r->L = c->L;
    r->n = (size_t)c->B * c->L * c->D;
    snprintf(r->prefix, sizeof r->prefix, "backbone.layers.%d.mixer.", c->layer);
    param_table_init(&r->pt);
    char err[256] = "";
    r->self = tu_layer_create(c, &r->pt, r->prefix, err, sizeof err);
    ck_assert_msg(r->self != NULL, "%s: create: %s", c->k->name, err);
    r->n_act = r->k->act_size(r->self, r->B, r->L);
    r->n_scr = r->k->scratch_size(r->self, r->B, r->L);
    r->p = xcalloc(r->pt.total + 1, sizeof(real));
    r->g = xcalloc(r->pt.total + 1, sizeof(real));
    r->act = tu_guarded(r->n_act);
    r->scratch = tu_guarded(r->n_scr);
    r->x = xcalloc(r->n, sizeof(real));
    r->y = xcalloc(r->n, sizeof(real));
    r->dy = xcalloc(r->n, sizeof(real));
    r->dx = xcalloc(r->n, sizeof(real));
}

static inline void tu_layer_close(struct tu_layer *r) {
    r->k->destroy(r->self);
    param_table_free(&r->pt);
    free(r->p), free(r->g), free(r->act), free(r->scratch);
    free(r->x), free(r->y), free(r->dy), free(r->dx);
}

/* The parameter `rel` (name after the prefix); its values are r->p + offset. */
static inline const struct param_spec *tu_layer_spec(const struct tu_layer *r, const char *rel) {
    char full[PARAM_NAME];
    snprintf(full, sizeof full, "%s%s", r->prefix, rel);
    int i = param_find(&r->pt, full);
    ck_assert_msg(i >= 0, "no parameter %s", full);
    return &r->pt.v[i];
}
static inline real *tu_layer_P(const struct tu_layer *r, const char *rel) {
    return r->p + tu_layer_spec(r, rel)->offset;
}

/* Generic init, then the kind's own. */
static inline void tu_layer_init(struct tu_layer *r, uint64_t seed) {
    param_init_generic(&r->pt, r->p, seed);
    if (r->k->init) r->k->init(r->self, r->p, seed);
}

/* Forward of x into y (any (B, L, D) buffers); act and scratch must stay in bounds. */
static inline void tu_layer_forward_xy(struct tu_layer *r, const real *x, real *y) {
    struct layer_fwd a = {.B = r->B, .L = r->L, .x = x, .y = y, .p = r->p, .act = r->act, .scratch = r->scratch,
                          .training = r->training, .seed = r->seed, .stream = r->stream};
    r->k->forward(r->self, ops_cpu(), &a);
    tu_check_guard(r->act, r->n_act, "act");
    tu_check_guard(r->scratch, r->n_scr, "scratch");
}
static inline void tu_layer_forward(struct tu_layer *r) { tu_layer_forward_xy(r, r->x, r->y); }

/* Backward of the last forward of r->x: dx is overwritten, g accumulates. */
static inline void tu_layer_backward(struct tu_layer *r) {
    struct layer_bwd a = {.B = r->B, .L = r->L, .x = r->x, .dy = r->dy, .dx = r->dx, .p = r->p, .g = r->g,
                          .act = r->act, .scratch = r->scratch, .training = r->training, .seed = r->seed,
                          .stream = r->stream};
    r->k->backward(r->self, ops_cpu(), &a);
    tu_check_guard(r->act, r->n_act, "act");
    tu_check_guard(r->scratch, r->n_scr, "scratch");
}

/* loss = <dy, layer(x)>, so that backward with dy gives its gradient. */
static inline double tu_layer_loss(void *rig) {
    struct tu_layer *r = rig;
    tu_layer_forward(r);
    double s = 0;
    for (size_t i = 0; i < r->n; i++) s += (double)r->dy[i] * r->y[i];
    return s;
}

/* Every parameter from the fixture's "param/<name>" with the same shape, and
 * the fixture holds no other tensor under this layer's prefix. */
static inline void tu_layer_load(struct tu_layer *r, const struct st_file *f) {
    for (int i = 0; i < r->pt.n; i++) {
        const struct param_spec *ps = &r->pt.v[i];
        char name[ST_NAME];
        snprintf(name, sizeof name, "param/%s", ps->name);
        const struct st_tensor *t = tu_st_need(f, name);
        ck_assert_msg(t->ndim == ps->ndim, "%s: %d dims, fixture %d", name, ps->ndim, t->ndim);
        for (int d = 0; d < t->ndim; d++) ck_assert_msg(t->shape[d] == ps->shape[d], "%s: dim %d differs", name, d);
        tu_load_real(f, name, r->p + ps->offset, ps->numel);
    }
    char pre[ST_NAME];
    snprintf(pre, sizeof pre, "param/%s", r->prefix);
    int count = 0;
    for (int i = 0; i < f->n; i++) count += strncmp(f->t[i].name, pre, strlen(pre)) == 0;
    ck_assert_msg(count == r->pt.n, "fixture has %d tensors under %s, the layer declares %d", count, pre, r->pt.n);
}

/* ---- finite differences ------------------------------------------------------ */

/* How to check one tensor's analytic gradient against differences of a loss:
 * at its largest entry and n_random entries drawn from (seed, stream), with
 * |fd - g_i| / max(|g_i|, floor * max|g|) <= tol. */
struct tu_fd {
    double (*loss)(void *ctx);
    void *ctx;
    double step;     /* central-difference step h */
    bool richardson; /* combine h and h/2: error O(h^4) instead of O(h^2) */
    int n_random;
    uint64_t seed, stream;
    double floor, tol;
};

/* d loss / d v at *v by central differences; *v is restored exactly. */
static inline double tu_fd_at(const struct tu_fd *c, real *v) {
    real v0 = *v;
    double d[2];
    for (int k = 0; k < (c->richardson ? 2 : 1); k++) {
        double h = k ? c->step / 2 : c->step;
        *v = (real)(v0 + h);
        double lp = c->loss(c->ctx);
        *v = (real)(v0 - h);
        double lm = c->loss(c->ctx);
        d[k] = (lp - lm) / (2 * h);
    }
    *v = v0;
    return c->richardson ? (4 * d[1] - d[0]) / 3 : d[0];
}

/* Check analytic gradient g (n entries) of the values v; returns the worst
 * relative error seen. */
static inline double tu_fd_check(const struct tu_fd *c, const char *what, real *v, const real *g, size_t n) {
    size_t big = 0;
    double gmax = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(g[i]) > gmax) gmax = fabs(g[i]), big = i;
    ck_assert_msg(gmax > 0, "%s: gradient is identically zero", what);
    struct hp_rng pick = hp_rng_make(c->seed, c->stream);
    double worst = 0;
    for (int k = 0; k <= c->n_random; k++) {
        size_t i = k == 0 ? big : (size_t)hp_rng_below(&pick, n);
        double num = tu_fd_at(c, v + i), err = fabs(num - g[i]) / fmax(fabs(g[i]), c->floor * gmax);
        ck_assert_msg(err <= c->tol, "%s[%zu]: analytic %.12g, finite difference %.12g (rel err %.3g)", what, i,
                      (double)g[i], num, err);
        worst = fmax(worst, err);
    }
    return worst;
}

/* A layer's whole backward against finite differences of <dy, y>: dy random,
 * then dx and every parameter tensor, each through tu_fd_check with fd (its
 * stream varied per tensor; log_dt tensors get log_dt_step, the loss being
 * fast in them). Prints and returns the worst relative error. */
static inline double tu_layer_fd_all(struct tu_layer *r, struct tu_fd fd, double log_dt_step) {
    tu_fill_normal(r->dy, r->n, 1.0, 1234, 2);
    tu_layer_forward(r);
    memset(r->g, 0, r->pt.total * sizeof(real));
    tu_layer_backward(r);
    fd.loss = tu_layer_loss, fd.ctx = r;
    double step = fd.step, worst = tu_fd_check(&fd, "dx", r->x, r->dx, r->n);
    for (int i = 0; i < r->pt.n; i++) {
        const struct param_spec *ps = &r->pt.v[i];
        fd.step = strstr(ps->name, "log_dt") ? log_dt_step : step;
        fd.stream = 200 + (uint64_t)i;
        worst = fmax(worst, tu_fd_check(&fd, ps->name, r->p + ps->offset, r->g + ps->offset, ps->numel));
    }
    printf("  fd (B %d, L %d, D %d): worst rel err %.2e over dx and %d tensors\n", r->B, r->L, r->D, worst, r->pt.n);
    return worst;
}

#endif
