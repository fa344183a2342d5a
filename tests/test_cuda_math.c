/* test_cuda_math.c — the CUDA kernels' arithmetic, run on the CPU on every
 * machine (CUDA or not): the HD functions of the kernels/cuda math headers (*_math.cuh), driven
 * the way the kernels drive them (every thread index of a simulated block,
 * several thread counts), against the CPU backend and double references.
 *  - the shared-memory FFT: positions and twiddles against the CPU plan,
 *    the forward transform against a naive DFT in double (unread inputs
 *    poisoned with NaN), the kernel spectra against the CPU's;
 *  - FlashConv's h3_inner block program against ops_cpu()->h3_inner at odd L,
 *    B = 1, head_dim 1..3, channels not a multiple of the lanes per block,
 *    shared memory poisoned before every block;
 *  - the direct convolution (outputs, input gradient, the gradient sums as
 *    block programs) against ops_cpu()->conv(_bwd), both layouts, groups;
 *  - the h3_inner pipeline's index maps (outer product, contraction and their
 *    backward) composed with the CPU's convolution, against h3_inner(_bwd).
 * Also: cuBLAS and cuFFT (loaded at start, not linked) have every function
 * the backend calls. Only launch geometry, shared-memory staging and
 * barriers are left to the GPU suite (tests/test_cuda_ops.c). */
#include <complex.h>

#include "../kernels/cpu/fft_block.h"
#include "../kernels/cpu/flashconv.h"
#include "../kernels/cuda/conv_math.cuh"
#include "../kernels/cuda/cuda.h"
#include "../kernels/cuda/flash_math.cuh"
#include "../kernels/cuda/h3_math.cuh"
#include "ops_testutil.h"

/* Thread counts a simulated block runs with: one, an odd count, a full block. */
static const int thread_counts[] = {1, 37, 256};
#define N_NT ((int)(sizeof thread_counts / sizeof thread_counts[0]))

static cf *roots_of(int n) {
    cf *w = xmalloc(sizeof(cf) * n);
    cuf_roots_fill(w, n);
    return w;
}

/* ---------- the build ---------- */

/* cuBLAS and cuFFT are loaded at start, by name: every function the backend
 * calls must be there (a device is not needed to look). */
START_TEST(test_libs) {
    char err[256] = "";
    bool ok = cuda_libs_present(err, sizeof err);
    if (cuda_built()) ck_assert_msg(ok, "CUDA backend built but its libraries do not load: %s", err);
    else ck_assert_msg(!ok && !ops_cuda(), "no backend built, yet: %s", err);
}
END_TEST

/* ---------- FFT: plan and positions ---------- */

START_TEST(test_positions) {
    for (int n = CUF_MIN_N; n <= 1 << 15; n *= 2) {
        struct cuf_plan p = cuf_plan_make(n);
        const struct fb_plan *c = fb_plan_get(n);
        ck_assert_int_eq(p.ns, c->ns);
        for (int s = 0; s < p.ns; s++) ck_assert_int_eq(p.radix[s], c->radix[s]);
        for (int k = 0; k < p.M; k++) {
            ck_assert_msg(cuf_pos(&p, k) == c->pos[k], "n %d: pos(%d) = %d, cpu %d", n, k, cuf_pos(&p, k), c->pos[k]);
            ck_assert_int_eq(cuf_kof(&p, cuf_pos(&p, k)), k);
        }
        ck_assert_int_eq(cuf_size_for(n / 4 + 1), fb_size_for(n / 4 + 1));
    }
}
END_TEST

/* ---------- FFT: forward transform vs naive DFT ---------- */

static double sample(int t, int salt) { return sin(0.37 * t + salt) + 0.01 * ((t * 7 + salt) % 13); }

/* Forward transform of a real signal of M samples (the zero-padded half of
 * n = 2M), every stage run by nt simulated threads, then untangled: out[pos]. */
static void forward_sim(const struct cuf_plan *p, const cf *w, const double *x, int nt, cf *out) {
    cf *X = xmalloc(sizeof(cf) * p->M);
    float *xs = (float *)X;
    for (int t = 0; t < p->n; t++) xs[t] = t < p->M ? (float)x[t] : NAN; /* the unread half: poison */
    struct cuf_bufs b = {.x = X, .M = p->M, .ld = p->M, .sig = 1};
    for (int s = 0; s < p->ns; s++)
        for (int tid = 0; tid < nt; tid++) cuf_stage(&b, p, s, false, w, tid, nt);
    for (int tid = 0; tid < nt; tid++) cuf_pairs_untangle(&b, p, w, 1.0f, out, tid, nt);
    free(X);
}

START_TEST(test_forward_dft) {
    int n = CUF_MIN_N << _i, M = n / 2, nt = thread_counts[_i % N_NT];
    struct cuf_plan p = cuf_plan_make(n);
    cf *w = roots_of(n), *out = xmalloc(sizeof(cf) * M);
    double *x = xmalloc(sizeof(double) * M), maxref = 0, maxerr = 0;
    for (int t = 0; t < M; t++) x[t] = sample(t, n);
    forward_sim(&p, w, x, nt, out);
    int step = M <= 1024 ? 1 : M / 509; /* every bin, or a spread of them */
    for (int k = 0; k <= M; k += (k == M - 1 ? 1 : step)) {
        double complex ref = 0;
        for (int t = 0; t < M; t++) ref += x[t] * cexp(-2 * M_PI * I * (double)((long)t * k % n) / n);
        double complex got = k == 0 ? out[0].re : k == M ? out[0].im : out[cuf_pos(&p, k)].re + I * out[cuf_pos(&p, k)].im;
        maxref = fmax(maxref, cabs(ref));
        maxerr = fmax(maxerr, cabs(got - ref));
        if (k == M) break;
    }
    ck_assert_msg(maxerr / maxref < 2e-6, "n %d nt %d: scaled error %.3g", n, nt, maxerr / maxref);
    free(w), free(out), free(x);
}
END_TEST

/* ---------- kernel spectra vs the CPU's ---------- */

START_TEST(test_kspec) {
    int L = (int[]){1, 31, 100, 1000, 4097}[_i], Lk = L > 3 ? L - 2 : L, rows = 3;
    struct cuf_kspec c = {.Lk = Lk, .plan = cuf_plan_make(cuf_size_for(L))};
    int M = c.plan.M;
    real *k = xmalloc(sizeof(real) * rows * Lk);
    tu_fill_normal(k, (size_t)rows * Lk, 1.0, 7, (uint64_t)L);
    cf *w = roots_of(c.plan.n), *out = xmalloc(sizeof(cf) * rows * M), *smem = xmalloc(sizeof(cf) * M);
    c.k = k, c.out = out, c.roots = w;
    fb_cx *ref = xmalloc(sizeof(fb_cx) * M);
    const struct fb_plan *fp = fb_plan_get(c.plan.n);
    fc_kernel_spectrum(fp, k, Lk, 0, rows, 1, ref);
    for (int r = 0; r < rows; r++) {
        int nt = thread_counts[r % N_NT];
        cuf_kspec_block(&c, r, smem, nt);
        double maxr = 0, maxd = 0;
        for (int p = 0; p < M; p++) {
            cf g = out[(size_t)r * M + p];
            maxr = fmax(maxr, fabs(ref[p].re[r]) + fabs(ref[p].im[r]));
            maxd = fmax(maxd, fabs(g.re - ref[p].re[r]) + fabs(g.im - ref[p].im[r]));
        }
        ck_assert_msg(maxd <= 1e-6 * maxr, "L %d row %d: spectrum differs by %.3g (scale %.3g)", L, r, maxd, maxr);
    }
    free(k), free(w), free(out), free(smem), free(ref);
}
END_TEST

/* ---------- FlashConv: the h3_inner block program vs the CPU op ---------- */

struct h3_case {
    int B, L, D, dh, Lk, G;
    bool has_D;
};
static const struct h3_case h3_cases[] = {
    {2, 1, 5, 1, 1, 4, true},     {1, 31, 37, 1, 31, 16, true}, {3, 100, 20, 2, 77, 3, false},
    {2, 257, 18, 3, 257, 16, true}, {1, 1000, 17, 1, 1000, 8, true}, {1, 4097, 3, 1, 4000, 2, true},
    {1, 16384, 3, 1, 16384, 2, true},
};
#define N_H3 ((int)(sizeof h3_cases / sizeof h3_cases[0]))

/* Spectra of the case's kernel rows by the kspec block program. */
static cf *kspec_all(const real *K, int rows, int Lk, const struct cuf_plan *p, const cf *w) {
    struct cuf_kspec c = {.Lk = Lk, .k = K, .roots = w, .plan = *p};
    c.out = xmalloc(sizeof(cf) * rows * p->M);
    cf *smem = xmalloc(sizeof(cf) * p->M);
    for (int r = 0; r < rows; r++) cuf_kspec_block(&c, r, smem, 64);
    free(smem);
    return c.out;
}

START_TEST(test_h3_block) {
    const struct h3_case *hc = &h3_cases[_i];
    int H = hc->D / hc->dh;
    size_t n = (size_t)hc->B * hc->L * hc->D;
    real *q = tu_guarded(n), *kt = tu_guarded(n), *v = tu_guarded(n), *K = tu_guarded((size_t)H * hc->Lk);
    real *Dk = hc->has_D ? tu_guarded(H) : NULL, *ref = tu_guarded(n), *got = tu_guarded(n);
    tu_fill_normal(q, n, 1.0, 1, _i), tu_fill_normal(kt, n, 1.0, 2, _i), tu_fill_normal(v, n, 1.0, 3, _i);
    tu_fill_normal(K, (size_t)H * hc->Lk, 0.3, 4, _i);
    if (Dk) tu_fill_normal(Dk, H, 1.0, 5, _i);
    struct h3_inner_args a = {.B = hc->B, .L = hc->L, .D = hc->D, .head_dim = hc->dh, .Lk = hc->Lk,
                              .q = q, .kt = kt, .v = v, .K = K, .Dk = Dk, .o = ref};
    ops_cpu()->h3_inner(&a);
    struct cuf_h3 c = {.B = hc->B, .L = hc->L, .D = hc->D, .dh = hc->dh, .Lk = hc->Lk, .q = q, .kt = kt, .v = v,
                       .Dk = Dk, .o = got, .plan = cuf_plan_make(cuf_size_for(hc->L)), .G = hc->G};
    cf *w = roots_of(c.plan.n);
    c.roots = w;
    c.K = kspec_all(K, H, hc->Lk, &c.plan, w);
    size_t sm = cuf_h3_smem(&c);
    float *smem = xmalloc(sm);
    int blocks = (hc->D + hc->G - 1) / hc->G;
    for (int b = 0; b < hc->B; b++)
        for (int blk = 0; blk < blocks; blk++) {
            for (size_t i = 0; i < sm / sizeof(float); i++) smem[i] = NAN; /* unwritten shared memory */
            cuf_h3_block(&c, blk, b, smem, thread_counts[(b + blk) % N_NT]);
        }
    char what[128];
    snprintf(what, sizeof what, "h3 block B%d L%d D%d dh%d Lk%d G%d", hc->B, hc->L, hc->D, hc->dh, hc->Lk, hc->G);
    double *want = tu_to_f64(ref, n);
    tu_assert_close_real(what, got, want, n, 2e-5 * (hc->L > 500 ? 4 : 1));
    tu_check_guard(got, n, what);
    free(want), free(smem), free(w), free((void *)c.K);
    free(q), free(kt), free(v), free(K), free(Dk), free(ref), free(got);
}
END_TEST

/* ---------- the direct convolution ---------- */

struct conv_case {
    int B, L, H, Lk, group;
    bool bhl, has_D;
};
static const struct conv_case conv_cases[] = {
    {2, 31, 5, 31, 1, false, true}, {1, 100, 6, 17, 2, true, false}, {3, 7, 4, 1, 4, false, true}, {1, 64, 3, 64, 3, true, true},
};
#define N_CONV ((int)(sizeof conv_cases / sizeof conv_cases[0]))

START_TEST(test_conv_direct) {
    const struct conv_case *c = &conv_cases[_i];
    struct cuconv s = {c->B, c->L, c->H, c->Lk, c->group, c->bhl};
    int rows = c->H / c->group, nt = 64;
    size_t n = (size_t)c->B * c->L * c->H, nk = (size_t)rows * c->Lk;
    real *u = xmalloc(sizeof(real) * n), *dy = xmalloc(sizeof(real) * n), *k = xmalloc(sizeof(real) * nk);
    real *D = c->has_D ? xmalloc(sizeof(real) * rows) : NULL;
    tu_fill_normal(u, n, 1.0, 31, _i), tu_fill_normal(dy, n, 1.0, 32, _i), tu_fill_normal(k, nk, 0.3, 33, _i);
    if (D) tu_fill_normal(D, rows, 1.0, 34, _i);
    real *ref[4], *got[4];
    size_t sz[4] = {n, n, nk, (size_t)rows};
    for (int i = 0; i < 4; i++) { /* dk, dD accumulate: both start from the same values */
        ref[i] = xmalloc(sizeof(real) * sz[i]), got[i] = tu_guarded(sz[i]);
        tu_fill_normal(ref[i], sz[i], 0.1, 35, (uint64_t)i);
        memcpy(got[i], ref[i], sizeof(real) * sz[i]);
    }
    struct conv_args a = {c->B, c->L, c->H, c->Lk, c->group, c->bhl ? CONV_BHL : CONV_BLH, u, k, D, ref[0]};
    cpu_conv_direct(&a);
    struct conv_bwd_args g = {a, dy, ref[1], ref[2], D ? ref[3] : NULL};
    cpu_conv_direct_bwd(&g);
    for (size_t i = 0; i < n; i++) { /* direct_k, direct_du_k */
        int b, ch, t;
        cuconv_coords(&s, i, &b, &ch, &t);
        got[0][i] = cuconv_out(&s, u, k, D, b, ch, t);
        got[1][i] = cuconv_du(&s, dy, k, D, b, ch, t);
    }
    double *part = xmalloc(sizeof(double) * nt);
    for (int r = 0; r < rows; r++) /* grad_k */
        for (int j = 0; j <= c->Lk; j++) cuconv_grad_block(&s, u, dy, r, j, part, nt, got[2], D ? got[3] : NULL);
    static const char *names[4] = {"y", "du", "dk", "dD"};
    for (int i = 0; i < (D ? 4 : 3); i++) {
        char what[96];
        snprintf(what, sizeof what, "direct conv B%d L%d H%d Lk%d g%d: %s", c->B, c->L, c->H, c->Lk, c->group, names[i]);
        double *want = tu_to_f64(ref[i], sz[i]);
        tu_assert_close_real(what, got[i], want, sz[i], 1e-5);
        tu_check_guard(got[i], sz[i], what);
        free(want);
    }
    for (int i = 0; i < 4; i++) free(ref[i]), free(got[i]);
    free(part), free(u), free(dy), free(k), free(D);
}
END_TEST

/* ---------- the h3_inner pipeline's maps ---------- */

START_TEST(test_h3_pipeline) {
    const struct h3_case *hc = &h3_cases[_i];
    struct cuh3 s = {hc->D, hc->dh};
    int H = hc->D / hc->dh;
    size_t n = (size_t)hc->B * hc->L * hc->D, ne = (size_t)hc->B * hc->L * cuh3_E(&s), nk = (size_t)H * hc->Lk;
    real *x[4], *K = xmalloc(sizeof(real) * nk), *Dk = hc->has_D ? xmalloc(sizeof(real) * H) : NULL;
    for (int i = 0; i < 4; i++) x[i] = xmalloc(sizeof(real) * n), tu_fill_normal(x[i], n, 1.0, 41 + i, _i); /* q k~ v dout */
    tu_fill_normal(K, nk, 0.3, 45, _i);
    if (Dk) tu_fill_normal(Dk, H, 1.0, 46, _i);
    real *ref[6], *got[6]; /* o dq dk~ dv dK dDk */
    size_t sz[6] = {n, n, n, n, nk, (size_t)H};
    for (int i = 0; i < 6; i++) ref[i] = xcalloc(sz[i], sizeof(real)), got[i] = xcalloc(sz[i], sizeof(real));
    struct h3_inner_args a = {hc->B, hc->L, hc->D, hc->dh, hc->Lk, x[0], x[1], x[2], K, Dk, ref[0]};
    ops_cpu()->h3_inner(&a);
    struct h3_inner_bwd_args g = {a, x[3], ref[1], ref[2], ref[3], ref[4], Dk ? ref[5] : NULL};
    ops_cpu()->h3_inner_bwd(&g);
    /* the pipeline: outer_k, the convolution (the CPU's here), contract_k; then dq_k, dy_k, its backward, dkv_k */
    real *kv = xmalloc(sizeof(real) * ne), *y = xmalloc(sizeof(real) * ne), *dy = xmalloc(sizeof(real) * ne);
    real *dkv = xmalloc(sizeof(real) * ne);
    for (size_t i = 0; i < ne; i++) kv[i] = cuh3_at(&s, CUH3_OUTER, x[1], x[2], i);
    struct conv_args cv = {hc->B, hc->L, (int)cuh3_E(&s), hc->Lk, hc->dh * hc->dh, CONV_BLH, kv, K, Dk, y};
    ops_cpu()->conv(&cv);
    for (size_t i = 0; i < n; i++) got[0][i] = cuh3_at(&s, CUH3_CONTRACT, x[0], y, i), got[1][i] = cuh3_at(&s, CUH3_DQ, x[3], y, i);
    for (size_t i = 0; i < ne; i++) dy[i] = cuh3_at(&s, CUH3_DY, x[3], x[0], i);
    struct conv_bwd_args cb = {cv, dy, dkv, got[4], Dk ? got[5] : NULL};
    ops_cpu()->conv_bwd(&cb);
    for (size_t i = 0; i < n; i++) got[2][i] = cuh3_at(&s, CUH3_DKT, dkv, x[2], i), got[3][i] = cuh3_at(&s, CUH3_DV, dkv, x[1], i);
    static const char *names[6] = {"o", "dq", "dk~", "dv", "dK", "dDk"};
    for (int i = 0; i < (Dk ? 6 : 5); i++) {
        char what[128];
        snprintf(what, sizeof what, "h3 pipeline B%d L%d D%d dh%d: %s", hc->B, hc->L, hc->D, hc->dh, names[i]);
        double *want = tu_to_f64(ref[i], sz[i]);
        tu_assert_close_real(what, got[i], want, sz[i], 2e-5 * (hc->L > 500 ? 4 : 1));
        free(want);
    }
    for (int i = 0; i < 6; i++) free(ref[i]), free(got[i]);
    for (int i = 0; i < 4; i++) free(x[i]);
    free(K), free(Dk), free(kv), free(y), free(dy), free(dkv);
}
END_TEST

static Suite *cuda_math_suite(void) {
    Suite *s = suite_create("cuda_math");
    TCase *tc = tcase_create("cuda_math");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_libs);
    tcase_add_test(tc, test_positions);
    tcase_add_loop_test(tc, test_forward_dft, 0, 11);
    tcase_add_loop_test(tc, test_kspec, 0, 5);
    tcase_add_loop_test(tc, test_h3_block, 0, N_H3);
    tcase_add_loop_test(tc, test_conv_direct, 0, N_CONV);
    tcase_add_loop_test(tc, test_h3_pipeline, 0, N_H3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(cuda_math_suite()); }
