/* cpu.h — internal to the CPU backend: the op entry points the table in
 * ops_cpu.c points at, and the rule for when an op opens a parallel region. */
#ifndef HIPPO_KERNELS_CPU_H
#define HIPPO_KERNELS_CPU_H

#include "../ops.h"

#include <omp.h>
#include <stdlib.h>

void cpu_gemm(const struct gemm_args *a);
void cpu_conv(const struct conv_args *a);
void cpu_conv_bwd(const struct conv_bwd_args *a);
void cpu_ssm_kernel(const struct ssm_kernel_args *a);
void cpu_ssm_kernel_bwd(const struct ssm_kernel_bwd_args *a);
void cpu_softmax(const struct softmax_args *a);
void cpu_softmax_bwd(const struct softmax_bwd_args *a);
void cpu_layernorm(const struct layernorm_args *a);
void cpu_layernorm_bwd(const struct layernorm_bwd_args *a);
void cpu_gelu(const struct gelu_args *a);
void cpu_gelu_bwd(const struct gelu_bwd_args *a);
void cpu_xent(const struct xent_args *a);
void cpu_xent_bwd(const struct xent_bwd_args *a);
/* Phase 2: the device name (device.c), memory (mem.c), ewise, colsum, dropout, finite
 * (ewise.c), embed (embed.c), adamw (adamw.c), H3's heads (heads.c), the
 * shift SSM kernel (shift_kernel.c), sine (sine.c). */
const char *cpu_device_name(void);
void *cpu_alloc(size_t bytes);
void cpu_free(void *p);
void cpu_copy_bytes(void *dst, const void *src, size_t bytes);
void cpu_ewise(const struct ewise_args *a);
void cpu_colsum(const struct colsum_args *a);
void cpu_dropout(const struct dropout_args *a);
void cpu_finite(const struct finite_args *a);
void cpu_embed(const struct embed_args *a);
void cpu_embed_bwd(const struct embed_bwd_args *a);
void cpu_adamw(const struct adamw_args *a);
void cpu_head_outer(const struct head_outer_args *a);
void cpu_head_outer_bwd(const struct head_outer_bwd_args *a);
void cpu_head_contract(const struct head_contract_args *a);
void cpu_head_contract_bwd(const struct head_contract_bwd_args *a);
void cpu_shift_kernel(const struct shift_kernel_args *a);
void cpu_shift_kernel_bwd(const struct shift_kernel_bwd_args *a);
void cpu_sine(const struct sine_args *a);
void cpu_sine_bwd(const struct sine_bwd_args *a);

/* The two long-convolution paths cpu_conv / cpu_conv_bwd choose between
 * (exposed so tests and benchmarks can run each one directly). */
void cpu_conv_direct(const struct conv_args *a);
void cpu_conv_direct_bwd(const struct conv_bwd_args *a);
void cpu_conv_fft(const struct conv_args *a);
void cpu_conv_fft_bwd(const struct conv_bwd_args *a);
/* FlashConv (flashconv.c): the same contract, fused per panel of channels
 * around our own block FFT (fft_block.h). */
void cpu_conv_flash(const struct conv_args *a);
void cpu_conv_flash_bwd(const struct conv_bwd_args *g);
/* The fused H3 inner op (flashconv_h3.c). */
void cpu_h3_inner(const struct h3_inner_args *a);
void cpu_h3_inner_bwd(const struct h3_inner_bwd_args *g);
/* Diagonal-SSM convolution by state passing (flashconv_ssm.c); the chunk
 * length it uses for L when a->T is 0. */
void cpu_ssm_conv_chunked(const struct ssm_conv_args *a);
void cpu_ssm_conv_chunked_bwd(const struct ssm_conv_bwd_args *g);
int cpu_ssm_conv_chunk(int T, int L);
/* Causal attention in tiles with an online softmax (attention.c). */
void cpu_attention(const struct attention_args *a);
void cpu_attention_bwd(const struct attention_bwd_args *g);
/* The register-blocked direct kernel for BLH with H a multiple of the vector
 * width (conv_blh.c); cpu_conv_direct uses it whenever it fits. */
bool cpu_conv_blh_fits(const struct conv_args *a);
void cpu_conv_blh(const struct conv_args *a);
void cpu_conv_blh_bwd(const struct conv_bwd_args *g);
/* FFT length the FFT path uses for a linear convolution of m outputs. */
int cpu_conv_fft_size(int m);
/* True when cpu_conv takes an FFT path (FFTW or FlashConv) for this shape. */
bool cpu_conv_use_fft(const struct conv_args *a);
/* The path cpu_conv takes, by the table in conv_table.h, and its name. */
enum cpu_conv_engine { CPU_CONV_DIRECT, CPU_CONV_FFTW, CPU_CONV_FLASH };
enum cpu_conv_engine cpu_conv_path(const struct conv_args *a);
const char *cpu_conv_path_name(const struct conv_args *a);
/* The instruction set FlashConv's FFT clones run with. */
const char *cpu_flash_isa(void);

/* The gemm engines cpu_gemm can run: our own kernel and CBLAS, both split
 * over OpenMP threads the same way. The own kernel computes rows m0..m1 of
 * batch entry bi, using `scratch` of cpu_gemm_own_scratch(N) bytes. */
void cpu_gemm_own(const struct gemm_args *g);
void cpu_gemm_blas(const struct gemm_args *g);
size_t cpu_gemm_own_scratch(int N);
/* Split a gemm over OpenMP threads and run `rows` on each piece (rows m0..m1
 * of batch entry bi) with a private scratch of scratch_bytes. */
typedef void (*cpu_gemm_rows_fn)(const struct gemm_args *g, int bi, int m0, int m1, void *scratch);
void cpu_gemm_split(const struct gemm_args *g, cpu_gemm_rows_fn rows, size_t scratch_bytes);
void cpu_gemm_own_rows(const struct gemm_args *g, int bi, int m0, int m1, void *scratch);

/* Per-thread scratch (scratch.c): valid until the next call with the same slot
 * on the same thread; each buffer an op holds at once has its own slot. */
enum cpu_scratch_slot {
    SCRATCH_GEMM_PACK,
    SCRATCH_CONV_TAPS,
    SCRATCH_CONV_ACC,
    SCRATCH_CONV_DTAPS,
    SCRATCH_SSM_MODES,
    SCRATCH_SSM_SUMS,
    SCRATCH_SSM_GRAD_A,
    SCRATCH_SSM_MODE_CACHE,
    SCRATCH_LN_ACC,
    SCRATCH_XENT_ROW,
    SCRATCH_FC_A,    /* FlashConv: transform buffers (n/2 panel elements each) */
    SCRATCH_FC_B,
    SCRATCH_FC_G,    /* the kernel-gradient spectrum sum */
    SCRATCH_FC_K,    /* the panel's kernel spectrum */
    SCRATCH_FC_T0,   /* time-domain panel copies (L vectors each) */
    SCRATCH_FC_T1,
    SCRATCH_FC_T2,
    SCRATCH_FC_SSM,  /* state passing: mode tables and states */
    SCRATCH_ATTN,    /* tiled attention: one head's tiles */
    CPU_SCRATCH_SLOTS
};
void *cpu_scratch(enum cpu_scratch_slot slot, size_t bytes);

/* Name of the gemm path cpu_gemm takes (for ops->gemm_name). */
const char *cpu_gemm_name(void);

/* Open a parallel region only when an op has at least this many flop-ish
 * units of work: below it the fork/join overhead (a few microseconds) costs
 * more than the second core saves. Measured in kernels/lab. */
#define CPU_PAR_MIN_WORK 200000.0

static inline bool cpu_par(double work) {
    return work >= CPU_PAR_MIN_WORK && omp_get_max_threads() > 1 && !omp_in_parallel();
}

#endif
