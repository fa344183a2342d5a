/* test_step.c — recurrent inference (layer step, state from a prompt, the
 * whole model's prefill and step) against the convolution mode.
 *
 * Built twice: as the float suite (this file) and, included from
 * tests/f64/test_step.c, as the double suite.
 *  - every registered layer with a step, at its defaults and over a table of
 *    knob settings (every H3 ssm x gate_kv x gate_q setting, disc, measure,
 *    d_state < L, head_dim 1, 2 and 4; attention with 1, 2 and 4 heads; S4D): a random sequence token by token
 *    gives the forward's outputs; a prompt of k tokens consumed by the forward
 *    and then stepped gives the same outputs and the same state as stepping
 *    all of it;
 *  - state_size is the state buffer exactly: step never writes past it
 *    (guard) and, for a long enough sequence, leaves no entry of it untouched;
 *  - the whole model: prefill k tokens then step the rest = the full forward's
 *    logits at every position, for every case;
 *  - the authors' H3 recurrent-mode tensors (tests/fixtures/reference/h3) and
 *    ours for zoh, d_state 16, a large mixer output and the ablations: step
 *    outputs and final states token by token, and the states set from the
 *    convolution mode;
 *  - a layer without a step (a copy of gss with its step removed, alone and
 *    behind a short-conv front) is refused with a message.
 * Tolerances: 1e-10 scaled in double; in float the fixture README's limit for
 * step outputs and states (1e-5 scaled). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "../core/safetensors.h"
#include "../models/layer.h"
#include "../models/model.h"
#include "testutil.h"

#ifdef HIPPO_F64
#define TOL 1e-10
#else
#define TOL 1e-5 /* tests/fixtures/reference/README.md §8: step outputs and states */
#endif

enum { TB = 2, TL = 13, TD = 16, TV = 11 };

/* Every registered kind with a step at its defaults (a new layer with a step
 * is checked here with no extra code), then these knob settings. */
static const struct scase {
    const char *layer, *knobs;
    int short_conv; /* taps of the short-conv front (models/short_conv.c), 0 = none */
} variants[] = {
    {"s4d", "d_state=8", 0},
    {"h3", "fused=true", 0}, /* the forward through ops h3_inner; the prefill reads the same kv */
    {"h3", "gate_kv=false", 0},
    {"h3", "gate_q=false", 0},
    {"h3", "gate_kv=false,gate_q=false", 0},
    {"h3", "ssm=diag+diag", 0},
    {"h3", "ssm=diag+diag,gate_kv=false", 0},
    {"h3", "ssm=diag+diag,gate_q=false", 0},
    {"h3", "ssm=diag+diag,gate_kv=false,gate_q=false", 0},
    {"h3", "ssm=shift+shift", 0},
    {"h3", "ssm=shift+shift,gate_kv=false", 0},
    {"h3", "ssm=shift+shift,gate_q=false", 0},
    {"h3", "ssm=shift+shift,gate_kv=false,gate_q=false", 0},
    {"h3", "disc=zoh", 0},
    {"h3", "ssm=diag+diag,disc=zoh,measure=diag-inv", 0},
    {"h3", "d_state=8", 0}, /* N < L: the shift register drops old inputs */
    {"h3", "ssm=shift+shift,d_state=8", 0},
    {"h3", "head_dim=2", 0},
    {"h3", "head_dim=2,ssm=diag+diag", 0},
    {"h3", "head_dim=2,ssm=shift+shift,d_state=8", 0},
    {"h3", "head_dim=4,disc=zoh", 0},
    {"attention", "n_heads=2", 0},
    {"attention", "n_heads=4", 0},
    {"attention", "impl=tiled,n_heads=2", 0}, /* the prefill reads qkv from the tiled path's act */
    /* the short-conv front: its history joins the state; 20 taps > TL */
    {"h3", "", 3},
    {"s4d", "", 1},
    {"attention", "", 4},
    {"gss", "", 2},
    {"h3", "fused=true,ssm=shift+shift,d_state=8", 20},
    /* hyena: the z window longer than the sequence, and none at all */
    {"hyena", "short_filter=20,emb_dim=5,w=10", 0},
    {"hyena", "short_filter=1,inner_mlps=1", 3},
};
enum { N_VARIANTS = sizeof variants / sizeof variants[0], MAX_CASES = 64 };

static struct scase cases[MAX_CASES];
static int n_cases;

/* The case table: steppable kinds at their defaults, then the variants. */
static void make_cases(void) {
    for (int i = 0; layer_kinds[i]; i++)
        if (layer_kinds[i]->step) cases[n_cases++] = (struct scase){layer_kinds[i]->name, "", 0};
    for (int i = 0; i < N_VARIANTS && n_cases < MAX_CASES; i++) cases[n_cases++] = variants[i];
}

static const struct layer_kind *case_kind(int i) {
    const struct layer_kind *k = layer_find(cases[i].layer);
    ck_assert_msg(k != NULL && k->step, "case %d: no steppable layer '%s'", i, cases[i].layer);
    return k;
}

/* Noise on every tensor (so no path is trivial: a dense shift B, B != 1,
 * varied A), N(0, 0.02) weights scaled up 10x so the gated paths carry signal. */
static void randomize(const struct param_table *pt, real *p, uint64_t seed) {
    for (int t = 0; t < pt->n; t++) {
        const struct param_spec *s = &pt->v[t];
        struct hp_rng g = hp_rng_make(seed, 500 + (uint64_t)t);
        for (size_t i = 0; i < s->numel; i++) {
            real *v = p + s->offset + i;
            if (s->init == INIT_NORMAL && s->init_arg < 0.5) *v *= 10;
            *v += (real)(0.1 * hp_rng_normal(&g));
        }
    }
}

/* ---- one layer ------------------------------------------------------------- */

/* A (TB, TL, TD) layer from case i, randomized, x random. */
static void open_case(struct tu_layer *h, int i) {
    tu_layer_open(h, &(struct tu_layer_cfg){.k = case_kind(i), .knobs = cases[i].knobs, .D = TD, .B = TB, .L = TL,
                                            .short_conv = cases[i].short_conv});
    tu_layer_init(h, 7);
    randomize(&h->pt, h->p, 7);
    tu_fill_normal(h->x, h->n, 1.0, 11, 1);
}

/* The layer's recurrent state (TB sequences of TL positions) in a guarded
 * buffer, and its step scratch. */
struct stepper {
    struct tu_layer *h;
    size_t S, n_state, n_scr;
    real *state, *scratch, *xt, *yt;
};

static void stepper_open(struct stepper *s, struct tu_layer *h) {
    s->h = h;
    s->S = h->k->state_size(h->self, TL);
    s->n_state = TB * s->S;
    s->n_scr = h->k->step_scratch_size(h->self, TB, TL);
    s->state = tu_guarded(s->n_state);
    s->scratch = tu_guarded(s->n_scr);
    s->xt = xcalloc(TB * TD, sizeof(real));
    s->yt = xcalloc(TB * TD, sizeof(real));
}

static void stepper_close(struct stepper *s) {
    free(s->state), free(s->scratch), free(s->xt), free(s->yt);
}

/* state_init from a prompt of P tokens (0 = empty); x (TB, P, TD), act as its forward left it. */
static void stepper_init(struct stepper *s, int P, const real *x) {
    struct layer_state_args a = {.B = TB, .L = TL, .state = s->state, .p = s->h->p, .prompt_L = P, .x = x,
                                 .act = s->h->act};
    s->h->k->state_init(s->h->self, ops_cpu(), &a);
    tu_check_guard(s->state, s->n_state, "state");
}

/* Step position t of x (TB, TL, TD) into y (TB, TL, TD). */
static void stepper_step(struct stepper *s, int t, const real *x, real *y) {
    for (int b = 0; b < TB; b++) memcpy(s->xt + b * TD, x + ((size_t)b * TL + t) * TD, TD * sizeof(real));
    struct layer_step a = {.B = TB, .t = t, .L = TL, .x = s->xt, .y = s->yt, .p = s->h->p, .state = s->state,
                           .scratch = s->scratch};
    s->h->k->step(s->h->self, ops_cpu(), &a);
    tu_check_guard(s->state, s->n_state, "state");
    tu_check_guard(s->scratch, s->n_scr, "step scratch");
    for (int b = 0; b < TB; b++) memcpy(y + ((size_t)b * TL + t) * TD, s->yt + b * TD, TD * sizeof(real));
}

/* Entries of the first n of y at positions >= k as doubles (others 0), for comparison. */
static double *from_pos(const real *y, int k) {
    double *d = xcalloc((size_t)TB * TL * TD, sizeof(double));
    for (int b = 0; b < TB; b++)
        for (int t = k; t < TL; t++)
            for (int i = 0; i < TD; i++) d[((size_t)b * TL + t) * TD + i] = y[((size_t)b * TL + t) * TD + i];
    return d;
}

static void assert_from(const char *what, int i, const real *got, const real *want, int k) {
    double *g = from_pos(got, k), *w = from_pos(want, k);
    char label[160];
    snprintf(label, sizeof label, "%s{%s} %s (prompt %d)", cases[i].layer, cases[i].knobs, what, k);
    tu_assert_close(label, g, w, (size_t)TB * TL * TD, TOL);
    free(g), free(w);
}

START_TEST(test_layer_step_matches_forward) {
    struct tu_layer h;
    open_case(&h, _i);
    tu_layer_forward(&h);
    struct stepper s;
    stepper_open(&s, &h);
    stepper_init(&s, 0, NULL);
    real *ys = xcalloc(h.n, sizeof(real));
    for (int t = 0; t < TL; t++) stepper_step(&s, t, h.x, ys);
    assert_from("step outputs", _i, ys, h.y, 0);
    free(ys);
    stepper_close(&s);
    tu_layer_close(&h);
}
END_TEST

/* x[:, :k] (TB, k, TD), contiguous. */
static real *prompt_of(const real *x, int k) {
    real *p = xmalloc((size_t)TB * k * TD * sizeof(real));
    for (int b = 0; b < TB; b++) memcpy(p + (size_t)b * k * TD, x + (size_t)b * TL * TD, (size_t)k * TD * sizeof(real));
    return p;
}

/* The forward of x[:, :k] (leaves its act for state_init). */
static void forward_prompt(struct tu_layer *h, const real *xk, int k, real *yk) {
    struct layer_fwd a = {.B = TB, .L = k, .x = xk, .y = yk, .p = h->p, .act = h->act, .scratch = h->scratch};
    h->k->forward(h->self, ops_cpu(), &a);
}

START_TEST(test_layer_prefill_then_step) {
    static const int ks[] = {1, 4, TL - 1, TL};
    struct tu_layer h;
    open_case(&h, _i);
    tu_layer_forward(&h);
    real *want = xmalloc(h.n * sizeof(real));
    memcpy(want, h.y, h.n * sizeof(real));
    struct stepper s, ref;
    stepper_open(&s, &h);
    stepper_open(&ref, &h);
    real *ys = xcalloc(h.n, sizeof(real)), *yk = xcalloc(h.n, sizeof(real));
    for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) {
        int k = ks[j];
        real *xk = prompt_of(h.x, k);
        forward_prompt(&h, xk, k, yk);
        stepper_init(&s, k, xk);
        stepper_init(&ref, 0, NULL); /* the state after stepping k tokens */
        for (int t = 0; t < k; t++) stepper_step(&ref, t, h.x, ys);
        double *got = tu_to_f64(s.state, s.n_state);
        char label[160];
        snprintf(label, sizeof label, "%s{%s} state after a prompt of %d", cases[_i].layer, cases[_i].knobs, k);
        double *stepped = tu_to_f64(ref.state, ref.n_state);
        tu_assert_close(label, got, stepped, s.n_state, TOL);
        free(got), free(stepped);
        memset(ys, 0, h.n * sizeof(real));
        for (int t = k; t < TL; t++) stepper_step(&s, t, h.x, ys);
        assert_from("outputs after a prompt", _i, ys, want, k);
        free(xk);
    }
    free(ys), free(yk), free(want);
    stepper_close(&s), stepper_close(&ref);
    tu_layer_close(&h);
}
END_TEST

/* state_size(L) is the buffer step uses: state_init covers all of it, step
 * never writes past it (the guards of stepper_*), and after TL random tokens
 * every entry holds something (no part of the buffer is dead). */
START_TEST(test_state_size_is_the_buffer) {
    struct tu_layer h;
    open_case(&h, _i);
    struct stepper s;
    stepper_open(&s, &h);
    for (size_t i = 0; i < s.n_state; i++) s.state[i] = (real)NAN;
    stepper_init(&s, 0, NULL);
    for (size_t i = 0; i < s.n_state; i++) ck_assert_msg(s.state[i] == 0, "state_init left entry %zu", i);
    real *ys = xcalloc(h.n, sizeof(real));
    for (int t = 0; t < TL; t++) stepper_step(&s, t, h.x, ys);
    size_t zeros = 0;
    for (size_t i = 0; i < s.n_state; i++) zeros += s.state[i] == 0;
    ck_assert_msg(zeros == 0, "%s{%s}: %zu of %zu state entries never used (state_size %zu)", cases[_i].layer,
                  cases[_i].knobs, zeros, s.n_state, s.S);
    free(ys);
    stepper_close(&s);
    tu_layer_close(&h);
}
END_TEST

/* ---- the whole model -------------------------------------------------------- */

static struct model *case_model(int i) {
    struct model_cfg c = {.vocab = TV, .d_model = TD, .n_layer = 2, .d_inner = 2 * TD, .max_L = TL,
                          .n_pos = TL + 2, .embed_dropout = 0.1, .ln_eps = 1e-5, .kind = case_kind(i),
                          .short_conv = cases[i].short_conv};
    tu_knobs(&c.layer_knobs, c.kind, cases[i].knobs);
    char err[256] = "";
    struct model *m = model_create(&c, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    model_init(m, 3);
    randomize(model_params(m), model_param_data(m), 3);
    return m;
}

/* logits (B, V) of every sequence at position t, from a (B, L, V) tensor, as doubles. */
static double *logits_at(const real *full, int t) {
    double *d = xmalloc((size_t)TB * TV * sizeof(double));
    for (int b = 0; b < TB; b++)
        for (int v = 0; v < TV; v++) d[b * TV + v] = full[((size_t)b * TL + t) * TV + v];
    return d;
}

static void assert_logits(int i, int k, int t, const real *got, const real *full) {
    double *w = logits_at(full, t), *g = tu_to_f64(got, TB * TV);
    char label[160];
    snprintf(label, sizeof label, "%s{%s} logits at %d (prompt %d)", cases[i].layer, cases[i].knobs, t, k);
    tu_assert_close(label, g, w, TB * TV, TOL);
    free(w), free(g);
}

START_TEST(test_model_prefill_then_step) {
    static const int ks[] = {1, 5, TL};
    struct model *m = case_model(_i);
    int32_t tok[TB * TL], col[TB];
    struct hp_rng r = hp_rng_make(9, 9);
    for (int j = 0; j < TB * TL; j++) tok[j] = (int32_t)hp_rng_below(&r, TV);
    struct model_batch b = {.B = TB, .L = TL, .tokens = tok, .training = false};
    model_forward(m, ops_cpu(), &b);
    real *full = xmalloc((size_t)TB * TL * TV * sizeof(real));
    memcpy(full, model_tap(m, TAP_LOGITS, 0), (size_t)TB * TL * TV * sizeof(real));
    for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) {
        int k = ks[j];
        char err[256] = "";
        struct model_state *st = model_state_create(m, TB, TL, err, sizeof err);
        ck_assert_msg(st != NULL, "%s", err);
        ck_assert_uint_eq(model_state_reals(st), model_state_size(m, TL));
        int32_t *prompt = xmalloc((size_t)TB * k * sizeof *prompt);
        for (int bi = 0; bi < TB; bi++) memcpy(prompt + bi * k, tok + bi * TL, (size_t)k * sizeof *prompt);
        assert_logits(_i, k, k - 1, model_prefill(m, ops_cpu(), st, prompt, k), full);
        for (int t = k; t < TL; t++) {
            ck_assert_int_eq(model_state_pos(st), t);
            for (int bi = 0; bi < TB; bi++) col[bi] = tok[bi * TL + t];
            assert_logits(_i, k, t, model_step(m, ops_cpu(), st, col), full);
        }
        free(prompt);
        model_state_free(st);
    }
    free(full);
    model_free(m);
}
END_TEST

/* Stepping from an empty state (no prompt) gives the forward's logits too. */
START_TEST(test_model_step_from_empty) {
    struct model *m = case_model(_i);
    int32_t tok[TB * TL], col[TB];
    struct hp_rng r = hp_rng_make(4, 4);
    for (int j = 0; j < TB * TL; j++) tok[j] = (int32_t)hp_rng_below(&r, TV);
    model_forward(m, ops_cpu(), &(struct model_batch){.B = TB, .L = TL, .tokens = tok});
    real *full = xmalloc((size_t)TB * TL * TV * sizeof(real));
    memcpy(full, model_tap(m, TAP_LOGITS, 0), (size_t)TB * TL * TV * sizeof(real));
    char err[256] = "";
    struct model_state *st = model_state_create(m, TB, TL, err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    for (int t = 0; t < TL; t++) {
        for (int bi = 0; bi < TB; bi++) col[bi] = tok[bi * TL + t];
        assert_logits(_i, 0, t, model_step(m, ops_cpu(), st, col), full);
    }
    model_state_free(st);
    free(full);
    model_free(m);
}
END_TEST

START_TEST(test_no_step_refused) {
    /* every registered layer has a step now: a copy of one without it stands in */
    struct layer_kind nostep = layer_gss;
    nostep.state_init = NULL, nostep.step_scratch_size = NULL, nostep.step = NULL;
    struct model_cfg c = {.vocab = TV, .d_model = TD, .n_layer = 1, .d_inner = 2 * TD, .max_L = TL,
                          .ln_eps = 1e-5, .kind = &nostep};
    tu_knobs(&c.layer_knobs, c.kind, "");
    char err[256] = "";
    struct model *m = model_create(&c, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    struct model_state *st = model_state_create(m, 1, TL, err, sizeof err);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, "'gss' has no recurrent step"), "message: %s", err);
    model_free(m);
    /* ... nor behind a short-conv front */
    c.short_conv = 3;
    m = model_create(&c, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_ptr_null(model_state_create(m, 1, TL, err, sizeof err));
    ck_assert_msg(strstr(err, "'gss' has no recurrent step"), "message: %s", err);
    model_free(m);
    c.short_conv = 0;
    /* Attention cannot step past its position table. */
    c.kind = layer_find("attention");
    c.n_pos = TL;
    tu_knobs(&c.layer_knobs, c.kind, "");
    m = model_create(&c, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_ptr_null(model_state_create(m, 1, TL + 1, err, sizeof err));
    ck_assert_msg(strstr(err, "position embeddings for 13"), "message: %s", err);
    model_free(m);
}
END_TEST

/* ---- the authors' recurrent-mode fixtures, and ours -------------------------- */

static const struct fixture {
    const char *path, *knobs;
    const char *tag[2]; /* the slots' state tensor tags (tools/hippo_ref.py h3_slot_tags) */
} fixtures[] = {
    {"tests/fixtures/reference/h3.safetensors", "", {"shift", "diag"}},
    {"tests/fixtures/ours/h3_zoh.safetensors", "disc=zoh", {"shift", "diag"}},
    {"tests/fixtures/ours/h3_big.safetensors", "", {"shift", "diag"}},
    {"tests/fixtures/ours/h3_n16.safetensors", "d_state=16", {"shift", "diag"}},
    {"tests/fixtures/ours/h3_diag_diag.safetensors", "ssm=diag+diag", {"slot1_diag", "diag"}},
    {"tests/fixtures/ours/h3_shift_shift.safetensors", "ssm=shift+shift", {"shift", "slot2_shift"}},
    {"tests/fixtures/ours/h3_nogates.safetensors", "gate_kv=false,gate_q=false", {"shift", "diag"}},
};
enum { N_FIXTURES = sizeof fixtures / sizeof fixtures[0] };

/* Slot `slot`'s part of every sequence's state (B, C, N), C = D for head_dim 1. */
static real *slot_states(const real *state, int B, size_t S, int D, int N, int slot) {
    real *out = xmalloc((size_t)B * D * N * sizeof(real));
    for (int b = 0; b < B; b++)
        memcpy(out + (size_t)b * D * N, state + (size_t)b * S + (size_t)slot * D * N, (size_t)D * N * sizeof(real));
    return out;
}

static void check_states(const struct fixture *fx, const struct st_file *f, int layer, const real *state, int B,
                         size_t S, int D, int N, const char *how) {
    for (int slot = 0; slot < 2; slot++) {
        char name[64];
        snprintf(name, sizeof name, "step/layer%d/state_%s", layer, fx->tag[slot]);
        real *mine = slot_states(state, B, S, D, N, slot);
        double *want = tu_load_f64_n(f, name, (size_t)B * D * N);
        char label[200];
        snprintf(label, sizeof label, "%s %s (%s)", fx->path, name, how);
        tu_assert_close_real(label, mine, want, (size_t)B * D * N, TOL);
        free(mine), free(want);
    }
}

static void check_fixture(const struct fixture *fx, int layer) {
    struct st_file f;
    tu_st_open(fx->path, &f);
    char name[64];
    snprintf(name, sizeof name, "mixer/layer%d/in", layer);
    const struct st_tensor *in = tu_st_need(&f, name);
    int B = (int)in->shape[0], L = (int)in->shape[1], D = (int)in->shape[2];
    struct tu_layer h;
    tu_layer_open(&h, &(struct tu_layer_cfg){.k = &layer_h3, .knobs = fx->knobs, .D = D, .B = B, .L = L,
                                             .layer = layer});
    tu_layer_load(&h, &f);
    tu_load_real(&f, name, h.x, h.n);
    size_t S = h.k->state_size(h.self, L), NS = (size_t)B * S;
    int N = (int)(S / (2 * (size_t)D)); /* head_dim 1: both slots D x N */
    real *state = tu_guarded(NS), *scratch = tu_guarded(h.k->step_scratch_size(h.self, B, L));
    struct layer_state_args ia = {.B = B, .L = L, .state = state, .p = h.p};
    h.k->state_init(h.self, ops_cpu(), &ia);
    real *xt = xmalloc((size_t)B * D * sizeof(real)), *yt = xmalloc((size_t)B * D * sizeof(real));
    for (int t = 0; t < L; t++) {
        for (int b = 0; b < B; b++) memcpy(xt + b * D, h.x + ((size_t)b * L + t) * D, (size_t)D * sizeof(real));
        struct layer_step sa = {.B = B, .t = t, .L = L, .x = xt, .y = yt, .p = h.p, .state = state, .scratch = scratch};
        h.k->step(h.self, ops_cpu(), &sa);
        for (int b = 0; b < B; b++) memcpy(h.y + ((size_t)b * L + t) * D, yt + b * D, (size_t)D * sizeof(real));
    }
    tu_check_guard(state, NS, "state");
    snprintf(name, sizeof name, "step/layer%d/out", layer);
    tu_check_tensor(&f, name, h.y, h.n, TOL);
    check_states(fx, &f, layer, state, B, S, D, N, "token by token");
    /* The state after the prompt, set from the convolution mode. */
    tu_layer_forward(&h);
    struct layer_state_args pa = {.B = B, .L = L, .state = state, .p = h.p, .prompt_L = L, .x = h.x, .act = h.act};
    h.k->state_init(h.self, ops_cpu(), &pa);
    check_states(fx, &f, layer, state, B, S, D, N, "from the convolution mode");
    free(state), free(scratch), free(xt), free(yt);
    tu_layer_close(&h);
    st_free(&f);
}

START_TEST(test_fixture_step) { check_fixture(&fixtures[_i / 2], _i % 2); }
END_TEST

int main(void) {
    Suite *s = suite_create("step_" REAL_NAME);
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    make_cases();
    tcase_add_loop_test(tc, test_layer_step_matches_forward, 0, n_cases);
    tcase_add_loop_test(tc, test_layer_prefill_then_step, 0, n_cases);
    tcase_add_loop_test(tc, test_state_size_is_the_buffer, 0, n_cases);
    tcase_add_loop_test(tc, test_model_prefill_then_step, 0, n_cases);
    tcase_add_loop_test(tc, test_model_step_from_empty, 0, n_cases);
    tcase_add_test(tc, test_no_step_refused);
    tcase_add_loop_test(tc, test_fixture_step, 0, 2 * N_FIXTURES);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
