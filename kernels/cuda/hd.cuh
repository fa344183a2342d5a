/* hd.cuh — what the CUDA kernels and the CPU test suite share: the `HD`
 * qualifier for arithmetic compiled for both sides, and the complex types.
 *
 * Every *_math.cuh header is written in the common subset of C11 and CUDA
 * C++ (no compound literals, no overloading, no templates), so nvcc compiles
 * it into the kernels and the host C compiler into tests/test_cuda_math.c,
 * which runs the kernels' own arithmetic on the CPU against the CPU backend.
 * Under nvcc HD is `__host__ __device__` and force-inlined (a radix or a
 * flag passed as a literal then unrolls its loops into registers); under the
 * host compiler it is plain `static inline`. */
#ifndef HIPPO_CUDA_HD_CUH
#define HIPPO_CUDA_HD_CUH

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __CUDACC__
#define HD static __host__ __device__ __forceinline__
#else
#define HD static inline
#endif

/* A block program: a list of passes over a thread block's shared memory,
 * each pass a loop that thread tid of nt runs over its work items, passes
 * separated by BLOCK_PASS. On the GPU a pass runs on every thread and ends in
 * a barrier; on the CPU (tests/test_cuda_math.c) the threads of the block run
 * one after another. Items of one pass touch disjoint shared elements and
 * read only what earlier passes wrote, so both orders compute the same. A
 * value that lives from one pass to the next lives in shared memory. */
#ifdef __CUDA_ARCH__
#define BLOCK_PASS(...)              \
    do {                             \
        const int tid = threadIdx.x; \
        __VA_ARGS__;                 \
        __syncthreads();             \
    } while (0)
#else
#define BLOCK_PASS(...)                                     \
    do {                                                    \
        for (int tid = 0; tid < nt; tid++) { __VA_ARGS__; } \
    } while (0)
#endif

/* part[0] (=) the sum of part[0 .. nt), nt a power of two, by a fixed tree:
 * the order of every sum a block makes, so results do not depend on timing. */
HD void block_sum(double *part, int nt) {
    for (int s = nt / 2; s > 0; s /= 2) BLOCK_PASS(if (tid < s) part[tid] += part[tid + s]);
}

/* Complex float (8-byte aligned: one 64-bit shared-memory access) and
 * complex double, as (re, im); cuFFT's cufftComplex has the same layout. */
typedef struct __attribute__((aligned(8))) {
    float re, im;
} cf;
typedef struct __attribute__((aligned(16))) {
    double re, im;
} cd;

HD cf cf_make(float re, float im) {
    cf r;
    r.re = re, r.im = im;
    return r;
}
HD cf cf_add(cf a, cf b) { return cf_make(a.re + b.re, a.im + b.im); }
HD cf cf_sub(cf a, cf b) { return cf_make(a.re - b.re, a.im - b.im); }
HD cf cf_conj(cf a) { return cf_make(a.re, -a.im); }
HD cf cf_scale(cf a, float s) { return cf_make(a.re * s, a.im * s); }
HD cf cf_mul(cf a, cf b) { return cf_make(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re); }
/* conj(a) * b */
HD cf cf_cmul(cf a, cf b) { return cf_make(a.re * b.re + a.im * b.im, a.re * b.im - a.im * b.re); }
/* a * (-i) forward, a * i inverse: the quarter turn of the radix-4 butterfly */
HD cf cf_rot(cf a, bool inv) { return inv ? cf_make(-a.im, a.re) : cf_make(a.im, -a.re); }

HD cd cd_make(double re, double im) {
    cd r;
    r.re = re, r.im = im;
    return r;
}
HD cd cd_add(cd a, cd b) { return cd_make(a.re + b.re, a.im + b.im); }
HD cd cd_sub(cd a, cd b) { return cd_make(a.re - b.re, a.im - b.im); }
HD cd cd_conj(cd a) { return cd_make(a.re, -a.im); }
HD cd cd_scale(cd a, double s) { return cd_make(a.re * s, a.im * s); }
HD cd cd_mul(cd a, cd b) { return cd_make(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re); }
/* a / b written out (finite, moderate values: no inf/NaN care needed) */
HD cd cd_div(cd a, cd b) {
    double d = b.re * b.re + b.im * b.im;
    return cd_make((a.re * b.re + a.im * b.im) / d, (a.im * b.re - a.re * b.im) / d);
}
HD cd cd_exp(cd a) {
    double m = exp(a.re);
    return cd_make(m * cos(a.im), m * sin(a.im));
}
/* principal log: (log |a|, arg a) */
HD cd cd_log(cd a) { return cd_make(0.5 * log(a.re * a.re + a.im * a.im), atan2(a.im, a.re)); }

#endif
