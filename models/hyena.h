/* hyena.h — internal to the Hyena layer (models/hyena.c, models/hyena_filter.c)
 * and its tests: the implicit long filter on its own, so it can be checked
 * against a direct evaluation of its formula and against the PyTorch fixture
 * (tests/fixtures/ours/hyena.safetensors, `kernel/layer{i}/hyena`). The layer
 * itself is reached through layer_hyena; models/hyena.c states the operator,
 * its parameters and inits.
 *
 * The filter (spec/h3.md §6; Poli et al. 2023 §3.3), over positions
 * l = 0..L-1 of a layout for l_max positions (L <= l_max):
 *   z_l = (t_l, cos(f_k ω_l) k<bands, -sin(f_k ω_l) k<bands)   (E = emb_dim = 1 + 2 bands)
 *         t_l = l / (l_max - 1) (0 when l_max = 1), ω_l = 2π l / l_max,
 *         f_k = 1e-4 + k (bands - 1 - 1e-4) / (bands - 1)  (f_0 = 1e-4 when bands = 1)
 *         (the real and imaginary parts of exp(-i f_k ω_l))
 *   a_0 = z W_0ᵀ + b_0,  s_i = sin(freq ⊙ a_i),  a_i = s_{i-1} W_iᵀ + b_i  (W wide, i < n_lin - 1)
 *   r   = s_{n_lin-2} W_lastᵀ                  (L, D), no bias
 *   h[c, l] = r[l, c] exp(-t_l |δ_c|)          (D, L)
 *         δ_c = δ_slow + c (δ_fast - δ_slow) / (D - 1), δ_x = log(target) / x_decay_pct
 * One freq vector (W) is shared by every sine (the reference appends the same
 * Sin module after each hidden linear). The features and the window are fixed
 * tables computed in double at create time.
 *
 * Shapes: D channels (d_model), W MLP width (filter_order), E emb_dim, L length. */
#ifndef HIPPO_HYENA_H
#define HIPPO_HYENA_H

#include <stdbool.h>

#include "../kernels/ops.h"
#include "carve.h"
#include "layer.h"
#include "params.h"

#define HY_MAX_INNER 4                 /* hidden W x W layers of the filter MLP */
#define HY_MAX_LIN (HY_MAX_INNER + 2)  /* linears: E -> W, inner W -> W, W -> D */

extern const struct layer_kind layer_hyena;

enum hy_init {
    HY_INIT_TORCH, /* PyTorch module defaults: Linear weight and bias U(±1/sqrt(fan_in)) */
    HY_INIT_LM,    /* safari's lm_simple re-draw: every Linear weight N(0, 0.02²), its bias 0 */
};

struct hy_filter_cfg {
    int D, W, E, n_inner, l_max;
    double target, fast_pct, slow_pct; /* the window's decay rates */
    enum hy_init init;
};

struct hy_filter {
    int D, W, E, n_lin, l_max;
    real *feat;             /* (l_max, E) z */
    real *win;              /* (l_max, D) exp(-t_l |δ_c|) */
    real *feat_dev, *win_dev; /* the two on the bound backend (feat, win until hy_filter_bind) */
    const struct ops *dev;    /* that backend; NULL while unbound */
    size_t bias, freq;      /* filter_fn.bias (D), implicit_filter.1.freq (1, W) */
    size_t w[HY_MAX_LIN];   /* linear i: (out, in) */
    size_t b[HY_MAX_LIN];   /* its bias (out); the last linear has none */
    int in[HY_MAX_LIN], out[HY_MAX_LIN];
};

/* Declares filter_fn.bias and filter_fn.implicit_filter.* under `prefix` and
 * computes the fixed tables. hy_filter_free releases the tables. */
void hy_filter_declare(struct hy_filter *f, const struct hy_filter_cfg *c, struct param_table *pt,
                       const char *prefix);
void hy_filter_free(struct hy_filter *f);
/* Copies of the tables in `ops`'s memory (the layer's bind; none for host memory). */
void hy_filter_bind(struct hy_filter *f, const struct ops *ops);

/* freq (=) w everywhere (the only tensor with a custom init). */
void hy_filter_init(const struct hy_filter *f, real *p, double w);

/* One evaluation over L rows: hidden pre-activations a_i and sines s_i (L, W)
 * for i < n_lin - 1, and the filter h (D, L). */
struct hy_filter_act {
    real *a[HY_MAX_LIN], *s[HY_MAX_LIN];
    real *h;
};
void hy_filter_act_layout(const struct hy_filter *f, int L, struct carver *c, struct hy_filter_act *t);

/* Backward temporaries: r's gradient (L, D), two (L, W). */
struct hy_filter_work {
    real *dr, *d1, *d2;
};
void hy_filter_work_layout(const struct hy_filter *f, int L, struct carver *c, struct hy_filter_work *w);

/* t->h (=) and the hidden buffers from the parameters p; r (L, D) is a temporary. */
void hy_filter_fwd(const struct hy_filter *f, const struct ops *ops, const real *p, int L,
                   const struct hy_filter_act *t, real *r);

/* From dh (D, L): every filter MLP gradient into G (+=), through t as the forward left it. */
void hy_filter_bwd(const struct hy_filter *f, const struct ops *ops, const real *p, int L,
                   const struct hy_filter_act *t, const real *dh, const struct hy_filter_work *w, real *G);

/* The filter h (D, L) (=) of `self` (a layer_hyena instance), for tests. */
void hyena_filter(const void *self, const struct ops *ops, const real *p, int L, real *h);

#endif
