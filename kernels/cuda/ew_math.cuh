/* ew_math.cuh — the generic tensor ops on the GPU (ops.h ewise, colsum,
 * dropout, finite, adamw, sine) as per-element and per-column functions
 * (hd.cuh; HD: compiled into kernels/cuda/ew.cu and into
 * tests/test_cuda_ew.c, which runs them on the CPU against the CPU backend).
 * Formulas are the CPU's (kernels/cpu/ewise.c, adamw.c, sine.c); elementwise
 * results match it to rounding (the compilers fuse multiply-adds
 * differently), dropout exactly. Column sums are fixed-order: chunks of
 * EW_CHUNK rows summed in double, then the chunks in order, so results do
 * not depend on scheduling. */
#ifndef HIPPO_CUDA_EW_MATH_CUH
#define HIPPO_CUDA_EW_MATH_CUH

#include <stdint.h>

#include "../../core/rng.h" /* hp_uniform_at: the CPU's dropout masks */
#include "hd.cuh"

/* ops.h's enum ew_kind, by value (ew.cu checks they agree). */
enum { EWK_FILL, EWK_COPY, EWK_SCALE, EWK_ADD, EWK_MUL, EWK_NEG_EXP, EWK_KEEP };

struct ew_view {
    const float *p;
    ptrdiff_t rs, cs;
};
struct ew_op {
    int kind;
    size_t R, C;
    float alpha;
    struct ew_view a, b;
    float *y;
    ptrdiff_t yrs, ycs;
    bool acc;
};

HD float ew_f(int kind, float alpha, float a, float b) {
    switch (kind) {
    case EWK_FILL: return alpha;
    case EWK_COPY: return a;
    case EWK_SCALE: return a * alpha;
    case EWK_ADD: return a + b;
    case EWK_MUL: return a * b;
    case EWK_NEG_EXP: return (float)-exp((double)a);
    default: return a != 0 ? b * alpha : 0.0f; /* EWK_KEEP */
    }
}

HD bool ew_uses_a(int kind) { return kind != EWK_FILL; }
HD bool ew_uses_b(int kind) { return kind == EWK_ADD || kind == EWK_MUL || kind == EWK_KEEP; }

/* Element i of the (R, C) grid, row-major. */
HD void ew_elem(const struct ew_op *e, size_t i) {
    ptrdiff_t r = (ptrdiff_t)(i / e->C), c = (ptrdiff_t)(i % e->C);
    float a = ew_uses_a(e->kind) ? e->a.p[r * e->a.rs + c * e->a.cs] : 0.0f;
    float b = ew_uses_b(e->kind) ? e->b.p[r * e->b.rs + c * e->b.cs] : 0.0f;
    float *y = e->y + r * e->yrs + c * e->ycs;
    float f = ew_f(e->kind, e->alpha, a, b);
    *y = e->acc ? *y + f : f;
}

/* ---- column sums (colsum; sine's frequency gradient) ----------------------------- */

#define EW_CHUNK 256 /* rows per partial sum */

HD size_t ew_chunks(size_t R) { return (R + EW_CHUNK - 1) / EW_CHUNK; }

/* Chunk k's sum of column c of x (R, ldx), rows ascending, in double. */
HD double colsum_part(const float *x, size_t ldx, size_t R, int c, size_t k) {
    double s = 0;
    size_t end = (k + 1) * EW_CHUNK < R ? (k + 1) * EW_CHUNK : R;
    for (size_t r = k * EW_CHUNK; r < end; r++) s += x[r * ldx + c];
    return s;
}

/* The chunks' partials of column c (part (chunks, C)), in order. */
HD double ew_chunks_sum(const double *part, size_t chunks, int C, int c) {
    double s = 0;
    for (size_t k = 0; k < chunks; k++) s += part[k * C + c];
    return s;
}

/* ---- dropout ---------------------------------------------------------------------- */

struct ew_dropout {
    size_t n;
    int causal_L;
    double p;
    float keep; /* (float)(1 / (1 - p)) */
    uint64_t seed, stream;
    const float *x;
    float *y;
};

HD void dropout_elem(const struct ew_dropout *d, size_t i) {
    bool k = hp_uniform_at(d->seed, d->stream, i) >= d->p;
    if (d->causal_L > 0) k = k && (int)(i % d->causal_L) <= (int)(i / d->causal_L % d->causal_L);
    d->y[i] = k ? d->x[i] * d->keep : 0.0f;
}

/* ---- AdamW --------------------------------------------------------------------------- */

struct ew_adamw {
    float decay, b1, b2, step, inv_sqrt_c2, eps;
    float *p, *m, *v;
    const float *g;
};

HD void adamw_elem(const struct ew_adamw *a, size_t i) {
    float g = a->g[i], p = a->p[i] * a->decay;
    float m = a->b1 * a->m[i] + (1 - a->b1) * g;
    float v = a->b2 * a->v[i] + (1 - a->b2) * g * g;
    a->m[i] = m, a->v[i] = v;
    a->p[i] = p - a->step * m / (sqrtf(v) * a->inv_sqrt_c2 + a->eps);
}

/* ---- sine -------------------------------------------------------------------------- */

HD float sine_f(float freq, float x) { return (float)sin((double)freq * x); }
/* dx at one element */
HD float sine_dx(float freq, float x, float dy) { return (float)((double)dy * freq * cos((double)freq * x)); }
/* Chunk k's part of dfreq[c]: sum over its rows of dy x cos(freq x), in double. */
HD double sine_dfreq_part(const float *x, const float *dy, const float *freq, size_t R, int C, int c, size_t k) {
    double s = 0;
    size_t end = (k + 1) * EW_CHUNK < R ? (k + 1) * EW_CHUNK : R;
    for (size_t r = k * EW_CHUNK; r < end; r++) {
        double xv = x[r * C + c];
        s += (double)dy[r * C + c] * xv * cos((double)freq[c] * xv);
    }
    return s;
}

#endif
