/* ops.c — backend-independent helpers over the ops table. */
#include "ops.h"

void ops_gemm(const struct ops *o, enum op_trans ta, enum op_trans tb, int M, int N, int K, real alpha,
              const real *A, int lda, const real *B, int ldb, real beta, real *C, int ldc) {
    struct gemm_args g = {
        .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .alpha = alpha, .beta = beta,
        .A = A, .lda = lda, .B = B, .ldb = ldb, .C = C, .ldc = ldc, .batch = 1,
    };
    o->gemm(&g);
}
