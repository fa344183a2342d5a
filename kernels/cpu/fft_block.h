/* fft_block.h — our own FFT for FlashConv (internal to kernels/cpu): a block
 * (Cooley–Tukey, "six-step") FFT over VL independent signals at once.
 *
 * Layout: lane l of every vector belongs to signal l ("vertical" SIMD), so a
 * butterfly is the scalar butterfly written in vector types and needs no
 * shuffles; VL signals are one panel (16 channels in float, 8 in double).
 * A complex panel element is fb_cx = {re lanes, im lanes}, 2 vectors.
 *
 * Real transforms of size n = 2M go through a complex FFT of size M:
 * z_j = x_2j + i x_2j+1, so a real time signal of n samples stored as n
 * vectors IS the packed complex array of M elements (no packing pass).
 * Convolutions pad L samples to n >= 2L, so the second half of z is zero:
 * the forward transform never reads it (implicit zero padding) and the
 * inverse only writes the first half (the L outputs kept).
 *
 * Complex transform: M = r1 r2 ... rs (radix 8 stages, one 2 or 4 stage
 * last). Forward = decimation in frequency: each stage does r-point DFTs
 * across stride m/r, multiplies by twiddles, and recurses into r contiguous
 * sub-blocks (the block decomposition M = r x M/r of the paper, applied
 * recursively and depth-first once a block outgrows L2). The output is left
 * in digit-reversed order: pointwise products do not care, and the inverse
 * (the exact mirror, decimation in time) takes that order back to natural.
 * No transposes, no bit-reversal pass. The inverse is unnormalised (x M).
 *
 * Spectrum form ("untangled"): after fb_rfft, position p holds the real
 * signal's X_k for the k whose Z_k the complex FFT left there; position 0
 * holds (X_0, X_M) as (re, im), both real. Kernel spectra, products and
 * gradient sums all live in this form, so no pass ever reorders them.
 *
 * Twiddles are computed in double, stored in `real`, cached per size. */
#ifndef HIPPO_FFT_BLOCK_H
#define HIPPO_FFT_BLOCK_H

#include "simd.h"

typedef struct {
    vec re, im;
} fb_cx;

#define FB_MIN_N 16
#define FB_MAX_N (1 << 21)
#define FB_MAX_STAGES 8

/* One untangle pair: position p holds Z_k, q holds Z_{M-k} (1 <= k <= M/2;
 * p == q at k = M/2), w = e^{-2 pi i k / n}. */
struct fb_pair {
    int p, q;
    real wr, wi;
};

struct fb_plan {
    int n, M; /* real size n = 2M; complex size M */
    int ns;   /* complex stages */
    int radix[FB_MAX_STAGES];
    int blk[FB_MAX_STAGES];  /* block size of stage s: M / (r_0 ... r_{s-1}) */
    real *tw[FB_MAX_STAGES]; /* stage s at block m: (m/r) rows of r-1 complex twiddles (re, im) */
    int npair;
    struct fb_pair *pair; /* in increasing p */
    int *pos;             /* pos[k]: position of Z_k after the forward transform (M entries) */
};

/* The cached plan for real size n (a power of two in [FB_MIN_N, FB_MAX_N]);
 * thread-safe, never freed. */
const struct fb_plan *fb_plan_get(int n);

/* A plan with the given radices (each 2, 4, 8 or 16, product n/2), or the
 * default ones when radix is NULL; not cached: the tests run every codelet
 * through it, the lab compares factorisations. Free with fb_plan_free. */
struct fb_plan *fb_plan_new(int n, const int *radix, int ns);
void fb_plan_free(struct fb_plan *p);

/* Smallest power-of-two real FFT size >= 2m (at least FB_MIN_N): what a
 * linear convolution of m samples pads to. */
int fb_size_for(int m);

/* Complex transforms of M elements, in place. half_in: elements M/2.. are
 * taken as zero (never read). half_out: only elements 0..M/2-1 are written. */
void fb_fft(const struct fb_plan *p, fb_cx *x, bool half_in);
void fb_ifft(const struct fb_plan *p, fb_cx *x, bool half_out);

/* Real forward transform of n samples x (n vectors, samples >= n/2 taken as
 * zero) into spectrum form, times `scale`. */
void fb_rfft(const struct fb_plan *p, fb_cx *x, real scale);
/* The inverse of spectrum form: the first n/2 samples of the signal whose
 * DFT is X, times M * scale (scale = 1/M gives the signal itself); the
 * rest of x is left undefined. */
void fb_irfft(const struct fb_plan *p, fb_cx *x, real scale);

/* Spectrum-form pointwise work, all in place on x:
 *  fb_conv:  x = irfft-ready(rfft-form(x) * K) — x holds a forward complex
 *            transform (fb_fft output, not untangled); the product with the
 *            spectrum K (spectrum form) is left ready for fb_ifft. conj_k
 *            multiplies by conj(K) instead (correlation).
 *  fb_corr_acc: with x and y forward complex transforms, G += conj(X) * Y
 *            in spectrum form (x, y left untouched).
 *  fb_tangle: spectrum form -> ready for fb_ifft (the inverse of untangling). */
void fb_conv(const struct fb_plan *p, fb_cx *x, const fb_cx *K, bool conj_k);
void fb_corr_acc(const struct fb_plan *p, const fb_cx *x, const fb_cx *y, fb_cx *G);
void fb_tangle(const struct fb_plan *p, fb_cx *x);
void fb_untangle(const struct fb_plan *p, fb_cx *x, real scale);

/* Which instruction set the transform's clones run with ("avx512f",
 * "avx2", "default"), for reports. */
const char *fb_isa(void);

#endif
