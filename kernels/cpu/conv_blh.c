/* conv_blh.c — the direct causal convolution in the activation layout
 * (B, L, H) when H is a multiple of the vector width: register-blocked over
 * TB time steps x one vector of channels, so each kernel tap is loaded once
 * per TB outputs and the outputs stay in registers over all taps (about one
 * load per FMA instead of three loads and a store).
 *
 * Each batch entry's input is copied into a zero-padded buffer, so every tap
 * of every block reads a valid row and the inner loops carry no causality
 * tests. A block of T <= TB rows limits its taps to those that reach row 0
 * (forward, dk) or row L-1 (du) from its first/last row, so it reads at most
 * TB-1 rows beyond either end: that is all the padding needed (PAD rows),
 * zeroed once per call while only the L rows are copied per batch entry. Batches are split statically over
 * threads; the dk/dD sums go to per-thread buffers added in thread order. */
#include "cpu.h"
#include "simd.h"

#include <string.h>

#define TB 8


bool cpu_conv_blh_fits(const struct conv_args *a) { return a->layout == CONV_BLH && a->H % VL == 0; }

/* out[i] = d * skip[i*H] + sum_{j<jn} kt[j*H] * src[j*step + i*H], i < T, one
 * channel vector; T is a constant after inlining (accumulators in registers). */
static inline __attribute__((always_inline)) void corr_rows(int T, int H, int jn, const real *kt, const real *src,
                                                            ptrdiff_t step, vec d, const real *skip, real *out) {
    vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
#define ACC(i) \
    if (T > i) a##i += kv * vload(p + i * H);
    for (int j = 0; j < jn; j++) {
        vec kv = vload(kt + (size_t)j * H);
        const real *p = src + j * step;
        ACC(0) ACC(1) ACC(2) ACC(3) ACC(4) ACC(5) ACC(6) ACC(7)
    }
#undef ACC
    vec all[TB] = {a0, a1, a2, a3, a4, a5, a6, a7};
    for (int i = 0; i < T; i++) vstore(out + (size_t)i * H, all[i] + d * vload(skip + (size_t)i * H));
}

static void corr(int T, int H, int jn, const real *kt, const real *src, ptrdiff_t step, vec d, const real *skip,
                 real *out) {
    switch (T) {
    case 8: corr_rows(8, H, jn, kt, src, step, d, skip, out); break;
    case 7: corr_rows(7, H, jn, kt, src, step, d, skip, out); break;
    case 6: corr_rows(6, H, jn, kt, src, step, d, skip, out); break;
    case 5: corr_rows(5, H, jn, kt, src, step, d, skip, out); break;
    case 4: corr_rows(4, H, jn, kt, src, step, d, skip, out); break;
    case 3: corr_rows(3, H, jn, kt, src, step, d, skip, out); break;
    case 2: corr_rows(2, H, jn, kt, src, step, d, skip, out); break;
    default: corr_rows(1, H, jn, kt, src, step, d, skip, out); break;
    }
}

/* acc[i] += sum_{t in [t0, L)} dy[t*H] * up[(t - i)*H] for i < T (dk of taps
 * j0 + i, with up pointing at the padded input shifted by -j0 rows). */
static inline __attribute__((always_inline)) void dk_rows(int T, int H, int t0, int L, const real *dy, const real *up,
                                                          real *acc) {
    vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
#define ACC(i) \
    if (T > i) a##i += dv * vload(p - i * H);
    for (int t = t0; t < L; t++) {
        vec dv = vload(dy + (size_t)t * H);
        const real *p = up + (ptrdiff_t)t * H;
        ACC(0) ACC(1) ACC(2) ACC(3) ACC(4) ACC(5) ACC(6) ACC(7)
    }
#undef ACC
    vec all[TB] = {a0, a1, a2, a3, a4, a5, a6, a7};
    for (int i = 0; i < T; i++) vstore(acc + (size_t)i * H, vload(acc + (size_t)i * H) + all[i]);
}

static void dk_block(int T, int H, int t0, int L, const real *dy, const real *up, real *acc) {
    switch (T) {
    case 8: dk_rows(8, H, t0, L, dy, up, acc); break;
    case 7: dk_rows(7, H, t0, L, dy, up, acc); break;
    case 6: dk_rows(6, H, t0, L, dy, up, acc); break;
    case 5: dk_rows(5, H, t0, L, dy, up, acc); break;
    case 4: dk_rows(4, H, t0, L, dy, up, acc); break;
    case 3: dk_rows(3, H, t0, L, dy, up, acc); break;
    case 2: dk_rows(2, H, t0, L, dy, up, acc); break;
    default: dk_rows(1, H, t0, L, dy, up, acc); break;
    }
}

/* Taps by channel kt (Lk, H) and skip weights by channel (H). */
static real *expand_taps(const struct conv_args *a, real *dexp) {
    int H = a->H, Lk = a->Lk, g = a->group;
    real *kt = cpu_scratch(SCRATCH_CONV_TAPS, sizeof(real) * (size_t)Lk * H);
    for (int j = 0; j < Lk; j++)
        for (int c = 0; c < H; c++) kt[(size_t)j * H + c] = a->k[(size_t)(c / g) * Lk + j];
    for (int c = 0; c < H; c++) dexp[c] = a->D ? a->D[c / g] : 0;
    return kt;
}

#define PAD (TB - 1)

/* This thread's padded buffer (PAD zero rows, L rows, PAD zero rows) with the
 * zero rows written; returns it. */
static real *pad_buffer(int L, int H) {
    real *pad = cpu_scratch(SCRATCH_CONV_PAD, sizeof(real) * (size_t)(L + 2 * PAD) * H);
    size_t z = (size_t)PAD * H;
    memset(pad, 0, sizeof(real) * z);
    memset(pad + z + (size_t)L * H, 0, sizeof(real) * z);
    return pad;
}

/* Copy the rows of batch entry b between pad's zero rows; returns row 0. */
static real *pad_rows(const real *x, int b, int L, int H, real *pad) {
    size_t n = (size_t)L * H;
    memcpy(pad + (size_t)PAD * H, x + (size_t)b * n, sizeof(real) * n);
    return pad + (size_t)PAD * H;
}

static double work(const struct conv_args *a) { return 2.0 * a->B * a->H * (double)a->L * a->Lk; }

void cpu_conv_blh(const struct conv_args *a) {
    int B = a->B, L = a->L, H = a->H, Lk = a->Lk;
    real *dexp = cpu_scratch(SCRATCH_CONV_SKIP, sizeof(real) * H), *kt = expand_taps(a, dexp);
#pragma omp parallel if (cpu_par(work(a)))
    {
        real *pad = pad_buffer(L, H);
#pragma omp for schedule(static)
        for (int b = 0; b < B; b++) {
            const real *u0 = pad_rows(a->u, b, L, H, pad), *ub = a->u + (size_t)b * L * H;
            real *yb = a->y + (size_t)b * L * H;
            for (int c = 0; c < H; c += VL)
                for (int t0 = 0; t0 < L; t0 += TB) {
                    int T = L - t0 < TB ? L - t0 : TB, jn = t0 + T < Lk ? t0 + T : Lk;
                    size_t o = (size_t)t0 * H + c;
                    corr(T, H, jn, kt + c, u0 + o, -(ptrdiff_t)H, vload(dexp + c), ub + o, yb + o);
                }
        }
    }
}

/* du = correlation of dy with the taps (reaching forward in time) + D dy. */
static void du_blh(const struct conv_bwd_args *g, const real *kt, const real *dexp) {
    const struct conv_args *a = &g->f;
    int B = a->B, L = a->L, H = a->H, Lk = a->Lk;
#pragma omp parallel if (cpu_par(work(a)))
    {
        real *pad = pad_buffer(L, H);
#pragma omp for schedule(static)
        for (int b = 0; b < B; b++) {
            const real *d0 = pad_rows(g->dy, b, L, H, pad), *db = g->dy + (size_t)b * L * H;
            real *ub = g->du + (size_t)b * L * H;
            for (int c = 0; c < H; c += VL)
                for (int t0 = 0; t0 < L; t0 += TB) {
                    int T = L - t0 < TB ? L - t0 : TB, jn = L - t0 < Lk ? L - t0 : Lk;
                    size_t o = (size_t)t0 * H + c;
                    corr(T, H, jn, kt + c, d0 + o, (ptrdiff_t)H, vload(dexp + c), db + o, ub + o);
                }
        }
    }
}

/* dkt (Lk, H) and dd (H) summed over batches; fixed order for a thread count. */
static void dk_blh(const struct conv_bwd_args *g, real *dkt, real *dd) {
    const struct conv_args *a = &g->f;
    int B = a->B, L = a->L, H = a->H, Lk = a->Lk;
    size_t per = (size_t)(Lk + 1) * H;
    int nt = cpu_par(work(a)) ? omp_get_max_threads() : 1;
    real *acc = cpu_scratch(SCRATCH_CONV_ACC, sizeof(real) * (size_t)nt * per);
    memset(acc, 0, sizeof(real) * (size_t)nt * per);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        real *mk = acc + (size_t)t * per, *md = mk + (size_t)Lk * H;
        real *pad = pad_buffer(L, H);
        for (int b = B * t / n; b < B * (t + 1) / n; b++) {
            const real *u0 = pad_rows(a->u, b, L, H, pad), *dyb = g->dy + (size_t)b * L * H;
            for (int c = 0; c < H; c += VL) {
                for (int j0 = 0; j0 < Lk; j0 += TB) {
                    int T = Lk - j0 < TB ? Lk - j0 : TB;
                    dk_block(T, H, j0, L, dyb + c, u0 - (ptrdiff_t)j0 * H + c, mk + (size_t)j0 * H + c);
                }
                vec s = vload(md + c);
                for (int r = 0; r < L; r++) s += vload(dyb + (size_t)r * H + c) * vload(u0 + (size_t)r * H + c);
                vstore(md + c, s);
            }
        }
    }
    memset(dkt, 0, sizeof(real) * (size_t)Lk * H);
    memset(dd, 0, sizeof(real) * H);
    for (int t = 0; t < nt; t++) {
        const real *mk = acc + (size_t)t * per;
        for (size_t i = 0; i < (size_t)Lk * H; i++) dkt[i] += mk[i];
        for (int c = 0; c < H; c++) dd[c] += mk[(size_t)Lk * H + c];
    }
}

void cpu_conv_blh_bwd(const struct conv_bwd_args *g) {
    const struct conv_args *a = &g->f;
    int H = a->H, Lk = a->Lk, gr = a->group;
    real *dexp = cpu_scratch(SCRATCH_CONV_SKIP, sizeof(real) * H), *kt = expand_taps(a, dexp);
    if (g->du) du_blh(g, kt, dexp);
    if (g->dk || g->dD) {
        real *dkt = cpu_scratch(SCRATCH_CONV_DTAPS, sizeof(real) * (size_t)Lk * H);
        real *dd = cpu_scratch(SCRATCH_CONV_DSKIP, sizeof(real) * H);
        dk_blh(g, dkt, dd);
        for (int c = 0; c < H; c++) {
            if (g->dk)
                for (int j = 0; j < Lk; j++) g->dk[(size_t)(c / gr) * Lk + j] += dkt[(size_t)j * H + c];
            if (g->dD) g->dD[c / gr] += dd[c];
        }
    }
}
