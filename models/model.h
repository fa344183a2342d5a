/* model.h — the language model: tied embedding, n pre-norm blocks, final LN, tied head.
 *
 *   x0 = E[ids] (+ P[pos] when the layer kind asks for position embeddings)
 *   x0 = dropout(x0, embed_dropout)
 *   block i:  r = x_i + Mixer_i(LN1(x_i));  x_{i+1} = r + fc2(gelu_tanh(fc1(LN2(r))))
 *   logits = LN_f(x_n) E^T
 *   loss   = mean cross-entropy over positions whose target >= 0
 *
 * Shapes: B batch, L length, D d_model, V vocabulary, F = d_inner (4D).
 * Parameter names follow the authors' reference ("backbone.embeddings.word_embeddings.weight",
 * "backbone.layers.{i}.norm1.weight", ..., "backbone.ln_f.bias"). */
#ifndef HIPPO_MODEL_H
#define HIPPO_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/knob.h"
#include "../kernels/ops.h"
#include "layer.h"
#include "params.h"

#define MODEL_MAX_LAYERS 16

struct model_cfg {
    int vocab;             /* V */
    int d_model;           /* D */
    int n_layer;
    int d_inner;           /* F, MLP width */
    int max_L;             /* longest model input L */
    int n_pos;             /* position-embedding rows when the layer asks for them; 0 = max_L.
                              The reference uses seq_len + 2 (32 for induction head L30). */
    double embed_dropout;  /* 0.1 in the paper configs */
    double ln_eps;         /* 1e-5 */
    const struct layer_kind *kind;
    struct knob_values layer_knobs;
    int short_conv;        /* taps of a depthwise causal conv in front of every mixer; 0 = none */
};

struct model_batch {
    int B, L;
    const int32_t *tokens;  /* (B, L) */
    const int32_t *targets; /* (B, L), -1 = not scored; NULL = no loss */
    bool training;          /* dropout on */
    uint64_t seed;          /* dropout keys: (seed, step) */
    uint64_t step;
};

/* Hidden states kept by the last forward, for tests and inspection. */
enum model_tap {
    TAP_EMBED,     /* (B, L, D) after embedding (+pos), before dropout */
    TAP_MIXER_IN,  /* (B, L, D) LN1 output of block `layer` */
    TAP_MIXER_OUT, /* (B, L, D) mixer output of block `layer` */
    TAP_MLP_OUT,   /* (B, L, D) MLP output of block `layer` */
    TAP_BLOCK,     /* (B, L, D) residual stream after block `layer` */
    TAP_LN_F,      /* (B, L, D) */
    TAP_LOGITS,    /* (B, L, V) */
};

struct model;

struct model *model_create(const struct model_cfg *cfg, char *err, size_t errlen);
void model_free(struct model *m);
/* Generic inits (N(0, 0.02) weights, zero biases, unit LN, fc2/out_proj scaled)
 * then each layer's custom init; deterministic in seed. */
void model_init(struct model *m, uint64_t seed);

const struct param_table *model_params(const struct model *m);
/* Host copies of the flat (P) buffers (what checkpoints read and write). With
 * the CPU backend they are the tensors themselves; bound to a backend with
 * its own memory they are mirrors: model_sync_host refreshes both from the
 * backend, model_sync_device sends the host parameters there after they were
 * written (model_init does it itself). */
real *model_param_data(struct model *m);
real *model_grad_data(struct model *m);
void model_sync_host(struct model *m);
void model_sync_device(struct model *m);

/* The backend the model's tensors (parameters, gradients, activations) live
 * on: ops_cpu() from model_create, until model_bind moves them (the host
 * parameters and gradients are uploaded; activations are reallocated on
 * first use). forward/backward must then be called with that table (or, for
 * the CPU backend, any table with host memory). */
void model_bind(struct model *m, const struct ops *ops);
const struct ops *model_ops(const struct model *m);
real *model_param_dev(struct model *m); /* (P) on the backend */
real *model_grad_dev(struct model *m);  /* (P) on the backend */
/* Every gradient finite (the ops table's finite check on the backend). */
bool model_grads_finite(const struct model *m);
const struct model_cfg *model_config(const struct model *m);
size_t model_state_size(const struct model *m, int L); /* recurrent state per sequence, all layers */
/* The kind every block runs: cfg.kind, or its short-conv wrapper when cfg.short_conv > 0. */
const struct layer_kind *model_kind(const struct model *m);

/* Forward; returns the mean loss over scored positions (0 when targets is NULL).
 * Allocates activations on first use and when B*L grows. */
double model_forward(struct model *m, const struct ops *ops, const struct model_batch *b);
/* Backward of the last forward's loss; gradients accumulate (+=) into model_grad_data. */
void model_backward(struct model *m, const struct ops *ops);
void model_zero_grad(struct model *m);
const real *model_tap(const struct model *m, enum model_tap tap, int layer); /* on the backend */
/* The same in host memory: the tap itself with host memory, else a download
 * into a buffer the model owns (valid until the next call). */
const real *model_tap_host(struct model *m, enum model_tap tap, int layer);
/* Block i's layer instance and the activations its last forward left (act_size reals). */
const void *model_layer(const struct model *m, int i);
const real *model_layer_act(const struct model *m, int i);

/* ---- recurrent inference (models/model_step.c, spec/h3.md §1.7) ----
 * A prompt is consumed in convolution mode (the normal forward) and every
 * layer's state set from it; then one token per sequence at a time, the
 * embedding (+ the position row of the token's position), each block with its
 * layer's step, LN_f and the tied head. Each step gives the logits the full
 * forward gives at that position. */
struct model_state;

/* States and step buffers for B sequences of up to L positions, empty (zero).
 * NULL with err when the layer kind has no recurrent step, or when L exceeds
 * the position-embedding rows. */
struct model_state *model_state_create(struct model *m, int B, int L, char *err, size_t errlen);
void model_state_free(struct model_state *s);
/* Tokens consumed so far (the next token's position). */
int model_state_pos(const struct model_state *s);
/* Reals allocated for the layers' states per sequence (= model_state_size(m, L)). */
size_t model_state_reals(const struct model_state *s);
/* Consume a prompt tokens (B, P), 1 <= P <= min(L, max_L), from an empty
 * state; returns the logits (B, V) after its last token (valid until the next
 * call). The model's forward activations are overwritten. */
const real *model_prefill(struct model *m, const struct ops *ops, struct model_state *s, const int32_t *tokens,
                          int P);
/* One token per sequence, tokens (B), at position model_state_pos(s) < L;
 * returns the logits (B, V) (valid until the next call). */
const real *model_step(struct model *m, const struct ops *ops, struct model_state *s, const int32_t *tokens);

#endif
