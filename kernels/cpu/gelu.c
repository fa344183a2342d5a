/* gelu.c — GELU, tanh approximation and exact (erf) forms, and their derivatives. */
#include "cpu.h"
#include "vmath.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define SQRT_2_OVER_PI 0.7978845608028654
#define GELU_C3 0.044715
#define INV_SQRT2 0.7071067811865476
#define INV_SQRT_2PI 0.3989422804014327

/* The MLP's tanh GELU runs on (B*L, 4D) elements twice per step; with libm's
 * scalar tanh it was the largest cost of a training step (vmath.h). */
#define tanh_r vm_tanh

static inline real gelu_tanh(real x) {
    real t = tanh_r((real)SQRT_2_OVER_PI * (x + (real)GELU_C3 * x * x * x));
    return (real)0.5 * x * (1 + t);
}
static inline real gelu_tanh_grad(real x) {
    real t = tanh_r((real)SQRT_2_OVER_PI * (x + (real)GELU_C3 * x * x * x));
    return (real)0.5 * (1 + t) +
           (real)0.5 * x * (1 - t * t) * (real)SQRT_2_OVER_PI * (1 + (real)(3.0 * GELU_C3) * x * x);
}
/* The same derivative from the forward's output y = x s, s = (1 + t)/2:
 * s = y / x, 1 - t^2 = 4 s (1 - s), so no tanh is evaluated again. Near x = 0
 * (|x| < 1e-3, where y / x loses digits) s = (1 + u)/2 to first order in u,
 * whose error (u^3/6 < 1e-10) is far below float resolution. */
static inline real gelu_tanh_grad_from_y(real x, real y) {
    real u = (real)SQRT_2_OVER_PI * (x + (real)GELU_C3 * x * x * x);
    real s = fabs(x) < (real)1e-3 ? (real)0.5 * (1 + u) : y / x;
    return s + 2 * x * s * (1 - s) * (real)SQRT_2_OVER_PI * (1 + (real)(3.0 * GELU_C3) * x * x);
}
/* The exact form (S4D) through vmath.h too: libm erf in double made S4D's step
 * the slowest of the three layers. */
static inline real gelu_erf(real x) { return (real)0.5 * x * (1 + vm_erf(x * (real)INV_SQRT2)); }
static inline real gelu_erf_grad(real x) {
    return (real)0.5 * (1 + vm_erf(x * (real)INV_SQRT2)) + x * vm_exp_nonpos((real)-0.5 * x * x) * (real)INV_SQRT_2PI;
}
/* The same from the forward's output y = x Phi(x): Phi = y / x, so no erf is
 * evaluated again. Near x = 0 (|x| < 1e-3) Phi = 1/2 + x phi(0) to first
 * order, whose error (|x|^3 / 15 < 1e-10) is far below float resolution. */
static inline real gelu_erf_grad_from_y(real x, real y) {
    real phi = vm_exp_nonpos((real)-0.5 * x * x) * (real)INV_SQRT_2PI;
    real P = fabs(x) < (real)1e-3 ? (real)0.5 + x * (real)INV_SQRT_2PI : y / x;
    return P + x * phi;
}

/* Every form runs in blocks: a plain simd loop per block (GCC vectorises it;
 * `parallel for simd` fell back to scalar code), blocks across threads. A
 * block function gets the input x, the forward output y and the upstream
 * gradient dy (NULL where unused) and writes `out`. */
enum { GELU_BLOCK = 4096 };

typedef void (*gelu_block_fn)(const real *restrict x, const real *restrict y, const real *restrict dy,
                              real *restrict out, ptrdiff_t n);

static void tanh_fwd(const real *restrict x, const real *restrict y, const real *restrict dy, real *restrict out,
                     ptrdiff_t n) {
    (void)y, (void)dy;
#pragma omp simd
    for (ptrdiff_t i = 0; i < n; i++) out[i] = gelu_tanh(x[i]);
}

static void tanh_bwd(const real *restrict x, const real *restrict y, const real *restrict dy, real *restrict out,
                     ptrdiff_t n) {
    (void)y;
#pragma omp simd
    for (ptrdiff_t i = 0; i < n; i++) out[i] = gelu_tanh_grad(x[i]) * dy[i];
}

static void tanh_bwd_from_y(const real *restrict x, const real *restrict y, const real *restrict dy,
                            real *restrict out, ptrdiff_t n) {
#pragma omp simd
    for (ptrdiff_t i = 0; i < n; i++) out[i] = gelu_tanh_grad_from_y(x[i], y[i]) * dy[i];
}

static void erf_fwd(const real *restrict x, const real *restrict y, const real *restrict dy, real *restrict out,
                    ptrdiff_t n) {
    (void)y, (void)dy;
#pragma omp simd
    for (ptrdiff_t i = 0; i < n; i++) out[i] = gelu_erf(x[i]);
}

static void erf_bwd(const real *restrict x, const real *restrict y, const real *restrict dy, real *restrict out,
                    ptrdiff_t n) {
    (void)y;
#pragma omp simd
    for (ptrdiff_t i = 0; i < n; i++) out[i] = gelu_erf_grad(x[i]) * dy[i];
}

static void erf_bwd_from_y(const real *restrict x, const real *restrict y, const real *restrict dy,
                           real *restrict out, ptrdiff_t n) {
#pragma omp simd
    for (ptrdiff_t i = 0; i < n; i++) out[i] = gelu_erf_grad_from_y(x[i], y[i]) * dy[i];
}

static void run_blocks(gelu_block_fn fn, const real *x, const real *y, const real *dy, real *out, ptrdiff_t n) {
    ptrdiff_t nb = (n + GELU_BLOCK - 1) / GELU_BLOCK;
#pragma omp parallel for schedule(static) if (cpu_par(5.0 * n))
    for (ptrdiff_t b = 0; b < nb; b++) {
        ptrdiff_t o = b * GELU_BLOCK, len = n - o < GELU_BLOCK ? n - o : GELU_BLOCK;
        fn(x + o, y ? y + o : NULL, dy ? dy + o : NULL, out + o, len);
    }
}

void cpu_gelu(const struct gelu_args *a) {
    run_blocks(a->kind == GELU_TANH ? tanh_fwd : erf_fwd, a->x, NULL, NULL, a->y, (ptrdiff_t)a->n);
}

void cpu_gelu_bwd(const struct gelu_bwd_args *a) {
    gelu_block_fn fn = a->f.kind == GELU_ERF ? (a->f.y ? erf_bwd_from_y : erf_bwd) : a->f.y ? tanh_bwd_from_y : tanh_bwd;
    run_blocks(fn, a->f.x, a->f.y, a->dy, a->dx, (ptrdiff_t)a->f.n);
}
