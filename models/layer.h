/* layer.h — the layer registry: how a sequence-mixing layer plugs in.
 *
 * A layer kind is one `struct layer_kind` in its own file (models/<name>.c)
 * plus one line in models/registry.c. The model calls it inside a pre-norm
 * block: y = Mixer(LN1(x)). Every tensor a layer reads or writes in forward
 * and backward is reached through the ops table (the tensors live in the
 * backend's memory: x, y, p, g, act and scratch alike), so it runs on any
 * backend that fills the table. The recurrent mode (state_init, step) still
 * works on host memory: the CPU backend only.
 *
 * Shapes: B batch, L length, D d_model. x and y are (B, L, D) row-major.
 * Every registered layer is put through the generic checks in
 * tests/f64/test_layers.c (finite-difference gradients, causality,
 * determinism) with no extra code; one with a recurrent step also through
 * tests/test_step.c (step = forward token by token, state from a prompt,
 * state_size = the buffer step uses, the whole model's prefill + step). */
#ifndef HIPPO_LAYER_H
#define HIPPO_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/base.h"
#include "../core/knob.h"
#include "../kernels/ops.h"
#include "params.h"

struct layer_dims {
    int D;         /* d_model */
    int max_L;     /* longest sequence the model will see */
    int n_layer;   /* blocks in the model (for init scaling) */
    int layer_idx; /* this block's index */
};

struct layer_fwd {
    int B, L;
    const real *x;  /* (B, L, D) input */
    real *y;        /* (B, L, D) output (=) */
    const real *p;  /* the model's flat parameter buffer */
    real *act;      /* act_size(B, L) reals owned by this layer until backward */
    real *scratch;  /* scratch_size(B, L) reals, not preserved across calls */
    bool training;  /* dropout on */
    uint64_t seed;  /* dropout masks: hp_hash(seed, stream, index) */
    uint64_t stream;
};

struct layer_bwd {
    int B, L;
    const real *x;   /* the forward's input */
    const real *dy;  /* (B, L, D) */
    real *dx;        /* (B, L, D) (=) */
    const real *p;
    real *g;         /* flat gradient buffer (+=) */
    real *act;       /* as left by the forward */
    real *scratch;
    bool training;
    uint64_t seed, stream;
};

/* Recurrent inference. One sequence's state is state_size(self, L) reals (S)
 * for sequences of up to L positions; B sequences' states lie one after
 * another, (B, S). */
struct layer_state_args {
    int B;
    int L;            /* positions the state was sized for: S = state_size(self, L) */
    real *state;      /* (B, S) (=) */
    const real *p;    /* the model's flat parameter buffer */
    /* The prompt, consumed in convolution mode (h3.md §1.7): 0 = none, the
     * state is empty (zero); else the state after its last token. */
    int prompt_L;     /* 0 <= prompt_L <= L */
    const real *x;    /* (B, prompt_L, D) the prompt's input to this layer */
    const real *act;  /* as left by forward(x) with training off, same B and prompt_L */
};

struct layer_step {
    int B;
    int t;            /* this token's position: tokens 0..t-1 are in the state; t < L */
    int L;            /* as in layer_state_args */
    const real *x;    /* (B, D) this token's input */
    real *y;          /* (B, D) output (=) */
    const real *p;
    real *state;      /* (B, S) updated in place */
    real *scratch;    /* step_scratch_size(self, B, L) reals, not preserved */
};

struct layer_kind {
    const char *name;
    const char *summary; /* one line for `hippodrome list` */
    const struct knob *knobs;
    int n_knobs;
    bool pos_emb; /* the model adds learned absolute position embeddings */

    /* Validate knobs against dims and declare parameters under `prefix`
     * (e.g. "backbone.layers.0.mixer."). NULL with a message on bad config. */
    void *(*create)(const struct knob_values *kv, const struct layer_dims *dims, struct param_table *pt,
                    const char *prefix, char *err, size_t errlen);
    /* Fill INIT_CUSTOM tensors (after the generic init). */
    void (*init)(const void *self, real *p, uint64_t seed);
    size_t (*act_size)(const void *self, int B, int L);
    size_t (*scratch_size)(const void *self, int B, int L);
    void (*forward)(const void *self, const struct ops *ops, const struct layer_fwd *a);
    void (*backward)(const void *self, const struct ops *ops, const struct layer_bwd *a);
    /* Recurrent state per sequence, in reals: exactly the buffer step() uses
     * (attention: its KV cache at length L). */
    size_t (*state_size)(const void *self, int L);
    /* Recurrent mode; all three NULL in a kind without it (the model then
     * refuses to generate). state_init empties the state or sets it from a
     * prompt run through forward(); step then consumes one token per sequence,
     * giving what forward() gives at that position. */
    void (*state_init)(const void *self, const struct ops *ops, const struct layer_state_args *a);
    size_t (*step_scratch_size)(const void *self, int B, int L);
    void (*step)(const void *self, const struct ops *ops, const struct layer_step *a);
    /* Optional: move the layer's constant tables (computed at create, not
     * parameters) into `ops`'s memory; the model calls it when it is bound to
     * a backend. Until then forward/backward read the host copies, which the
     * CPU backend takes directly. NULL: nothing to move. */
    void (*bind)(void *self, const struct ops *ops);
    void (*destroy)(void *self);
};

extern const struct layer_kind layer_attention;
extern const struct layer_kind layer_s4d;
extern const struct layer_kind layer_h3;
extern const struct layer_kind layer_gss;

/* The short-conv front (models/short_conv.c): a depthwise causal conv of
 * `taps` taps (1..SHORT_CONV_MAX) in front of any kind's mixer, itself a kind
 * (with a recurrent step when the mixer has one). create declares the mixer's
 * parameters, then short_conv.weight (D, 1, taps) and short_conv.bias (D). */
#define SHORT_CONV_MAX 64
const struct layer_kind *short_conv_kind(const struct layer_kind *inner);
void *short_conv_create(const struct layer_kind *inner, int taps, const struct knob_values *kv,
                        const struct layer_dims *dims, struct param_table *pt, const char *prefix, char *err,
                        size_t errlen);

/* NULL-terminated list of every registered kind. */
extern const struct layer_kind *const layer_kinds[];
const struct layer_kind *layer_find(const char *name);

#endif
