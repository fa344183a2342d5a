/* test_flashconv.c — FlashConv (kernels/cpu/flashconv*.c, fft_block.c):
 *  - the block FFT against a naive O(n^2) DFT in double, forward and inverse,
 *    complex and real, n = 16 .. 2^21 (all bins up to 2048, sampled bins
 *    beyond);
 *  - the fused convolution, forward and backward, against the direct
 *    double-precision sums: odd L, B = 1, partial panels, groups, both layouts,
 *    with and without D;
 *  - the fused H3 inner op against the unfused composition of existing ops
 *    (and central differences in the double build);
 *  - state passing against the single-block convolution across chunk sizes;
 *  - the dispatch against its table.
 * Compiled twice: float (this file) and double (tests/f64/test_flashconv.c). */
#include <complex.h>

#include "../kernels/cpu/conv_table.h"
#include "../kernels/cpu/fft_block.h"
#include "ops_testutil.h"

#ifdef HIPPO_F64
#define TOL_FFT 1e-13
#else
#define TOL_FFT 2e-6
#endif

/* ---------- block FFT vs naive DFT ---------- */

/* Signal value of lane l at time t (deterministic, not periodic). */
static double sig(int t, int l, int salt) { return sin(0.37 * t + 1.3 * l + salt) + 0.01 * ((t * 7 + l + salt) % 13); }

/* e^{-2 pi i j / n}, j < n, for the naive sums (one table per n). */
static double complex *roots_of(int n) {
    static double complex *w;
    static int wn;
    if (wn != n) {
        free(w);
        w = xmalloc(sizeof(double complex) * n);
        for (int j = 0; j < n; j++) w[j] = cexp(-2 * M_PI * I * (double)j / n);
        wn = n;
    }
    return w;
}

/* X_k of the real signal x (n samples) by the naive sum. */
static double complex dft_real(const double *x, int n, long k) {
    const double complex *w = roots_of(n);
    double complex s = 0;
    for (long t = 0; t < n; t++) s += x[t] * w[(t * k) & (n - 1)]; /* n = 2^a */
    return s;
}

/* Bins to check: all up to M = 1024, then a spread (with 0, 1, M/2, M, M-1)
 * small enough that the naive sums stay ~1e8 operations. */
static int bins_of(int M, long *k) {
    if (M <= 1024) {
        for (int i = 0; i <= M; i++) k[i] = i;
        return M + 1;
    }
    int nb = 0, spread = M >= (1 << 17) ? 19 : 59;
    k[nb++] = 0, k[nb++] = 1, k[nb++] = M / 2, k[nb++] = M, k[nb++] = M - 1;
    for (int i = 0; i < spread; i++) k[nb++] = (long)((i * 2654435761u) % (unsigned)M);
    return nb;
}

/* The spectrum form's X_k for lane l. */
static double complex spec_at(const struct fb_plan *p, const fb_cx *X, long k, int l) {
    if (k == 0) return X[0].re[l];
    if (k == p->M) return X[0].im[l];
    int q = p->pos[k];
    return X[q].re[l] + I * (double)X[q].im[l];
}

static void check_rfft(const struct fb_plan *p) {
    int n = p->n, M = n / 2, lanes[2] = {0, VL - 1};
    fb_cx *X = xmalloc(sizeof(fb_cx) * M);
    vec *x = (vec *)X;
    double *ref = xmalloc(sizeof(double) * n * 2);
    for (int t = 0; t < n; t++)
        for (int l = 0; l < VL; l++) { /* the checked lanes 0, VL-1 get the slow, aperiodic values */
            double v = t >= M ? 0 : l == 0 || l == VL - 1 ? sig(t, l, n) : (t * (l + 3)) % 17 * 0.1 - 0.8;
            if (t < M) x[t][l] = (real)v;
            if (l == 0) ref[t] = v;
            if (l == VL - 1) ref[n + t] = v;
        }
    fb_rfft(p, X, 1);
    long *k = xmalloc(sizeof(long) * (M + 1));
    int nb = bins_of(M, k);
    for (int li = 0; li < 2; li++) {
        double maxd = 0, maxr = 0;
        for (int i = 0; i < nb; i++) {
            double complex want = dft_real(ref + (size_t)li * n, n, k[i]);
            maxd = fmax(maxd, cabs(spec_at(p, X, k[i], lanes[li]) - want)), maxr = fmax(maxr, cabs(want));
        }
        ck_assert_msg(maxd <= TOL_FFT * maxr, "rfft n %d lane %d: error %.3g of %.3g", n, lanes[li], maxd, maxr);
    }
    fb_irfft(p, X, (real)1 / M); /* back to the signal */
    for (int li = 0; li < 2; li++)
        for (int t = 0; t < M; t++) {
            double d = fabs(x[t][lanes[li]] - ref[(size_t)li * n + t]);
            ck_assert_msg(d <= 8 * TOL_FFT * (1 + log2(n)), "irfft n %d lane %d t %d: off by %.3g", n, lanes[li], t, d);
        }
    free(X), free(ref), free(k);
}

/* The complex transform on a full (not zero-padded) input, digit-reversed output. */
static void check_cfft(const struct fb_plan *p) {
    int n = p->n, M = n / 2;
    fb_cx *X = xmalloc(sizeof(fb_cx) * M);
    double complex *ref = xmalloc(sizeof(double complex) * M);
    for (int j = 0; j < M; j++) {
        X[j].re = X[j].im = (vec){0};
        X[j].re[1] = (real)sig(j, 1, 5), X[j].im[1] = (real)sig(j, 2, 9);
        ref[j] = X[j].re[1] + I * (double)X[j].im[1];
    }
    fb_fft(p, X, false);
    long *k = xmalloc(sizeof(long) * (M + 1));
    int nb = bins_of(M, k);
    double maxd = 0, maxr = 0;
    for (int i = 0; i < nb; i++) {
        long kk = k[i] % M;
        const double complex *w = roots_of(M);
        double complex want = 0;
        for (long j = 0; j < M; j++) want += ref[j] * w[(j * kk) & (M - 1)];
        double complex got = X[p->pos[kk]].re[1] + I * (double)X[p->pos[kk]].im[1];
        maxd = fmax(maxd, cabs(got - want)), maxr = fmax(maxr, cabs(want));
        ck_assert(X[p->pos[kk]].re[0] == 0 && X[p->pos[kk]].im[3] == 0); /* lanes stay apart */
    }
    ck_assert_msg(maxd <= TOL_FFT * maxr, "fft n %d: error %.3g of %.3g", n, maxd, maxr);
    fb_ifft(p, X, false);
    for (int j = 0; j < M; j++) {
        double complex got = (X[j].re[1] + I * (double)X[j].im[1]) / M;
        ck_assert_msg(cabs(got - ref[j]) <= 8 * TOL_FFT * (1 + log2(n)), "ifft n %d j %d: off by %.3g", n, j,
                      cabs(got - ref[j]));
    }
    free(X), free(ref), free(k);
}

START_TEST(test_fft_dft) {
    static const int ns[] = {16, 32, 64, 128, 256, 2048, 4096, 1 << 15, 1 << 18, 1 << 21};
    check_rfft(fb_plan_get(ns[_i]));
    if (ns[_i] <= (1 << 18)) check_cfft(fb_plan_get(ns[_i]));
}
END_TEST

/* Every codelet and stage position (the default plans use radix 8 and one
 * 2 or 4): radix 16 first, last and in between, 2 and 4 early. */
START_TEST(test_fft_radices) {
    static const struct {
        int n, ns, r[4];
    } plans[] = {
        {32, 1, {16}},          {32, 2, {4, 4}},         {32, 2, {2, 8}},          {32, 4, {2, 2, 2, 2}},
        {512, 2, {16, 16}},     {512, 3, {16, 4, 4}},    {512, 3, {2, 16, 8}},     {512, 3, {4, 8, 8}},
        {4096, 3, {16, 16, 8}}, {4096, 3, {8, 16, 16}}, {4096, 4, {2, 16, 4, 16}}, {1 << 16, 4, {16, 16, 16, 8}},
    };
    struct fb_plan *p = fb_plan_new(plans[_i].n, plans[_i].r, plans[_i].ns);
    check_rfft(p);
    check_cfft(p);
    fb_plan_free(p);
}
END_TEST

/* ---------- the fused convolution vs direct sums ---------- */

/* dvec from zeroed memory: GCC 12 cannot see that dvec fills all n values
 * and warns that the references may read uninitialised inputs. */
static double *uvec(size_t n, double lo, double hi) {
    double *v = dzeros(n);
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * urand();
    return v;
}

struct cv_case {
    int B, L, H, Lk, group;
    enum conv_layout layout;
    bool has_D;
};

static size_t cv_at(const struct cv_case *c, int b, int ch, int t) {
    return c->layout == CONV_BLH ? ((size_t)b * c->L + t) * c->H + ch : ((size_t)b * c->H + ch) * c->L + t;
}

/* y, and du, dk, dD for upstream dy, by the direct sums in double. */
static void cv_ref(const struct cv_case *c, const double *u, const double *k, const double *D, const double *dy,
                   double *y, double *du, double *dk, double *dD) {
    int rows = c->H / c->group;
    memset(dk, 0, sizeof(double) * rows * c->Lk);
    memset(dD, 0, sizeof(double) * rows);
    for (int b = 0; b < c->B; b++)
        for (int ch = 0; ch < c->H; ch++) {
            int r = ch / c->group;
            const double *kr = k + (size_t)r * c->Lk;
            for (int t = 0; t < c->L; t++) {
                double s = D ? D[r] * u[cv_at(c, b, ch, t)] : 0, g = D ? D[r] * dy[cv_at(c, b, ch, t)] : 0;
                for (int j = 0; j <= t && j < c->Lk; j++) s += kr[j] * u[cv_at(c, b, ch, t - j)];
                for (int j = 0; j < c->Lk && t + j < c->L; j++) g += kr[j] * dy[cv_at(c, b, ch, t + j)];
                y[cv_at(c, b, ch, t)] = s, du[cv_at(c, b, ch, t)] = g;
                dD[r] += dy[cv_at(c, b, ch, t)] * u[cv_at(c, b, ch, t)];
                for (int j = 0; j <= t && j < c->Lk; j++) dk[(size_t)r * c->Lk + j] += dy[cv_at(c, b, ch, t)] * u[cv_at(c, b, ch, t - j)];
            }
        }
}

static void cv_check(const struct cv_case *c) {
    size_t n = (size_t)c->B * c->L * c->H, nk = (size_t)(c->H / c->group) * c->Lk;
    int rows = c->H / c->group;
    double *u = uvec(n, -1, 1), *k = uvec(nk, -1, 1), *D = c->has_D ? uvec(rows, -1, 1) : NULL, *dy = uvec(n, -1, 1);
    double *y = dzeros(n), *du = dzeros(n), *dk = dzeros(nk), *dD = dzeros(rows);
    cv_ref(c, u, k, D, dy, y, du, dk, dD);
    real *ru = to_real(u, n), *rk = to_real(k, nk), *rD = to_real(D, rows), *rdy = to_real(dy, n);
    real *ry = tu_guarded(n), *rdu = tu_guarded(n), *rdk = tu_guarded(nk), *rdD = tu_guarded(rows);
    struct conv_args a = {.B = c->B, .L = c->L, .H = c->H, .Lk = c->Lk, .group = c->group, .layout = c->layout,
                          .u = ru, .k = rk, .D = rD, .y = ry};
    cpu_conv_flash(&a);
    struct conv_bwd_args g = {.f = a, .dy = rdy, .du = rdu, .dk = rdk, .dD = c->has_D ? rdD : NULL};
    cpu_conv_flash_bwd(&g);
    char what[160];
    snprintf(what, sizeof what, "flash B%d L%d H%d Lk%d g%d %s D%d", c->B, c->L, c->H, c->Lk, c->group,
             c->layout == CONV_BLH ? "BLH" : "BHL", c->has_D);
    double tol = TOL_FWD * (c->L > 500 ? 4 : 1);
    char w2[200];
    snprintf(w2, sizeof w2, "%s: y", what), tu_assert_close_real(w2, ry, y, n, tol);
    snprintf(w2, sizeof w2, "%s: du", what), tu_assert_close_real(w2, rdu, du, n, tol);
    snprintf(w2, sizeof w2, "%s: dk", what), tu_assert_close_real(w2, rdk, dk, nk, tol);
    if (c->has_D) snprintf(w2, sizeof w2, "%s: dD", what), tu_assert_close_real(w2, rdD, dD, rows, tol);
    tu_check_guard(ry, n, "y"), tu_check_guard(rdu, n, "du"), tu_check_guard(rdk, nk, "dk");
    tu_check_guard(rdD, rows, "dD");
    g.du = NULL; /* the kernel gradients accumulate */
    cpu_conv_flash_bwd(&g);
    snprintf(w2, sizeof w2, "%s: dk", what), check_accumulated(w2, rdk, dk, nk);
    free(u), free(k), free(D), free(dy), free(y), free(du), free(dk), free(dD);
    free(ru), free(rk), free(rD), free(rdy), free(ry), free(rdu), free(rdk), free(rdD);
}

static const struct cv_case cv_cases[] = {
    {1, 1, 1, 1, 1, CONV_BLH, true},     {2, 31, 5, 31, 1, CONV_BLH, true},   {1, 37, 48, 37, 1, CONV_BLH, true},
    {3, 37, 12, 7, 4, CONV_BHL, true},   {2, 40, 32, 40, 16, CONV_BLH, false}, {1, 64, 20, 64, 1, CONV_BHL, true},
    {2, 129, 18, 50, 9, CONV_BLH, true}, {1, 1000, 16, 1000, 1, CONV_BLH, true}, {2, 1023, 7, 1023, 1, CONV_BHL, true},
    {1, 2049, 17, 2049, 1, CONV_BLH, true}, {4, 8, 16, 8, 2, CONV_BHL, true},
};
#define N_CV ((int)(sizeof cv_cases / sizeof cv_cases[0]))

START_TEST(test_flash_conv) { cv_check(&cv_cases[_i]); }
END_TEST

/* ---------- the fused H3 inner op vs the unfused ops ---------- */

struct h3_case {
    int B, L, D, dh, Lk;
    bool has_D;
};

struct h3_data {
    const struct h3_case *c;
    double *q, *kt, *v, *K, *Dk, *dout; /* inputs, doubles */
};

static size_t h3_n(const struct h3_case *c) { return (size_t)c->B * c->L * c->D; }
static int h3_heads(const struct h3_case *c) { return c->D / c->dh; }

static struct h3_data h3_data(const struct h3_case *c) {
    size_t n = h3_n(c);
    int H = h3_heads(c);
    struct h3_data d = {c, dvec(n, -1, 1), dvec(n, -1, 1), dvec(n, -1, 1), dvec((size_t)H * c->Lk, -1, 1),
                        c->has_D ? dvec(H, -1, 1) : NULL, dvec(n, -1, 1)};
    return d;
}
static void h3_data_free(struct h3_data *d) {
    free(d->q), free(d->kt), free(d->v), free(d->K), free(d->Dk), free(d->dout);
}

/* The unfused composition in `real`: outer product and gate loops as in
 * models/h3.c around the existing conv op (E = D d_h channels, group d_h^2). */
static void h3_unfused(const struct h3_case *c, const real *q, const real *kt, const real *v, const real *K,
                       const real *Dk, const real *dout, real *o, real *dq, real *dkt, real *dv, real *dK, real *dD) {
    int D = c->D, dh = c->dh, H = D / dh, E = D * dh;
    size_t R = (size_t)c->B * c->L;
    real *kv = xcalloc(R * E, sizeof(real)), *y = xcalloc(R * E, sizeof(real));
    real *dy = xcalloc(R * E, sizeof(real)), *dkv = xcalloc(R * E, sizeof(real));
    for (size_t r = 0; r < R; r++)
        for (int ch = 0; ch < D; ch++)
            for (int j = 0; j < dh; j++) kv[r * E + (size_t)ch * dh + j] = kt[r * D + ch] * v[r * D + (ch / dh) * dh + j];
    struct conv_args ca = {.B = c->B, .L = c->L, .H = E, .Lk = c->Lk, .group = dh * dh, .layout = CONV_BLH,
                           .u = kv, .k = K, .D = Dk, .y = y};
    O()->conv(&ca);
    memset(o, 0, sizeof(real) * R * D), memset(dq, 0, sizeof(real) * R * D);
    memset(dv, 0, sizeof(real) * R * D), memset(dkt, 0, sizeof(real) * R * D);
    for (size_t r = 0; r < R; r++)
        for (int ch = 0; ch < D; ch++) {
            int h = ch / dh;
            for (int j = 0; j < dh; j++) {
                size_t e = r * E + (size_t)ch * dh + j, oi = r * D + (size_t)j * H + h;
                o[oi] += q[r * D + ch] * y[e];
                dq[r * D + ch] += dout[oi] * y[e];
                dy[e] = dout[oi] * q[r * D + ch];
            }
        }
    struct conv_bwd_args cb = {.f = ca, .dy = dy, .du = dkv, .dk = dK, .dD = Dk ? dD : NULL};
    O()->conv_bwd(&cb);
    for (size_t r = 0; r < R; r++)
        for (int ch = 0; ch < D; ch++)
            for (int j = 0; j < dh; j++) {
                size_t e = r * E + (size_t)ch * dh + j, vi = r * D + (ch / dh) * dh + j;
                dkt[r * D + ch] += dkv[e] * v[vi];
                dv[vi] += dkv[e] * kt[r * D + ch];
            }
    free(kv), free(y), free(dy), free(dkv);
}

/* The fused op on the case's data: o, and (when dout) its gradients. */
static void h3_fused(struct h3_data *d, real **out /* o, dq, dkt, dv, dK, dDk */, bool bwd) {
    const struct h3_case *c = d->c;
    size_t n = h3_n(c);
    int H = h3_heads(c);
    real *q = to_real(d->q, n), *kt = to_real(d->kt, n), *v = to_real(d->v, n), *K = to_real(d->K, (size_t)H * c->Lk);
    real *Dk = to_real(d->Dk, H), *dout = to_real(d->dout, n);
    struct h3_inner_args a = {.B = c->B, .L = c->L, .D = c->D, .head_dim = c->dh, .Lk = c->Lk,
                              .q = q, .kt = kt, .v = v, .K = K, .Dk = Dk, .o = out[0]};
    O()->h3_inner(&a);
    if (bwd) {
        struct h3_inner_bwd_args g = {.f = a, .dout = dout, .dq = out[1], .dkt = out[2], .dv = out[3],
                                      .dK = out[4], .dDk = c->has_D ? out[5] : NULL};
        O()->h3_inner_bwd(&g);
    }
    free(q), free(kt), free(v), free(K), free(Dk), free(dout);
}

static const struct h3_case h3_cases[] = {
    {2, 31, 16, 1, 31, true}, {1, 37, 8, 2, 37, true},  {2, 40, 12, 4, 20, false}, {1, 33, 16, 8, 33, true},
    {3, 17, 9, 3, 17, true},  {1, 70, 48, 3, 70, true}, {2, 300, 32, 2, 300, true}, {1, 1000, 20, 1, 1000, true},
};
#define N_H3 ((int)(sizeof h3_cases / sizeof h3_cases[0]))

START_TEST(test_h3_inner) {
    const struct h3_case *c = &h3_cases[_i];
    struct h3_data d = h3_data(c);
    size_t n = h3_n(c), sz[6] = {n, n, n, n, (size_t)h3_heads(c) * c->Lk, (size_t)h3_heads(c)};
    real *ref[6], *got[6];
    for (int i = 0; i < 6; i++) ref[i] = xcalloc(sz[i], sizeof(real)), got[i] = tu_guarded(sz[i]);
    real *q = to_real(d.q, n), *kt = to_real(d.kt, n), *v = to_real(d.v, n), *K = to_real(d.K, sz[4]);
    real *Dk = to_real(d.Dk, sz[5]), *dout = to_real(d.dout, n);
    h3_unfused(c, q, kt, v, K, Dk, dout, ref[0], ref[1], ref[2], ref[3], ref[4], ref[5]);
    h3_fused(&d, got, true);
    static const char *names[6] = {"o", "dq", "dk~", "dv", "dK", "dDk"};
    for (int i = 0; i < (c->has_D ? 6 : 5); i++) {
        char what[160];
        snprintf(what, sizeof what, "h3_inner B%d L%d D%d dh%d Lk%d: %s", c->B, c->L, c->D, c->dh, c->Lk, names[i]);
        double *want = tu_to_f64(ref[i], sz[i]);
        tu_assert_close_real(what, got[i], want, sz[i], TOL_FWD * (c->L > 500 ? 8 : 2));
        tu_check_guard(got[i], sz[i], what);
        free(want);
    }
    for (int i = 0; i < 6; i++) free(ref[i]), free(got[i]);
    free(q), free(kt), free(v), free(K), free(Dk), free(dout);
    h3_data_free(&d);
}
END_TEST

#ifdef HIPPO_F64
/* Central differences of sum(dout * o) through the fused op itself. */
static double h3_loss(void *p) {
    struct h3_data *d = p;
    size_t n = h3_n(d->c);
    real *o = xmalloc(sizeof(real) * n), *out[6] = {o};
    h3_fused(d, out, false);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += d->dout[i] * o[i];
    free(o);
    return s;
}

START_TEST(test_h3_inner_fd) {
    static const struct h3_case cs[] = {{2, 7, 4, 1, 7, true}, {1, 9, 6, 2, 5, true}, {1, 6, 6, 3, 6, true}};
    const struct h3_case *c = &cs[_i];
    struct h3_data d = h3_data(c);
    size_t n = h3_n(c), sz[6] = {n, n, n, n, (size_t)h3_heads(c) * c->Lk, (size_t)h3_heads(c)};
    real *got[6];
    for (int i = 0; i < 6; i++) got[i] = xcalloc(sz[i], sizeof(real));
    h3_fused(&d, got, true);
    double *params[6] = {NULL, d.q, d.kt, d.v, d.K, d.Dk};
    static const char *names[6] = {"o", "dq", "dk~", "dv", "dK", "dDk"};
    for (int i = 1; i < 6; i++) {
        double *fd = dzeros(sz[i]), *g = tu_to_f64(got[i], sz[i]);
        fd_grad(h3_loss, &d, params[i], sz[i], fd);
        char what[120];
        snprintf(what, sizeof what, "h3_inner dh%d: %s vs FD", c->dh, names[i]);
        assert_grad(what, g, fd, sz[i]);
        free(fd), free(g);
    }
    for (int i = 0; i < 6; i++) free(got[i]);
    h3_data_free(&d);
}
END_TEST
#endif

/* ---------- state passing vs one block ---------- */

struct sp_case {
    int B, L, H, N2, group, T;
    enum conv_layout layout;
};

struct sp_data {
    const struct sp_case *c;
    double *Abar, *Ct, *D, *u, *dy; /* modes (rows, N2, 2), skip, input, upstream */
};

static int sp_rows(const struct sp_case *c) { return c->H / c->group; }
static size_t sp_n(const struct sp_case *c) { return (size_t)c->B * c->L * c->H; }
static size_t sp_nm(const struct sp_case *c) { return (size_t)sp_rows(c) * c->N2 * 2; }

/* Modes as the bilinear H3/S4D ones: z = (1 + dt A/2)/(1 - dt A/2), A = -0.5 + i pi n,
 * dt from 0.001 (|z| ~ 0.9995: memory across many chunks) to 0.1. */
static struct sp_data sp_data(const struct sp_case *c) {
    struct sp_data d = {c, dzeros(sp_nm(c)), uvec(sp_nm(c), -0.3, 0.3), uvec(sp_rows(c), -1, 1),
                        uvec(sp_n(c), -1, 1), uvec(sp_n(c), -1, 1)};
    for (int r = 0; r < sp_rows(c); r++) {
        double dt = exp(log(0.001) + (log(0.1) - log(0.001)) * urand());
        for (int n = 0; n < c->N2; n++) {
            double complex x = dt * (-0.5 + I * M_PI * n), z = (1 + x / 2) / (1 - x / 2);
            d.Abar[((size_t)r * c->N2 + n) * 2] = creal(z), d.Abar[((size_t)r * c->N2 + n) * 2 + 1] = cimag(z);
        }
    }
    return d;
}
static void sp_data_free(struct sp_data *d) { free(d->Abar), free(d->Ct), free(d->D), free(d->u), free(d->dy); }

static double complex sp_mode(const double *m, int r, int N2, int n) {
    return m[((size_t)r * N2 + n) * 2] + I * m[((size_t)r * N2 + n) * 2 + 1];
}

/* The reference: K from the modes in double, the direct sums (cv_ref), and the
 * modes' gradients from the full-length dk: S0 = sum dk_l z^l, S1 = S0'(z). */
static void sp_ref(const struct sp_data *d, double *y, double *du, double *dAbar, double *dCt, double *dD) {
    const struct sp_case *c = d->c;
    int rows = sp_rows(c), L = c->L;
    double *K = xmalloc(sizeof(double) * rows * L), *dk = xmalloc(sizeof(double) * rows * L);
    for (int r = 0; r < rows; r++)
        for (int l = 0; l < L; l++) {
            double complex s = 0;
            for (int n = 0; n < c->N2; n++) s += sp_mode(d->Ct, r, c->N2, n) * cpow(sp_mode(d->Abar, r, c->N2, n), l);
            K[(size_t)r * L + l] = 2 * creal(s);
        }
    struct cv_case cc = {c->B, L, c->H, L, c->group, c->layout, true};
    cv_ref(&cc, d->u, K, d->D, d->dy, y, du, dk, dD);
    for (int r = 0; r < rows; r++)
        for (int n = 0; n < c->N2; n++) {
            double complex z = sp_mode(d->Abar, r, c->N2, n), s0 = 0, s1 = 0, zl = 1;
            for (int l = 0; l < L; l++) {
                if (l > 0) s1 += l * dk[(size_t)r * L + l] * zl; /* zl = z^{l-1} here */
                if (l > 0) zl *= z;
                s0 += dk[(size_t)r * L + l] * zl;
            }
            double complex gz = sp_mode(d->Ct, r, c->N2, n) * s1;
            size_t o = ((size_t)r * c->N2 + n) * 2;
            dCt[o] = 2 * creal(s0), dCt[o + 1] = -2 * cimag(s0);
            dAbar[o] = 2 * creal(gz), dAbar[o + 1] = -2 * cimag(gz);
        }
    free(K), free(dk);
}

/* The op with chunk T: y, and (bwd) du, dAbar, dCt, dD into out[0..4]. */
static void sp_run(const struct sp_data *d, int T, real **out, bool bwd) {
    const struct sp_case *c = d->c;
    size_t n = sp_n(c), nm = sp_nm(c);
    real *Ab = to_real(d->Abar, nm), *Ct = to_real(d->Ct, nm), *D = to_real(d->D, sp_rows(c));
    real *u = to_real(d->u, n), *dy = to_real(d->dy, n);
    struct ssm_conv_args a = {.B = c->B, .L = c->L, .H = c->H, .N2 = c->N2, .group = c->group, .T = T,
                              .layout = c->layout, .Abar = Ab, .Ct = Ct, .D = D, .u = u, .y = out[0]};
    O()->ssm_conv_chunked(&a);
    if (bwd) {
        struct ssm_conv_bwd_args g = {.f = a, .dy = dy, .du = out[1], .dAbar = out[2], .dCt = out[3], .dD = out[4]};
        O()->ssm_conv_chunked_bwd(&g);
    }
    free(Ab), free(Ct), free(D), free(u), free(dy);
}

static const struct sp_case sp_cases[] = {
    {2, 256, 20, 8, 1, 16, CONV_BLH},  {2, 256, 20, 8, 1, 64, CONV_BHL},  {1, 256, 16, 32, 2, 128, CONV_BLH},
    {1, 256, 16, 32, 1, 256, CONV_BHL}, {2, 200, 9, 3, 3, 64, CONV_BLH},  {1, 200, 17, 5, 1, 16, CONV_BHL},
    {3, 1000, 5, 4, 1, 128, CONV_BLH}, {1, 77, 32, 8, 4, 0, CONV_BLH},
};
#define N_SP ((int)(sizeof sp_cases / sizeof sp_cases[0]))

START_TEST(test_ssm_chunked) {
    const struct sp_case *c = &sp_cases[_i];
    struct sp_data d = sp_data(c);
    size_t sz[5] = {sp_n(c), sp_n(c), sp_nm(c), sp_nm(c), (size_t)sp_rows(c)};
    double *ref[5];
    real *got[5], *one[5];
    for (int i = 0; i < 5; i++) ref[i] = dzeros(sz[i]), got[i] = tu_guarded(sz[i]), one[i] = tu_guarded(sz[i]);
    sp_ref(&d, ref[0], ref[1], ref[2], ref[3], ref[4]);
    sp_run(&d, c->T, got, true);
    int Tone = 16;
    while (Tone < c->L) Tone *= 2;
    sp_run(&d, Tone, one, true); /* one block: no state passed */
    static const char *names[5] = {"y", "du", "dAbar", "dCt", "dD"};
    for (int i = 0; i < 5; i++) {
        char what[160];
        snprintf(what, sizeof what, "ssm_conv_chunked B%d L%d H%d N2 %d g%d T%d %s: %s", c->B, c->L, c->H, c->N2,
                 c->group, c->T, c->layout == CONV_BLH ? "BLH" : "BHL", names[i]);
        tu_assert_close_real(what, got[i], ref[i], sz[i], 8 * TOL_FWD);
        double *o = tu_to_f64(one[i], sz[i]);
        strcat(what, " vs one block");
        tu_assert_close_real(what, got[i], o, sz[i], 8 * TOL_FWD);
        tu_check_guard(got[i], sz[i], what);
        free(o);
    }
    for (int i = 0; i < 5; i++) free(ref[i]), free(got[i]), free(one[i]);
    sp_data_free(&d);
}
END_TEST

/* ---------- dispatch ---------- */

/* What conv_table.h says for a shape, worked out here from the table. */
static enum cpu_conv_engine table_says(const struct conv_args *a) {
    bool blocked = a->H % VL == 0;
    enum conv_kernel_class cls = blocked ? (a->layout == CONV_BLH ? CONV_CLASS_BLH_BLOCKED : CONV_CLASS_BHL_BLOCKED)
                                         : (a->layout == CONV_BLH ? CONV_CLASS_BLH_LOOPS : CONV_CLASS_BHL_LOOPS);
    const struct conv_table *t = conv_table_active();
    const struct conv_rule *r = &t->rules[cls];
    ck_assert(r->cls == cls);
    bool flash = (a->H >= r->flash_min_H || (a->L <= t->short_L && a->H >= r->flash_min_H_short)) &&
                 a->L <= FB_MAX_N / 2;
    int n = flash ? fb_size_for(a->L) : cpu_conv_fft_size(a->L + a->Lk - 1);
    double cost = (flash ? (a->B == 1 ? r->ratio_flash_b1 : r->ratio_flash) : r->ratio_fftw) * n * log2(n);
    return (double)a->L * a->Lk <= cost ? CPU_CONV_DIRECT : flash ? CPU_CONV_FLASH : CPU_CONV_FFTW;
}

START_TEST(test_dispatch) {
    static const int Ls[] = {1, 16, 31, 64, 100, 128, 256, 700, 2049, 1 << 20, (1 << 20) + 1};
    static const int Hs[] = {1, 5, 6, 8, 32, 64, 768};
    int seen[3] = {0};
    for (int lay = 0; lay < 2; lay++)
        for (size_t i = 0; i < sizeof Ls / sizeof Ls[0]; i++)
            for (size_t j = 0; j < sizeof Hs / sizeof Hs[0]; j++)
                for (int shortk = 0; shortk < 4; shortk++) { /* bit 0: a 64-tap kernel; bit 1: B = 1 */
                    struct conv_args a = {.B = shortk & 2 ? 1 : 2, .L = Ls[i], .H = Hs[j], .group = 1,
                                          .layout = (enum conv_layout)lay};
                    a.Lk = (shortk & 1) && a.L > 64 ? 64 : a.L;
                    enum cpu_conv_engine e = cpu_conv_path(&a);
                    ck_assert_msg(e == table_says(&a), "L %d H %d Lk %d %s: path %s, table %d", a.L, a.H, a.Lk,
                                  lay ? "BHL" : "BLH", cpu_conv_path_name(&a), table_says(&a));
                    ck_assert(cpu_conv_use_fft(&a) == (e != CPU_CONV_DIRECT));
                    seen[e]++;
                }
    ck_assert(seen[CPU_CONV_DIRECT] && seen[CPU_CONV_FFTW] && seen[CPU_CONV_FLASH]); /* every path is reachable */
    /* anchors: the paper's short sequences direct, long full kernels FlashConv, H3's 64-tap shift kernel direct */
    struct conv_args a = {.B = 32, .L = 31, .H = 32, .Lk = 31, .group = 1, .layout = CONV_BLH};
    ck_assert(cpu_conv_path(&a) == CPU_CONV_DIRECT);
    a.L = a.Lk = 4096;
    ck_assert(cpu_conv_path(&a) == CPU_CONV_FLASH);
    a.Lk = 64;
    ck_assert(cpu_conv_path(&a) == CPU_CONV_DIRECT);
    a.H = 2, a.Lk = 4096;
    ck_assert(cpu_conv_path(&a) == CPU_CONV_FFTW);
    a.B = 32, a.H = 256, a.L = a.Lk = 31, a.group = 64; /* H3 head_dim 8's kv convolution */
    ck_assert(cpu_conv_path(&a) == CPU_CONV_DIRECT);
}
END_TEST

/* The op really runs the path it reports: bit-identical to calling it. */
START_TEST(test_dispatch_runs) {
    static const struct conv_args shapes[] = {
        {.B = 2, .L = 31, .H = 32, .Lk = 31, .group = 1, .layout = CONV_BLH},
        {.B = 2, .L = 600, .H = 32, .Lk = 600, .group = 1, .layout = CONV_BLH},
        {.B = 2, .L = 600, .H = 3, .Lk = 600, .group = 1, .layout = CONV_BHL},
    };
    struct conv_args a = shapes[_i];
    size_t n = (size_t)a.B * a.L * a.H;
    double *du = uvec(n, -1, 1), *dk = uvec((size_t)a.H * a.Lk, -1, 1);
    real *u = to_real(du, n), *k = to_real(dk, (size_t)a.H * a.Lk), *y1 = xmalloc(sizeof(real) * n),
         *y2 = xmalloc(sizeof(real) * n);
    a.u = u, a.k = k, a.y = y1;
    O()->conv(&a);
    a.y = y2;
    enum cpu_conv_engine e = cpu_conv_path(&a);
    static const enum cpu_conv_engine expect[] = {CPU_CONV_DIRECT, CPU_CONV_FLASH, CPU_CONV_FFTW};
    ck_assert_int_eq(e, expect[_i]);
    if (e == CPU_CONV_DIRECT) cpu_conv_direct(&a);
    else if (e == CPU_CONV_FLASH) cpu_conv_flash(&a);
    else cpu_conv_fft(&a);
    ck_assert(memcmp(y1, y2, sizeof(real) * n) == 0);
    free(du), free(dk), free(u), free(k), free(y1), free(y2);
}
END_TEST

/* Same inputs, same thread count: bit-identical results and gradients. */
START_TEST(test_deterministic) {
    struct cv_case c = {8, 600, 40, 600, 2, CONV_BLH, true};
    size_t n = (size_t)c.B * c.L * c.H, nk = (size_t)(c.H / c.group) * c.Lk;
    double *du = uvec(n, -1, 1), *dk = uvec(nk, -1, 1);
    real *u = to_real(du, n), *k = to_real(dk, nk), *D = to_real(dk, c.H), *r[2][3];
    for (int t = 0; t < 2; t++) {
        r[t][0] = xmalloc(sizeof(real) * n), r[t][1] = xmalloc(sizeof(real) * n), r[t][2] = xcalloc(nk, sizeof(real));
        struct conv_args a = {.B = c.B, .L = c.L, .H = c.H, .Lk = c.Lk, .group = c.group, .layout = c.layout,
                              .u = u, .k = k, .D = D, .y = r[t][0]};
        cpu_conv_flash(&a);
        struct conv_bwd_args g = {.f = a, .dy = u, .du = r[t][1], .dk = r[t][2]};
        cpu_conv_flash_bwd(&g);
    }
    ck_assert(memcmp(r[0][0], r[1][0], sizeof(real) * n) == 0);
    ck_assert(memcmp(r[0][1], r[1][1], sizeof(real) * n) == 0);
    ck_assert(memcmp(r[0][2], r[1][2], sizeof(real) * nk) == 0);
    for (int t = 0; t < 2; t++) free(r[t][0]), free(r[t][1]), free(r[t][2]);
    free(du), free(dk), free(u), free(k), free(D);
}
END_TEST

static Suite *flashconv_suite(void) {
    Suite *s = suite_create("flashconv_" REAL_NAME);
    TCase *tc = tcase_create("flashconv");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_fft_dft, 0, 10);
    tcase_add_loop_test(tc, test_fft_radices, 0, 12);
    tcase_add_loop_test(tc, test_flash_conv, 0, N_CV);
    tcase_add_loop_test(tc, test_h3_inner, 0, N_H3);
#ifdef HIPPO_F64
    tcase_add_loop_test(tc, test_h3_inner_fd, 0, 3);
#endif
    tcase_add_loop_test(tc, test_ssm_chunked, 0, N_SP);
    tcase_add_test(tc, test_dispatch);
    tcase_add_loop_test(tc, test_dispatch_runs, 0, 3);
    tcase_add_test(tc, test_deterministic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(flashconv_suite()); }
