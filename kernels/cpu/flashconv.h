/* flashconv.h — what the FlashConv ops share (internal to kernels/cpu):
 * panels of VL channel rows, their gathers and scatters, per-thread buffers
 * and the row-aligned split of work over threads.
 *
 * A panel is up to VL channels c0.. of one batch entry; lane l holds channel
 * c0 + l, so one panel's rows are transformed together by fft_block.h and a
 * time step of a panel is one vector. In BLH (the activation layout) a full
 * panel's time step is one contiguous 64-byte load; in BHL it is gathered
 * from VL rows. Unused lanes of a partial panel are zero. */
#ifndef HIPPO_FLASHCONV_H
#define HIPPO_FLASHCONV_H

#include "cpu.h"
#include "fft_block.h"

/* Where a panel's lanes live: lane l, time t at off[l] + t * st. */
struct fc_lanes {
    int n;           /* lanes in use, 1..VL */
    size_t off[VL];  /* element offset of t = 0 */
    ptrdiff_t st;    /* element stride between time steps */
    bool contig;     /* off[l] = off[0] + l for every lane of a full panel */
};

/* Lanes of channels c0..c0+n-1 of batch entry b in a (B, L, H) or (B, H, L) tensor. */
struct fc_lanes fc_lanes_of(enum conv_layout lay, int L, int H, int b, int c0, int n);

/* Lanes reading channel ch[l] of batch entry b in a (B, L, C) tensor (BLH);
 * several lanes may read the same channel. */
struct fc_lanes fc_lanes_ch(int L, int C, int b, const int *ch, int n);

/* dst[t] (=) the panel's values at time t, t < L; unused lanes 0. */
void fc_gather(const real *src, const struct fc_lanes *ln, int L, vec *dst);
/* dst[t] (=) the panel's values at time t, lanes l < ln->n. */
void fc_scatter(const vec *src, const struct fc_lanes *ln, int L, real *dst);
/* dst at time t (+=) src[t], lane by lane in lane order (lanes sharing a
 * channel add up there). */
void fc_scatter_add(const vec *src, const struct fc_lanes *ln, int L, real *dst);
/* v[l] for lane l of channel c0 + l: table[(c0 + l) / group], 0 beyond n. */
vec fc_lane_vals(const real *table, int c0, int n, int group);

/* Kernel spectrum of a panel in spectrum form, scaled 1/M for the convolution:
 * lane l takes row (c0 + l) / group of k (rows of Lk taps). buf: n/2 vectors. */
void fc_kernel_spectrum(const struct fb_plan *p, const real *k, int Lk, int c0, int nl, int group, fb_cx *K);

/* Zero vectors [from, to) of a time buffer. */
static inline void fc_zero(vec *x, int from, int to) {
    if (to > from) memset(x + from, 0, sizeof(vec) * (size_t)(to - from));
}

/* Rows [r0, r1) of `rows` kernel rows that thread t of nt owns (contiguous,
 * so every sum into a row's gradient stays on one thread, in a fixed order). */
static inline void fc_rows_of(int rows, int t, int nt, int *r0, int *r1) {
    *r0 = (int)((long)rows * t / nt);
    *r1 = (int)((long)rows * (t + 1) / nt);
}

/* Threads an op of `work` flop-ish units runs on (1 when a parallel region
 * does not pay, see cpu_par). */
static inline int fc_threads(double work) { return cpu_par(work) ? omp_get_max_threads() : 1; }

/* Flop-ish work of n-point FFTs over `rows` rows, for the thread decision. */
static inline double fc_fft_work(double rows, int n) {
    int lg = 0;
    while ((1 << lg) < n) lg++;
    return 2.5 * rows * n * lg;
}

#endif
