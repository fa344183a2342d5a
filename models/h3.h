/* h3.h — internal to the H3 layer (models/h3.c, models/h3_ssm.c) and its
 * tests: the layer's two SSM slots on their own, so their kernels can be
 * checked against stored ones (tests/fixtures/reference/h3*.safetensors,
 * `kernel/layer{i}/shift` and `kernel/layer{i}/diag`). The layer itself is
 * reached through layer_h3.
 *
 * Slot 1 filters k: H = D channels, skip `ssm_k_D`, tensors under
 * `ssm_k_kernel.kernel.`. Slot 2 filters the k~/v combination: H = D / d_h
 * channels, each shared by the d_h² entries of its head, skip `D`, tensors
 * under `kernel.kernel.`. Either slot holds a shift SSM (H3's slot 1) or a
 * diagonal SSM (H3's slot 2); the knob `ssm` chooses.
 *
 * Shapes: D d_model, H a slot's kernel channels, N d_state, N2 = N/2 stored
 * complex modes, L length. */
#ifndef HIPPO_H3_H
#define HIPPO_H3_H

#include "../kernels/ops.h"
#include "params.h"

enum h3_kind { H3_SHIFT, H3_DIAG };
enum h3_measure { H3_DIAG_LIN, H3_DIAG_INV };

struct h3_slot_cfg {
    enum h3_kind kind;
    int H, N;                /* kernel channels, state size (even) */
    enum ssm_disc disc;      /* diagonal only, as the next three */
    enum h3_measure measure;
    double dt_min, dt_max;
};

/* A slot's tensors as offsets into the flat parameter buffer.
 *   shift:    B (H, N) e1 init, SSM group; C (1, H, N) U(-1/sqrt N, 1/sqrt N)
 *   diagonal: C (1, H, N2, 2); log_dt (H); B (H, N2, 2); inv_A_real, A_imag (H, N2)
 * (declaration order = the authors' named_parameters() order). */
struct h3_slot {
    struct h3_slot_cfg c;
    int N2;
    size_t B, C, log_dt, inv_A, A_im;
    int i_log_dt; /* table index of log_dt: its init RNG sub-stream */
};

/* Declares the slot's kernel tensors under `prefix` (e.g.
 * "backbone.layers.0.mixer.ssm_k_kernel.kernel."). */
void h3_slot_declare(struct h3_slot *s, const struct h3_slot_cfg *c, struct param_table *pt, const char *prefix);

/* Fills the slot's INIT_CUSTOM tensors. */
void h3_slot_init(const struct h3_slot *s, real *p, uint64_t seed);

/* Kernel taps at length L: min(N, L) for a shift SSM (zero beyond), L for a diagonal one. */
int h3_slot_taps(const struct h3_slot *s, int L);

/* Reals of the A_re buffer a kernel call needs: H N2 (diagonal) or 0 (shift). */
size_t h3_slot_modes(const struct h3_slot *s);

struct h3_kernel_args {
    const real *p; /* flat parameter buffer */
    int L;
    real *A_re;    /* (H, N2) (=) -exp(inv_A_real), diagonal only; kept for the backward */
    real *K;       /* (H, taps) (=) */
};
void h3_slot_kernel(const struct h3_slot *s, const struct ops *ops, const struct h3_kernel_args *a);

struct h3_kernel_bwd_args {
    struct h3_kernel_args f; /* as in the forward (A_re and K filled) */
    const real *dK;          /* (H, taps) */
    real *dA_re;             /* (H, N2) scratch, diagonal only */
    real *G;                 /* flat gradient buffer (+=) */
};
void h3_slot_kernel_bwd(const struct h3_slot *s, const struct ops *ops, const struct h3_kernel_bwd_args *a);

/* ---- recurrent mode (spec/h3.md §1.7) ----
 * A slot channel's state is N reals:
 *   shift:    the register x (N), newest input in slot 0:
 *             x <- (0, x_0..x_{N-2}) + B u,  y = C·x + D u
 *   diagonal: N2 complex modes z (N2, 2) as (re, im):
 *             z <- Abar z + Bbar u,  y = 2 Re C·z + D u
 * (the authors' state layouts, tests/fixtures/reference/README.md §7), with
 * Abar, Bbar the kernel's discretisation, so that y_t is the convolution's
 * output at t. Channels c = 0..C-1, C = H group; channel c uses kernel row
 * c / group and skip D[c / group]. */
struct h3_slot_state {
    int B, group;
    const real *p;     /* flat parameter buffer */
    const real *skip;  /* (H) the slot's D */
    real *state;       /* channel c of sequence b at state + b stride + c N */
    size_t stride;     /* reals from one sequence's state to the next */
};

/* One token: u (B, C) -> y (B, C) (=), the state updated. */
void h3_slot_step(const struct h3_slot *s, const struct h3_slot_state *a, const real *u, real *y);

/* The state (=) after a prompt u (B, P, C), P >= 1:
 *   shift x[n] = sum_{j <= min(n, P-1)} B[n-j] u_{P-1-j},  diagonal z = sum_t Abar^{P-1-t} Bbar u_t. */
void h3_slot_prefill(const struct h3_slot *s, const struct h3_slot_state *a, int P, const real *u);

/* Both kernels of `self` (a layer_h3 instance) for tests, zero-padded to L
 * taps: K1 (D, L) slot 1's, K2 (H, L) slot 2's (=). */
void h3_kernels(const void *self, const struct ops *ops, const real *p, int L, real *K1, real *K2);

#endif
