/* backend.cuh — internal to kernels/cuda: what every .cu file shares.
 *  - the project's C headers, seen from CUDA C++;
 *  - checked calls: CUDA_CHECK, CUBLAS_CHECK, CUFFT_CHECK print the failed
 *    statement, the error, file:line and the device, then exit (check.cu);
 *    CUDA_LAUNCHED after every kernel launch (with HIPPO_CUDA_SYNC=1 in the
 *    environment it also waits for the kernel, so an asynchronous fault is
 *    reported at its own launch);
 *  - workspaces: one device allocation per kind, grown when a call needs
 *    more, never freed per call (runtime.cu);
 *  - cuBLAS and cuFFT through cuda_lib() (loaded at start, not linked);
 *  - the cuBLAS handle, cached cuFFT plans, FFT root tables;
 *  - the op entry points ops_cuda.cu puts in the table. */
#ifndef HIPPO_CUDA_BACKEND_CUH
#define HIPPO_CUDA_BACKEND_CUH

#ifdef HIPPO_F64
#error "the CUDA backend is f32 only: mk/cuda.mk never builds it with HIPPO_F64"
#endif

/* C11's _Noreturn (core/base.h) is not C++. */
#define _Noreturn __attribute__((noreturn))
extern "C" {
#include "../ops.h"
}
#undef _Noreturn
#include "cuda.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cufft.h>

#include "hd.cuh"

/* ---- cuBLAS and cuFFT, loaded at start (libs.cu) ---------------------------------- */

#define CUDA_LIB_FNS(X)                                                                          \
    X(cublasCreate_v2) X(cublasSetMathMode) X(cublasGetStatusString) X(cublasSgemmStridedBatched) \
    X(cufftCreate) X(cufftSetAutoAllocation) X(cufftMakePlan1d) X(cufftSetWorkArea) X(cufftExecR2C) \
    X(cufftExecC2R) X(cufftDestroy)
#define CUDA_LIB_MEMBER(f) decltype(&::f) f;
struct cuda_libs {
    CUDA_LIB_FNS(CUDA_LIB_MEMBER)
};
/* Load them (once); false with a message naming what is missing. */
bool cuda_libs_load(char *err, size_t errlen);
/* The loaded functions (after cuda_ready()). */
const struct cuda_libs *cuda_lib(void);

/* ---- checked calls (check.cu) ------------------------------------------------ */

__attribute__((noreturn)) void cuda_fail(const char *lib, const char *err, const char *stmt, const char *file,
                                         int line);
const char *cuda_cufft_error(cufftResult r);
void cuda_launched(const char *kernel, const char *file, int line);

static inline void cuda_check_rt(cudaError_t e, const char *stmt, const char *file, int line) {
    if (e != cudaSuccess) cuda_fail("CUDA", cudaGetErrorString(e), stmt, file, line);
}
static inline void cuda_check_blas(cublasStatus_t s, const char *stmt, const char *file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS) cuda_fail("cuBLAS", cuda_lib()->cublasGetStatusString(s), stmt, file, line);
}
static inline void cuda_check_fft(cufftResult r, const char *stmt, const char *file, int line) {
    if (r != CUFFT_SUCCESS) cuda_fail("cuFFT", cuda_cufft_error(r), stmt, file, line);
}
#define CUDA_CHECK(x) cuda_check_rt((x), #x, __FILE__, __LINE__)
#define CUBLAS_CHECK(x) cuda_check_blas((x), #x, __FILE__, __LINE__)
#define CUFFT_CHECK(x) cuda_check_fft((x), #x, __FILE__, __LINE__)
#define CUDA_LAUNCHED(kernel) cuda_launched(kernel, __FILE__, __LINE__)

/* kernel<<<>>> over n items, 256 threads a block, n passed last; checked. */
#define CUDA_LAUNCH(kernel, n, ...)                                   \
    do {                                                              \
        size_t n_ = (n);                                              \
        kernel<<<cuda_grid(n_, 256), 256>>>(__VA_ARGS__, n_);         \
        CUDA_LAUNCHED(#kernel);                                       \
    } while (0)

/* Blocks of `threads` covering `items` (a 1-D grid). */
static inline unsigned cuda_grid(size_t items, int threads) {
    size_t g = (items + threads - 1) / threads;
    HP_CHECK(g < (1u << 31));
    return g ? (unsigned)g : 1u;
}

/* ---- runtime (runtime.cu) ------------------------------------------------------ */

/* Workspace kinds: each op (and each op it calls) uses its own, so nested
 * calls never share one. */
enum cuda_ws_kind {
    WS_ROWS,                                  /* per-row partial sums of the row ops */
    WS_SSM_MODES, WS_SSM_SUMS, WS_SSM_GRADS,  /* SSM kernel: modes, power sums, per-mode grads */
    WS_CONV_U, WS_CONV_UF, WS_CONV_Y, WS_CONV_YF, WS_CONV_K, WS_CONV_KF, /* the cuFFT pipeline */
    WS_CONV_RED,                              /* its gradient partial sums */
    WS_CUFFT,                                 /* cuFFT plans' work area */
    WS_H3_KV, WS_H3_Y, WS_H3_DY, WS_H3_DKV,   /* the h3_inner pipeline's (B, L, D d_h) tensors */
    WS_FLASH_K,                               /* FlashConv's kernel spectra */
    WS_SSMCONV_K, WS_SSMCONV_DK,              /* ssm_conv_chunked: the full kernel and its gradient */
    WS_ATTN_DR,                               /* attention's backward: dO . o per row */
    WS_COLSUM,                                /* column sums' per-chunk partials (colsum, sine) */
    WS_FINITE,                                /* the finite check's flag */
    CUDA_WS_KINDS
};
/* At least `bytes` of device memory for kind k, valid until the next call
 * for the same kind (grown, never shrunk). */
void *cuda_ws(enum cuda_ws_kind k, size_t bytes);

cublasHandle_t cuda_blas(void);
/* cuFFT plan of n points over `batch` contiguous signals (R2C or C2R; real
 * rows n apart, complex rows n/2 + 1 apart), cached; its work area is
 * WS_CUFFT, set before it is returned. */
cufftHandle cuda_fft_plan(int n, int batch, cufftType type);
/* Device table w_n^i = e^{-2 pi i i / n}, i < n (fft_math.cuh), cached per n. */
const cf *cuda_roots(int n);
/* Shared memory one block may use when it asks for it (the opt-in limit). */
int cuda_smem_optin(void);

/* The diagonal SSM's kernel from its modes (ssm_kernel.cu; ssm_math.cuh):
 * K (rows, L) (=) taps of rows x n2 modes; S (rows x n2, 2) (=) each mode's
 * power sums S0, S1 over its row of dK (rows, L). */
struct ssm_mode;
void cuda_ssm_taps(const struct ssm_mode *m, int rows, int n2, int L, float *K);
void cuda_ssm_sums(const struct ssm_mode *m, int rows, int n2, const float *dK, int L, cd *S);

/* The convolution's parameter gradients by direct sums (conv.cu;
 * conv_math.cuh): dk (+=) when dk, dD (+=) when dD. */
struct cuconv;
void cuda_conv_grad_sums(const struct cuconv *s, const float *u, const float *dy, float *dk, float *dD);
/* The cuFFT pipeline (conv_fft.cu). */
void cuda_conv_cufft(const struct conv_args *a);
void cuda_conv_cufft_bwd(const struct conv_bwd_args *g);

/* ---- the ops (one file each) -------------------------------------------------- */

/* memory (mem.cu): zero-filled allocation, copies that accept 0 bytes */
void *cuda_alloc_zero(size_t bytes);
void cuda_upload_n(void *dst, const void *src, size_t bytes);
void cuda_download_n(void *dst, const void *src, size_t bytes);

void cuda_gemm(const struct gemm_args *a);
void cuda_softmax(const struct softmax_args *a);
void cuda_softmax_bwd(const struct softmax_bwd_args *a);
void cuda_layernorm(const struct layernorm_args *a);
void cuda_layernorm_bwd(const struct layernorm_bwd_args *a);
void cuda_gelu(const struct gelu_args *a);
void cuda_gelu_bwd(const struct gelu_bwd_args *a);
void cuda_xent(const struct xent_args *a);
void cuda_xent_bwd(const struct xent_bwd_args *a);
void cuda_ssm_kernel(const struct ssm_kernel_args *a);
void cuda_ssm_kernel_bwd(const struct ssm_kernel_bwd_args *a);
void cuda_conv(const struct conv_args *a);
void cuda_conv_bwd(const struct conv_bwd_args *a);
void cuda_h3_inner(const struct h3_inner_args *a);
void cuda_h3_inner_bwd(const struct h3_inner_bwd_args *a);
void cuda_ssm_conv_chunked(const struct ssm_conv_args *a);
void cuda_ssm_conv_chunked_bwd(const struct ssm_conv_bwd_args *a);
void cuda_attention(const struct attention_args *a);
void cuda_attention_bwd(const struct attention_bwd_args *a);
/* the generic tensor ops (ew.cu, heads.cu) */
void cuda_ewise(const struct ewise_args *a);
void cuda_colsum(const struct colsum_args *a);
void cuda_dropout(const struct dropout_args *a);
void cuda_finite(const struct finite_args *a);
void cuda_adamw(const struct adamw_args *a);
void cuda_sine(const struct sine_args *a);
void cuda_sine_bwd(const struct sine_bwd_args *a);
void cuda_embed(const struct embed_args *a);
void cuda_embed_bwd(const struct embed_bwd_args *a);
void cuda_head_outer(const struct head_outer_args *a);
void cuda_head_outer_bwd(const struct head_outer_bwd_args *a);
void cuda_head_contract(const struct head_contract_args *a);
void cuda_head_contract_bwd(const struct head_contract_bwd_args *a);
void cuda_shift_kernel(const struct shift_kernel_args *a);
void cuda_shift_kernel_bwd(const struct shift_kernel_bwd_args *a);

#endif
