/* h3_math.cuh — the index maps of H3's inner op as separate passes (the
 * pipeline: kernels/cuda/h3_inner.cu; HD, also run by tests/test_cuda_math.c).
 * With E = D d_h state channels e = h d_h^2 + i d_h + j per (b, t) — head h,
 * row i, column j; the long convolution's group is d_h^2, so its kernel row
 * is h — ops.h's h3_inner is
 *   kv[e] = k~[h d_h + i] v[h d_h + j]          (outer)
 *   y = K * kv + Dk kv                          (the conv op, BLH, E channels)
 *   o[j H + h] = sum_i q[h d_h + i] y[e]        (contract)
 * and its backward
 *   dy[e] = dout[j H + h] q[h d_h + i],  dq[h d_h + i] = sum_j dout[j H + h] y[e]
 *   dkv = the conv's backward of dy,
 *   dk~[h d_h + i] = sum_j dkv[e] v[h d_h + j],  dv[h d_h + j] = sum_i dkv[e] k~[h d_h + i].
 * Items: elements of the (B L, E) or (B L, D) tensor written; each sum is
 * formed by one item in a fixed order. cuh3_at selects the map of a pass. */
#ifndef HIPPO_CUDA_H3_MATH_CUH
#define HIPPO_CUDA_H3_MATH_CUH

#include "hd.cuh"

struct cuh3 {
    int D, dh; /* width, head_dim */
};

HD size_t cuh3_E(const struct cuh3 *s) { return (size_t)s->D * s->dh; }

/* kv at item idx of (B L, E). */
HD float cuh3_outer(const struct cuh3 *s, const float *kt, const float *v, size_t idx) {
    size_t E = cuh3_E(s), bt = idx / E;
    int e = (int)(idx % E), dh = s->dh, h = e / (dh * dh), i = e / dh % dh, j = e % dh;
    return kt[bt * s->D + h * dh + i] * v[bt * s->D + h * dh + j];
}

/* o at item idx of (B L, D): output channel j H + h. */
HD float cuh3_contract(const struct cuh3 *s, const float *q, const float *y, size_t idx) {
    size_t bt = idx / s->D;
    int oc = (int)(idx % s->D), H = s->D / s->dh, dh = s->dh, j = oc / H, h = oc % H;
    float o = 0;
    for (int i = 0; i < dh; i++) o += q[bt * s->D + h * dh + i] * y[bt * cuh3_E(s) + (size_t)h * dh * dh + i * dh + j];
    return o;
}

/* dy at item idx of (B L, E). */
HD float cuh3_dy(const struct cuh3 *s, const float *dout, const float *q, size_t idx) {
    size_t E = cuh3_E(s), bt = idx / E;
    int e = (int)(idx % E), dh = s->dh, H = s->D / dh, h = e / (dh * dh), i = e / dh % dh, j = e % dh;
    return dout[bt * s->D + (size_t)j * H + h] * q[bt * s->D + h * dh + i];
}

/* The three channel sums at item idx of (B L, D), channel ch = h d_h + x:
 * dq (x = i), dk~ (x = i), dv (x = j). */
HD float cuh3_dq(const struct cuh3 *s, const float *dout, const float *y, size_t idx) {
    size_t bt = idx / s->D;
    int ch = (int)(idx % s->D), dh = s->dh, H = s->D / dh, h = ch / dh, i = ch % dh;
    float d = 0;
    for (int j = 0; j < dh; j++) d += dout[bt * s->D + (size_t)j * H + h] * y[bt * cuh3_E(s) + (size_t)h * dh * dh + i * dh + j];
    return d;
}
/* dk~ (sum over j with v) or dv (sum over i with k~) at item idx of (B L, D). */
HD float cuh3_dsum(const struct cuh3 *s, const float *dkv, const float *w, size_t idx, bool dv) {
    size_t bt = idx / s->D;
    int ch = (int)(idx % s->D), dh = s->dh, h = ch / dh, x = ch % dh;
    float d = 0;
    for (int k = 0; k < dh; k++) {
        int i = dv ? k : x, j = dv ? x : k;
        d += dkv[bt * cuh3_E(s) + (size_t)h * dh * dh + i * dh + j] * w[bt * s->D + h * dh + k];
    }
    return d;
}

/* Every pass of the pipeline is one of these maps of two inputs. */
enum cuh3_map { CUH3_OUTER, CUH3_CONTRACT, CUH3_DY, CUH3_DQ, CUH3_DKT, CUH3_DV };
HD float cuh3_at(const struct cuh3 *s, enum cuh3_map m, const float *x, const float *y, size_t idx) {
    switch (m) {
    case CUH3_OUTER: return cuh3_outer(s, x, y, idx);       /* x k~, y v */
    case CUH3_CONTRACT: return cuh3_contract(s, x, y, idx); /* x q, y the conv's output */
    case CUH3_DY: return cuh3_dy(s, x, y, idx);             /* x dout, y q */
    case CUH3_DQ: return cuh3_dq(s, x, y, idx);             /* x dout, y the conv's output */
    case CUH3_DKT: return cuh3_dsum(s, x, y, idx, false);   /* x dkv, y v */
    default: return cuh3_dsum(s, x, y, idx, true);          /* x dkv, y k~ */
    }
}

#endif
