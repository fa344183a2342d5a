/* gss.h — internal to the Gated State Spaces layer (models/gss.c) and its
 * tests: the DSS convolution kernel on its own, so it can be checked against a
 * direct complex sum and against the PyTorch fixture
 * (tests/fixtures/ours/gss.safetensors, `kernel/layer{i}/gss`). The layer
 * itself is reached through layer_gss.
 *
 * Shapes: H DSS channels (d_ssm), N modes (d_state), L length. */
#ifndef HIPPO_GSS_H
#define HIPPO_GSS_H

#include "../kernels/ops.h"

/* K (H, L) (=): Re sum_{n<N} C[h,n] (exp(Lambda_n) - 1)/Lambda_n exp(Lambda_n l),
 * Lambda_n = -exp(Lambda_re_log[n]) + i Lambda_im[n], from the parameters of
 * `self` (a layer_gss instance) in the flat parameter buffer p. */
void gss_kernel(const void *self, const struct ops *ops, const real *p, int L, real *K);

#endif
