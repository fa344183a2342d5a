/* fft_codelets.h — the small DFTs of fft_block.c written out (internal).
 *
 * Forward sign: X_k = sum_j x_j w^{jk}, w = e^{-2 pi i / r}; `inv` uses w̄.
 * Every codelet works on VL lanes at once (fb_cx) and takes compile-time
 * sizes, so after inlining it is straight-line vector code:
 *   nz   inputs 0..nz-1 may be non-zero, the rest are known zeros (the
 *        implicit zero padding: no loads, no adds of zeros, which the
 *        compiler may not drop by itself without fast-math);
 *   nout only outputs 0..nout-1 are wanted (the inverse's kept half).
 * Radix 16 = 4 x 4 with the w16 twiddles in between; radix 8 = 2 x 4. */
#ifndef HIPPO_FFT_CODELETS_H
#define HIPPO_FFT_CODELETS_H

#include "fft_block.h"

#define FB_INLINE static inline __attribute__((always_inline))

FB_INLINE fb_cx cx_add(fb_cx a, fb_cx b) { return (fb_cx){a.re + b.re, a.im + b.im}; }
FB_INLINE fb_cx cx_sub(fb_cx a, fb_cx b) { return (fb_cx){a.re - b.re, a.im - b.im}; }
FB_INLINE fb_cx cx_conj(fb_cx a) { return (fb_cx){a.re, -a.im}; }
FB_INLINE fb_cx cx_scale(fb_cx a, real s) { return (fb_cx){a.re * s, a.im * s}; }
/* a * (wr + i wi) with a scalar (broadcast) factor */
FB_INLINE fb_cx cx_muls(fb_cx a, real wr, real wi) {
    return (fb_cx){a.re * wr - a.im * wi, a.re * wi + a.im * wr};
}
/* a * b, lane by lane */
FB_INLINE fb_cx cx_mul(fb_cx a, fb_cx b) { return (fb_cx){a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re}; }
/* conj(a) * b */
FB_INLINE fb_cx cx_cmul(fb_cx a, fb_cx b) { return (fb_cx){a.re * b.re + a.im * b.im, a.re * b.im - a.im * b.re}; }
/* a * (-i) forward, a * i inverse: the quarter turn of the radix-4 butterfly */
FB_INLINE fb_cx cx_rot(fb_cx a, bool inv) { return inv ? (fb_cx){-a.im, a.re} : (fb_cx){a.im, -a.re}; }

/* 4-point DFT of (x0, x1, x2, x3) into o[0..nout-1]; inputs >= nz are zero
 * (nz is 1, 2 or 4). */
FB_INLINE void dft4(fb_cx *o, fb_cx x0, fb_cx x1, fb_cx x2, fb_cx x3, int nz, int nout, bool inv) {
    if (nz == 1) {
        for (int k = 0; k < nout; k++) o[k] = x0;
        return;
    }
    fb_cx a = nz > 2 ? cx_add(x0, x2) : x0, b = nz > 2 ? cx_sub(x0, x2) : x0;
    fb_cx c = nz > 3 ? cx_add(x1, x3) : x1, d = cx_rot(nz > 3 ? cx_sub(x1, x3) : x1, inv);
    o[0] = cx_add(a, c);
    if (nout > 1) o[1] = cx_add(b, d);
    if (nout > 2) o[2] = cx_sub(a, c);
    if (nout > 3) o[3] = cx_sub(b, d);
}

/* Twiddle w_r^e (e < r) applied to a, with the trivial angles exact. */
FB_INLINE fb_cx cx_wr(fb_cx a, int r, int e, bool inv) {
    e %= r;
    if (e == 0) return a;
    if (4 * e == r) return cx_rot(a, inv);
    if (2 * e == r) return (fb_cx){-a.re, -a.im};
    if (4 * e == 3 * r) return cx_rot(a, !inv);
    /* cos and sin of 2 pi e / r for r = 8, 16 (e not a multiple of r/4) */
    static const double c16[16] = {1, 0.92387953251128674, 0.70710678118654752, 0.38268343236508977, 0,
                                   -0.38268343236508977, -0.70710678118654752, -0.92387953251128674, -1,
                                   -0.92387953251128674, -0.70710678118654752, -0.38268343236508977, 0,
                                   0.38268343236508977, 0.70710678118654752, 0.92387953251128674};
    int i = e * (16 / r);
    real c = (real)c16[i], s = (real)c16[(i + 12) % 16]; /* sin(t) = cos(t - pi/2) */
    return cx_muls(a, c, inv ? s : -s);
}

/* 8-point DFT of x[0..7] into o; inputs >= nz zero (nz 4 or 8). */
FB_INLINE void dft8(fb_cx *o, const fb_cx *x, int nz, int nout, bool inv) {
    int nz4 = nz == 8 ? 4 : 2;
    fb_cx e[4], d[4];
    dft4(e, x[0], x[2], x[4], x[6], nz4, 4, inv);
    dft4(d, x[1], x[3], x[5], x[7], nz4, 4, inv);
    for (int k = 0; k < 4; k++) {
        fb_cx t = cx_wr(d[k], 8, k, inv);
        o[k] = cx_add(e[k], t);
        if (nout > 4) o[k + 4] = cx_sub(e[k], t);
    }
}

/* 16-point DFT of x[0..15] into o (4 x 4); inputs >= nz zero (nz 8 or 16). */
FB_INLINE void dft16(fb_cx *o, const fb_cx *x, int nz, int nout, bool inv) {
    fb_cx y[4][4];
    int nz4 = nz == 16 ? 4 : 2;
    for (int b = 0; b < 4; b++) {
        dft4(y[b], x[b], x[b + 4], x[b + 8], x[b + 12], nz4, 4, inv);
        for (int k1 = 1; k1 < 4; k1++) y[b][k1] = cx_wr(y[b][k1], 16, b * k1, inv);
    }
    for (int k1 = 0; k1 < 4; k1++) {
        fb_cx t[4];
        dft4(t, y[0][k1], y[1][k1], y[2][k1], y[3][k1], 4, nout / 4, inv);
        for (int k2 = 0; k2 < nout / 4; k2++) o[k1 + 4 * k2] = t[k2];
    }
}

/* r-point DFT for r in {2, 4, 8, 16}. */
FB_INLINE void dft_r(int r, fb_cx *o, const fb_cx *x, int nz, int nout, bool inv) {
    switch (r) {
    case 2:
        o[0] = nz > 1 ? cx_add(x[0], x[1]) : x[0];
        if (nout > 1) o[1] = nz > 1 ? cx_sub(x[0], x[1]) : x[0];
        break;
    case 4: dft4(o, x[0], x[1], x[2], x[3], nz, nout, inv); break;
    case 8: dft8(o, x, nz, nout, inv); break;
    default: dft16(o, x, nz, nout, inv); break;
    }
}

/* One decimation-in-frequency stage over a block of m elements with radix r:
 * for j < m/r, the r elements x[j + q m/r] -> their DFT, output q multiplied
 * by w_m^{q j} (twiddle rows tw, none when m == r). half: inputs q >= r/2 are
 * zero. */
FB_INLINE void dif_block(int r, bool half, fb_cx *x, int m, const real *tw) {
    int s = m / r, nz = half ? r / 2 : r;
    for (int j = 0; j < s; j++) {
        fb_cx v[16], o[16];
        for (int q = 0; q < nz; q++) v[q] = x[j + q * s];
        dft_r(r, o, v, nz, r, false);
        x[j] = o[0];
        const real *w = tw + (size_t)j * (r - 1) * 2;
        for (int q = 1; q < r; q++) x[j + q * s] = m == r ? o[q] : cx_muls(o[q], w[2 * q - 2], w[2 * q - 1]);
    }
}

/* The mirror decimation-in-time stage (inverse of dif_block times r):
 * conjugate twiddles, then the inverse DFT. half: only outputs q < r/2 are
 * written. */
FB_INLINE void dit_block(int r, bool half, fb_cx *x, int m, const real *tw) {
    int s = m / r, nout = half ? r / 2 : r;
    for (int j = 0; j < s; j++) {
        fb_cx v[16], o[16];
        const real *w = tw + (size_t)j * (r - 1) * 2;
        v[0] = x[j];
        for (int q = 1; q < r; q++) v[q] = m == r ? x[j + q * s] : cx_muls(x[j + q * s], w[2 * q - 2], -w[2 * q - 1]);
        dft_r(r, o, v, r, nout, true);
        for (int q = 0; q < nout; q++) x[j + q * s] = o[q];
    }
}

#endif
