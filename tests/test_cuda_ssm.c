/* test_cuda_ssm.c — the CUDA diagonal-SSM arithmetic (kernels/cuda/ssm_math.cuh)
 * run on the CPU, the way kernels/cuda/ssm_kernel.cu and ssm_conv.cu drive it,
 * against the CPU backend:
 *  - ssm_kernel: modes and taps (every tap by exp(l log z) in double), bilinear
 *    and ZOH, A shared or per channel, with and without B, N2 odd, and a long
 *    L where running products lose accuracy;
 *  - ssm_kernel_bwd: the power sums as a block program (simulated threads),
 *    each mode's gradients, the dt and A reductions, accumulated (+=);
 *  - ssm_conv_chunked (+bwd): the full kernel from discrete modes and the
 *    CPU's convolution, then dk's power sums to dAbar, dCt, against the CPU's
 *    state passing. */
#include "../kernels/cuda/ssm_math.cuh"
#include "ops_testutil.h"

struct ssm_case {
    int H, N2, L, a_rows;
    bool zoh, has_B;
};
static const struct ssm_case ssm_cases[] = {
    {3, 5, 100, 1, false, true}, {3, 5, 100, 3, true, false}, {4, 8, 31, 4, false, false},
    {2, 3, 257, 1, true, true},  {1, 4, 65536, 1, false, true},
};
#define N_SSM ((int)(sizeof ssm_cases / sizeof ssm_cases[0]))

struct ssm_data {
    real *log_dt, *A_re, *A_im, *B, *C;
};

static struct ssm_data ssm_data(const struct ssm_case *c, int salt) {
    struct ssm_data d;
    size_t na = (size_t)c->a_rows * c->N2, nb = (size_t)c->H * c->N2 * 2;
    d.log_dt = xmalloc(sizeof(real) * c->H), d.A_re = xmalloc(sizeof(real) * na), d.A_im = xmalloc(sizeof(real) * na);
    d.B = c->has_B ? xmalloc(sizeof(real) * nb) : NULL, d.C = xmalloc(sizeof(real) * nb);
    for (int h = 0; h < c->H; h++) d.log_dt[h] = (real)log(0.001 + 0.05 * (h + 1) / c->H);
    for (size_t i = 0; i < na; i++) d.A_re[i] = (real)(-0.5 - 0.1 * (i % 3)), d.A_im[i] = (real)(3.14159 * (i % c->N2));
    if (c->L > 10000) /* slow modes, so the long kernel keeps most of its length */
        for (size_t i = 0; i < na; i++) d.A_re[i] = (real)(-0.01 * (1 + i % 3)), d.A_im[i] = (real)(0.05 * (i % c->N2));
    if (d.B) tu_fill_normal(d.B, nb, 1.0, 11, (uint64_t)salt);
    tu_fill_normal(d.C, nb, 1.0, 12, (uint64_t)salt);
    return d;
}
static void ssm_data_free(struct ssm_data *d) { free(d->log_dt), free(d->A_re), free(d->A_im), free(d->B), free(d->C); }

static struct ssm_params params_of(const struct ssm_case *c, const struct ssm_data *d) {
    struct ssm_params p = {c->H, c->N2, c->a_rows, c->zoh, d->log_dt, d->A_re, d->A_im, d->B, d->C};
    return p;
}

static struct ssm_mode *modes_of(const struct ssm_params *p) {
    struct ssm_mode *m = xmalloc(sizeof(struct ssm_mode) * p->H * p->N2);
    for (int i = 0; i < p->H * p->N2; i++) m[i] = ssm_mode_at(p, i / p->N2, i % p->N2); /* modes_k */
    return m;
}

START_TEST(test_kernel) {
    const struct ssm_case *c = &ssm_cases[_i];
    struct ssm_data d = ssm_data(c, _i);
    struct ssm_params p = params_of(c, &d);
    size_t nk = (size_t)c->H * c->L;
    real *ref = xmalloc(sizeof(real) * nk);
    double *got = xmalloc(sizeof(double) * nk);
    struct ssm_kernel_args a = {c->H, c->N2, c->L, c->zoh ? SSM_ZOH : SSM_BILINEAR, c->a_rows, d.log_dt, d.A_re, d.A_im,
                                d.B, d.C, ref};
    ops_cpu()->ssm_kernel(&a);
    struct ssm_mode *m = modes_of(&p);
    for (size_t i = 0; i < nk; i++) got[i] = ssm_tap(m + (i / c->L) * c->N2, c->N2, (long)(i % c->L)); /* taps_k */
    double *want = tu_to_f64(ref, nk);
    char what[96];
    snprintf(what, sizeof what, "ssm taps H%d N2 %d L%d zoh %d", c->H, c->N2, c->L, c->zoh);
    tu_assert_close(what, got, want, nk, 2e-6);
    free(want), free(m), free(ref), free(got);
    ssm_data_free(&d);
}
END_TEST

/* What ssm_kernel_bwd.cu computes, on the CPU: sums_k (a block of nt
 * simulated threads per mode), grads_k, dt_k, da_k. */
static void kernel_bwd_sim(const struct ssm_params *p, int L, const real *dK, real *dlog_dt, real *dA_re, real *dA_im,
                           real *dB, real *dC) {
    int n = p->H * p->N2, nt = 64;
    struct ssm_mode *m = modes_of(p);
    cd *S = xmalloc(sizeof(cd) * 2 * n), *ga = xmalloc(sizeof(cd) * n);
    double *part = xmalloc(sizeof(double) * 4 * nt), *gdt = xmalloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) ssm_sums_block(m + i, dK + (size_t)(i / p->N2) * L, L, part, nt, S + 2 * i);
    for (int i = 0; i < n; i++) {
        int h = i / p->N2, k = i % p->N2;
        cd gb, gc;
        ga[i] = ssm_mode_grads(&m[i], S[2 * i], S[2 * i + 1], ssm_b_at(p, h, k), ssm_c_at(p, h, k), p->zoh, &gdt[i], &gb, &gc);
        dC[2 * i] += (real)gc.re, dC[2 * i + 1] += (real)gc.im;
        if (dB) dB[2 * i] += (real)gb.re, dB[2 * i + 1] += (real)gb.im;
    }
    for (int h = 0; h < p->H; h++) dlog_dt[h] += (real)ssm_dlog_dt(gdt, m, p->N2, h);
    for (int i = 0; i < p->a_rows * p->N2; i++) {
        cd s = ssm_da(ga, p->H, p->N2, p->a_rows, i / p->N2, i % p->N2);
        dA_re[i] += (real)s.re, dA_im[i] += (real)s.im;
    }
    free(m), free(S), free(ga), free(part), free(gdt);
}

START_TEST(test_kernel_bwd) {
    const struct ssm_case *c = &ssm_cases[_i];
    if (c->L > 10000) return; /* the long case is the forward's */
    struct ssm_data d = ssm_data(c, _i);
    struct ssm_params p = params_of(c, &d);
    size_t nk = (size_t)c->H * c->L, na = (size_t)c->a_rows * c->N2, nb = (size_t)c->H * c->N2 * 2;
    size_t sz[5] = {(size_t)c->H, na, na, nb, nb};
    real *dK = xmalloc(sizeof(real) * nk), *ref[5], *got[5];
    tu_fill_normal(dK, nk, 1.0, 13, (uint64_t)_i);
    for (int i = 0; i < 5; i++) { /* (+=) onto the same start */
        ref[i] = xmalloc(sizeof(real) * sz[i]), got[i] = tu_guarded(sz[i]);
        tu_fill_normal(ref[i], sz[i], 0.1, 14, (uint64_t)i);
        memcpy(got[i], ref[i], sizeof(real) * sz[i]);
    }
    struct ssm_kernel_bwd_args g = {{c->H, c->N2, c->L, c->zoh ? SSM_ZOH : SSM_BILINEAR, c->a_rows, d.log_dt, d.A_re,
                                     d.A_im, d.B, d.C, NULL},
                                    dK, ref[0], ref[1], ref[2], d.B ? ref[3] : NULL, ref[4]};
    ops_cpu()->ssm_kernel_bwd(&g);
    kernel_bwd_sim(&p, c->L, dK, got[0], got[1], got[2], d.B ? got[3] : NULL, got[4]);
    static const char *names[5] = {"dlog_dt", "dA_re", "dA_im", "dB", "dC"};
    for (int i = 0; i < 5; i++) {
        char what[96];
        snprintf(what, sizeof what, "ssm bwd H%d N2 %d L%d zoh %d: %s", c->H, c->N2, c->L, c->zoh, names[i]);
        double *want = tu_to_f64(ref[i], sz[i]);
        tu_assert_close_real(what, got[i], want, sz[i], 2e-5);
        tu_check_guard(got[i], sz[i], what);
        free(want), free(ref[i]), free(got[i]);
    }
    free(dK);
    ssm_data_free(&d);
}
END_TEST

/* ---------- ssm_conv_chunked: full kernel + convolution, power sums ---------- */

struct sc_case {
    int B, L, H, N2, group;
    enum conv_layout layout;
};
static const struct sc_case sc_cases[] = {
    {2, 100, 3, 5, 1, CONV_BLH}, {1, 300, 4, 3, 2, CONV_BHL}, {3, 37, 2, 4, 1, CONV_BLH}, {1, 5000, 2, 2, 1, CONV_BHL},
};
#define N_SC ((int)(sizeof sc_cases / sizeof sc_cases[0]))

START_TEST(test_chunked) {
    const struct sc_case *c = &sc_cases[_i];
    int rows = c->H / c->group, nm = rows * c->N2;
    size_t n = (size_t)c->B * c->L * c->H, nk = (size_t)rows * c->L;
    real *Abar = xmalloc(sizeof(real) * 2 * nm), *Ct = xmalloc(sizeof(real) * 2 * nm), *D = xmalloc(sizeof(real) * rows);
    for (int i = 0; i < nm; i++) {
        double r = 0.8 + 0.19 * (i % 5) / 4, th = 0.3 + 0.7 * i;
        Abar[2 * i] = (real)(r * cos(th)), Abar[2 * i + 1] = (real)(r * sin(th));
    }
    tu_fill_normal(Ct, 2 * (size_t)nm, 0.5, 21, (uint64_t)_i), tu_fill_normal(D, rows, 1.0, 22, (uint64_t)_i);
    real *u = xmalloc(sizeof(real) * n), *dy = xmalloc(sizeof(real) * n), *y_ref = xmalloc(sizeof(real) * n);
    real *y = xmalloc(sizeof(real) * n), *K = xmalloc(sizeof(real) * nk), *dk = xcalloc(nk, sizeof(real));
    tu_fill_normal(u, n, 1.0, 23, (uint64_t)_i), tu_fill_normal(dy, n, 1.0, 24, (uint64_t)_i);
    struct ssm_conv_args a = {c->B, c->L, c->H, c->N2, c->group, 0, c->layout, Abar, Ct, D, u, y_ref};
    ops_cpu()->ssm_conv_chunked(&a);
    /* the GPU's forward: dmodes_k, taps, then the convolution */
    struct ssm_mode *m = xmalloc(sizeof(struct ssm_mode) * nm);
    for (int i = 0; i < nm; i++) m[i] = ssm_mode_discrete(cd_make(Abar[2 * i], Abar[2 * i + 1]), cd_make(Ct[2 * i], Ct[2 * i + 1]));
    for (size_t i = 0; i < nk; i++) K[i] = (real)ssm_tap(m + (i / c->L) * c->N2, c->N2, (long)(i % c->L));
    struct conv_args cv = {c->B, c->L, c->H, c->L, c->group, c->layout, u, K, D, y};
    ops_cpu()->conv(&cv);
    double *want = tu_to_f64(y_ref, n);
    tu_assert_close_real("chunked y", y, want, n, 2e-5 * (c->L > 1000 ? 4 : 1));
    free(want);
    /* the backward: the convolution's dk, then the power sums and the modes' gradients */
    real *g_ref = xcalloc(4 * (size_t)nm, sizeof(real)), *g_got = xcalloc(4 * (size_t)nm, sizeof(real));
    struct ssm_conv_bwd_args g = {a, dy, NULL, g_ref, g_ref + 2 * nm, NULL};
    ops_cpu()->ssm_conv_chunked_bwd(&g);
    struct conv_bwd_args cb = {cv, dy, NULL, dk, NULL};
    ops_cpu()->conv_bwd(&cb);
    int nt = 32;
    double *part = xmalloc(sizeof(double) * 4 * nt);
    for (int i = 0; i < nm; i++) {
        cd S[2] = {{0, 0}, {0, 0}}, gz, gct;
        ssm_sums_block(m + i, dk + (size_t)(i / c->N2) * c->L, c->L, part, nt, S);
        ssm_discrete_grads(&m[i], S[0], S[1], &gz, &gct);
        g_got[2 * i] = (real)gz.re, g_got[2 * i + 1] = (real)gz.im;
        g_got[2 * nm + 2 * i] = (real)gct.re, g_got[2 * nm + 2 * i + 1] = (real)gct.im;
    }
    want = tu_to_f64(g_ref, 4 * (size_t)nm);
    tu_assert_close_real("chunked dAbar, dCt", g_got, want, 4 * (size_t)nm, 1e-4);
    free(want), free(part), free(m), free(g_ref), free(g_got);
    free(Abar), free(Ct), free(D), free(u), free(dy), free(y_ref), free(y), free(K), free(dk);
}
END_TEST

static Suite *cuda_ssm_suite(void) {
    Suite *s = suite_create("cuda_ssm");
    TCase *tc = tcase_create("cuda_ssm");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_kernel, 0, N_SSM);
    tcase_add_loop_test(tc, test_kernel_bwd, 0, N_SSM);
    tcase_add_loop_test(tc, test_chunked, 0, N_SC);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(cuda_ssm_suite()); }
