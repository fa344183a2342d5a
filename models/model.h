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
real *model_param_data(struct model *m); /* flat (P) */
real *model_grad_data(struct model *m);  /* flat (P) */
const struct model_cfg *model_config(const struct model *m);
size_t model_state_size(const struct model *m, int L); /* recurrent state per sequence, all layers */

/* Forward; returns the mean loss over scored positions (0 when targets is NULL).
 * Allocates activations on first use and when B*L grows. */
double model_forward(struct model *m, const struct ops *ops, const struct model_batch *b);
/* Backward of the last forward's loss; gradients accumulate (+=) into model_grad_data. */
void model_backward(struct model *m, const struct ops *ops);
void model_zero_grad(struct model *m);
const real *model_tap(const struct model *m, enum model_tap tap, int layer);

#endif
