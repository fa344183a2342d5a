/* gemm.cu — ops.h's gemm through cuBLAS: row-major C = alpha op(A) op(B) +
 * beta C (+ bias on every row), batched with element strides.
 *
 * cuBLAS is column-major: a row-major (M, N) matrix with row stride ldc is
 * its transpose in column-major with leading dimension ldc, so C^T =
 * op(B)^T op(A)^T is one cublasSgemmStridedBatched with the operands swapped
 * and the same transpose flags. FP32 throughout (no TF32: the handle keeps
 * CUBLAS_DEFAULT_MATH). The bias is a second pass (cuBLAS has no row bias in
 * a plain gemm); beta = 0 never reads C, as on the CPU. */
#include "backend.cuh"

static cublasOperation_t op_of(enum op_trans t) { return t == OP_T ? CUBLAS_OP_T : CUBLAS_OP_N; }

/* C[bi] (= beta C, or += bias) over batch x M x N elements. */
struct gemm_epi {
    float *C;
    int M, N, ldc;
    long long sc;
    const float *bias; /* NULL: no bias */
    long long sb;
    float beta;
    bool scale; /* C = beta C first (the K = 0 case) */
};

__global__ void gemm_epi_k(struct gemm_epi e, size_t total) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= total) return;
    size_t per = (size_t)e.M * e.N, bi = i / per;
    int m = (int)(i % per / e.N), n = (int)(i % e.N);
    float *c = e.C + bi * e.sc + (size_t)m * e.ldc + n;
    float v = e.scale ? (e.beta == 0 ? 0.0f : e.beta * *c) : *c;
    if (e.bias) v += e.bias[bi * e.sb + n];
    *c = v;
}

static void epilogue(const struct gemm_args *g, int batch, bool scale) {
    if (!g->bias && !scale) return;
    struct gemm_epi e = {g->C, g->M, g->N, g->ldc, (long long)g->stride_c, g->bias, (long long)g->stride_bias,
                         g->beta, scale};
    CUDA_LAUNCH(gemm_epi_k, (size_t)batch * g->M * g->N, e);
}

void cuda_gemm(const struct gemm_args *g) {
    HP_CHECK(g->batch >= 1 && g->M >= 0 && g->N >= 0 && g->K >= 0);
    HP_CHECK(g->batch == 1 || g->stride_c != 0); /* entries writing one C would race (on the CPU too) */
    if (g->M == 0 || g->N == 0) return;
    if (g->K == 0) { /* no product: C = beta C (+ bias) */
        epilogue(g, g->batch, true);
        return;
    }
    float alpha = g->alpha, beta = g->beta;
    CUBLAS_CHECK(cuda_lib()->cublasSgemmStridedBatched(cuda_blas(), op_of(g->tb), op_of(g->ta), g->N, g->M, g->K, &alpha, g->B,
                                           g->ldb, (long long)g->stride_b, g->A, g->lda, (long long)g->stride_a,
                                           &beta, g->C, g->ldc, (long long)g->stride_c, g->batch));
    epilogue(g, g->batch, false);
}
