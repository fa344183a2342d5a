/* gemm_own.c — our own register-blocked gemm for the small shapes this
 * project runs (M up to ~1000, N and K 32..128, and K ~ 1000 for weight
 * gradients): one thread, no library call overhead.
 *
 * C(M,N) = alpha op(A) op(B) + beta C. op(B) is packed into panels of NR
 * columns (K x NR, zero-padded) — or used in place when it is untransposed
 * and N is a multiple of NR — op(A) is read in place through a (row, column)
 * stride pair and broadcast, and an MR x NR tile of C lives in 2*MR vector
 * registers (12 accumulators: enough to hide FMA latency). Short row tiles
 * run a kernel specialised to their row count; short column tiles go
 * through a one-row buffer. Measurements: kernels/cpu/GEMM.md.
 * Vectors are GCC vector extensions of 64 bytes, so the same source gives
 * AVX-512 (16 floats / 8 doubles) where -march allows it. K is blocked by
 * KC so a B panel stays in L1/L2 while it is reused over all row tiles. */
#include "cpu.h"
#include "simd.h"

#include <string.h>

#define NR (2 * VL)                   /* tile columns: two vectors */
#define MR 6                          /* tile rows */
#define KC 256                        /* K block */


/* How a finished tile meets C: the first K block applies beta (beta = 0 never
 * reads C, as in BLAS, so NaNs there do not propagate); later blocks add. */
enum tile_mode { TILE_SET, TILE_BETA, TILE_ADD };

static inline enum tile_mode tile_mode(real beta, bool first) {
    return !first ? TILE_ADD : beta == 0 ? TILE_SET : TILE_BETA;
}

/* Full MR x NR tile straight from the accumulators, vector by vector; bias
 * (NR entries, or NULL) is added on the first K block only. */
static inline void store_full(const vec *acc, real *C, int ldc, real alpha, real beta, enum tile_mode m,
                              const real *bias) {
    vec b0 = {0}, b1 = {0};
    if (bias) b0 = vload(bias), b1 = vload(bias + VL);
    for (int i = 0; i < MR; i++)
        for (int h = 0; h < 2; h++) {
            real *c = C + (size_t)i * ldc + h * VL;
            vec v = alpha * acc[2 * i + h];
            if (m == TILE_BETA) v += beta * vload(c);
            else if (m == TILE_ADD) v += vload(c);
            if (bias) v += h ? b1 : b0;
            vstore(c, v);
        }
}

/* acc (R <= MR rows of two vectors) = sum_{k<kc} op(A)[i, k] * bp[k, :] with
 * op(A) element (i, k) at a[i*rsa + k*csa]. Always inlined with a constant R,
 * so the accumulator array lives in registers and short tiles cost only
 * their own rows. */
static inline __attribute__((always_inline)) void ukernel_rows(int R, int kc, const real *a, ptrdiff_t rsa,
                                                               ptrdiff_t csa, const real *bp, ptrdiff_t rsb,
                                                               vec *acc) {
    /* Named accumulators (not an array) so GCC -O2 keeps them in registers;
     * rows >= R are dead code once R is a constant. */
    vec c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
    vec c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
#define ROW(i)                                                                                                 \
    if (R > i) {                                                                                               \
        real x = ak[i * rsa];                                                                                  \
        c##i##0 += x * b0;                                                                                     \
        c##i##1 += x * b1;                                                                                     \
    }
    for (int k = 0; k < kc; k++) {
        vec b0 = vload(bp), b1 = vload(bp + VL);
        const real *ak = a + k * csa;
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
        bp += rsb;
    }
#undef ROW
    vec all[2 * MR] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    for (int i = 0; i < 2 * R; i++) acc[i] = all[i];
}

static void ukernel(int R, int kc, const real *a, ptrdiff_t rsa, ptrdiff_t csa, const real *bp, ptrdiff_t rsb,
                    vec *acc) {
    switch (R) {
    case 6: ukernel_rows(6, kc, a, rsa, csa, bp, rsb, acc); break;
    case 5: ukernel_rows(5, kc, a, rsa, csa, bp, rsb, acc); break;
    case 4: ukernel_rows(4, kc, a, rsa, csa, bp, rsb, acc); break;
    case 3: ukernel_rows(3, kc, a, rsa, csa, bp, rsb, acc); break;
    case 2: ukernel_rows(2, kc, a, rsa, csa, bp, rsb, acc); break;
    default: ukernel_rows(1, kc, a, rsa, csa, bp, rsb, acc); break;
    }
}

/* Pack rows k0..k0+kc of op(B) (K x N) into panels: bp[(jp*kc + k)*NR + j]. */
static void pack_b(const struct gemm_args *g, const real *B, int k0, int kc, real *bp) {
    int np = (g->N + NR - 1) / NR;
    for (int jp = 0; jp < np; jp++) {
        real *p = bp + (size_t)jp * kc * NR;
        int j0 = jp * NR, nj = g->N - j0 < NR ? g->N - j0 : NR;
        for (int k = 0; k < kc; k++) {
            real *row = p + (size_t)k * NR;
            if (g->tb == OP_N) {
                memcpy(row, B + (size_t)(k0 + k) * g->ldb + j0, sizeof(real) * nj);
            } else {
                for (int j = 0; j < nj; j++) row[j] = B[(size_t)(j0 + j) * g->ldb + k0 + k];
            }
            for (int j = nj; j < NR; j++) row[j] = 0;
        }
    }
}

/* Partial tile (mi x nj valid): C rows are copied into a full-width buffer,
 * combined with vector ops, and copied back (memcpy of nj elements). */
static void store_part(const vec *acc, real *C, int ldc, int mi, int nj, real alpha, real beta, enum tile_mode m,
                       const real *bias) {
    real t[NR] __attribute__((aligned(64))), tb[NR] __attribute__((aligned(64))) = {0};
    if (bias) memcpy(tb, bias, sizeof(real) * nj);
    for (int i = 0; i < mi; i++) {
        real *c = C + (size_t)i * ldc;
        if (m != TILE_SET) memcpy(t, c, sizeof(real) * nj);
        for (int h = 0; h < 2; h++) {
            vec v = alpha * acc[2 * i + h];
            if (m == TILE_BETA) v += beta * vload(t + h * VL);
            else if (m == TILE_ADD) v += vload(t + h * VL);
            if (bias) v += vload(tb + h * VL);
            vstore(t + h * VL, v);
        }
        memcpy(c, t, sizeof(real) * nj);
    }
}

/* Rows m0..m1 of one matrix product for K block k0. Panel jp of op(B) starts
 * at bp + jp * pstride, consecutive k rows rsb apart: packed (pstride = kc*NR,
 * rsb = NR) or, when op(B) is untransposed and N a multiple of NR, B itself
 * (pstride = NR, rsb = ldb) — no copy. */
static void row_tiles(const struct gemm_args *g, const real *A, real *C, const real *bias, const real *bp,
                      ptrdiff_t pstride, ptrdiff_t rsb, int k0, int kc, int m0, int m1) {
    ptrdiff_t rsa = g->ta == OP_N ? g->lda : 1, csa = g->ta == OP_N ? 1 : g->lda;
    int np = (g->N + NR - 1) / NR;
    enum tile_mode mode = tile_mode(g->beta, k0 == 0);
    if (k0 != 0) bias = NULL; /* added once, with the first K block */
    vec acc[2 * MR];
    for (int i0 = m0; i0 < m1; i0 += MR) {
        int mi = m1 - i0 < MR ? m1 - i0 : MR;
        const real *a = A + i0 * rsa + k0 * csa;
        for (int jp = 0; jp < np; jp++) {
            int j0 = jp * NR, nj = g->N - j0 < NR ? g->N - j0 : NR;
            real *c = C + (size_t)i0 * g->ldc + j0;
            ukernel(mi, kc, a, rsa, csa, bp + jp * pstride, rsb, acc);
            const real *bj = bias ? bias + j0 : NULL;
            if (mi == MR && nj == NR) store_full(acc, c, g->ldc, g->alpha, g->beta, mode, bj);
            else store_part(acc, c, g->ldc, mi, nj, g->alpha, g->beta, mode, bj);
        }
    }
}

/* One product C = alpha op(A) op(B) + beta C, rows m0..m1 only; `bp` holds
 * room for KC x N padded. */
static void gemm_rows(const struct gemm_args *g, const real *A, const real *B, real *C, const real *bias, int m0,
                      int m1, real *bp) {
    if (g->K == 0) {
        for (int i = m0; i < m1; i++)
            for (int j = 0; j < g->N; j++) {
                real *c = C + (size_t)i * g->ldc + j;
                *c = (g->beta == 0 ? 0 : g->beta * *c) + (bias ? bias[j] : 0);
            }
        return;
    }
    for (int k0 = 0; k0 < g->K; k0 += KC) {
        int kc = g->K - k0 < KC ? g->K - k0 : KC;
        if (g->tb == OP_N && g->N % NR == 0) {
            row_tiles(g, A, C, bias, B + (size_t)k0 * g->ldb, NR, g->ldb, k0, kc, m0, m1);
        } else {
            pack_b(g, B, k0, kc, bp);
            row_tiles(g, A, C, bias, bp, (ptrdiff_t)kc * NR, NR, k0, kc, m0, m1);
        }
    }
}

size_t cpu_gemm_own_scratch(int N) {
    int np = (N + NR - 1) / NR;
    return sizeof(real) * (size_t)KC * np * NR;
}

void cpu_gemm_own_rows(const struct gemm_args *g, int batch_i, int m0, int m1, void *scratch) {
    real *bp = scratch;
    const real *bias = g->bias ? g->bias + batch_i * g->stride_bias : NULL;
    gemm_rows(g, g->A + batch_i * g->stride_a, g->B + batch_i * g->stride_b, g->C + batch_i * g->stride_c, bias, m0,
              m1, bp);
}
