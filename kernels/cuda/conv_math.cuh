/* conv_math.cuh — the long convolution's arithmetic on the GPU (HD:
 * compiled into kernels/cuda/conv.cu and conv_fft.cu and into
 * tests/test_cuda_math.c): the layout index maps, the direct kernel's output
 * and input-gradient sums, the gradient sums' items, and the cuFFT
 * pipeline's gather/scatter maps. The contract is ops.h's conv:
 *   y[b,c,t] = D[r] u[b,c,t] + sum_{j <= min(t, Lk-1)} k[r, j] u[b,c,t-j],  r = c / group. */
#ifndef HIPPO_CUDA_CONV_MATH_CUH
#define HIPPO_CUDA_CONV_MATH_CUH

#include "hd.cuh"

struct cuconv {
    int B, L, H, Lk, group;
    bool bhl; /* (B, H, L) when true, else (B, L, H) */
};

/* Offset of element (b, c, t). */
HD size_t cuconv_at(const struct cuconv *s, int b, int c, int t) {
    return s->bhl ? ((size_t)b * s->H + c) * s->L + t : ((size_t)b * s->L + t) * s->H + c;
}

/* Element i of a tensor in its own layout -> (b, c, t). */
HD void cuconv_coords(const struct cuconv *s, size_t i, int *b, int *c, int *t) {
    if (s->bhl) {
        *t = (int)(i % s->L), *c = (int)(i / s->L % s->H), *b = (int)(i / ((size_t)s->L * s->H));
    } else {
        *c = (int)(i % s->H), *t = (int)(i / s->H % s->L), *b = (int)(i / ((size_t)s->L * s->H));
    }
}

/* y at (b, c, t): the skip first, then the taps in increasing j (the CPU's order). */
HD float cuconv_out(const struct cuconv *s, const float *u, const float *k, const float *D, int b, int c, int t) {
    int r = c / s->group, jn = t + 1 < s->Lk ? t + 1 : s->Lk;
    const float *kr = k + (size_t)r * s->Lk;
    float y = D ? D[r] * u[cuconv_at(s, b, c, t)] : 0.0f;
    for (int j = 0; j < jn; j++) y += kr[j] * u[cuconv_at(s, b, c, t - j)];
    return y;
}

/* du at (b, c, t) = D[r] dy[t] + sum_{j < Lk, t + j < L} k[r, j] dy[t + j]. */
HD float cuconv_du(const struct cuconv *s, const float *dy, const float *k, const float *D, int b, int c, int t) {
    int r = c / s->group, jn = s->L - t < s->Lk ? s->L - t : s->Lk;
    const float *kr = k + (size_t)r * s->Lk;
    float d = D ? D[r] * dy[cuconv_at(s, b, c, t)] : 0.0f;
    for (int j = 0; j < jn; j++) d += kr[j] * dy[cuconv_at(s, b, c, t + j)];
    return d;
}

/* The gradient sums of kernel row r: dk[r, j] (j < Lk) and dD[r] (j = Lk) are
 * sums over the B group L items (b, channel of the row, t); item i's term. */
HD size_t cuconv_grad_items(const struct cuconv *s) { return (size_t)s->B * s->group * s->L; }
HD double cuconv_grad_term(const struct cuconv *s, const float *u, const float *dy, int r, int j, size_t i) {
    int t = (int)(i % s->L), c = r * s->group + (int)(i / s->L % s->group), b = (int)(i / ((size_t)s->L * s->group));
    if (j == s->Lk) return (double)dy[cuconv_at(s, b, c, t)] * u[cuconv_at(s, b, c, t)];
    if (t < j) return 0;
    return (double)dy[cuconv_at(s, b, c, t)] * u[cuconv_at(s, b, c, t - j)];
}

/* dk[r, j] (j < Lk) or dD[r] (j = Lk) (+=) the sum of the row's items, as a
 * block program (hd.cuh; part: nt doubles). */
HD void cuconv_grad_block(const struct cuconv *s, const float *u, const float *dy, int r, int j, double *part, int nt,
                          float *dk, float *dD) {
    size_t items = cuconv_grad_items(s);
    BLOCK_PASS(part[tid] = 0; for (size_t i = tid; i < items; i += nt) part[tid] += cuconv_grad_term(s, u, dy, r, j, i));
    block_sum(part, nt);
    BLOCK_PASS(if (tid == 0 && j == s->Lk && dD) dD[r] += (float)part[0];
               if (tid == 0 && j < s->Lk && dk) dk[(size_t)r * s->Lk + j] += (float)part[0]);
}

/* The cuFFT pipeline works on rows of n reals, row b H + c for channel c of
 * batch entry b (kernel rows: row r). Gather: element (row, t) of the padded
 * buffer from x (zero for t >= L). */
HD float cuconv_pad(const struct cuconv *s, const float *x, size_t row, int t) {
    if (t >= s->L) return 0.0f;
    return x[cuconv_at(s, (int)(row / s->H), (int)(row % s->H), t)];
}

#endif
