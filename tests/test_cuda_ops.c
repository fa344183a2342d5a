/* test_cuda_ops.c — every op of the CUDA backend against the CPU backend, on
 * the device: the same inputs on both sides, outputs (and the (+=) ones'
 * starting values) compared as scaled errors, guard regions around every
 * device buffer checked after each op (out-of-bounds writes), inputs checked
 * unchanged. Awkward shapes: odd L, B = 1, channel counts that are not a
 * multiple of any block, groups, both layouts, every path of the ops that
 * have several (direct and cuFFT convolution; FlashConv and the pipeline),
 * the FlashConv limit and past it. Determinism: ops run twice give the same
 * bits.
 *
 * Built in every build. Without the backend or a device it prints one line
 * saying so and exits 0. Tests run in this process (CK_NOFORK): a CUDA
 * context does not survive fork. HIPPO_CUDA_QUICK=1 runs the first (small)
 * cases only, for compute-sanitizer (scripts/gpu-check). */
#include <stdio.h>

#include "cuda_testutil.h"

/* ---- gemm ------------------------------------------------------------------------ */

START_TEST(test_gemm) {
    QUICK_SKIP();
    enum op_trans ta = _i & 1 ? OP_T : OP_N, tb = _i & 2 ? OP_T : OP_N;
    int M = 37, N = 29, K = _i / 4 == 2 ? 0 : 13, batch = 3; /* then beta 0, 0.5, and no product */
    real beta = _i / 4 ? 0.5f : 0;
    int lda = ta == OP_N ? K + 2 : M + 1, ldb = tb == OP_N ? N + 3 : K + 1, ldc = N + 5;
    size_t sa = (size_t)(ta == OP_N ? M : K + 1) * lda, sb = (size_t)(tb == OP_N ? K + 1 : N) * ldb, sc = (size_t)M * ldc;
    struct twin A = twin_new(sa * batch, 1, 1), B = twin_new(sb * batch, 1, 2), C = twin_new(sc * batch, 1, 3);
    struct twin bias = twin_new((size_t)N * batch, 1, 4);
    struct gemm_args g = {ta, tb, M, N, K, 0.7f, beta, A.h, lda, sa, B.h, ldb, sb, C.h, ldc, sc, batch, bias.h, (size_t)N};
    ops_cpu()->gemm(&g);
    g.A = A.d, g.B = B.d, g.C = C.d, g.bias = bias.d;
    ops_cuda()->gemm(&g);
    char what[64];
    snprintf(what, sizeof what, "gemm ta%d tb%d K%d", ta, tb, K);
    twin_check(what, &C, 1e-5);
    twin_check("gemm A unchanged", &A, 0);
    twin_free(&A), twin_free(&B), twin_free(&C), twin_free(&bias);
}
END_TEST

/* ---- row ops ---------------------------------------------------------------------- */

START_TEST(test_softmax) {
    QUICK_SKIP();
    int R = (int[]){62, 3, 1}[_i], C = (int[]){31, 300, 1}[_i], causal = _i == 0 ? 31 : 0;
    size_t n = (size_t)R * C;
    struct twin x = twin_new(n, 2, 5), y = twin_new(n, 0, 0), dy = twin_new(n, 1, 6), dx = twin_new(n, 0, 0);
    struct softmax_args a = {R, C, causal, 0.37f, x.h, y.h};
    ops_cpu()->softmax(&a);
    struct softmax_bwd_args g = {a, y.h, dy.h, dx.h};
    ops_cpu()->softmax_bwd(&g);
    struct softmax_args ad = {R, C, causal, 0.37f, x.d, y.d};
    ops_cuda()->softmax(&ad);
    struct softmax_bwd_args gd = {ad, y.d, dy.d, dx.d};
    ops_cuda()->softmax_bwd(&gd);
    twin_check("softmax y", &y, 1e-6);
    twin_check("softmax dx", &dx, 1e-5);
    twin_free(&x), twin_free(&y), twin_free(&dy), twin_free(&dx);
}
END_TEST

START_TEST(test_layernorm) {
    QUICK_SKIP();
    int R = (int[]){31, 5, 3}[_i], D = (int[]){32, 7, 700}[_i];
    size_t n = (size_t)R * D;
    struct twin x = twin_new(n, 3, 7), w = twin_new(D, 1, 8), b = twin_new(D, 1, 9), y = twin_new(n, 0, 0);
    struct twin mean = twin_new(R, 0, 0), rstd = twin_new(R, 0, 0), dy = twin_new(n, 1, 10), dx = twin_new(n, 0, 0);
    struct twin dw = twin_new(D, 0.1, 11), db = twin_new(D, 0.1, 12); /* (+=) */
    struct layernorm_args a = {R, D, 1e-5f, x.h, w.h, b.h, y.h, mean.h, rstd.h};
    ops_cpu()->layernorm(&a);
    struct layernorm_bwd_args g = {a, dy.h, dx.h, dw.h, db.h};
    ops_cpu()->layernorm_bwd(&g);
    struct layernorm_args ad = {R, D, 1e-5f, x.d, w.d, b.d, y.d, mean.d, rstd.d};
    ops_cuda()->layernorm(&ad);
    struct layernorm_bwd_args gd = {ad, dy.d, dx.d, dw.d, db.d};
    ops_cuda()->layernorm_bwd(&gd);
    /* the CPU sums a row in float, the GPU in double: a mean near 0 differs by ~1e-7 of the values */
    twin_check("ln y", &y, 2e-5), twin_check("ln mean", &mean, 2e-5), twin_check("ln rstd", &rstd, 1e-5);
    twin_check("ln dx", &dx, 2e-5), twin_check("ln dw", &dw, 2e-5), twin_check("ln db", &db, 2e-5);
    struct twin *all[] = {&x, &w, &b, &y, &mean, &rstd, &dy, &dx, &dw, &db};
    for (int i = 0; i < 10; i++) twin_free(all[i]);
}
END_TEST

START_TEST(test_gelu) {
    enum gelu_kind kind = _i ? GELU_ERF : GELU_TANH;
    size_t n = 4099;
    struct twin x = twin_new(n, 3, 13), y = twin_new(n, 0, 0), dy = twin_new(n, 1, 14), dx = twin_new(n, 0, 0);
    struct gelu_args a = {n, kind, x.h, y.h};
    ops_cpu()->gelu(&a);
    struct gelu_bwd_args g = {{n, kind, x.h, y.h}, dy.h, dx.h};
    ops_cpu()->gelu_bwd(&g);
    struct gelu_args ad = {n, kind, x.d, y.d};
    ops_cuda()->gelu(&ad);
    struct gelu_bwd_args gd = {{n, kind, x.d, y.d}, dy.d, dx.d};
    ops_cuda()->gelu_bwd(&gd);
    twin_check("gelu y", &y, 1e-6), twin_check("gelu dx", &dx, 1e-5);
    twin_free(&x), twin_free(&y), twin_free(&dy), twin_free(&dx);
}
END_TEST

START_TEST(test_xent) {
    QUICK_SKIP();
    int R = (int[]){37, 1, 300}[_i], V = (int[]){20, 10, 1000}[_i];
    size_t n = (size_t)R * V;
    struct twin logits = twin_new(n, 3, 15), probs = twin_new(n, 0, 0), d = twin_new(n, 0, 0);
    int32_t *t = xmalloc(sizeof(int32_t) * R), *td = cuda_malloc(sizeof(int32_t) * R);
    for (int r = 0; r < R; r++) t[r] = r % 4 == 1 ? -1 : (r * 7) % V;
    cuda_upload(td, t, sizeof(int32_t) * R);
    double loss, loss_d;
    int count, count_d;
    struct xent_args a = {R, V, logits.h, t, &loss, &count, probs.h};
    ops_cpu()->xent(&a);
    struct xent_bwd_args g = {a, probs.h, 0.5f, d.h};
    ops_cpu()->xent_bwd(&g);
    struct xent_args ad = {R, V, logits.d, td, &loss_d, &count_d, probs.d};
    ops_cuda()->xent(&ad);
    struct xent_bwd_args gd = {ad, probs.d, 0.5f, d.d};
    ops_cuda()->xent_bwd(&gd);
    ck_assert_int_eq(count_d, count);
    ck_assert_msg(fabs(loss_d - loss) <= 1e-6 * fabs(loss) + 1e-12, "xent loss %.9g, cpu %.9g", loss_d, loss);
    twin_check("xent probs", &probs, 1e-6), twin_check("xent dlogits", &d, 1e-5);
    twin_free(&logits), twin_free(&probs), twin_free(&d);
    free(t), cuda_free(td);
}
END_TEST

/* ---- the SSM kernel --------------------------------------------------------------- */

START_TEST(test_ssm_kernel) {
    QUICK_SKIP();
    int H = (int[]){3, 4, 1}[_i], N2 = (int[]){5, 8, 4}[_i], L = (int[]){100, 31, 65536}[_i];
    int a_rows = _i == 1 ? H : 1;
    bool zoh = _i == 1, has_B = _i != 1;
    size_t na = (size_t)a_rows * N2, nb = (size_t)H * N2 * 2, nk = (size_t)H * L;
    struct twin log_dt = twin_new(H, 0, 0), Are = twin_new(na, 0, 0), Aim = twin_new(na, 0, 0);
    for (int h = 0; h < H; h++) log_dt.h[h] = (real)log(0.001 + 0.05 * (h + 1) / H);
    for (size_t i = 0; i < na; i++) Are.h[i] = (real)(L > 10000 ? -0.01 : -0.5), Aim.h[i] = (real)(0.3 * (i % N2));
    cuda_upload(log_dt.d, log_dt.h, sizeof(real) * H), cuda_upload(Are.d, Are.h, sizeof(real) * na);
    cuda_upload(Aim.d, Aim.h, sizeof(real) * na);
    struct twin B = twin_new(nb, 1, 16), C = twin_new(nb, 1, 17), K = twin_new(nk, 0, 0), dK = twin_new(nk, 1, 18);
    struct twin g[5] = {twin_new(H, 0.1, 19), twin_new(na, 0.1, 20), twin_new(na, 0.1, 21), twin_new(nb, 0.1, 22),
                        twin_new(nb, 0.1, 23)}; /* (+=) dlog_dt dA_re dA_im dB dC */
    struct ssm_kernel_args a = {H, N2, L, zoh ? SSM_ZOH : SSM_BILINEAR, a_rows, log_dt.h, Are.h, Aim.h,
                                has_B ? B.h : NULL, C.h, K.h};
    ops_cpu()->ssm_kernel(&a);
    struct ssm_kernel_bwd_args gb = {a, dK.h, g[0].h, g[1].h, g[2].h, has_B ? g[3].h : NULL, g[4].h};
    ops_cpu()->ssm_kernel_bwd(&gb);
    struct ssm_kernel_args ad = {H, N2, L, a.disc, a_rows, log_dt.d, Are.d, Aim.d, has_B ? B.d : NULL, C.d, K.d};
    ops_cuda()->ssm_kernel(&ad);
    twin_check("ssm K", &K, 2e-6);
    if (L < 10000) { /* the long case is the forward's */
        struct ssm_kernel_bwd_args gd = {ad, dK.d, g[0].d, g[1].d, g[2].d, has_B ? g[3].d : NULL, g[4].d};
        ops_cuda()->ssm_kernel_bwd(&gd);
        static const char *names[5] = {"ssm dlog_dt", "ssm dA_re", "ssm dA_im", "ssm dB", "ssm dC"};
        for (int i = 0; i < 5; i++) twin_check(names[i], &g[i], 2e-5);
    }
    struct twin *all[] = {&log_dt, &Are, &Aim, &B, &C, &K, &dK, &g[0], &g[1], &g[2], &g[3], &g[4]};
    for (int i = 0; i < 12; i++) twin_free(all[i]);
}
END_TEST

/* ---- the long convolution, both paths ----------------------------------------------- */

struct conv_case {
    int B, L, H, Lk, group;
    enum conv_layout layout;
    bool has_D;
};
static const struct conv_case conv_cases[] = {
    {2, 31, 5, 31, 1, CONV_BLH, true},   {1, 100, 6, 17, 2, CONV_BHL, false}, {3, 7, 4, 1, 4, CONV_BLH, true},
    {1, 257, 3, 257, 3, CONV_BHL, true}, {2, 1000, 5, 1000, 1, CONV_BLH, true}, {1, 5000, 2, 4000, 1, CONV_BHL, true},
};
#define N_CONV ((int)(sizeof conv_cases / sizeof conv_cases[0]))

/* path: 0 the dispatch, 1 direct, 2 cuFFT */
static void conv_check(const struct conv_case *c, int path) {
    int rows = c->H / c->group;
    size_t n = (size_t)c->B * c->L * c->H, nk = (size_t)rows * c->Lk;
    struct twin u = twin_new(n, 1, 24), k = twin_new(nk, 0.3, 25), D = twin_new(rows, 1, 26), y = twin_new(n, 0, 0);
    struct twin dy = twin_new(n, 1, 27), du = twin_new(n, 0, 0), dk = twin_new(nk, 0.1, 28), dD = twin_new(rows, 0.1, 29);
    struct conv_args a = {c->B, c->L, c->H, c->Lk, c->group, c->layout, u.h, k.h, c->has_D ? D.h : NULL, y.h};
    ops_cpu()->conv(&a);
    struct conv_bwd_args g = {a, dy.h, du.h, dk.h, c->has_D ? dD.h : NULL};
    ops_cpu()->conv_bwd(&g);
    struct conv_args ad = {c->B, c->L, c->H, c->Lk, c->group, c->layout, u.d, k.d, c->has_D ? D.d : NULL, y.d};
    struct conv_bwd_args gd = {ad, dy.d, du.d, dk.d, c->has_D ? dD.d : NULL};
    if (path == 0) ops_cuda()->conv(&ad), ops_cuda()->conv_bwd(&gd);
    else cuda_conv_via(&ad, path == 1 ? CUDA_CONV_DIRECT : CUDA_CONV_CUFFT), cuda_conv_bwd_via(&gd, path == 1 ? CUDA_CONV_DIRECT : CUDA_CONV_CUFFT);
    double tol = 2e-5 * (c->L > 500 ? 4 : 1);
    char what[128];
    const char *names[4] = {"y", "du", "dk", "dD"};
    const struct twin *outs[4] = {&y, &du, &dk, &dD};
    for (int i = 0; i < (c->has_D ? 4 : 3); i++) {
        snprintf(what, sizeof what, "conv path %d B%d L%d H%d Lk%d g%d %s: %s", path, c->B, c->L, c->H, c->Lk, c->group,
                 c->layout == CONV_BHL ? "BHL" : "BLH", names[i]);
        twin_check(what, outs[i], tol);
    }
    twin_check("conv u unchanged", &u, 0);
    struct twin *all[] = {&u, &k, &D, &y, &dy, &du, &dk, &dD};
    for (int i = 0; i < 8; i++) twin_free(all[i]);
}

START_TEST(test_conv) {
    QUICK_SKIP();
    for (int path = 0; path < 3; path++) conv_check(&conv_cases[_i], path);
}
END_TEST

/* ---- H3's inner op: FlashConv and the pipeline ----------------------------------------- */

struct h3_case {
    int B, L, D, dh, Lk;
    bool has_D, flash; /* flash: whether FlashConv takes the shape on Hopper (227 KiB of shared memory) */
};
static const struct h3_case h3_cases[] = {
    {2, 1, 5, 1, 1, true, true},          {1, 31, 37, 1, 31, true, true},       {3, 100, 20, 2, 77, false, true},
    {2, 257, 18, 3, 257, true, true},     {1, 1000, 17, 1, 1000, true, true},   {1, 8192, 20, 1, 8192, true, true},
    {1, 16384, 3, 1, 16384, true, true},  {1, 16384, 2, 2, 1000, true, false},  {1, 16385, 2, 1, 100, false, false},
};
#define N_H3 ((int)(sizeof h3_cases / sizeof h3_cases[0]))

START_TEST(test_h3_inner) {
    QUICK_SKIP();
    const struct h3_case *c = &h3_cases[_i];
    int H = c->D / c->dh;
    size_t n = (size_t)c->B * c->L * c->D, nk = (size_t)H * c->Lk;
    struct twin q = twin_new(n, 1, 30), kt = twin_new(n, 1, 31), v = twin_new(n, 1, 32), K = twin_new(nk, 0.3, 33);
    struct twin Dk = twin_new(H, 1, 34), o = twin_new(n, 0, 0), dout = twin_new(n, 1, 35);
    struct twin dq = twin_new(n, 0, 0), dkt = twin_new(n, 0, 0), dv = twin_new(n, 0, 0), dK = twin_new(nk, 0.1, 36);
    struct twin dDk = twin_new(H, 0.1, 37);
    struct h3_inner_args a = {c->B, c->L, c->D, c->dh, c->Lk, q.h, kt.h, v.h, K.h, c->has_D ? Dk.h : NULL, o.h};
    ops_cpu()->h3_inner(&a);
    struct h3_inner_bwd_args g = {a, dout.h, dq.h, dkt.h, dv.h, dK.h, c->has_D ? dDk.h : NULL};
    ops_cpu()->h3_inner_bwd(&g);
    struct h3_inner_args ad = {c->B, c->L, c->D, c->dh, c->Lk, q.d, kt.d, v.d, K.d, c->has_D ? Dk.d : NULL, o.d};
    if (strstr(ops_cuda_status(), "sm_90")) ck_assert_int_eq(cuda_h3_flash_supports(&ad), c->flash);
    double tol = 2e-5 * (c->L > 500 ? 4 : 1);
    char what[128];
    for (int path = 0; path < (cuda_h3_flash_supports(&ad) ? 2 : 1); path++) { /* the pipeline, then FlashConv */
        cuda_h3_inner_via(&ad, path ? CUDA_H3_FLASH : CUDA_H3_PIPELINE);
        snprintf(what, sizeof what, "h3_inner %s B%d L%d D%d dh%d: o", path ? "flash" : "pipeline", c->B, c->L, c->D, c->dh);
        twin_check(what, &o, tol);
    }
    ops_cuda()->h3_inner(&ad);
    twin_check("h3_inner dispatched: o", &o, tol);
    struct h3_inner_bwd_args gd = {ad, dout.d, dq.d, dkt.d, dv.d, dK.d, c->has_D ? dDk.d : NULL};
    ops_cuda()->h3_inner_bwd(&gd);
    const char *names[5] = {"dq", "dk~", "dv", "dK", "dDk"};
    const struct twin *outs[5] = {&dq, &dkt, &dv, &dK, &dDk};
    for (int i = 0; i < (c->has_D ? 5 : 4); i++) {
        snprintf(what, sizeof what, "h3_inner_bwd B%d L%d D%d dh%d: %s", c->B, c->L, c->D, c->dh, names[i]);
        twin_check(what, outs[i], tol);
    }
    twin_check("h3_inner q unchanged", &q, 0);
    struct twin *all[] = {&q, &kt, &v, &K, &Dk, &o, &dout, &dq, &dkt, &dv, &dK, &dDk};
    for (int i = 0; i < 12; i++) twin_free(all[i]);
}
END_TEST

/* ---- state passing's op ------------------------------------------------------------------ */

START_TEST(test_ssm_conv) {
    QUICK_SKIP();
    int B = (int[]){2, 1, 1}[_i], L = (int[]){100, 300, 5000}[_i], H = (int[]){3, 4, 2}[_i], N2 = (int[]){5, 3, 2}[_i];
    int group = _i == 1 ? 2 : 1, rows = H / group, nm = rows * N2;
    enum conv_layout lay = _i == 1 ? CONV_BHL : CONV_BLH;
    size_t n = (size_t)B * L * H;
    struct twin Abar = twin_new(2 * (size_t)nm, 0, 0), Ct = twin_new(2 * (size_t)nm, 0.5, 38), D = twin_new(rows, 1, 39);
    for (int i = 0; i < nm; i++) {
        double r = 0.8 + 0.19 * (i % 5) / 4, th = 0.3 + 0.7 * i;
        Abar.h[2 * i] = (real)(r * cos(th)), Abar.h[2 * i + 1] = (real)(r * sin(th));
    }
    cuda_upload(Abar.d, Abar.h, sizeof(real) * 2 * nm);
    struct twin u = twin_new(n, 1, 40), y = twin_new(n, 0, 0), dy = twin_new(n, 1, 41), du = twin_new(n, 0, 0);
    struct twin dA = twin_new(2 * (size_t)nm, 0.1, 42), dC = twin_new(2 * (size_t)nm, 0.1, 43), dD = twin_new(rows, 0.1, 44);
    struct ssm_conv_args a = {B, L, H, N2, group, 0, lay, Abar.h, Ct.h, D.h, u.h, y.h};
    ops_cpu()->ssm_conv_chunked(&a);
    struct ssm_conv_bwd_args g = {a, dy.h, du.h, dA.h, dC.h, dD.h};
    ops_cpu()->ssm_conv_chunked_bwd(&g);
    struct ssm_conv_args ad = {B, L, H, N2, group, 0, lay, Abar.d, Ct.d, D.d, u.d, y.d};
    ops_cuda()->ssm_conv_chunked(&ad);
    struct ssm_conv_bwd_args gd = {ad, dy.d, du.d, dA.d, dC.d, dD.d};
    ops_cuda()->ssm_conv_chunked_bwd(&gd);
    double tol = 2e-5 * (L > 1000 ? 4 : 1);
    twin_check("ssm_conv y", &y, tol), twin_check("ssm_conv du", &du, tol), twin_check("ssm_conv dD", &dD, tol);
    twin_check("ssm_conv dAbar", &dA, 1e-4), twin_check("ssm_conv dCt", &dC, 1e-4);
    struct twin *all[] = {&Abar, &Ct, &D, &u, &y, &dy, &du, &dA, &dC, &dD};
    for (int i = 0; i < 10; i++) twin_free(all[i]);
}
END_TEST

/* ---- attention ------------------------------------------------------------------------ */

START_TEST(test_attention) {
    QUICK_SKIP();
    int B = (int[]){2, 1, 1}[_i], L = (int[]){7, 70, 1000}[_i], NH = (int[]){2, 1, 2}[_i], dh = (int[]){4, 33, 64}[_i];
    double p = (double[]){0, 0.2, 0.1}[_i];
    int D = NH * dh, rows = B * NH * L;
    size_t nq = (size_t)B * L * 3 * D, no = (size_t)B * L * D;
    struct twin qkv = twin_new(nq, 1, 50), o = twin_new(no, 0, 0), lse = twin_new(rows, 0, 0), dO = twin_new(no, 1, 51);
    struct twin dqkv = twin_new(nq, 0, 0);
    struct attention_args a = {B, L, NH, dh, (real)(1 / sqrt(dh)), qkv.h, o.h, lse.h, p, 7, 3};
    ops_cpu()->attention(&a);
    struct attention_bwd_args g = {a, dO.h, dqkv.h};
    ops_cpu()->attention_bwd(&g);
    struct attention_args ad = {B, L, NH, dh, a.scale, qkv.d, o.d, lse.d, p, 7, 3};
    ops_cuda()->attention(&ad);
    struct attention_bwd_args gd = {ad, dO.d, dqkv.d};
    ops_cuda()->attention_bwd(&gd);
    twin_check("attention o", &o, 2e-5), twin_check("attention lse", &lse, 2e-6);
    twin_check("attention dqkv", &dqkv, 5e-5), twin_check("attention qkv unchanged", &qkv, 0);
    struct twin *all[] = {&qkv, &o, &lse, &dO, &dqkv};
    for (int i = 0; i < 5; i++) twin_free(all[i]);
}
END_TEST

/* ---- determinism ------------------------------------------------------------------------- */

/* FlashConv's forward and the convolution's backward (its gradient sums)
 * twice: the same bits. */
START_TEST(test_deterministic) {
    if (quick) return;
    int B = 3, L = 1000, D = 20, H = 20;
    size_t n = (size_t)B * L * D;
    struct twin q = twin_new(n, 1, 45), kt = twin_new(n, 1, 46), v = twin_new(n, 1, 47), K = twin_new((size_t)H * L, 0.3, 48);
    struct twin o = twin_new(n, 0, 0), dy = twin_new(n, 1, 49), dk = twin_new((size_t)H * L, 0, 0), dD = twin_new(H, 0, 0);
    struct h3_inner_args a = {B, L, D, 1, L, q.d, kt.d, v.d, K.d, NULL, o.d};
    ops_cuda()->h3_inner(&a);
    cuda_download(o.h, o.d, sizeof(real) * n);
    ops_cuda()->h3_inner(&a);
    twin_check("h3_inner twice", &o, 0);
    struct conv_args c = {B, L, H, L, 1, CONV_BLH, q.d, K.d, NULL, o.d};
    struct conv_bwd_args g = {c, dy.d, NULL, dk.d, dD.d};
    ops_cuda()->conv_bwd(&g);
    cuda_download(dk.h, dk.d, sizeof(real) * H * L), cuda_download(dD.h, dD.d, sizeof(real) * H);
    cuda_memset(dk.d, 0, sizeof(real) * H * L), cuda_memset(dD.d, 0, sizeof(real) * H);
    ops_cuda()->conv_bwd(&g);
    twin_check("conv dk twice", &dk, 0), twin_check("conv dD twice", &dD, 0);
    struct twin *all[] = {&q, &kt, &v, &K, &o, &dy, &dk, &dD};
    for (int i = 0; i < 8; i++) twin_free(all[i]);
}
END_TEST

static Suite *cuda_ops_suite(void) {
    Suite *s = suite_create("cuda_ops");
    TCase *tc = tcase_create("cuda_ops");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_gemm, 0, 12);
    tcase_add_loop_test(tc, test_softmax, 0, 3);
    tcase_add_loop_test(tc, test_layernorm, 0, 3);
    tcase_add_loop_test(tc, test_gelu, 0, 2);
    tcase_add_loop_test(tc, test_xent, 0, 3);
    tcase_add_loop_test(tc, test_ssm_kernel, 0, 3);
    tcase_add_loop_test(tc, test_conv, 0, N_CONV);
    tcase_add_loop_test(tc, test_h3_inner, 0, N_H3);
    tcase_add_loop_test(tc, test_ssm_conv, 0, 3);
    tcase_add_loop_test(tc, test_attention, 0, 3);
    tcase_add_test(tc, test_deterministic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_cuda_main("test_cuda_ops", cuda_ops_suite); }
