/* adamw.c — one AdamW step over a contiguous run of parameters on the CPU
 * (ops.h adamw): PyTorch's arithmetic, one sqrt and one division per element. */
#include <math.h>

#include "cpu.h"

#ifdef HIPPO_F64
#define sqrt_r sqrt
#else
#define sqrt_r sqrtf /* sqrt() would widen each element to double: 2x the cost per vector */
#endif

/* The loop as models/adamw.c has always compiled it (restrict parameters:
 * the decayed p stays in a register and its update is one fused
 * multiply-subtract), so results keep their bits. */
static void update(const struct adamw_args *k, real *restrict p, const real *restrict g, real *restrict m,
                   real *restrict v, size_t n) {
    const real decay = k->decay, b1 = k->b1, b2 = k->b2, step = k->step, is2 = k->inv_sqrt_c2, eps = k->eps;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        p[i] *= decay;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= step * m[i] / (sqrt_r(v[i]) * is2 + eps);
    }
}

void cpu_adamw(const struct adamw_args *a) { update(a, a->p, a->g, a->m, a->v, a->n); }
