/* flashconv.cu — FlashConv on the GPU, version 1: H3's inner op forward as
 * one fused kernel per (batch entry, group of G channels), the sequence kept
 * in shared memory through our own FFT (flash_math.cuh: load k~ v, forward
 * transform, times the kernel's spectrum, inverse, + Dk kv, times q; summed
 * over the head's rows). Kernel spectra come first from a one-block-per-row
 * kernel of the same FFT (so their positions match), into WS_FLASH_K.
 *
 * What it supports (cuda_flash_h3_supports): FFT size n = 2^a >= 2L whose
 * block (G >= 1 signals of n/2 + 1 complex elements, the kv row and, for
 * head_dim > 1, the sum row) fits the device's shared memory per block — on
 * Hopper (227 KiB) L <= 16384 with head_dim 1 and L <= 8192 otherwise — and
 * B <= 65535 (the grid's y). Anything else goes to the pipeline
 * (h3_inner.cu). The backward is the pipeline's for now. */
#include "backend.cuh"
#include "flash_math.cuh"

/* Threads per block: 256 by default (not measured yet: the bench times 128,
 * 256 and 512 through cuda_flash_set_threads). */
static int flash_threads = 256;

extern "C" void cuda_flash_set_threads(int nt) {
    HP_CHECK(nt >= 32 && nt <= 1024 && nt % 32 == 0);
    flash_threads = nt;
}
/* Shared memory a block aims at: two blocks per SM on Hopper (228 KiB). */
#define FLASH_SMEM_TARGET (100 << 10)

__global__ void kspec_k(struct cuf_kspec c) {
    extern __shared__ cf smem_k[];
    cuf_kspec_block(&c, blockIdx.x, smem_k, blockDim.x);
}

__global__ void flash_h3_k(struct cuf_h3 c) {
    extern __shared__ cf smem_h3[];
    cuf_h3_block(&c, blockIdx.x, blockIdx.y, smem_h3, blockDim.x);
}

/* The kernel's view of the call, K and roots not yet set: lanes G halved
 * from 16 while a block's shared memory is over the target. */
static struct cuf_h3 flash_of(const struct h3_inner_args *a) {
    struct cuf_h3 c = {a->B, a->L, a->D, a->head_dim, a->Lk, a->q, a->kt, a->v, a->Dk, a->o, NULL, NULL,
                       cuf_plan_make(cuf_size_for(a->L)), CUF_LANES_MAX};
    while (c.G > 1 && cuf_h3_smem(&c) > FLASH_SMEM_TARGET) c.G /= 2;
    return c;
}

bool cuda_flash_h3_supports(const struct h3_inner_args *a) {
    if (a->L > (1 << 20) || a->B > 65535) return false;
    struct cuf_h3 c = flash_of(a);
    return cuf_h3_smem(&c) <= (size_t)cuda_smem_optin();
}

/* Let both kernels take up to the opt-in limit of shared memory. */
static void allow_smem(void) {
    static bool done;
    if (done) return;
    CUDA_CHECK(cudaFuncSetAttribute(kspec_k, cudaFuncAttributeMaxDynamicSharedMemorySize, cuda_smem_optin()));
    CUDA_CHECK(cudaFuncSetAttribute(flash_h3_k, cudaFuncAttributeMaxDynamicSharedMemorySize, cuda_smem_optin()));
    done = true;
}

void cuda_flash_h3(const struct h3_inner_args *a) {
    allow_smem();
    struct cuf_h3 c = flash_of(a);
    int rows = a->D / a->head_dim, M = c.plan.M;
    c.roots = cuda_roots(c.plan.n);
    cf *K = (cf *)cuda_ws(WS_FLASH_K, sizeof(cf) * rows * M);
    struct cuf_kspec ks = {a->Lk, a->K, K, c.roots, c.plan};
    kspec_k<<<rows, flash_threads, sizeof(cf) * M>>>(ks);
    CUDA_LAUNCHED("kspec_k");
    c.K = K;
    dim3 grid((a->D + c.G - 1) / c.G, a->B);
    flash_h3_k<<<grid, flash_threads, cuf_h3_smem(&c)>>>(c);
    CUDA_LAUNCHED("flash_h3_k");
}
