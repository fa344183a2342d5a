/* model.c — the language model around the layers (see model.h for the math).
 *
 * All activations of one forward live in one arena sized for (B, L); the
 * backward reuses a second arena for gradients of activations. Nothing is
 * allocated per step once the largest batch shape has been seen. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "carve.h"
#include "linear.h"

struct block_off {
    size_t n1w, n1b, n2w, n2b, fc1w, fc1b, fc2w, fc2b;
};

/* Per-block activations, views into the arena. R = B*L rows. */
struct block_act {
    real *ln1, *ln1_mean, *ln1_rstd; /* (R, D), (R), (R) */
    real *mix;                       /* (R, D) mixer output */
    real *r;                         /* (R, D) x + mix */
    real *ln2, *ln2_mean, *ln2_rstd; /* (R, D), (R), (R) */
    real *h1, *h2;                   /* (R, F) before / after GELU */
    real *mlp;                       /* (R, D) */
    real *layer;                     /* the layer's own act_size reals */
};

struct model {
    struct model_cfg cfg;
    const struct layer_kind *kind; /* what the blocks run: cfg.kind or its short-conv wrapper */
    struct param_table pt;
    const struct ops *ops; /* the backend every tensor below lives on (model_bind) */
    real *p, *g;           /* (P) host copies: the tensors themselves when ops->host_memory */
    real *dp, *dg;         /* (P) on the backend */
    size_t emb, pos, lnfw, lnfb;
    bool has_pos;
    struct block_off blk[MODEL_MAX_LAYERS];
    void *layer[MODEL_MAX_LAYERS];

    /* arena: views laid out for (cap_B, cap_L); buffers sized for the largest shape seen */
    size_t cap_R; /* rows the token buffers hold */
    int cap_B, cap_L;
    real *arena, *garena, *scratch;
    size_t arena_cap, garena_cap, scratch_n; /* reals allocated */
    int B, L;
    real *x[MODEL_MAX_LAYERS + 1]; /* (R, D) residual stream; x[0] after dropout */
    real *embed;                   /* (R, D) before dropout */
    struct block_act act[MODEL_MAX_LAYERS];
    real *lnf, *lnf_mean, *lnf_rstd, *logits, *probs;
    int32_t *tokens, *targets;   /* (R) host copies of the batch */
    int32_t *dtokens, *dtargets; /* (R) on the backend (the host copies when host memory) */
    real *tap_host;              /* (tap_cap) a downloaded tap (model_tap_host) */
    size_t tap_cap;
    bool training, has_targets;
    uint64_t seed, step;
    double loss;
    int count;
};

/* Dropout streams: one per (step, tensor); tensor 0 is the embedding, 1 + i layer i. */
static uint64_t dropout_stream(uint64_t step, int tensor) {
    return ((uint64_t)HP_STREAM_DROPOUT << 56) ^ (step << 8) ^ (uint64_t)tensor;
}

static int check_cfg(const struct model_cfg *c, char *err, size_t errlen) {
    if (!c->kind) return snprintf(err, errlen, "model: no layer kind given"), -1;
    if (c->n_layer < 1 || c->n_layer > MODEL_MAX_LAYERS)
        return snprintf(err, errlen, "model: n_layer %d must be between 1 and %d", c->n_layer, MODEL_MAX_LAYERS), -1;
    if (c->vocab < 2 || c->d_model < 1 || c->d_inner < 1 || c->max_L < 1)
        return snprintf(err, errlen, "model: vocab, d_model, d_inner and max_L must be positive"), -1;
    if (c->short_conv < 0 || c->short_conv > SHORT_CONV_MAX)
        return snprintf(err, errlen, "model: short_conv %d must be in [0, %d] (0 = none)", c->short_conv,
                        SHORT_CONV_MAX), -1;
    if (c->embed_dropout < 0 || c->embed_dropout >= 1)
        return snprintf(err, errlen, "model: embed_dropout %g must be in [0, 1)", c->embed_dropout), -1;
    return 0;
}

static void declare_block(struct model *m, int i) {
    char name[PARAM_NAME];
    const int D = m->cfg.d_model, F = m->cfg.d_inner;
    double fc2_std = 0.02 / sqrt(2.0 * m->cfg.n_layer);
    struct block_off *o = &m->blk[i];
#define NAME(s) (snprintf(name, sizeof name, "backbone.layers.%d.%s", i, s), name)
    o->n1w = param_add(&m->pt, NAME("norm1.weight"), INIT_ONE, 0, GROUP_DEFAULT, D, 0);
    o->n1b = param_add(&m->pt, NAME("norm1.bias"), INIT_ZERO, 0, GROUP_DEFAULT, D, 0);
    o->n2w = param_add(&m->pt, NAME("norm2.weight"), INIT_ONE, 0, GROUP_DEFAULT, D, 0);
    o->n2b = param_add(&m->pt, NAME("norm2.bias"), INIT_ZERO, 0, GROUP_DEFAULT, D, 0);
    o->fc1w = param_add(&m->pt, NAME("mlp.fc1.weight"), INIT_NORMAL, 0.02, GROUP_DEFAULT, F, D, 0);
    o->fc1b = param_add(&m->pt, NAME("mlp.fc1.bias"), INIT_ZERO, 0, GROUP_DEFAULT, F, 0);
    o->fc2w = param_add(&m->pt, NAME("mlp.fc2.weight"), INIT_NORMAL, fc2_std, GROUP_DEFAULT, D, F, 0);
    o->fc2b = param_add(&m->pt, NAME("mlp.fc2.bias"), INIT_ZERO, 0, GROUP_DEFAULT, D, 0);
#undef NAME
}

struct model *model_create(const struct model_cfg *cfg, char *err, size_t errlen) {
    if (check_cfg(cfg, err, errlen) != 0) return NULL;
    struct model *m = xcalloc(1, sizeof *m);
    m->cfg = *cfg;
    m->kind = cfg->short_conv > 0 ? short_conv_kind(cfg->kind) : cfg->kind;
    param_table_init(&m->pt);
    const int D = cfg->d_model;
    m->emb = param_add(&m->pt, "backbone.embeddings.word_embeddings.weight", INIT_NORMAL, 0.02, GROUP_DEFAULT,
                       cfg->vocab, D, 0);
    m->has_pos = cfg->kind->pos_emb;
    if (m->has_pos) {
        int rows = cfg->n_pos > 0 ? cfg->n_pos : cfg->max_L;
        if (rows < cfg->max_L) {
            snprintf(err, errlen, "model: n_pos %d is shorter than the longest input %d", rows, cfg->max_L);
            model_free(m);
            return NULL;
        }
        m->pos = param_add(&m->pt, "backbone.embeddings.position_embeddings.weight", INIT_NORMAL, 0.02,
                           GROUP_DEFAULT, rows, D, 0);
    }
    for (int i = 0; i < cfg->n_layer; i++) {
        char prefix[PARAM_NAME];
        snprintf(prefix, sizeof prefix, "backbone.layers.%d.mixer.", i);
        struct layer_dims dims = {D, cfg->max_L, cfg->n_layer, i};
        m->layer[i] = cfg->short_conv > 0
                          ? short_conv_create(cfg->kind, cfg->short_conv, &cfg->layer_knobs, &dims, &m->pt, prefix,
                                              err, errlen)
                          : cfg->kind->create(&cfg->layer_knobs, &dims, &m->pt, prefix, err, errlen);
        if (!m->layer[i]) {
            model_free(m);
            return NULL;
        }
        declare_block(m, i);
    }
    m->lnfw = param_add(&m->pt, "backbone.ln_f.weight", INIT_ONE, 0, GROUP_DEFAULT, D, 0);
    m->lnfb = param_add(&m->pt, "backbone.ln_f.bias", INIT_ZERO, 0, GROUP_DEFAULT, D, 0);
    m->p = xcalloc(m->pt.total, sizeof(real));
    m->g = xcalloc(m->pt.total, sizeof(real));
    m->ops = ops_cpu();
    m->dp = m->p, m->dg = m->g;
    return m;
}

/* ---- the backend --------------------------------------------------------- */

static void free_buffers(struct model *m) {
    const struct ops *o = m->ops;
    o->free(m->arena), o->free(m->garena), o->free(m->scratch);
    m->arena = m->garena = m->scratch = NULL;
    m->arena_cap = m->garena_cap = m->scratch_n = 0;
    m->cap_B = m->cap_L = 0;
    if (!o->host_memory) o->free(m->dtokens), o->free(m->dtargets);
    free(m->tokens), free(m->targets);
    m->tokens = m->targets = m->dtokens = m->dtargets = NULL;
    m->cap_R = 0;
    if (!o->host_memory) o->free(m->dp), o->free(m->dg);
    m->dp = m->p, m->dg = m->g;
}

void model_bind(struct model *m, const struct ops *ops) {
    if (ops == m->ops) return;
    model_sync_host(m);
    free_buffers(m);
    m->ops = ops;
    if (!ops->host_memory) {
        size_t bytes = m->pt.total * sizeof(real);
        m->dp = ops->alloc(bytes), m->dg = ops->alloc(bytes);
        ops->upload(m->dp, m->p, bytes);
        ops->upload(m->dg, m->g, bytes);
    }
    if (m->kind->bind)
        for (int i = 0; i < m->cfg.n_layer; i++) m->kind->bind(m->layer[i], ops);
}

const struct ops *model_ops(const struct model *m) { return m->ops; }
real *model_param_dev(struct model *m) { return m->dp; }
real *model_grad_dev(struct model *m) { return m->dg; }

void model_sync_host(struct model *m) {
    if (m->ops->host_memory) return;
    m->ops->download(m->p, m->dp, m->pt.total * sizeof(real));
    m->ops->download(m->g, m->dg, m->pt.total * sizeof(real));
}

void model_sync_device(struct model *m) {
    if (m->ops->host_memory) return;
    m->ops->upload(m->dp, m->p, m->pt.total * sizeof(real));
}

bool model_grads_finite(const struct model *m) {
    bool ok = false;
    struct finite_args f = {m->pt.total, m->dg, &ok};
    m->ops->finite(&f);
    return ok;
}

void model_free(struct model *m) {
    if (!m) return;
    for (int i = 0; i < m->cfg.n_layer; i++)
        if (m->layer[i]) m->kind->destroy(m->layer[i]);
    if (m->ops) free_buffers(m);
    param_table_free(&m->pt);
    free(m->p);
    free(m->g);
    free(m->tap_host);
    free(m);
}

void model_init(struct model *m, uint64_t seed) {
    param_init_generic(&m->pt, m->p, seed);
    for (int i = 0; i < m->cfg.n_layer; i++)
        if (m->kind->init) m->kind->init(m->layer[i], m->p, seed);
    model_sync_device(m);
}

const struct param_table *model_params(const struct model *m) { return &m->pt; }
real *model_param_data(struct model *m) { return m->p; }
real *model_grad_data(struct model *m) { return m->g; }
const struct model_cfg *model_config(const struct model *m) { return &m->cfg; }
const struct layer_kind *model_kind(const struct model *m) { return m->kind; }
void model_zero_grad(struct model *m) { ops_fill(m->ops, m->dg, m->pt.total, 0); }

size_t model_state_size(const struct model *m, int L) {
    size_t s = 0;
    for (int i = 0; i < m->cfg.n_layer; i++) s += m->kind->state_size(m->layer[i], L);
    return s;
}

/* ---- arena ---- */

static void layout_arena(struct model *m, struct carver *c, int B, int L) {
    const size_t R = (size_t)B * L, D = m->cfg.d_model, F = m->cfg.d_inner, V = m->cfg.vocab;
    m->embed = carve(c, R * D);
    for (int i = 0; i <= m->cfg.n_layer; i++) m->x[i] = carve(c, R * D);
    for (int i = 0; i < m->cfg.n_layer; i++) {
        struct block_act *a = &m->act[i];
        a->ln1 = carve(c, R * D), a->ln1_mean = carve(c, R), a->ln1_rstd = carve(c, R);
        a->mix = carve(c, R * D), a->r = carve(c, R * D);
        a->ln2 = carve(c, R * D), a->ln2_mean = carve(c, R), a->ln2_rstd = carve(c, R);
        a->h1 = carve(c, R * F), a->h2 = carve(c, R * F), a->mlp = carve(c, R * D);
        a->layer = carve(c, m->kind->act_size(m->layer[i], B, L));
    }
    m->lnf = carve(c, R * D), m->lnf_mean = carve(c, R), m->lnf_rstd = carve(c, R);
    m->logits = carve(c, R * V), m->probs = carve(c, R * V);
}

/* Gradient arena: three (R, max(D, V)) buffers and two (R, F). */
static size_t garena_size(const struct model *m, size_t R) {
    size_t w = (size_t)(m->cfg.d_model > m->cfg.vocab ? m->cfg.d_model : m->cfg.vocab);
    return 3 * R * w + 2 * R * (size_t)m->cfg.d_inner + 64;
}

/* Grow-only buffer on the backend: reallocated only when n exceeds its capacity. */
static real *grow(const struct ops *o, real *p, size_t *cap, size_t n) {
    if (n <= *cap && p) return p;
    o->free(p);
    *cap = n;
    return o->alloc((n ? n : 1) * sizeof(real));
}

/* Token buffers for R rows: host copies, and the backend's. */
static void grow_tokens(struct model *m, size_t R) {
    if (R <= m->cap_R) return;
    const struct ops *o = m->ops;
    free(m->tokens), free(m->targets);
    m->tokens = xcalloc(R, sizeof(int32_t));
    m->targets = xcalloc(R, sizeof(int32_t));
    if (o->host_memory) {
        m->dtokens = m->tokens, m->dtargets = m->targets;
    } else {
        o->free(m->dtokens), o->free(m->dtargets);
        m->dtokens = o->alloc(R * sizeof(int32_t)), m->dtargets = o->alloc(R * sizeof(int32_t));
    }
    m->cap_R = R;
}

/* Views for shape (B, L). Buffers only grow, so the partial last batch of an
 * epoch and the evaluation batches do not reallocate (and re-fault) megabytes. */
static void ensure_arena(struct model *m, int B, int L) {
    if (m->arena && B == m->cap_B && L == m->cap_L) return;
    struct carver c = {NULL, 0};
    layout_arena(m, &c, B, L);
    m->arena = grow(m->ops, m->arena, &m->arena_cap, c.used);
    c = (struct carver){m->arena, 0};
    layout_arena(m, &c, B, L);
    const size_t R = (size_t)B * L;
    m->garena = grow(m->ops, m->garena, &m->garena_cap, garena_size(m, R));
    size_t sn = 1;
    for (int i = 0; i < m->cfg.n_layer; i++) {
        size_t s = m->kind->scratch_size(m->layer[i], B, L);
        if (s > sn) sn = s;
    }
    m->scratch = grow(m->ops, m->scratch, &m->scratch_n, sn);
    grow_tokens(m, R);
    m->cap_B = B, m->cap_L = L;
}

/* ---- forward ---- */

/* x[0] (=) dropout(E[tokens] (+ P[pos])) with a counter-based mask: element
 * i kept iff its uniform draw is >= p (inverted dropout). */
static void embed_fwd(struct model *m, const struct model_batch *b) {
    const struct ops *o = m->ops;
    const int D = m->cfg.d_model;
    struct embed_args e = {b->B * b->L, b->L, D, m->cfg.vocab, m->dtokens, m->dp + m->emb,
                           m->has_pos ? m->dp + m->pos : NULL, m->embed};
    o->embed(&e);
    size_t n = (size_t)b->B * b->L * D;
    double p = m->cfg.embed_dropout;
    if (!b->training || p == 0) {
        ops_copy(o, m->x[0], m->embed, n);
        return;
    }
    struct dropout_args d = {n, 0, p, b->seed, dropout_stream(b->step, 0), m->embed, m->x[0]};
    o->dropout(&d);
}

static void layernorm(const struct ops *ops, int R, int D, double eps, const real *x, const real *w, const real *bb,
                      real *y, real *mean, real *rstd) {
    struct layernorm_args a = {R, D, (real)eps, x, w, bb, y, mean, rstd};
    ops->layernorm(&a);
}

static void block_fwd(struct model *m, const struct ops *ops, int i, const struct model_batch *b) {
    const int R = b->B * b->L, D = m->cfg.d_model, F = m->cfg.d_inner;
    const struct block_off *o = &m->blk[i];
    struct block_act *a = &m->act[i];
    const real *x = m->x[i];
    layernorm(ops, R, D, m->cfg.ln_eps, x, m->dp + o->n1w, m->dp + o->n1b, a->ln1, a->ln1_mean, a->ln1_rstd);
    struct layer_fwd lf = {b->B, b->L, a->ln1, a->mix, m->dp, a->layer, m->scratch, b->training,
                           b->seed, dropout_stream(b->step, 1 + i)};
    m->kind->forward(m->layer[i], ops, &lf);
    ops_add(ops, a->r, x, a->mix, (size_t)R * D);
    layernorm(ops, R, D, m->cfg.ln_eps, a->r, m->dp + o->n2w, m->dp + o->n2b, a->ln2, a->ln2_mean, a->ln2_rstd);
    struct linear_args fc1 = {R, D, F, m->dp + o->fc1w, m->dp + o->fc1b};
    struct linear_args fc2 = {R, F, D, m->dp + o->fc2w, m->dp + o->fc2b};
    linear_fwd(ops, &fc1, a->ln2, a->h1);
    struct gelu_args g = {(size_t)R * F, GELU_TANH, a->h1, a->h2};
    ops->gelu(&g);
    linear_fwd(ops, &fc2, a->h2, a->mlp);
    ops_add(ops, m->x[i + 1], a->r, a->mlp, (size_t)R * D);
}

/* The model's tensors live on m->ops; a caller's table must be it (or share host memory with it). */
static void check_ops(const struct model *m, const struct ops *ops) {
    if (ops != m->ops && !(ops->host_memory && m->ops->host_memory))
        hp_die("model: called with the '%s' backend, but its tensors live on '%s' (model_bind)", ops->name,
               m->ops->name);
}

/* The batch's tokens (checked) and targets into the model's buffers, host and backend. */
static void load_batch(struct model *m, const struct model_batch *b) {
    const size_t R = (size_t)b->B * b->L;
    for (size_t i = 0; i < R; i++) HP_CHECK(b->tokens[i] >= 0 && b->tokens[i] < m->cfg.vocab);
    memcpy(m->tokens, b->tokens, R * sizeof(int32_t));
    m->has_targets = b->targets != NULL;
    if (b->targets) memcpy(m->targets, b->targets, R * sizeof(int32_t));
    if (m->ops->host_memory) return;
    m->ops->upload(m->dtokens, m->tokens, R * sizeof(int32_t));
    if (b->targets) m->ops->upload(m->dtargets, m->targets, R * sizeof(int32_t));
}

double model_forward(struct model *m, const struct ops *ops, const struct model_batch *b) {
    HP_CHECK(b->L >= 1 && b->L <= m->cfg.max_L && b->B >= 1);
    check_ops(m, ops);
    ensure_arena(m, b->B, b->L);
    const int R = b->B * b->L, D = m->cfg.d_model, V = m->cfg.vocab;
    m->B = b->B, m->L = b->L, m->training = b->training, m->seed = b->seed, m->step = b->step;
    load_batch(m, b);
    embed_fwd(m, b);
    for (int i = 0; i < m->cfg.n_layer; i++) block_fwd(m, ops, i, b);
    layernorm(ops, R, D, m->cfg.ln_eps, m->x[m->cfg.n_layer], m->dp + m->lnfw, m->dp + m->lnfb, m->lnf, m->lnf_mean,
              m->lnf_rstd);
    /* Tied head: logits = lnf Eᵀ (no bias). */
    ops_gemm(ops, OP_N, OP_T, R, V, D, 1, m->lnf, D, m->dp + m->emb, D, 0, m->logits, V);
    m->loss = 0, m->count = 0;
    if (b->targets) {
        struct xent_args x = {R, V, m->logits, m->dtargets, &m->loss, &m->count, m->probs};
        ops->xent(&x);
    }
    return m->loss;
}

/* ---- backward ---- */

static void layernorm_bwd(const struct ops *ops, int R, int D, double eps, const real *x, const real *w,
                          real *mean, real *rstd, const real *dy, real *dx, real *dw, real *db) {
    struct layernorm_bwd_args a = {{R, D, (real)eps, x, w, NULL, NULL, mean, rstd}, dy, dx, dw, db};
    ops->layernorm_bwd(&a);
}

/* On entry dx holds dL/dx_{i+1}; on exit dL/dx_i. t1, t2 are (R, D); tf, tg are (R, F). */
static void block_bwd(struct model *m, const struct ops *ops, int i, real *dx, real *t1, real *t2, real *tf,
                      real *tg) {
    const int R = m->B * m->L, D = m->cfg.d_model, F = m->cfg.d_inner;
    const struct block_off *o = &m->blk[i];
    struct block_act *a = &m->act[i];
    real *g = m->dg;
    /* MLP: dx flows to fc2's output. */
    struct linear_args fc1 = {R, D, F, m->dp + o->fc1w, m->dp + o->fc1b};
    struct linear_args fc2 = {R, F, D, m->dp + o->fc2w, m->dp + o->fc2b};
    linear_bwd(ops, &fc2, a->h2, dx, tf, g + o->fc2w, g + o->fc2b);
    struct gelu_bwd_args gb = {{(size_t)R * F, GELU_TANH, a->h1, a->h2}, tf, tg};
    ops->gelu_bwd(&gb);
    linear_bwd(ops, &fc1, a->ln2, tg, t1, g + o->fc1w, g + o->fc1b);
    layernorm_bwd(ops, R, D, m->cfg.ln_eps, a->r, m->dp + o->n2w, a->ln2_mean, a->ln2_rstd, t1, t2, g + o->n2w,
                  g + o->n2b);
    ops_acc(ops, dx, t2, (size_t)R * D); /* dL/dr */
    struct layer_bwd lb = {m->B, m->L, a->ln1, dx, t1, m->dp, g, a->layer, m->scratch, m->training,
                           m->seed, dropout_stream(m->step, 1 + i)};
    m->kind->backward(m->layer[i], ops, &lb);
    layernorm_bwd(ops, R, D, m->cfg.ln_eps, m->x[i], m->dp + o->n1w, a->ln1_mean, a->ln1_rstd, t1, t2, g + o->n1w,
                  g + o->n1b);
    ops_acc(ops, dx, t2, (size_t)R * D); /* dL/dx_i */
}

/* dx is dL/dx0 after dropout; tmp is (R, D) scratch. */
static void embed_bwd(struct model *m, const real *dx, real *tmp) {
    const struct ops *o = m->ops;
    const int D = m->cfg.d_model;
    double p = m->cfg.embed_dropout;
    if (m->training && p > 0) {
        struct dropout_args d = {(size_t)m->B * m->L * D, 0, p, m->seed, dropout_stream(m->step, 0), dx, tmp};
        o->dropout(&d);
        dx = tmp;
    }
    struct embed_bwd_args e = {
        .f = {m->B * m->L, m->L, D, m->cfg.vocab, m->dtokens, m->dp + m->emb, m->has_pos ? m->dp + m->pos : NULL, NULL},
        .dy = dx, .dE = m->dg + m->emb, .dP = m->has_pos ? m->dg + m->pos : NULL};
    o->embed_bwd(&e);
}

void model_backward(struct model *m, const struct ops *ops) {
    HP_CHECK(m->has_targets);
    check_ops(m, ops);
    const int R = m->B * m->L, D = m->cfg.d_model, V = m->cfg.vocab;
    size_t w = (size_t)(D > V ? D : V);
    real *dx = m->garena, *t1 = dx + (size_t)R * w, *t2 = t1 + (size_t)R * w, *tf = t2 + (size_t)R * w;
    real *tg = tf + (size_t)R * m->cfg.d_inner;
    /* dlogits goes in t2 (R, V), then dlnf into t1, then dx. */
    struct xent_bwd_args xb = {{R, V, m->logits, m->dtargets, NULL, NULL, NULL}, m->probs, 1, t2};
    ops->xent_bwd(&xb);
    ops_gemm(ops, OP_N, OP_N, R, D, V, 1, t2, V, m->dp + m->emb, D, 0, t1, D);
    ops_gemm(ops, OP_T, OP_N, V, D, R, 1, t2, V, m->lnf, D, 1, m->dg + m->emb, D);
    layernorm_bwd(ops, R, D, m->cfg.ln_eps, m->x[m->cfg.n_layer], m->dp + m->lnfw, m->lnf_mean, m->lnf_rstd, t1, dx,
                  m->dg + m->lnfw, m->dg + m->lnfb);
    for (int i = m->cfg.n_layer - 1; i >= 0; i--) block_bwd(m, ops, i, dx, t1, t2, tf, tg);
    embed_bwd(m, dx, t1);
}

const real *model_tap(const struct model *m, enum model_tap tap, int layer) {
    HP_CHECK(layer >= 0 && layer < m->cfg.n_layer);
    switch (tap) {
    case TAP_EMBED: return m->embed;
    case TAP_MIXER_IN: return m->act[layer].ln1;
    case TAP_MIXER_OUT: return m->act[layer].mix;
    case TAP_MLP_OUT: return m->act[layer].mlp;
    case TAP_BLOCK: return m->x[layer + 1];
    case TAP_LN_F: return m->lnf;
    case TAP_LOGITS: return m->logits;
    }
    return NULL;
}

const void *model_layer(const struct model *m, int i) {
    HP_CHECK(i >= 0 && i < m->cfg.n_layer);
    return m->layer[i];
}

const real *model_tap_host(struct model *m, enum model_tap tap, int layer) {
    const real *t = model_tap(m, tap, layer);
    if (m->ops->host_memory) return t;
    size_t n = (size_t)m->B * m->L * (tap == TAP_LOGITS ? m->cfg.vocab : m->cfg.d_model);
    if (n > m->tap_cap) {
        free(m->tap_host);
        m->tap_host = xmalloc(n * sizeof(real));
        m->tap_cap = n;
    }
    m->ops->download(m->tap_host, t, n * sizeof(real));
    return m->tap_host;
}

const real *model_layer_act(const struct model *m, int i) {
    HP_CHECK(i >= 0 && i < m->cfg.n_layer && m->arena);
    return m->act[i].layer;
}
