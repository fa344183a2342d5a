/* ew.cu — the generic tensor ops on the GPU (ops.h ewise, colsum, dropout,
 * finite, adamw, sine): launches of ew_math.cuh's per-element and per-column
 * functions, one thread per element (column sums: per chunk of rows, then
 * the chunks in order: deterministic). */
#include "backend.cuh"
#include "ew_math.cuh"

static_assert((int)EWK_FILL == (int)EW_FILL && (int)EWK_COPY == (int)EW_COPY && (int)EWK_SCALE == (int)EW_SCALE &&
                  (int)EWK_ADD == (int)EW_ADD && (int)EWK_MUL == (int)EW_MUL && (int)EWK_NEG_EXP == (int)EW_NEG_EXP &&
                  (int)EWK_KEEP == (int)EW_KEEP,
              "ew_math.cuh's kinds are ops.h's");

__global__ void ew_k(struct ew_op e, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) ew_elem(&e, i);
}

void cuda_ewise(const struct ewise_args *a) {
    struct ew_op e = {a->kind, a->R, a->C, a->alpha, {a->a.p, a->a.rs, a->a.cs}, {a->b.p, a->b.rs, a->b.cs},
                      a->y.p, a->y.rs, a->y.cs, a->acc};
    size_t n = a->R * a->C;
    if (n) CUDA_LAUNCH(ew_k, n, e);
}

/* ---- column sums ----------------------------------------------------------------- */

__global__ void colsum_part_k(const float *x, size_t ldx, size_t R, int C, double *part, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) part[i] = colsum_part(x, ldx, R, (int)(i % C), i / C);
}

/* y[c] (+=) the chunks' sum: the one pass the column sums share. */
__global__ void chunks_add_k(const double *part, size_t chunks, int C, float *y, size_t n) {
    size_t c = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (c < n) y[c] += (float)ew_chunks_sum(part, chunks, C, (int)c);
}

void cuda_colsum(const struct colsum_args *a) {
    if (a->R == 0 || a->C == 0) return;
    size_t chunks = ew_chunks(a->R);
    double *part = (double *)cuda_ws(WS_COLSUM, sizeof(double) * chunks * a->C);
    CUDA_LAUNCH(colsum_part_k, chunks * a->C, a->x, a->ldx, a->R, a->C, part);
    CUDA_LAUNCH(chunks_add_k, (size_t)a->C, part, chunks, a->C, a->y);
}

/* ---- dropout, finite, AdamW --------------------------------------------------------- */

__global__ void dropout_k(struct ew_dropout d, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) dropout_elem(&d, i);
}

void cuda_dropout(const struct dropout_args *a) {
    HP_CHECK(a->p >= 0 && a->p < 1 && (a->causal_L <= 0 || a->n % a->causal_L == 0));
    struct ew_dropout d = {a->n, a->causal_L, a->p, (float)(1.0 / (1.0 - a->p)), a->seed, a->stream, a->x, a->y};
    if (a->n) CUDA_LAUNCH(dropout_k, a->n, d);
}

__global__ void finite_k(const float *x, int *bad, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n && !isfinite(x[i])) atomicOr(bad, 1); /* a flag: the order of the writes does not matter */
}

void cuda_finite(const struct finite_args *a) {
    int *bad = (int *)cuda_ws(WS_FINITE, sizeof(int)), host = 0;
    CUDA_CHECK(cudaMemset(bad, 0, sizeof(int)));
    if (a->n) CUDA_LAUNCH(finite_k, a->n, a->x, bad);
    CUDA_CHECK(cudaMemcpy(&host, bad, sizeof host, cudaMemcpyDeviceToHost));
    *a->finite = host == 0;
}

__global__ void adamw_k(struct ew_adamw a, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) adamw_elem(&a, i);
}

void cuda_adamw(const struct adamw_args *a) {
    struct ew_adamw k = {a->decay, a->b1, a->b2, a->step, a->inv_sqrt_c2, a->eps, a->p, a->m, a->v, a->g};
    if (a->n) CUDA_LAUNCH(adamw_k, a->n, k);
}

/* ---- sine ------------------------------------------------------------------------------- */

__global__ void sine_k(const float *freq, const float *x, float *y, int C, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) y[i] = sine_f(freq[i % C], x[i]);
}

__global__ void sine_dx_k(const float *freq, const float *x, const float *dy, float *dx, int C, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) dx[i] = sine_dx(freq[i % C], x[i], dy[i]);
}

__global__ void sine_part_k(const float *x, const float *dy, const float *freq, size_t R, int C, double *part,
                            size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) part[i] = sine_dfreq_part(x, dy, freq, R, C, (int)(i % C), i / C);
}

void cuda_sine(const struct sine_args *a) {
    size_t n = (size_t)a->R * a->C;
    if (n) CUDA_LAUNCH(sine_k, n, a->freq, a->x, a->y, a->C);
}

void cuda_sine_bwd(const struct sine_bwd_args *g) {
    size_t R = (size_t)g->f.R, n = R * g->f.C, chunks = ew_chunks(R);
    if (!n) return;
    CUDA_LAUNCH(sine_dx_k, n, g->f.freq, g->f.x, g->dy, g->dx, g->f.C);
    double *part = (double *)cuda_ws(WS_COLSUM, sizeof(double) * chunks * g->f.C);
    CUDA_LAUNCH(sine_part_k, chunks * g->f.C, g->f.x, g->dy, g->f.freq, R, g->f.C, part);
    CUDA_LAUNCH(chunks_add_k, (size_t)g->f.C, part, chunks, g->f.C, g->dfreq);
}
