/* gemm_blas.c — the CBLAS (OpenBLAS) gemm engine, kept for comparison
 * (kernels/lab/bench_gemm.c, tests/test_ops_dense.c). It lives in its own object so
 * that a binary which never calls cpu_gemm_blas does not pull in OpenBLAS,
 * whose thread pool otherwise spins at start-up next to our OpenMP threads. */
#include "cpu.h"

#include <cblas.h>

/* OpenBLAS's own thread pool must stay out of our OpenMP regions. */
void openblas_set_num_threads(int n);

static void blas_rows(const struct gemm_args *g, int bi, int m0, int m1, void *scratch) {
    (void)scratch;
    const real *A = g->A + bi * g->stride_a + (size_t)m0 * (g->ta == OP_N ? g->lda : 1);
    const real *B = g->B + bi * g->stride_b;
    real *C = g->C + bi * g->stride_c + (size_t)m0 * g->ldc;
    enum CBLAS_TRANSPOSE ta = g->ta == OP_T ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = g->tb == OP_T ? CblasTrans : CblasNoTrans;
#ifdef HIPPO_F64
    cblas_dgemm(CblasRowMajor, ta, tb, m1 - m0, g->N, g->K, g->alpha, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
#else
    cblas_sgemm(CblasRowMajor, ta, tb, m1 - m0, g->N, g->K, g->alpha, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
#endif
    if (g->bias)
        for (int i = 0; i < m1 - m0; i++)
            for (int j = 0; j < g->N; j++) C[(size_t)i * g->ldc + j] += g->bias[bi * g->stride_bias + j];
}

void cpu_gemm_blas(const struct gemm_args *g) {
    static bool once;
    if (!once) { /* benign race: every thread stores the same values */
        openblas_set_num_threads(1);
        once = true;
    }
    cpu_gemm_split(g, blas_rows, 0);
}
