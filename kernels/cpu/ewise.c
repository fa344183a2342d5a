/* ewise.c — the generic tensor ops on the CPU (ops.h): elementwise over
 * strided views, column sums, dropout, the finiteness check. Each formula is
 * written exactly as the layers wrote it inline before these ops existed, so
 * results are the same bits. */
#include <math.h>

#include "../../core/rng.h"
#include "cpu.h"

/* A view is one contiguous row-major block of R x C when its columns are
 * adjacent and its rows follow each other (or there is one row). */
static bool dense(ptrdiff_t rs, ptrdiff_t cs, size_t R, size_t C) {
    return cs == 1 && (R == 1 || rs == (ptrdiff_t)C);
}

static bool uses_b(enum ew_kind k) { return k == EW_ADD || k == EW_MUL || k == EW_KEEP; }

/* f for one element (the strided path). */
static inline real ew_f(enum ew_kind k, real alpha, real a, real b) {
    switch (k) {
    case EW_FILL: return alpha;
    case EW_COPY: return a;
    case EW_SCALE: return alpha * a;
    case EW_ADD: return a + b;
    case EW_MUL: return a * b;
    case EW_NEG_EXP: return (real)-exp((double)a);
    case EW_KEEP: return a != 0 ? b * alpha : 0;
    }
    return 0;
}

/* The dense path: one loop per kind, so each vectorises as the inline loops did. */
#define DENSE(expr)                                          \
    do {                                                     \
        if (acc)                                             \
            for (size_t i = 0; i < n; i++) y[i] += (expr);   \
        else                                                 \
            for (size_t i = 0; i < n; i++) y[i] = (expr);    \
    } while (0)

static void ewise_dense(const struct ewise_args *e) {
    const size_t n = e->R * e->C;
    const real *a = e->a.p, *b = e->b.p, alpha = e->alpha;
    real *y = e->y.p;
    const bool acc = e->acc;
    switch (e->kind) {
    case EW_FILL: DENSE(alpha); break;
    case EW_COPY: DENSE(a[i]); break;
    case EW_SCALE: DENSE(a[i] * alpha); break;
    case EW_ADD: DENSE(a[i] + b[i]); break;
    case EW_MUL: DENSE(a[i] * b[i]); break;
    case EW_NEG_EXP: DENSE((real)-exp((double)a[i])); break;
    case EW_KEEP: DENSE(a[i] != 0 ? b[i] * alpha : 0); break;
    }
}

void cpu_ewise(const struct ewise_args *e) {
    const size_t R = e->R, C = e->C;
    bool da = e->kind == EW_FILL || dense(e->a.rs, e->a.cs, R, C);
    bool db = !uses_b(e->kind) || dense(e->b.rs, e->b.cs, R, C);
    if (dense(e->y.rs, e->y.cs, R, C) && da && db) {
        ewise_dense(e);
        return;
    }
    for (size_t r = 0; r < R; r++)
        for (size_t c = 0; c < C; c++) {
            real a = e->kind == EW_FILL ? 0 : e->a.p[(ptrdiff_t)r * e->a.rs + (ptrdiff_t)c * e->a.cs];
            real b = uses_b(e->kind) ? e->b.p[(ptrdiff_t)r * e->b.rs + (ptrdiff_t)c * e->b.cs] : 0;
            real *y = e->y.p + (ptrdiff_t)r * e->y.rs + (ptrdiff_t)c * e->y.cs;
            real f = ew_f(e->kind, e->alpha, a, b);
            if (e->acc) *y += f;
            else *y = f;
        }
}

void cpu_colsum(const struct colsum_args *a) {
    for (size_t r = 0; r < a->R; r++) {
        const real *row = a->x + r * a->ldx;
        for (int c = 0; c < a->C; c++) a->y[c] += row[c];
    }
}

void cpu_dropout(const struct dropout_args *a) {
    const real keep = (real)(1.0 / (1.0 - a->p));
    const double p = a->p;
    if (a->causal_L <= 0) {
#pragma omp simd
        for (size_t i = 0; i < a->n; i++) a->y[i] = hp_uniform_at(a->seed, a->stream, i) >= p ? a->x[i] * keep : 0;
        return;
    }
    const int L = a->causal_L;
    for (size_t r = 0; r < a->n / (size_t)L; r++) {
        int t = (int)(r % (size_t)L);
        size_t i0 = r * L;
        for (int c = 0; c < L; c++) {
            size_t i = i0 + c;
            bool k = c <= t && hp_uniform_at(a->seed, a->stream, i) >= p;
            a->y[i] = k ? a->x[i] * keep : 0;
        }
    }
}

void cpu_finite(const struct finite_args *a) {
    /* x * 0 is 0 for every finite x and NaN for NaN or Inf, and the sum never
     * overflows: one vectorised pass. */
    real acc = 0;
    const real *x = a->x;
#pragma omp simd reduction(+ : acc)
    for (size_t i = 0; i < a->n; i++) acc += x[i] * (real)0;
    *a->finite = acc == 0;
}
