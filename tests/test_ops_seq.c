/* test_ops_seq.c — the sequence ops: the causal long convolution (the op's
 * dispatch and the direct and FFT paths, both layouts, groups, with and
 * without D) and the SSM kernel (both discretisations, shared or per-channel
 * A), against naive double-precision versions of their contracts
 * (kernels/ops.h), every backward against central finite differences, and
 * bit-identical gradients on repeated calls.
 *
 * Compiled twice: as the float suite (this file) and, included from
 * tests/f64/test_ops_seq.c, as the double suite; tolerances and the
 * finite-difference scheme are in ops_testutil.h. */
#include <complex.h>

#include "ops_testutil.h"

/* ---------- long convolution ---------- */

enum conv_path { PATH_OP, PATH_DIRECT, PATH_FFT };

struct conv_case {
    int B, L, H, Lk, group;
    enum conv_layout layout;
    bool has_D;
    enum conv_path path;
};

struct conv_data {
    const struct conv_case *c;
    double *u, *k, *D, *dy; /* (B,L,H)/(B,H,L), (H/g, Lk), (H/g), like u */
    double *y;
};

static size_t conv_at(const struct conv_case *c, int b, int ch, int t) {
    return c->layout == CONV_BLH ? ((size_t)b * c->L + t) * c->H + ch : ((size_t)b * c->H + ch) * c->L + t;
}
static size_t conv_n(const struct conv_case *c) { return (size_t)c->B * c->L * c->H; }
static size_t conv_nk(const struct conv_case *c) { return (size_t)(c->H / c->group) * c->Lk; }

static struct conv_data conv_data(const struct conv_case *c) {
    struct conv_data d = {c, dvec(conv_n(c), -1, 1), dvec(conv_nk(c), -1, 1),
                          c->has_D ? dvec(c->H / c->group, -1, 1) : NULL, dvec(conv_n(c), -1, 1),
                          dzeros(conv_n(c))};
    return d;
}
static void conv_data_free(struct conv_data *d) { free(d->u), free(d->k), free(d->D), free(d->dy), free(d->y); }

static struct conv_args conv_args_of(const struct conv_case *c, const real *u, const real *k, const real *D,
                                     real *y) {
    struct conv_args a = {.B = c->B, .L = c->L, .H = c->H, .Lk = c->Lk, .group = c->group,
                          .layout = c->layout, .u = u, .k = k, .D = D, .y = y};
    return a;
}

static void run_conv(struct conv_data *d, bool use_op) {
    const struct conv_case *c = d->c;
    if (!use_op) {
        for (int b = 0; b < c->B; b++)
            for (int ch = 0; ch < c->H; ch++) {
                int r = ch / c->group;
                for (int t = 0; t < c->L; t++) {
                    double s = d->D ? d->D[r] * d->u[conv_at(c, b, ch, t)] : 0;
                    for (int j = 0; j <= t && j < c->Lk; j++) s += d->k[r * c->Lk + j] * d->u[conv_at(c, b, ch, t - j)];
                    d->y[conv_at(c, b, ch, t)] = s;
                }
            }
        return;
    }
    size_t n = conv_n(c);
    real *u = to_real(d->u, n), *k = to_real(d->k, conv_nk(c)), *D = to_real(d->D, c->H / c->group);
    real *y = malloc(sizeof(real) * n);
    struct conv_args a = conv_args_of(c, u, k, D, y);
    if (c->path == PATH_OP) O()->conv(&a);
    else if (c->path == PATH_DIRECT) cpu_conv_direct(&a);
    else cpu_conv_fft(&a);
    to_double(y, d->y, n);
    free(u), free(k), free(D), free(y);
}

/* du (=), dk and dD; the op's += is checked by a second call. */
static void run_conv_bwd(struct conv_data *d, double *du, double *dk, double *dD, bool use_op) {
    const struct conv_case *c = d->c;
    size_t n = conv_n(c), nk = conv_nk(c);
    int rows = c->H / c->group;
    if (!use_op) {
        memset(dk, 0, sizeof(double) * nk);
        memset(dD, 0, sizeof(double) * rows);
        for (int b = 0; b < c->B; b++)
            for (int ch = 0; ch < c->H; ch++) {
                int r = ch / c->group;
                for (int s = 0; s < c->L; s++) {
                    double dys = d->dy[conv_at(c, b, ch, s)], g = d->D ? d->D[r] * dys : 0;
                    for (int j = 0; j < c->Lk && s + j < c->L; j++)
                        g += d->k[r * c->Lk + j] * d->dy[conv_at(c, b, ch, s + j)];
                    du[conv_at(c, b, ch, s)] = g;
                    dD[r] += dys * d->u[conv_at(c, b, ch, s)];
                    for (int j = 0; j <= s && j < c->Lk; j++)
                        dk[r * c->Lk + j] += dys * d->u[conv_at(c, b, ch, s - j)];
                }
            }
        return;
    }
    real *u = to_real(d->u, n), *k = to_real(d->k, nk), *D = to_real(d->D, rows), *dy = to_real(d->dy, n);
    real *rdu = malloc(sizeof(real) * n), *rdk = malloc(sizeof(real) * nk), *rdD = malloc(sizeof(real) * rows);
    memset(rdk, 0, sizeof(real) * nk);
    memset(rdD, 0, sizeof(real) * rows);
    struct conv_bwd_args g = {.f = conv_args_of(c, u, k, D, NULL), .dy = dy, .du = rdu, .dk = rdk, .dD = rdD};
    if (c->path == PATH_OP) O()->conv_bwd(&g);
    else if (c->path == PATH_DIRECT) cpu_conv_direct_bwd(&g);
    else cpu_conv_fft_bwd(&g);
    to_double(rdu, du, n);
    to_double(rdk, dk, nk);
    to_double(rdD, dD, rows);
    g.du = NULL;
    if (c->path == PATH_OP) O()->conv_bwd(&g);
    else if (c->path == PATH_DIRECT) cpu_conv_direct_bwd(&g);
    else cpu_conv_fft_bwd(&g);
    check_accumulated("conv dk", rdk, dk, nk);
    check_accumulated("conv dD", rdD, dD, rows);
    free(u), free(k), free(D), free(dy), free(rdu), free(rdk), free(rdD);
}

static const char *path_name[] = {"op", "direct", "fft"};

static void conv_case_name(const struct conv_case *c, char *s, size_t n) {
    snprintf(s, n, "conv B%d L%d H%d Lk%d g%d %s D%d path %s", c->B, c->L, c->H, c->Lk, c->group,
             c->layout == CONV_BLH ? "BLH" : "BHL", c->has_D, path_name[c->path]);
}

/* Forward and backward of one case against the naive sums. */
static void conv_check(const struct conv_case *c, double tol) {
    struct conv_data d = conv_data(c);
    size_t n = conv_n(c), nk = conv_nk(c);
    int rows = c->H / c->group;
    double *want = dzeros(n);
    run_conv(&d, false);
    memcpy(want, d.y, sizeof(double) * n);
    run_conv(&d, true);
    char what[160], name[128];
    conv_case_name(c, name, sizeof name);
    snprintf(what, sizeof what, "%s: y", name);
    tu_assert_close(what, d.y, want, n, tol);

    double *du = dzeros(n), *dk = dzeros(nk), *dD = dzeros(rows);
    double *wdu = dzeros(n), *wdk = dzeros(nk), *wdD = dzeros(rows);
    run_conv_bwd(&d, wdu, wdk, wdD, false);
    run_conv_bwd(&d, du, dk, dD, true);
    snprintf(what, sizeof what, "%s: du", name);
    tu_assert_close(what, du, wdu, n, tol);
    snprintf(what, sizeof what, "%s: dk", name);
    tu_assert_close(what, dk, wdk, nk, tol);
    if (c->has_D) {
        snprintf(what, sizeof what, "%s: dD", name);
        tu_assert_close(what, dD, wdD, rows, tol);
    }
    free(want), free(du), free(dk), free(dD), free(wdu), free(wdk), free(wdD);
    conv_data_free(&d);
}

/* Short shapes: every path, both layouts, groups, with and without D, Lk < L, L = 1. */
static const struct {
    int B, L, H, Lk, group;
} conv_shapes[] = {
    {1, 1, 1, 1, 1}, {2, 31, 5, 31, 1}, {3, 37, 12, 7, 4}, {1, 31, 16, 31, 16},
    {2, 22, 13, 22, 1}, {4, 40, 64, 40, 64}, {2, 33, 9, 1, 3}, {32, 31, 32, 31, 1},
    {2, 16, 5, 16, 1}, {3, 8, 6, 8, 2}, /* FFT sizes 32 and 16, several kernel rows */
    /* the register-blocked BLH kernel (H a multiple of 16): whole 8-row blocks
     * and their corners (L % 8 == 0), a partial last block, taps ending inside
     * a block, one tap, one block, H3's 64 shift taps on a longer L */
    {2, 64, 16, 64, 1}, {2, 72, 32, 20, 1}, {2, 24, 16, 9, 2}, {1, 8, 16, 8, 1},
    {2, 17, 16, 17, 1}, {2, 16, 16, 1, 1}, {3, 67, 48, 64, 1}, {2, 48, 16, 13, 16},
    {2, 96, 48, 64, 1}, /* rows past 16 KB in f32: the time-block-major loop order */
};
#define N_CONV_SHAPES ((int)(sizeof conv_shapes / sizeof conv_shapes[0]))

START_TEST(test_conv_short) {
    for (int layout = 0; layout < 2; layout++)
        for (int path = 0; path < 3; path++)
            for (int hasD = 0; hasD < 2; hasD++) {
                struct conv_case c = {conv_shapes[_i].B, conv_shapes[_i].L, conv_shapes[_i].H,
                                      conv_shapes[_i].Lk, conv_shapes[_i].group,
                                      (enum conv_layout)layout, hasD, (enum conv_path)path};
                conv_check(&c, TOL_FWD);
            }
}
END_TEST

/* Long L, where the op takes the FFT path; also each path explicitly. */
START_TEST(test_conv_long) {
    static const int Ls[] = {300, 1000, 2049};
    int L = Ls[_i];
    for (int layout = 0; layout < 2; layout++)
        for (int path = 0; path < 3; path++) {
            struct conv_case full = {1, L, 3, L, 1, (enum conv_layout)layout, true, (enum conv_path)path};
            struct conv_case part = {2, L, 4, L / 3 + 1, 2, (enum conv_layout)layout, layout == 0,
                                     (enum conv_path)path};
            conv_check(&full, 4 * TOL_FWD);
            conv_check(&part, 4 * TOL_FWD);
        }
}
END_TEST

/* The dispatch must actually reach the FFT path at long L with a long kernel
 * and the direct path for the paper's short sequences. */
START_TEST(test_conv_dispatch) {
    for (int lay = 0; lay < 2; lay++) {
        struct conv_args a = {.B = 1, .H = 1, .group = 1, .layout = (enum conv_layout)lay};
        a.L = a.Lk = 2049;
        ck_assert(cpu_conv_use_fft(&a));
        a.L = 300, a.Lk = 300; /* H = 1: the plain loops, FFT from L ~ 100 */
        ck_assert(cpu_conv_use_fft(&a));
        a.H = 32, a.Lk = 64; /* register-blocked kernel, H3's shift kernel (BLH): direct */
        if (a.layout == CONV_BLH) ck_assert(!cpu_conv_use_fft(&a));
        else ck_assert(cpu_conv_use_fft(&a)); /* BHL at B = 1: the transposes do not pay (table 1.69) */
        a.B = 32, a.L = a.Lk = 31; /* the paper's batch, length and width */
        ck_assert(!cpu_conv_use_fft(&a));
    }
}
END_TEST

struct conv_fd {
    struct conv_data *d;
};
static double conv_loss(void *p) {
    struct conv_data *d = p;
    run_conv(d, FD_THROUGH_OP);
    return dot(d->dy, d->y, conv_n(d->c));
}

START_TEST(test_conv_grad) {
    struct conv_case c = {2, 9, 6, 5, 2, _i & 1 ? CONV_BHL : CONV_BLH, true, (enum conv_path)(_i >> 1)};
    if (_i >= 6) /* H a multiple of the vector width: the register-blocked BLH kernel */
        c = (struct conv_case){2, 11, 16, _i == 6 ? 7 : 11, 4, CONV_BLH, true, PATH_DIRECT};
    struct conv_data d = conv_data(&c);
    size_t n = conv_n(&c), nk = conv_nk(&c);
    int rows = c.H / c.group;
    double *du = dzeros(n), *dk = dzeros(nk), *dD = dzeros(rows);
    double *fu = dzeros(n), *fk = dzeros(nk), *fD = dzeros(rows);
    run_conv_bwd(&d, du, dk, dD, true);
    fd_grad(conv_loss, &d, d.u, n, fu);
    fd_grad(conv_loss, &d, d.k, nk, fk);
    fd_grad(conv_loss, &d, d.D, rows, fD);
    char name[128], what[160];
    conv_case_name(&c, name, sizeof name);
    snprintf(what, sizeof what, "%s: du vs FD", name);
    assert_grad(what, du, fu, n);
    snprintf(what, sizeof what, "%s: dk vs FD", name);
    assert_grad(what, dk, fk, nk);
    snprintf(what, sizeof what, "%s: dD vs FD", name);
    assert_grad(what, dD, fD, rows);
    free(du), free(dk), free(dD), free(fu), free(fk), free(fD);
    conv_data_free(&d);
}
END_TEST

/* ---------- SSM kernel ---------- */

struct ssm_case {
    int H, N2, L;
    enum ssm_disc disc;
    int a_rows;
    bool has_B, inv_A; /* inv_A: S4D-Inv imaginary parts (up to ~N^2/pi) */
};

struct ssm_data {
    const struct ssm_case *c;
    double *log_dt, *A_re, *A_im, *B, *C, *dK, *K;
};

static struct ssm_data ssm_data(const struct ssm_case *c) {
    struct ssm_data d = {.c = c};
    size_t na = (size_t)c->a_rows * c->N2, nc = (size_t)c->H * c->N2 * 2;
    d.log_dt = dvec(c->H, log(1e-3), log(1e-1));
    d.A_re = dvec(na, -1.0, -0.1);
    d.A_im = dvec(na, -0.3, 0.3);
    for (int r = 0; r < c->a_rows; r++)
        for (int n = 0; n < c->N2; n++) {
            double N = 2.0 * c->N2;
            d.A_im[r * c->N2 + n] += c->inv_A ? (N / M_PI) * (N / (2 * n + 1) - 1) : M_PI * n;
        }
    d.B = c->has_B ? dvec(nc, -1, 1) : NULL;
    d.C = dvec(nc, -1, 1);
    d.dK = dvec((size_t)c->H * c->L, -1, 1);
    d.K = dzeros((size_t)c->H * c->L);
    return d;
}
static void ssm_data_free(struct ssm_data *d) {
    free(d->log_dt), free(d->A_re), free(d->A_im), free(d->B), free(d->C), free(d->dK), free(d->K);
}

static struct ssm_kernel_args ssm_args_of(const struct ssm_case *c, real *const p[5], real *K) {
    struct ssm_kernel_args a = {.H = c->H, .N2 = c->N2, .L = c->L, .disc = c->disc, .a_rows = c->a_rows,
                                .log_dt = p[0], .A_re = p[1], .A_im = p[2], .B = p[3], .C = p[4], .K = K};
    return a;
}

static void run_ssm(struct ssm_data *d, bool use_op) {
    const struct ssm_case *c = d->c;
    size_t na = (size_t)c->a_rows * c->N2, nc = (size_t)c->H * c->N2 * 2, nK = (size_t)c->H * c->L;
    if (!use_op) { /* the contract's formulas, powers by exp(l log Abar) at every l */
        for (int h = 0; h < c->H; h++) {
            double dt = exp(d->log_dt[h]);
            for (int l = 0; l < c->L; l++) d->K[h * c->L + l] = 0;
            for (int n = 0; n < c->N2; n++) {
                int ai = (c->a_rows == 1 ? 0 : h) * c->N2 + n;
                size_t o = ((size_t)h * c->N2 + n) * 2;
                double complex A = d->A_re[ai] + I * d->A_im[ai], x = dt * A, z, ct;
                double complex BC = (d->B ? d->B[o] + I * d->B[o + 1] : 1.0) * (d->C[o] + I * d->C[o + 1]);
                if (c->disc == SSM_BILINEAR) {
                    z = (1 + x / 2) / (1 - x / 2);
                    ct = BC * dt / (1 - x / 2);
                } else {
                    z = cexp(x);
                    ct = BC * (cexp(x) - 1) / A;
                }
                for (int l = 0; l < c->L; l++) d->K[h * c->L + l] += 2 * creal(ct * cexp(l * clog(z)));
            }
        }
        return;
    }
    real *p[5] = {to_real(d->log_dt, c->H), to_real(d->A_re, na), to_real(d->A_im, na), to_real(d->B, nc),
                  to_real(d->C, nc)};
    real *K = malloc(sizeof(real) * nK);
    struct ssm_kernel_args a = ssm_args_of(c, p, K);
    O()->ssm_kernel(&a);
    to_double(K, d->K, nK);
    for (int i = 0; i < 5; i++) free(p[i]);
    free(K);
}

static double ssm_loss(void *p) {
    struct ssm_data *d = p;
    run_ssm(d, FD_THROUGH_OP);
    return dot(d->dK, d->K, (size_t)d->c->H * d->c->L);
}

static const struct ssm_case ssm_cases[] = {
    {3, 4, 31, SSM_BILINEAR, 3, true, false},  {3, 4, 31, SSM_BILINEAR, 1, false, false},
    {4, 3, 37, SSM_ZOH, 1, false, true},       {4, 3, 37, SSM_ZOH, 4, true, false},
    {2, 5, 1, SSM_BILINEAR, 2, false, false},  {2, 2, 1, SSM_ZOH, 1, true, true},
    {5, 6, 200, SSM_ZOH, 1, false, true},      {3, 4, 150, SSM_BILINEAR, 3, true, false},
    /* N2 in {8, 16, 32, 64}: the register-blocked loops (kernel_row_reg, power_sums_reg) */
    {2, 32, 150, SSM_BILINEAR, 2, true, false}, {3, 8, 70, SSM_ZOH, 1, false, true},
    {2, 16, 33, SSM_BILINEAR, 1, false, false}, {1, 64, 65, SSM_ZOH, 1, true, false},
};
#define N_SSM_CASES ((int)(sizeof ssm_cases / sizeof ssm_cases[0]))

static void ssm_case_name(const struct ssm_case *c, char *s, size_t n) {
    snprintf(s, n, "ssm H%d N2 %d L%d %s a_rows %d B%d invA %d", c->H, c->N2, c->L,
             c->disc == SSM_BILINEAR ? "bilinear" : "zoh", c->a_rows, c->has_B, c->inv_A);
}

START_TEST(test_ssm_kernel) {
    const struct ssm_case *c = &ssm_cases[_i];
    struct ssm_data d = ssm_data(c);
    size_t nK = (size_t)c->H * c->L;
    double *want = dzeros(nK);
    run_ssm(&d, false);
    memcpy(want, d.K, sizeof(double) * nK);
    run_ssm(&d, true);
    char name[128];
    ssm_case_name(c, name, sizeof name);
    tu_assert_close(name, d.K, want, nK, TOL_FWD);
    free(want);
    ssm_data_free(&d);
}
END_TEST

/* The paper-size kernel at long L (H3: H = 32, N2 = 32) — powers far out. */
START_TEST(test_ssm_kernel_long) {
    struct ssm_case c = {32, 32, 2049, _i ? SSM_ZOH : SSM_BILINEAR, _i ? 1 : 32, !_i, _i};
    struct ssm_data d = ssm_data(&c);
    size_t nK = (size_t)c.H * c.L;
    double *want = dzeros(nK);
    run_ssm(&d, false);
    memcpy(want, d.K, sizeof(double) * nK);
    run_ssm(&d, true);
    char name[128];
    ssm_case_name(&c, name, sizeof name);
    tu_assert_close(name, d.K, want, nK, TOL_FWD);
    free(want);
    ssm_data_free(&d);
}
END_TEST

START_TEST(test_ssm_kernel_grad) {
    const struct ssm_case *c = &ssm_cases[_i];
    if (c->L > 60) return; /* FD cost; the long cases are covered by the forward tests */
    struct ssm_data d = ssm_data(c);
    size_t na = (size_t)c->a_rows * c->N2, nc = (size_t)c->H * c->N2 * 2;
    real *p[5] = {to_real(d.log_dt, c->H), to_real(d.A_re, na), to_real(d.A_im, na), to_real(d.B, nc),
                  to_real(d.C, nc)};
    real *dK = to_real(d.dK, (size_t)c->H * c->L);
    real *g[5] = {calloc(c->H, sizeof(real)), calloc(na, sizeof(real)), calloc(na, sizeof(real)),
                  c->has_B ? calloc(nc, sizeof(real)) : NULL, calloc(nc, sizeof(real))};
    size_t sizes[5] = {c->H, na, na, nc, nc};
    struct ssm_kernel_bwd_args a = {.f = ssm_args_of(c, p, NULL), .dK = dK, .dlog_dt = g[0], .dA_re = g[1],
                                    .dA_im = g[2], .dB = g[3], .dC = g[4]};
    O()->ssm_kernel_bwd(&a);
    double *once[5];
    for (int i = 0; i < 5; i++) {
        once[i] = dzeros(sizes[i]);
        if (g[i]) to_double(g[i], once[i], sizes[i]);
    }
    O()->ssm_kernel_bwd(&a);
    double *vals[5] = {d.log_dt, d.A_re, d.A_im, d.B, d.C};
    static const char *names[5] = {"dlog_dt", "dA_re", "dA_im", "dB", "dC"};
    char name[128], what[200];
    ssm_case_name(c, name, sizeof name);
    for (int i = 0; i < 5; i++) {
        if (!vals[i]) continue;
        double *fd = dzeros(sizes[i]);
        fd_grad(ssm_loss, &d, vals[i], sizes[i], fd);
        snprintf(what, sizeof what, "%s: %s vs FD", name, names[i]);
        assert_grad(what, once[i], fd, sizes[i]);
        check_accumulated(what, g[i], once[i], sizes[i]);
        free(fd);
    }
    for (int i = 0; i < 5; i++) free(p[i]), free(g[i]), free(once[i]);
    free(dK);
    ssm_data_free(&d);
}
END_TEST

/* The backward at long L, where per-element differences cost too much: for
 * each parameter tensor, the op's gradient along random directions against
 * central differences of the naive double forward (exp(l log Abar) at every
 * l, no shared arithmetic with the op). */
START_TEST(test_ssm_kernel_grad_long) {
    static const struct ssm_case cases[] = {
        {2, 32, 2049, SSM_BILINEAR, 2, true, false}, {3, 5, 1000, SSM_ZOH, 1, false, true},
        {2, 64, 300, SSM_BILINEAR, 1, false, true},  {2, 8, 517, SSM_ZOH, 2, true, false},
    };
    const struct ssm_case *c = &cases[_i];
    struct ssm_data d = ssm_data(c);
    size_t na = (size_t)c->a_rows * c->N2, nc = (size_t)c->H * c->N2 * 2;
    real *p[5] = {to_real(d.log_dt, c->H), to_real(d.A_re, na), to_real(d.A_im, na), to_real(d.B, nc),
                  to_real(d.C, nc)};
    real *dK = to_real(d.dK, (size_t)c->H * c->L);
    size_t sizes[5] = {c->H, na, na, nc, nc};
    real *g[5];
    for (int i = 0; i < 5; i++) g[i] = p[i] ? calloc(sizes[i], sizeof(real)) : NULL;
    struct ssm_kernel_bwd_args a = {.f = ssm_args_of(c, p, NULL), .dK = dK, .dlog_dt = g[0], .dA_re = g[1],
                                    .dA_im = g[2], .dB = g[3], .dC = g[4]};
    O()->ssm_kernel_bwd(&a);
    double *vals[5] = {d.log_dt, d.A_re, d.A_im, d.B, d.C};
    static const char *names[5] = {"dlog_dt", "dA_re", "dA_im", "dB", "dC"};
    char name[128];
    ssm_case_name(c, name, sizeof name);
    for (int i = 0; i < 5; i++)
        for (int rep = 0; vals[i] && rep < 2; rep++) {
            double *v = dvec(sizes[i], -1, 1), *x = vals[i], got = 0, eps = 1e-6;
            for (size_t k = 0; k < sizes[i]; k++) got += g[i][k] * v[k];
            for (size_t k = 0; k < sizes[i]; k++) x[k] += eps * v[k];
            run_ssm(&d, false);
            double lp = dot(d.dK, d.K, (size_t)c->H * c->L);
            for (size_t k = 0; k < sizes[i]; k++) x[k] -= 2 * eps * v[k];
            run_ssm(&d, false);
            double lm = dot(d.dK, d.K, (size_t)c->H * c->L), want = (lp - lm) / (2 * eps);
            for (size_t k = 0; k < sizes[i]; k++) x[k] += eps * v[k];
            double scale = 0; /* the size of the terms of the directional sum */
            for (size_t k = 0; k < sizes[i]; k++) scale += fabs(g[i][k] * v[k]);
            ck_assert_msg(scale > 0, "%s: %s is zero", name, names[i]);
            ck_assert_msg(fabs(got - want) <= (sizeof(real) == 8 ? 1e-6 : 1e-3) * scale,
                          "%s: %s along a direction: op %.10g, differences %.10g (terms %.3g)", name, names[i], got,
                          want, scale);
            free(v);
        }
    for (int i = 0; i < 5; i++) free(p[i]), free(g[i]);
    free(dK);
    ssm_data_free(&d);
}
END_TEST

/* ---------- determinism ---------- */

/* Same inputs, same thread count: bit-identical gradients (no atomics, fixed
 * reduction order), at a size where the ops open parallel regions. */
START_TEST(test_deterministic) {
    struct conv_case c = {32, 40, 64, 40, 1, CONV_BLH, true, PATH_OP};
    struct conv_data d = conv_data(&c);
    size_t n = conv_n(&c), nk = conv_nk(&c);
    double *du1 = dzeros(n), *dk1 = dzeros(nk), *dD1 = dzeros(64), *du2 = dzeros(n), *dk2 = dzeros(nk),
           *dD2 = dzeros(64);
    run_conv_bwd(&d, du1, dk1, dD1, true);
    run_conv_bwd(&d, du2, dk2, dD2, true);
    ck_assert(memcmp(du1, du2, sizeof(double) * n) == 0);
    ck_assert(memcmp(dk1, dk2, sizeof(double) * nk) == 0);
    ck_assert(memcmp(dD1, dD2, sizeof(double) * 64) == 0);
    free(du1), free(dk1), free(dD1), free(du2), free(dk2), free(dD2);
    conv_data_free(&d);
}
END_TEST

static Suite *ops_seq_suite(void) {
    Suite *s = suite_create("ops_seq_" REAL_NAME);
    TCase *tc = tcase_create("ops_seq");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_conv_short, 0, N_CONV_SHAPES);
    tcase_add_loop_test(tc, test_conv_long, 0, 3);
    tcase_add_test(tc, test_conv_dispatch);
    tcase_add_loop_test(tc, test_conv_grad, 0, 8);
    tcase_add_loop_test(tc, test_ssm_kernel, 0, N_SSM_CASES);
    tcase_add_loop_test(tc, test_ssm_kernel_long, 0, 2);
    tcase_add_loop_test(tc, test_ssm_kernel_grad, 0, N_SSM_CASES);
    tcase_add_loop_test(tc, test_ssm_kernel_grad_long, 0, 4);
    tcase_add_test(tc, test_deterministic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return tu_run_suite(ops_seq_suite());
}
