/* ops_testutil.h — what the op suites (test_ops_dense.c, test_ops_seq.c) share:
 * their tolerances per precision, double-precision input vectors, conversion
 * to and from `real`, a backward-vs-differences assertion, the accumulation
 * check for parameter gradients, and central differences.
 *
 * Inputs live in double; each op has a `run_*` that evaluates either the op
 * (converting to and from `real`) or the naive reference. Finite differences
 * go through the op itself in the double build (a true gradient check of the
 * op) and through the double reference in the float build (so float backward
 * results are judged against an exact gradient, not against float noise). */
#ifndef HIPPO_OPS_TESTUTIL_H
#define HIPPO_OPS_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/cpu/cpu.h"
#include "../kernels/ops.h"
#include "testutil.h"

#ifdef HIPPO_F64
#define TOL_FWD 1e-11  /* op vs naive double reference, scaled */
#define TOL_GRAD 2e-7  /* backward vs central differences of the op, scaled */
#define FD_THROUGH_OP true
#else
#define TOL_FWD 3e-5
#define TOL_GRAD 1e-4
#define FD_THROUGH_OP false
#endif

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static inline double urand(void) { /* xorshift64*, uniform in [0, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) * 0x1p-53;
}
static inline double *dvec(size_t n, double lo, double hi) {
    double *v = malloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * urand();
    return v;
}
static inline double *dzeros(size_t n) { return calloc(n ? n : 1, sizeof(double)); }
static inline real *to_real(const double *d, size_t n) {
    if (!d) return NULL;
    real *r = malloc(sizeof(real) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) r[i] = (real)d[i];
    return r;
}
static inline void to_double(const real *r, double *d, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = r[i];
}
static inline double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Backward vs differences: like tu_assert_close, but the scale is at least
 * GRAD_FLOOR, since a difference quotient of an O(1) loss carries an absolute
 * rounding error (~1e-11 in double) that a tensor of tiny gradients cannot
 * be judged against relatively. */
#define GRAD_FLOOR 1e-4
static inline void assert_grad(const char *what, const double *got, const double *fd, size_t n) {
    double maxr = GRAD_FLOOR, maxd = 0;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - fd[i]);
        ck_assert_msg(!isnan(d), "%s: NaN at [%zu]", what, i);
        maxr = fmax(maxr, fabs(fd[i]));
        if (d > maxd) maxd = d, w = i;
    }
    ck_assert_msg(maxd / maxr <= TOL_GRAD, "%s: scaled error %.3g > %.3g at [%zu]: got %.10g want %.10g", what,
                  maxd / maxr, TOL_GRAD, w, got[w], fd[w]);
}

/* Parameter gradients accumulate (+=): a second call into the same buffer
 * must give twice the first. */
static inline void check_accumulated(const char *what, const real *twice, const double *once, size_t n) {
    double *got = malloc(sizeof(double) * (n ? n : 1)), *want = malloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) got[i] = twice[i], want[i] = 2 * once[i];
    char w[256]; /* callers name the tensor in up to 200 chars */
    snprintf(w, sizeof w, "%s accumulates", what);
    tu_assert_close(w, got, want, n, TOL_FWD);
    free(got), free(want);
}

/* Central-difference gradient of loss(ctx) with respect to p[0..n). */
typedef double (*loss_fn)(void *ctx);
static inline void fd_grad(loss_fn f, void *ctx, double *p, size_t n, double *g) {
    for (size_t i = 0; i < n; i++) {
        double s = p[i], h = 1e-5 * (1 + fabs(s));
        p[i] = s + h;
        double lp = f(ctx);
        p[i] = s - h;
        double lm = f(ctx);
        p[i] = s;
        g[i] = (lp - lm) / (2 * h);
    }
}

static inline const struct ops *O(void) { return ops_cpu(); }

#endif
