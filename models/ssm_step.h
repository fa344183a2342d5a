/* ssm_step.h — internal to models/: what the recurrent modes of the diagonal
 * SSM layers (s4d.c, h3_ssm.c, gss.c) share. Complex numbers stored as (re,
 * im) pairs of `real`, and a mode's discrete pair for z <- Abar z + Bbar u,
 * in double as the kernel op computes it:
 *   bilinear: Abar = (1 + dt a/2)/(1 - dt a/2), Bbar = dt/(1 - dt a/2)
 *   ZOH:      Abar = exp(dt a),                  Bbar = (exp(dt a) - 1)/a
 * (times the mode's B, where the layer has one). Include after any header
 * with a field named I (complex.h defines I; values here use CMPLX). */
#ifndef HIPPO_SSM_STEP_H
#define HIPPO_SSM_STEP_H

#include <complex.h>
#undef I

#include "../core/base.h"
#include "../kernels/ops.h"

static inline double complex ssm_cplx(const real *v) { return CMPLX((double)v[0], (double)v[1]); }

static inline void ssm_cplx_store(real *v, double complex z) {
    v[0] = (real)creal(z);
    v[1] = (real)cimag(z);
}

/* Abar and Bbar (=) of one mode a at step dt. */
static inline void ssm_disc_pair(enum ssm_disc disc, double dt, double complex a, double complex *abar,
                                 double complex *bbar) {
    double complex x = dt * a;
    if (disc == SSM_BILINEAR) {
        *abar = (1.0 + x / 2) / (1.0 - x / 2);
        *bbar = dt / (1.0 - x / 2);
    } else {
        *abar = cexp(x);
        *bbar = (*abar - 1.0) / a;
    }
}

#endif
