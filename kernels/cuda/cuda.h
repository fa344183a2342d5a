/* cuda.h — the CUDA backend seen from C (kernels/cuda): device memory, the
 * device in words, timing, and the paths an op can take, for the GPU suite,
 * the bench and (later) the harness. The ops themselves are ops_cuda()'s
 * table (ops.h).
 *
 * Every function here exists in every build. Built without the backend
 * (CUDA=0, or the f64 build: the CUDA backend is f32 only) cuda_ready() is
 * false, the memory and path functions die naming that, and the `supports`
 * queries answer false. Failures of CUDA calls are environmental: they print
 * the failed statement, file:line and device, and exit (kernels/cuda/check.cu).
 * The backend is driven from one host thread; its ops run in order on the
 * default stream, and the copies below synchronise with them. */
#ifndef HIPPO_CUDA_H
#define HIPPO_CUDA_H

#include "../ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* True when this build has the backend and a usable device (ops_cuda_status()
 * says why not). */
bool cuda_ready(void);
/* True when this build has the backend, device or not. */
bool cuda_built(void);
/* Whether cuBLAS and cuFFT load with every function the backend calls (they
 * are loaded at start, not linked); needs no device. False with a message. */
bool cuda_libs_present(char *err, size_t errlen);

/* Device memory, synchronous copies (host <-> device), byte fill. */
void *cuda_malloc(size_t bytes);
void cuda_free(void *p);
void cuda_upload(void *dst, const void *src, size_t bytes);
void cuda_download(void *dst, const void *src, size_t bytes);
void cuda_memset(void *dst, int byte, size_t bytes);
void cuda_sync(void);

/* Milliseconds one call of fn(ctx) takes on the device (CUDA events around
 * it, synchronised): what the bench times. */
double cuda_time_ms(void (*fn)(void *ctx), void *ctx);

/* The long convolution's two paths: a direct kernel (short L) and the cuFFT
 * pipeline (batched R2C, multiply, C2R; gather and skip passes). ops->conv
 * picks by cuda_conv_choice. */
enum cuda_conv_path { CUDA_CONV_DIRECT, CUDA_CONV_CUFFT };
enum cuda_conv_path cuda_conv_choice(const struct conv_args *a);
void cuda_conv_via(const struct conv_args *a, enum cuda_conv_path p);
void cuda_conv_bwd_via(const struct conv_bwd_args *g, enum cuda_conv_path p);

/* H3's inner op: FlashConv (one fused kernel per batch entry and group of
 * channels, its own shared-memory FFT; forward only so far) or the pipeline
 * (outer product, the long convolution, the q contraction as separate
 * passes). cuda_h3_flash_supports says which shapes the fused kernel takes
 * (its FFT within the shared memory of a block: on Hopper L <= 16384 with
 * head_dim 1, L <= 8192 otherwise); ops->h3_inner uses it whenever it does,
 * the pipeline otherwise. */
enum cuda_h3_path { CUDA_H3_FLASH, CUDA_H3_PIPELINE };
bool cuda_h3_flash_supports(const struct h3_inner_args *a);
void cuda_h3_inner_via(const struct h3_inner_args *a, enum cuda_h3_path p);
/* FlashConv's threads per block (a multiple of 32; default 256): the bench's knob. */
void cuda_flash_set_threads(int nt);

#ifdef __cplusplus
}
#endif

#endif
