/* conv_blh.c — the direct causal convolution in the activation layout
 * (B, L, H) when H is a multiple of the vector width: register-blocked over
 * TB time steps x one vector of channels. Each step of a block loads one
 * weight vector (a tap, or a dy row for dk) and one input row and does TB
 * FMAs: an input row is shared by a whole diagonal of (output, tap) pairs, so
 * it is loaded once and kept in a rotating register slot (diag_block).
 *
 * Rows outside 0..L-1 are never loaded: a block's taps stop where they would
 * reach past row 0 (forward, dk) or row L-1 (du), and inside the last
 * diagonal chunk of a full block (the corner) the FMAs that would meet those
 * rows are left out, so no causality tests or padded copies are needed. (A
 * partial block, or a du block when L is not a multiple of TB, still runs its
 * last chunk through the tested steps, multiplying zeros: a few rows per
 * sequence.) The skip D is folded into tap 0 (one product
 * (k0 + D) u[t] instead of two), so results differ from a plain loop over
 * taps plus D u in the last bits only.
 * Batches are split statically over threads; the dk sums go to per-thread
 * buffers added in thread order, and dD is tap 0's sum. */
#include "cpu.h"
#include "simd.h"

#include <string.h>

#define TB 8
/* Up to this many bytes of a batch entry's (L, H) rows, the forward runs one
 * channel vector over all its time blocks (about 5% faster at L 64, H 64:
 * 16 KB); beyond, a time block over all channels, so the rows it reads stay
 * whole in cache (12% faster at L 1024, Lk 64, where each entry is 256 KB). */
#define ROWS_IN_L1 (16 * 1024)


bool cpu_conv_blh_fits(const struct conv_args *a) { return a->layout == CONV_BLH && a->H % VL == 0; }

/* The register-blocked core shared by the forward, du and dk: T <= TB
 * accumulators over n steps,
 *   acc[i] += w(j) * e[j - i]   (i < T, j < n),
 * where w(j) is the step's weight vector (wt + j*ws: a tap, or a dy row) and
 * e[m] = ep[m*es] is the input row m, zero for m > avail. Row e[j - i] is the
 * same row for every (i, j) on a diagonal, so it is loaded once, as e[j] when
 * step j begins, and kept in register slot e[m & 7] until acc[7] has used it:
 * one input load and one weight load per T FMAs, where loading e[j - i] per
 * FMA made the loop load-bound (65 GF/s at L 64; one 512-bit load per cycle).
 * Rows -(T-1)..0 are loaded up front; the caller guarantees they exist. T is
 * a constant after inlining; the 8-step unroll makes every slot index one. */
static inline __attribute__((always_inline)) void diag_block(int T, int n, int avail, const real *wt, ptrdiff_t ws,
                                                             const real *ep, ptrdiff_t es, vec acc[TB]) {
    vec e[TB];
    for (int i = 0; i < TB; i++) acc[i] = (vec){0}, e[i] = (vec){0};
    for (int m = -(T - 1); m <= 0; m++) e[m & 7] = vload(ep + m * es);
#define STEP(s)                                                                  \
    if ((s) < left) {                                                            \
        vec wv = vload(wt + (ptrdiff_t)(j + (s)) * ws);                          \
        for (int i = 0; i < TB; i++)                                             \
            if (i < T) acc[i] += wv * e[((s) - i) & 7];                          \
        e[((s) + 1) & 7] = j + (s) + 1 <= avail ? vload(ep + (ptrdiff_t)(j + (s) + 1) * es) : (vec){0}; \
    }
    int j = 0;
    for (; j + 8 <= n && j + 8 <= avail; j += 8) { /* the bulk: no tests */
        const int left = 8;
        STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7)
    }
    if (T == TB && j == avail && n - j == TB) {
        /* The corner of a full block: from step avail + 1 on, the rows that
         * enter are zero, and at step avail + s they have reached acc[0..s-1]:
         * only acc[s..7] have work (the triangle is 28 of 64 FMAs). */
#define CORNER(s)                                            \
    {                                                        \
        vec wv = vload(wt + (ptrdiff_t)(j + (s)) * ws);      \
        for (int i = (s); i < TB; i++) acc[i] += wv * e[((s) - i) & 7]; \
    }
        CORNER(0) CORNER(1) CORNER(2) CORNER(3) CORNER(4) CORNER(5) CORNER(6) CORNER(7)
#undef CORNER
        return;
    }
    for (; j < n; j += 8) {
        int left = n - j;
        STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7)
    }
#undef STEP
}

/* Forward rows t0..t0+T-1 of one channel vector: y = taps * u (D is in tap 0). */
static inline __attribute__((always_inline)) void fwd_rows(int T, int H, int t0, int Lk, const real *kt,
                                                           const real *u, real *y) {
    vec acc[TB];
    int n = t0 + T < Lk ? t0 + T : Lk;
    const real *ut = u + (size_t)t0 * H;
    diag_block(T, n, t0, kt, H, ut, -(ptrdiff_t)H, acc); /* e[m] = u row t0 - m: acc[i] = row t0 + i */
    for (int i = 0; i < T; i++) vstore(y + (size_t)(t0 + i) * H, acc[i]);
}

/* du rows t0..t0+T-1: du = taps reaching forward in time over dy (D in tap 0). */
static inline __attribute__((always_inline)) void du_rows(int T, int H, int t0, int L, int Lk, const real *kt,
                                                          const real *dy, real *du) {
    vec acc[TB];
    int last = t0 + T - 1, n = L - t0 < Lk ? L - t0 : Lk;
    const real *dl = dy + (size_t)last * H;
    diag_block(T, n, L - 1 - last, kt, H, dl, H, acc); /* e[m] = dy row last + m: acc[i] = row last - i */
    for (int i = 0; i < T; i++) {
        size_t o = (size_t)(last - i) * H;
        vstore(du + o, acc[i]);
    }
}

/* dk of taps j0..j0+T-1: acc[i] += sum_{t >= j0} dy[t] u[t - j0 - i], the
 * same diagonal scheme with dy rows as weights. Rows of u before 0 are zero:
 * they start as zero slots, and the first (corner) chunk skips their FMAs. */
static inline __attribute__((always_inline)) void dk_rows(int T, int H, int j0, int L, const real *dy, const real *u,
                                                          real *out) {
    vec acc[TB], e[TB];
    for (int i = 0; i < TB; i++) acc[i] = (vec){0}, e[i] = (vec){0};
    e[0] = vload(u);
    const real *dt = dy + (size_t)j0 * H, *ep = u;
    int n = L - j0;
#define STEP(s)                                                                 \
    if ((s) < left) {                                                           \
        vec wv = vload(dt + (size_t)(j + (s)) * H);                             \
        for (int i = 0; i < TB; i++)                                            \
            if (i < T) acc[i] += wv * e[((s) - i) & 7];                         \
        if (j + (s) + 1 < n) e[((s) + 1) & 7] = vload(ep + (size_t)(j + (s) + 1) * H); \
    }
    int j = 0;
    if (T == TB && n >= TB) {
        /* The corner: at step s, acc[i] for i > s would read rows before 0. */
#define CORNER(s)                                                               \
    {                                                                           \
        vec wv = vload(dt + (size_t)(s) * H);                                   \
        for (int i = 0; i <= (s); i++) acc[i] += wv * e[((s) - i) & 7];         \
        if ((s) + 1 < n) e[((s) + 1) & 7] = vload(ep + (size_t)((s) + 1) * H);   \
    }
        CORNER(0) CORNER(1) CORNER(2) CORNER(3) CORNER(4) CORNER(5) CORNER(6) CORNER(7)
#undef CORNER
        j = TB;
    }
    for (; j < n; j += 8) {
        int left = n - j;
        STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7)
    }
#undef STEP
    for (int i = 0; i < T; i++) vstore(out + (size_t)i * H, vload(out + (size_t)i * H) + acc[i]);
}

#define BY_T(F, T, ...)                          \
    switch (T) {                                 \
    case 8: F(8, __VA_ARGS__); break;            \
    case 7: F(7, __VA_ARGS__); break;            \
    case 6: F(6, __VA_ARGS__); break;            \
    case 5: F(5, __VA_ARGS__); break;            \
    case 4: F(4, __VA_ARGS__); break;            \
    case 3: F(3, __VA_ARGS__); break;            \
    case 2: F(2, __VA_ARGS__); break;            \
    default: F(1, __VA_ARGS__); break;           \
    }

/* Taps by channel kt (Lk, H), the skip D folded into tap 0: both multiply the
 * same row (u[t] in the forward, dy[t] for du), so one FMA serves both. */
static real *expand_taps(const struct conv_args *a) {
    int H = a->H, Lk = a->Lk, g = a->group;
    real *kt = cpu_scratch(SCRATCH_CONV_TAPS, sizeof(real) * (size_t)Lk * H);
    /* one kernel row read per channel, the division out of the inner loop: with
     * c / g per element this copy was 7% of a 32 x 64, L 64 forward */
    for (int c = 0; c < H; c++) {
        const real *kr = a->k + (size_t)(c / g) * Lk;
        for (int j = 0; j < Lk; j++) kt[(size_t)j * H + c] = kr[j];
        if (a->D) kt[c] += a->D[c / g];
    }
    return kt;
}

static double work(const struct conv_args *a) { return 2.0 * a->B * a->H * (double)a->L * a->Lk; }

/* BODY for every block (c, t0) of T rows of one batch entry's (L, H) rows,
 * in the order ROWS_IN_L1 picks. A macro, not a function taking the block
 * kernel: out of line, the kernel lost the registers its loops need. */
#define FOR_BLOCKS(L, H, BODY)                                                        \
    if ((size_t)(L) * (H) * sizeof(real) <= ROWS_IN_L1)                               \
        for (int c = 0; c < (H); c += VL) /* one channel vector's rows at a time */   \
            for (int t0 = 0; t0 < (L); t0 += TB) {                                    \
                int T = (L) - t0 < TB ? (L) - t0 : TB;                                \
                BODY                                                                  \
            }                                                                         \
    else                                                                              \
        for (int t0 = 0; t0 < (L); t0 += TB) /* a time block over all channels */     \
            for (int c = 0; c < (H); c += VL) {                                       \
                int T = (L) - t0 < TB ? (L) - t0 : TB;                                \
                BODY                                                                  \
            }

void cpu_conv_blh(const struct conv_args *a) {
    int B = a->B, L = a->L, H = a->H, Lk = a->Lk;
    real *kt = expand_taps(a);
#pragma omp parallel for schedule(static) if (cpu_par(work(a)))
    for (int b = 0; b < B; b++) {
        const real *ub = a->u + (size_t)b * L * H;
        real *yb = a->y + (size_t)b * L * H;
        FOR_BLOCKS(L, H, BY_T(fwd_rows, T, H, t0, Lk, kt + c, ub + c, yb + c))
    }
}

/* du = correlation of dy with the taps (reaching forward in time) + D dy, D in tap 0. */
static void du_blh(const struct conv_bwd_args *g, const real *kt) {
    const struct conv_args *a = &g->f;
    int B = a->B, L = a->L, H = a->H, Lk = a->Lk;
#pragma omp parallel for schedule(static) if (cpu_par(work(a)))
    for (int b = 0; b < B; b++) {
        const real *db = g->dy + (size_t)b * L * H;
        real *ub = g->du + (size_t)b * L * H;
        FOR_BLOCKS(L, H, BY_T(du_rows, T, H, t0, L, Lk, kt + c, db + c, ub + c))
    }
}

/* dkt (Lk, H) summed over batches; fixed order for a thread count. */
static void dk_blh(const struct conv_bwd_args *g, real *dkt) {
    const struct conv_args *a = &g->f;
    int B = a->B, L = a->L, H = a->H, Lk = a->Lk;
    size_t per = (size_t)Lk * H;
    int nt = cpu_par(work(a)) ? omp_get_max_threads() : 1;
    real *acc = cpu_scratch(SCRATCH_CONV_ACC, sizeof(real) * (size_t)nt * per);
    memset(acc, 0, sizeof(real) * (size_t)nt * per);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        real *mk = acc + (size_t)t * per;
        for (int b = B * t / n; b < B * (t + 1) / n; b++) {
            const real *ub = a->u + (size_t)b * L * H, *dyb = g->dy + (size_t)b * L * H;
            for (int c = 0; c < H; c += VL)
                for (int j0 = 0; j0 < Lk; j0 += TB) {
                    int T = Lk - j0 < TB ? Lk - j0 : TB;
                    BY_T(dk_rows, T, H, j0, L, dyb + c, ub + c, mk + (size_t)j0 * H + c)
                }
        }
    }
    memset(dkt, 0, sizeof(real) * per);
    for (int t = 0; t < nt; t++) {
        const real *mk = acc + (size_t)t * per;
        for (size_t i = 0; i < per; i++) dkt[i] += mk[i];
    }
}

/* dD is tap 0's gradient: D multiplies the same u[t] for y[t] as tap 0 does. */
void cpu_conv_blh_bwd(const struct conv_bwd_args *g) {
    const struct conv_args *a = &g->f;
    int H = a->H, Lk = a->Lk, gr = a->group;
    if (g->du) du_blh(g, expand_taps(a));
    if (g->dk || g->dD) {
        real *dkt = cpu_scratch(SCRATCH_CONV_DTAPS, sizeof(real) * (size_t)Lk * H);
        dk_blh(g, dkt);
        for (int c = 0; c < H; c++) {
            if (g->dk)
                for (int j = 0; j < Lk; j++) g->dk[(size_t)(c / gr) * Lk + j] += dkt[(size_t)j * H + c];
            if (g->dD) g->dD[c / gr] += dkt[c];
        }
    }
}
