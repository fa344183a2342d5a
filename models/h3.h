/* h3.h — internal to the H3 layer (models/h3.c) and its tests: the layer's two
 * SSM convolution kernels on their own, so they can be checked against the
 * authors' stored kernels (tests/fixtures/reference/h3*.safetensors,
 * `kernel/layer{i}/shift` and `kernel/layer{i}/diag`). The layer itself is
 * reached through layer_h3.
 *
 * Shapes: D d_model (shift channels), H = D / head_dim heads (diagonal
 * channels), N d_state, N2 = N/2 stored complex modes, L length. */
#ifndef HIPPO_H3_H
#define HIPPO_H3_H

#include "../kernels/ops.h"

/* Shift SSM kernel, K (D, Lk) (=), Lk <= N:
 *   K[c, j] = sum_{n=0}^{N-1-j} B[c, n] C[c, n+j]   (= C A^j B for the shift matrix A)
 * B (D, N), C (D, N). */
void h3_shift_kernel(int D, int N, int Lk, const real *B, const real *C, real *K);

/* Its backward: dB, dC (D, N) (+=) from dK (D, Lk). */
void h3_shift_kernel_bwd(int D, int N, int Lk, const real *B, const real *C, const real *dK, real *dB,
                         real *dC);

/* Diagonal SSM kernel of `self` (a layer_h3 instance) from the flat parameter
 * buffer p: K (H, L) (=); A_re (H, N2) (=) receives -exp(inv_A_real). */
void h3_diag_kernel(const void *self, const struct ops *ops, const real *p, int L, real *A_re, real *K);

/* Both kernels for tests: K_shift (D, L) (=) zero beyond min(N, L) taps,
 * K_diag (H, L) (=). Allocates its own temporaries. */
void h3_kernels(const void *self, const struct ops *ops, const real *p, int L, real *K_shift, real *K_diag);

#endif
