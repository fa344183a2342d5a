/* vmath.h — elementwise math the CPU ops vectorise (internal to kernels/cpu).
 *
 * libm's exp and tanh are scalar calls, so loops over them never vectorise;
 * for the float build these are inline versions GCC can vectorise. The double
 * build is the reference and keeps libm. Accuracy of the float versions:
 * relative error ~2e-7 (a few ulp), checked in tests/test_ops_dense.c through the
 * ops that use them. */
#ifndef HIPPO_VMATH_H
#define HIPPO_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../../core/base.h"

#ifdef HIPPO_F64
static inline real vm_exp_nonpos(real z) { return exp(z); }
static inline real vm_tanh(real u) { return tanh(u); }
static inline real vm_erf(real x) { return erf(x); }
#else
/* exp(z) for z <= 0: Cody-Waite reduction z = n ln2 + r and a degree-6 Taylor
 * polynomial on [-ln2/2, ln2/2]; z below -87 clamps (exp(-87) ~ 1.6e-38, zero
 * next to any O(1) term it is added to). */
static inline float vm_exp_nonpos(float z) {
    z = z < -87.0f ? -87.0f : z;
    float n = rintf(z * 1.44269504088896341f);
    float r = z - n * 0.693145751953125f - n * 1.42860682030941723212e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    /* (int32_t)NaN is undefined: a NaN z gives n = 0 here, and p is NaN anyway, so NaN still comes out. */
    int32_t bits = ((int32_t)(n == n ? n : 0.0f) + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* tanh|u| = (1 - e)/(1 + e), e = exp(-2|u|): absolute error ~2e-7 everywhere. */
static inline float vm_tanh(float u) {
    float e = vm_exp_nonpos(-2.0f * fabsf(u));
    return copysignf((1.0f - e) / (1.0f + e), u);
}

/* erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, about float's own
 * resolution next to 1 + erf): one division and one exp. */
static inline float vm_erf(float x) {
    float a = fabsf(x), t = 1.0f / (1.0f + 0.3275911f * a);
    float p = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    return copysignf(1.0f - p * vm_exp_nonpos(-a * a), x);
}
#endif

#endif
