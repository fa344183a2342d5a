/* gemm.c — the CPU gemm: batched, strided C = alpha op(A) op(B) + beta C,
 * row-major, through CBLAS (sgemm or dgemm per `real`). */
#include "cpu.h"

#include <cblas.h>

static enum CBLAS_TRANSPOSE tr(enum op_trans t) {
    return t == OP_T ? CblasTrans : CblasNoTrans;
}

static void gemm_one(const struct gemm_args *a, const real *A, const real *B, real *C) {
#ifdef HIPPO_F64
    cblas_dgemm(CblasRowMajor, tr(a->ta), tr(a->tb), a->M, a->N, a->K, a->alpha, A, a->lda, B, a->ldb,
                a->beta, C, a->ldc);
#else
    cblas_sgemm(CblasRowMajor, tr(a->ta), tr(a->tb), a->M, a->N, a->K, a->alpha, A, a->lda, B, a->ldb,
                a->beta, C, a->ldc);
#endif
}

void cpu_gemm(const struct gemm_args *a) {
    HP_CHECK(a->batch >= 1 && a->M >= 0 && a->N >= 0 && a->K >= 0);
    if (a->M == 0 || a->N == 0) return;
    for (int i = 0; i < a->batch; i++)
        gemm_one(a, a->A + i * a->stride_a, a->B + i * a->stride_b, a->C + i * a->stride_c);
}

const char *cpu_gemm_name(void) { return "openblas"; }
