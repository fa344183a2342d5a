/* s4d.h — internal to the S4D layer (models/s4d.c) and its tests: the
 * layer's SSM convolution kernel on its own, so it can be checked against the
 * authors' stored kernels (tests/fixtures/reference/s4d.safetensors,
 * `kernel/layer{i}/s4d`). The layer itself is reached through layer_s4d. */
#ifndef HIPPO_S4D_H
#define HIPPO_S4D_H

#include "../kernels/ops.h"

/* Largest N/2 the layer accepts (d_state <= 1024); the recurrent mode keeps a channel's modes on the stack. */
#define S4D_MAX_N2 512

/* K (H, L) (=): the zero-order-hold kernel 2 Re sum_n C[h,n] (exp(dt A_n) - 1)/A_n
 * exp(dt A_n l) from the parameters of `self` (a layer_s4d instance) in the flat
 * parameter buffer p. */
void s4d_kernel(const void *self, const struct ops *ops, const real *p, int L, real *K);

#endif
