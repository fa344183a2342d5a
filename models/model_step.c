/* model_step.c — recurrent inference for the whole model (see model.h).
 *
 * Per token, for B sequences at position t (rows are sequences):
 *   x = E[tok] (+ P[t]);  per block: r = x + Step_i(LN1(x)); x = r + fc2(gelu_tanh(fc1(LN2(r))))
 *   logits = LN_f(x) Eᵀ
 * the forward of model.c one position at a time; the layers carry the
 * context in their states. Parameters are found by their names, so this file
 * needs only the model's public interface. Shapes: B sequences, D d_model,
 * F d_inner, V vocabulary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carve.h"
#include "linear.h"
#include "model.h"

struct step_block {
    size_t n1w, n1b, n2w, n2b, fc1w, fc1b, fc2w, fc2b; /* parameter offsets */
};

struct model_state {
    int B, L, t;
    size_t reals;                    /* per sequence, all layers */
    size_t emb, lnfw, lnfb, pos;     /* parameter offsets; pos valid when has_pos */
    bool has_pos;
    struct step_block blk[MODEL_MAX_LAYERS];
    real *state[MODEL_MAX_LAYERS];   /* (B, S_i) views into states */
    real *states, *buf;              /* the two allocations */
    /* views into buf */
    real *x, *ln, *mix, *r, *mlp, *lnf; /* (B, D) */
    real *mean, *rstd;                  /* (B) */
    real *h1, *h2;                      /* (B, F) */
    real *logits;                       /* (B, V) */
    real *scratch;                      /* the largest step_scratch_size */
};

static size_t offset_of(const struct model *m, const char *name) {
    const struct param_table *pt = model_params(m);
    int i = param_find(pt, name);
    if (i < 0) hp_die("model_step: no parameter %s", name);
    return pt->v[i].offset;
}

static void find_block(const struct model *m, int i, struct step_block *o) {
    char name[PARAM_NAME];
#define OFF(leaf) (snprintf(name, sizeof name, "backbone.layers.%d.%s", i, leaf), offset_of(m, name))
    *o = (struct step_block){
        .n1w = OFF("norm1.weight"), .n1b = OFF("norm1.bias"), .n2w = OFF("norm2.weight"), .n2b = OFF("norm2.bias"),
        .fc1w = OFF("mlp.fc1.weight"), .fc1b = OFF("mlp.fc1.bias"),
        .fc2w = OFF("mlp.fc2.weight"), .fc2b = OFF("mlp.fc2.bias"),
    };
#undef OFF
}

static size_t max_step_scratch(const struct model *m, int B, int L) {
    const struct model_cfg *c = model_config(m);
    size_t n = 1;
    for (int i = 0; i < c->n_layer; i++) {
        size_t k = model_kind(m)->step_scratch_size(model_layer(m, i), B, L);
        if (k > n) n = k;
    }
    return n;
}

static void layout_buf(const struct model *m, struct model_state *s, struct carver *c) {
    const struct model_cfg *mc = model_config(m);
    const size_t B = (size_t)s->B, D = (size_t)mc->d_model, F = (size_t)mc->d_inner;
    s->x = carve(c, B * D), s->ln = carve(c, B * D), s->mix = carve(c, B * D);
    s->r = carve(c, B * D), s->mlp = carve(c, B * D), s->lnf = carve(c, B * D);
    s->mean = carve(c, B), s->rstd = carve(c, B);
    s->h1 = carve(c, B * F), s->h2 = carve(c, B * F);
    s->logits = carve(c, B * (size_t)mc->vocab);
    s->scratch = carve(c, max_step_scratch(m, s->B, s->L));
}

/* Can this model run L positions recurrently? 0, or -1 with err. */
static int check_steppable(const struct model *m, int B, int L, char *err, size_t errlen) {
    const struct model_cfg *c = model_config(m);
    const struct layer_kind *k = model_kind(m);
    if (!k->step || !k->state_init || !k->step_scratch_size) {
        snprintf(err, errlen, "layer '%s' has no recurrent step (generation needs one: attention, s4d, h3)",
                 c->kind->name);
        return -1;
    }
    if (!model_ops(m)->host_memory) {
        snprintf(err, errlen, "recurrent mode runs on the CPU backend only (the model is on '%s')",
                 model_ops(m)->name);
        return -1;
    }
    if (B < 1 || L < 1) {
        snprintf(err, errlen, "recurrent state for B = %d sequences of L = %d positions: both must be >= 1", B, L);
        return -1;
    }
    int i = param_find(model_params(m), "backbone.embeddings.position_embeddings.weight");
    if (i >= 0 && model_params(m)->v[i].shape[0] < L) {
        snprintf(err, errlen, "%d positions asked for, but the model has position embeddings for %lld",
                 L, (long long)model_params(m)->v[i].shape[0]);
        return -1;
    }
    return 0;
}

/* Every layer's state emptied (prompt_L 0). */
static void empty_states(struct model *m, const struct ops *ops, struct model_state *s) {
    const struct model_cfg *c = model_config(m);
    const real *p = model_param_data(m);
    for (int i = 0; i < c->n_layer; i++) {
        struct layer_state_args a = {.B = s->B, .L = s->L, .state = s->state[i], .p = p};
        model_kind(m)->state_init(model_layer(m, i), ops, &a);
    }
    s->t = 0;
}

struct model_state *model_state_create(struct model *m, int B, int L, char *err, size_t errlen) {
    if (check_steppable(m, B, L, err, errlen) != 0) return NULL;
    const struct model_cfg *c = model_config(m);
    struct model_state *s = xcalloc(1, sizeof *s);
    s->B = B, s->L = L;
    s->reals = model_state_size(m, L);
    s->states = xcalloc((size_t)B * s->reals + 1, sizeof(real));
    real *next = s->states;
    for (int i = 0; i < c->n_layer; i++) {
        s->state[i] = next;
        next += (size_t)B * model_kind(m)->state_size(model_layer(m, i), L);
        find_block(m, i, &s->blk[i]);
    }
    s->emb = offset_of(m, "backbone.embeddings.word_embeddings.weight");
    s->lnfw = offset_of(m, "backbone.ln_f.weight"), s->lnfb = offset_of(m, "backbone.ln_f.bias");
    s->has_pos = c->kind->pos_emb;
    if (s->has_pos) s->pos = offset_of(m, "backbone.embeddings.position_embeddings.weight");
    struct carver cv = {NULL, 0};
    layout_buf(m, s, &cv);
    s->buf = xcalloc(cv.used, sizeof(real));
    cv = (struct carver){s->buf, 0};
    layout_buf(m, s, &cv);
    empty_states(m, ops_cpu(), s);
    return s;
}

void model_state_free(struct model_state *s) {
    if (!s) return;
    free(s->states);
    free(s->buf);
    free(s);
}

int model_state_pos(const struct model_state *s) { return s->t; }
size_t model_state_reals(const struct model_state *s) { return s->reals; }

const real *model_prefill(struct model *m, const struct ops *ops, struct model_state *s, const int32_t *tokens,
                          int P) {
    const struct model_cfg *c = model_config(m);
    HP_CHECK(s->t == 0 && P >= 1 && P <= s->L && P <= c->max_L);
    struct model_batch b = {.B = s->B, .L = P, .tokens = tokens, .targets = NULL, .training = false};
    model_forward(m, ops, &b);
    const real *p = model_param_data(m);
    for (int i = 0; i < c->n_layer; i++) {
        struct layer_state_args a = {.B = s->B, .L = s->L, .state = s->state[i], .p = p, .prompt_L = P,
                                     .x = model_tap(m, TAP_MIXER_IN, i), .act = model_layer_act(m, i)};
        model_kind(m)->state_init(model_layer(m, i), ops, &a);
    }
    const real *logits = model_tap(m, TAP_LOGITS, 0); /* (B, P, V): keep each sequence's last row */
    for (int bi = 0; bi < s->B; bi++)
        memcpy(s->logits + (size_t)bi * c->vocab, logits + ((size_t)bi * P + P - 1) * c->vocab,
               (size_t)c->vocab * sizeof(real));
    s->t = P;
    return s->logits;
}

/* x (=) = E[tok] (+ P[t]) per sequence. */
static void step_embed(struct model *m, const struct model_state *s, const int32_t *tokens) {
    const struct model_cfg *c = model_config(m);
    const int D = c->d_model;
    const real *p = model_param_data(m), *E = p + s->emb, *Pe = p + s->pos;
    for (int b = 0; b < s->B; b++) {
        HP_CHECK(tokens[b] >= 0 && tokens[b] < c->vocab);
        real *x = s->x + (size_t)b * D;
        for (int d = 0; d < D; d++) x[d] = E[(size_t)tokens[b] * D + d] + (s->has_pos ? Pe[(size_t)s->t * D + d] : 0);
    }
}

static void step_layernorm(const struct ops *ops, const struct model_state *s, int D, double eps, const real *x,
                           const real *w, const real *b, real *y) {
    struct layernorm_args a = {s->B, D, (real)eps, x, w, b, y, s->mean, s->rstd};
    ops->layernorm(&a);
}

/* One block on s->x in place: the residual stream of this position. */
static void step_block(struct model *m, const struct ops *ops, struct model_state *s, int i) {
    const struct model_cfg *c = model_config(m);
    const int B = s->B, D = c->d_model, F = c->d_inner;
    const size_t BD = (size_t)B * D;
    const real *p = model_param_data(m);
    const struct step_block *o = &s->blk[i];
    step_layernorm(ops, s, D, c->ln_eps, s->x, p + o->n1w, p + o->n1b, s->ln);
    struct layer_step ls = {.B = B, .t = s->t, .L = s->L, .x = s->ln, .y = s->mix, .p = p,
                            .state = s->state[i], .scratch = s->scratch};
    model_kind(m)->step(model_layer(m, i), ops, &ls);
    for (size_t k = 0; k < BD; k++) s->r[k] = s->x[k] + s->mix[k];
    step_layernorm(ops, s, D, c->ln_eps, s->r, p + o->n2w, p + o->n2b, s->ln);
    struct linear_args fc1 = {B, D, F, p + o->fc1w, p + o->fc1b}, fc2 = {B, F, D, p + o->fc2w, p + o->fc2b};
    linear_fwd(ops, &fc1, s->ln, s->h1);
    struct gelu_args g = {(size_t)B * F, GELU_TANH, s->h1, s->h2};
    ops->gelu(&g);
    linear_fwd(ops, &fc2, s->h2, s->mlp);
    for (size_t k = 0; k < BD; k++) s->x[k] = s->r[k] + s->mlp[k];
}

const real *model_step(struct model *m, const struct ops *ops, struct model_state *s, const int32_t *tokens) {
    const struct model_cfg *c = model_config(m);
    HP_CHECK(s->t < s->L);
    const real *p = model_param_data(m);
    step_embed(m, s, tokens);
    for (int i = 0; i < c->n_layer; i++) step_block(m, ops, s, i);
    step_layernorm(ops, s, c->d_model, c->ln_eps, s->x, p + s->lnfw, p + s->lnfb, s->lnf);
    /* Tied head: logits = lnf Eᵀ (no bias). */
    ops_gemm(ops, OP_N, OP_T, s->B, c->vocab, c->d_model, 1, s->lnf, c->d_model, p + s->emb, c->d_model, 0,
             s->logits, c->vocab);
    s->t++;
    return s->logits;
}
