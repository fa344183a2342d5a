/* rows_math.cuh — the row ops on the GPU as block programs (hd.cuh; HD:
 * compiled into kernels/cuda/rows.cu and into tests/test_cuda_math.c):
 * softmax, LayerNorm, cross-entropy, one block per row, every sum a fixed
 * tree in double (deterministic); GELU's elementwise formulas. Same
 * contracts as ops.h (and formulas as kernels/cpu: softmax.c, layernorm.c,
 * xent.c, gelu.c); `part` is the block's shared memory, 2 nt doubles. */
#ifndef HIPPO_CUDA_ROWS_MATH_CUH
#define HIPPO_CUDA_ROWS_MATH_CUH

#include "hd.cuh"

/* Threads per row block: a power of two from 32 to 256 covering n. */
HD int rows_threads(int n) {
    int t = 32;
    while (t < n && t < 256) t *= 2;
    return t;
}

/* part[c] (=) the sum of part[c + k width] over k, for c < width (nt and
 * width powers of two): a fixed tree, as block_sum. */
HD void block_sum_cols(double *part, int nt, int width) {
    for (int s = nt / 2; s >= width; s /= 2) BLOCK_PASS(if (tid < s) part[tid] += part[tid + s]);
}
HD void block_max(double *part, int nt) {
    for (int s = nt / 2; s > 0; s /= 2) BLOCK_PASS(if (tid < s && part[tid + s] > part[tid]) part[tid] = part[tid + s]);
}

/* ---- softmax ---------------------------------------------------------------- */

struct rows_softmax {
    int C, causal_L;
    float scale;
    const float *x, *y, *dy; /* y, dy: the backward's */
    float *out;              /* y (forward) or dx (backward) */
};

HD int rows_limit(const struct rows_softmax *a, int r) { return a->causal_L > 0 ? r % a->causal_L + 1 : a->C; }

HD void rows_softmax_block(const struct rows_softmax *a, int r, double *part, int nt) {
    const float *x = a->x + (size_t)r * a->C;
    float *y = a->out + (size_t)r * a->C;
    int n = rows_limit(a, r);
    BLOCK_PASS(part[tid] = -INFINITY; for (int j = tid; j < n; j += nt) if (a->scale * x[j] > part[tid]) part[tid] = a->scale * x[j]);
    block_max(part, nt);
    BLOCK_PASS(part[nt + tid] = 0; for (int j = tid; j < n; j += nt) {
        y[j] = expf(a->scale * x[j] - (float)part[0]);
        part[nt + tid] += y[j];
    });
    block_sum(part + nt, nt);
    BLOCK_PASS(float inv = (float)(1.0 / part[nt]); for (int j = tid; j < a->C; j += nt) y[j] = j < n ? y[j] * inv : 0.0f);
}

/* dx = scale y (dy - sum_j y_j dy_j); masked entries 0. */
HD void rows_softmax_bwd_block(const struct rows_softmax *a, int r, double *part, int nt) {
    size_t o = (size_t)r * a->C;
    int n = rows_limit(a, r);
    BLOCK_PASS(part[tid] = 0; for (int j = tid; j < n; j += nt) part[tid] += (double)a->y[o + j] * a->dy[o + j]);
    block_sum(part, nt);
    BLOCK_PASS(for (int j = tid; j < a->C; j += nt)
                   a->out[o + j] = j < n ? a->scale * a->y[o + j] * (a->dy[o + j] - (float)part[0]) : 0.0f);
}

/* ---- LayerNorm ---------------------------------------------------------------- */

struct rows_ln {
    int R, D;
    float eps;
    const float *x, *w, *b, *dy;
    float *y, *mean, *rstd; /* forward (=) */
    float *dx;              /* backward (=), or NULL */
    float *dw, *db;         /* backward (+=), or NULL */
};

HD void rows_ln_block(const struct rows_ln *a, int r, double *part, int nt) {
    const float *x = a->x + (size_t)r * a->D;
    float *y = a->y + (size_t)r * a->D;
    BLOCK_PASS(part[tid] = 0; for (int d = tid; d < a->D; d += nt) part[tid] += x[d]);
    block_sum(part, nt);
    BLOCK_PASS(double mu = part[0] / a->D; part[nt + tid] = 0;
               for (int d = tid; d < a->D; d += nt) part[nt + tid] += (x[d] - mu) * (x[d] - mu));
    block_sum(part + nt, nt);
    BLOCK_PASS(float mu = (float)(part[0] / a->D), rs = (float)(1 / sqrt(part[nt] / a->D + a->eps));
               for (int d = tid; d < a->D; d += nt) y[d] = (x[d] - mu) * rs * (a->w ? a->w[d] : 1.0f) + (a->b ? a->b[d] : 0.0f);
               if (tid == 0) a->mean[r] = mu, a->rstd[r] = rs);
}

/* dx = rstd (g - mean(g) - h mean(g h)), g = dy w, h = (x - mean) rstd. */
HD void rows_ln_dx_block(const struct rows_ln *a, int r, double *part, int nt) {
    size_t o = (size_t)r * a->D;
    float mu = a->mean[r], rs = a->rstd[r];
    BLOCK_PASS(part[tid] = 0; part[nt + tid] = 0; for (int d = tid; d < a->D; d += nt) {
        float g = a->dy[o + d] * (a->w ? a->w[d] : 1.0f), h = (a->x[o + d] - mu) * rs;
        part[tid] += g, part[nt + tid] += (double)g * h;
    });
    block_sum(part, nt);
    block_sum(part + nt, nt);
    BLOCK_PASS(float msg = (float)(part[0] / a->D), msgh = (float)(part[nt] / a->D);
               for (int d = tid; d < a->D; d += nt) {
                   float g = a->dy[o + d] * (a->w ? a->w[d] : 1.0f), h = (a->x[o + d] - mu) * rs;
                   a->dx[o + d] = rs * (g - msg - h * msgh);
               });
}

/* dw, db (+=) over all rows for 32 columns c0.. per block: thread tid owns
 * column c0 + tid % 32 and the rows r = tid / 32 (mod nt / 32); then a tree
 * over those row slices. */
#define ROWS_LN_COLS 32
HD void rows_ln_dwb_block(const struct rows_ln *a, int blk, double *part, int nt) {
    int slices = nt / ROWS_LN_COLS, c0 = blk * ROWS_LN_COLS;
    BLOCK_PASS(int d = c0 + tid % ROWS_LN_COLS; part[tid] = 0; part[nt + tid] = 0;
               for (int r = tid / ROWS_LN_COLS; d < a->D && r < a->R; r += slices) {
                   size_t o = (size_t)r * a->D + d;
                   part[tid] += (double)a->dy[o] * ((a->x[o] - a->mean[r]) * a->rstd[r]);
                   part[nt + tid] += a->dy[o];
               });
    block_sum_cols(part, nt, ROWS_LN_COLS);
    block_sum_cols(part + nt, nt, ROWS_LN_COLS);
    BLOCK_PASS(int d = c0 + tid; if (tid < ROWS_LN_COLS && d < a->D) {
        if (a->dw) a->dw[d] += (float)part[tid];
        if (a->db) a->db[d] += (float)part[nt + tid];
    });
}

/* ---- cross-entropy -------------------------------------------------------------- */

struct rows_xent {
    int R, V;
    const float *logits;
    const int *targets; /* -1: ignored */
    float *probs;       /* (=) or NULL */
    double *row_loss;   /* (R) (=): each row's loss (0 when ignored) */
    double *total;      /* [2] (=): the summed loss and the number of counted rows */
};

HD void rows_xent_block(const struct rows_xent *a, int r, double *part, int nt) {
    const float *x = a->logits + (size_t)r * a->V;
    float *p = a->probs ? a->probs + (size_t)r * a->V : NULL;
    BLOCK_PASS(part[tid] = -INFINITY; for (int v = tid; v < a->V; v += nt) if (x[v] > part[tid]) part[tid] = x[v]);
    block_max(part, nt);
    BLOCK_PASS(part[nt + tid] = 0; for (int v = tid; v < a->V; v += nt) {
        float e = expf(x[v] - (float)part[0]);
        part[nt + tid] += e;
        if (p) p[v] = e;
    });
    block_sum(part + nt, nt);
    BLOCK_PASS(float inv = (float)(1.0 / part[nt]); if (p) for (int v = tid; v < a->V; v += nt) p[v] *= inv;
               int t = a->targets[r];
               if (tid == 0) a->row_loss[r] = t >= 0 ? part[0] + log(part[nt]) - x[t] : 0.0);
}

/* total[0] = sum of row losses, total[1] = rows with a target (one block). */
HD void rows_xent_total_block(const struct rows_xent *a, double *part, int nt) {
    BLOCK_PASS(part[tid] = 0; part[nt + tid] = 0; for (int r = tid; r < a->R; r += nt) {
        if (a->row_loss) part[tid] += a->row_loss[r];
        part[nt + tid] += a->targets[r] >= 0;
    });
    block_sum(part, nt);
    block_sum(part + nt, nt);
    BLOCK_PASS(if (tid == 0) a->total[0] = part[0], a->total[1] = part[nt]);
}

/* dlogits at element i of (R, V): (p - onehot) g, g = scale / count. */
HD float rows_xent_grad(const int *targets, const float *probs, int V, float g, size_t i) {
    int t = targets[i / V];
    if (t < 0) return 0.0f;
    return g * probs[i] - ((int)(i % V) == t ? g : 0.0f);
}

/* ---- GELU ---------------------------------------------------------------------- */

#define GELU_S2PI 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_C3 0.044715f
#define GELU_IS2 0.7071067811865476f  /* 1 / sqrt(2) */
#define GELU_IS2PI 0.3989422804014327f /* 1 / sqrt(2 pi) */

HD float gelu_tanh_f(float x) { return 0.5f * x * (1 + tanhf(GELU_S2PI * (x + GELU_C3 * x * x * x))); }
HD float gelu_tanh_grad(float x) {
    float t = tanhf(GELU_S2PI * (x + GELU_C3 * x * x * x));
    return 0.5f * (1 + t) + 0.5f * x * (1 - t * t) * GELU_S2PI * (1 + 3 * GELU_C3 * x * x);
}
HD float gelu_erf_f(float x) { return 0.5f * x * (1 + erff(x * GELU_IS2)); }
HD float gelu_erf_grad(float x) { return 0.5f * (1 + erff(x * GELU_IS2)) + x * expf(-0.5f * x * x) * GELU_IS2PI; }

#endif
