/* test_ops_dense.c — the dense CPU ops (gemm through the table and each
 * engine, softmax, layernorm, GELU, cross-entropy) against naive
 * double-precision versions of their contracts (kernels/ops.h), at awkward
 * shapes, and every backward against central finite differences.
 *
 * Compiled twice: as the float suite (this file) and, included from
 * tests/f64/test_ops_dense.c, as the double suite; tolerances and the
 * finite-difference scheme are in ops_testutil.h. */
#include "ops_testutil.h"

/* ---------- gemm ---------- */

struct gemm_case {
    enum op_trans ta, tb;
    int M, N, K, batch, pad;
    double alpha, beta;
    bool share_b; /* stride_b = 0: one B for every batch entry */
    bool bias;    /* a fused bias row per batch entry (stride N + 1) */
};

struct gemm_mats {
    int lda, ldb, ldc;
    size_t sa, sb, sc, na, nb, nc; /* strides and total sizes */
    double *A, *B, *C, *bias; /* bias: (batch, N + 1) or NULL */
};

static struct gemm_mats gemm_mats(const struct gemm_case *g) {
    struct gemm_mats m;
    int ra = g->ta ? g->K : g->M, ca = g->ta ? g->M : g->K;
    int rb = g->tb ? g->N : g->K, cb = g->tb ? g->K : g->N;
    m.lda = ca + g->pad, m.ldb = cb + g->pad, m.ldc = g->N + g->pad;
    m.sa = (size_t)ra * m.lda + 3;
    m.sb = g->share_b ? 0 : (size_t)rb * m.ldb + 7;
    m.sc = (size_t)g->M * m.ldc + 5;
    m.na = m.sa * g->batch, m.nb = g->share_b ? (size_t)rb * m.ldb : m.sb * g->batch, m.nc = m.sc * g->batch;
    m.A = dvec(m.na, -1, 1), m.B = dvec(m.nb, -1, 1), m.C = dvec(m.nc, -1, 1);
    m.bias = g->bias ? dvec((size_t)(g->N + 1) * g->batch, -1, 1) : NULL;
    return m;
}

static double opA(const struct gemm_case *g, const struct gemm_mats *m, const double *A, int i, int k) {
    return g->ta ? A[(size_t)k * m->lda + i] : A[(size_t)i * m->lda + k];
}
static double opB(const struct gemm_case *g, const struct gemm_mats *m, const double *B, int k, int j) {
    return g->tb ? B[(size_t)j * m->ldb + k] : B[(size_t)k * m->ldb + j];
}

/* Which gemm run_gemm calls: the table's (default) or one engine directly. */
static void (*gemm_engine)(const struct gemm_args *);

/* C (whole buffer, gaps included) after the gemm, by the op or naively. */
static void run_gemm(const struct gemm_case *g, const struct gemm_mats *m, double *C, bool use_op) {
    memcpy(C, m->C, sizeof(double) * m->nc);
    if (!use_op) {
        for (int b = 0; b < g->batch; b++)
            for (int i = 0; i < g->M; i++)
                for (int j = 0; j < g->N; j++) {
                    double s = 0;
                    for (int k = 0; k < g->K; k++)
                        s += opA(g, m, m->A + b * m->sa, i, k) * opB(g, m, m->B + b * m->sb, k, j);
                    double *c = C + b * m->sc + (size_t)i * m->ldc + j;
                    *c = g->alpha * s + g->beta * *c + (m->bias ? m->bias[(size_t)b * (g->N + 1) + j] : 0);
                }
        return;
    }
    real *A = to_real(m->A, m->na), *B = to_real(m->B, m->nb), *Cr = to_real(C, m->nc);
    real *bias = m->bias ? to_real(m->bias, (size_t)(g->N + 1) * g->batch) : NULL;
    struct gemm_args a = {
        .ta = g->ta, .tb = g->tb, .M = g->M, .N = g->N, .K = g->K,
        .alpha = (real)g->alpha, .beta = (real)g->beta,
        .A = A, .lda = m->lda, .stride_a = m->sa,
        .B = B, .ldb = m->ldb, .stride_b = m->sb,
        .C = Cr, .ldc = m->ldc, .stride_c = m->sc, .batch = g->batch,
        .bias = bias, .stride_bias = (size_t)g->N + 1,
    };
    (gemm_engine ? gemm_engine : O()->gemm)(&a);
    to_double(Cr, C, m->nc);
    free(A), free(B), free(Cr), free(bias);
}

static const struct gemm_case gemm_cases[] = {
    {OP_N, OP_N, 1, 1, 1, 1, 0, 1, 0, false, false},
    {OP_N, OP_T, 31, 37, 33, 1, 0, 1, 0, false, false},
    {OP_T, OP_N, 37, 31, 1, 1, 2, 0.7, -0.4, false, false},
    {OP_T, OP_T, 5, 3, 17, 1, 1, -1.3, 0.5, false, false},
    {OP_N, OP_T, 992, 32, 32, 1, 0, 1, 0, false, false},   /* x W^T */
    {OP_N, OP_N, 704, 64, 96, 1, 0, 1, 1, false, false},   /* dX = dY W, accumulating */
    {OP_T, OP_N, 32, 96, 992, 1, 0, 1, 1, false, false},   /* dW += dY^T X */
    {OP_N, OP_T, 31, 31, 32, 12, 0, 0.17, 0, false, false}, /* attention scores per (b, head) */
    {OP_N, OP_N, 31, 32, 31, 6, 3, 1, 0.25, false, false},
    {OP_T, OP_T, 9, 11, 13, 4, 2, 0.5, 2, true, false},
    {OP_N, OP_T, 40, 128, 64, 3, 0, 1, 0, true, false},
    {OP_T, OP_N, 13, 70, 600, 2, 1, 1, 0.5, false, false}, /* K spans several K blocks */
    {OP_N, OP_N, 4, 5, 0, 1, 0, 1, 0.5, false, false},     /* K = 0: C = beta C */
    /* fused bias: a linear layer, partial tiles, batched with its own row each, several K blocks, K = 0 */
    {OP_N, OP_T, 992, 128, 32, 1, 0, 1, 0, false, true},
    {OP_N, OP_T, 31, 37, 33, 3, 1, 0.5, 0.25, false, true},
    {OP_T, OP_N, 13, 70, 600, 2, 1, 1, 0.5, false, true},
    {OP_N, OP_N, 4, 5, 0, 2, 0, 1, 0.5, false, true},
};
#define N_GEMM_CASES ((int)(sizeof gemm_cases / sizeof gemm_cases[0]))

START_TEST(test_gemm) {
    const struct gemm_case *g = &gemm_cases[_i];
    struct gemm_mats m = gemm_mats(g);
    double *got = dzeros(m.nc), *want = dzeros(m.nc);
    run_gemm(g, &m, want, false);
    static void (*const engines[])(const struct gemm_args *) = {NULL, cpu_gemm_own, cpu_gemm_blas};
    static const char *names[] = {"ops table", "own", "cblas"};
    for (int e = 0; e < 3; e++) {
        gemm_engine = engines[e];
        run_gemm(g, &m, got, true);
        char what[128];
        snprintf(what, sizeof what, "gemm (%s) case %d (%c%c M%d N%d K%d batch %d)", names[e], _i,
                 g->ta ? 'T' : 'N', g->tb ? 'T' : 'N', g->M, g->N, g->K, g->batch);
        tu_assert_close(what, got, want, m.nc, TOL_FWD);
    }
    gemm_engine = NULL;
    free(got), free(want), free(m.A), free(m.B), free(m.C), free(m.bias);
}
END_TEST

START_TEST(test_ops_gemm_wrapper) {
    struct gemm_case g = {OP_T, OP_N, 7, 5, 3, 1, 1, 0.5, -2, false, false};
    struct gemm_mats m = gemm_mats(&g);
    double *want = dzeros(m.nc), *got = dzeros(m.nc);
    run_gemm(&g, &m, want, false);
    real *A = to_real(m.A, m.na), *B = to_real(m.B, m.nb), *C = to_real(m.C, m.nc);
    ops_gemm(O(), g.ta, g.tb, g.M, g.N, g.K, (real)g.alpha, A, m.lda, B, m.ldb, (real)g.beta, C, m.ldc);
    to_double(C, got, m.nc);
    tu_assert_close("ops_gemm", got, want, m.nc, TOL_FWD);
    ck_assert_ptr_nonnull(O()->gemm_name);
    free(A), free(B), free(C), free(got), free(want), free(m.A), free(m.B), free(m.C);
}
END_TEST

/* The backward gemms a linear layer writes (dA = alpha W op(B)^T, dB = alpha
 * op(A)^T W, stored transposed where op transposes) against differences of
 * loss = <W, C>; this checks that transposes compose as the layers assume. */
struct gemm_fd {
    const struct gemm_case *g;
    struct gemm_mats *m;
    const double *W;
    double *C;
};
static double gemm_loss(void *p) {
    struct gemm_fd *c = p;
    run_gemm(c->g, c->m, c->C, FD_THROUGH_OP);
    return dot(c->W, c->C, c->m->nc);
}

START_TEST(test_gemm_grad) {
    struct gemm_case g = {_i & 1 ? OP_T : OP_N, _i & 2 ? OP_T : OP_N, 5, 4, 3, 1, 1, 0.8, 0.6, false, false};
    struct gemm_mats m = gemm_mats(&g);
    double *W = dvec(m.nc, -1, 1), *C = dzeros(m.nc);
    for (int i = 0; i < g.M; i++) /* the pad columns do not enter the loss */
        for (int j = g.N; j < m.ldc; j++) W[(size_t)i * m.ldc + j] = 0;
    for (size_t i = (size_t)g.M * m.ldc; i < m.nc; i++) W[i] = 0;
    struct gemm_fd ctx = {&g, &m, W, C};
    double *fa = dzeros(m.na), *fb = dzeros(m.nb);
    fd_grad(gemm_loss, &ctx, m.A, m.na, fa);
    fd_grad(gemm_loss, &ctx, m.B, m.nb, fb);
    real *A = to_real(m.A, m.na), *B = to_real(m.B, m.nb), *Wr = to_real(W, m.nc);
    real *dA = calloc(m.na, sizeof(real)), *dB = calloc(m.nb, sizeof(real));
    real al = (real)g.alpha;
    if (g.ta == OP_N) /* dA (M,K) = alpha W op(B)^T */
        ops_gemm(O(), OP_N, g.tb == OP_N ? OP_T : OP_N, g.M, g.K, g.N, al, Wr, m.ldc, B, m.ldb, 0, dA, m.lda);
    else /* dA stored (K,M) = alpha op(B) W^T */
        ops_gemm(O(), g.tb, OP_T, g.K, g.M, g.N, al, B, m.ldb, Wr, m.ldc, 0, dA, m.lda);
    if (g.tb == OP_N) /* dB (K,N) = alpha op(A)^T W */
        ops_gemm(O(), g.ta == OP_N ? OP_T : OP_N, OP_N, g.K, g.N, g.M, al, A, m.lda, Wr, m.ldc, 0, dB, m.ldb);
    else /* dB stored (N,K) = alpha W^T op(A) */
        ops_gemm(O(), OP_T, g.ta, g.N, g.K, g.M, al, Wr, m.ldc, A, m.lda, 0, dB, m.ldb);
    double *ga = dzeros(m.na), *gb = dzeros(m.nb);
    to_double(dA, ga, m.na);
    to_double(dB, gb, m.nb);
    assert_grad("gemm dA", ga, fa, m.na);
    assert_grad("gemm dB", gb, fb, m.nb);
    free(A), free(B), free(Wr), free(dA), free(dB), free(ga), free(gb), free(fa), free(fb);
    free(W), free(C), free(m.A), free(m.B), free(m.C);
}
END_TEST

/* ---------- softmax ---------- */

struct sm_case {
    int R, C, causal_L;
    double scale;
};
struct sm_data {
    const struct sm_case *c;
    double *x, *y, *w;
};

static void run_softmax(struct sm_data *d, bool use_op) {
    const struct sm_case *c = d->c;
    size_t n = (size_t)c->R * c->C;
    if (!use_op) {
        for (int r = 0; r < c->R; r++) {
            int lim = c->causal_L ? r % c->causal_L + 1 : c->C;
            const double *x = d->x + (size_t)r * c->C;
            double *y = d->y + (size_t)r * c->C, m = -INFINITY, s = 0;
            for (int j = 0; j < lim; j++) m = fmax(m, c->scale * x[j]);
            for (int j = 0; j < lim; j++) s += exp(c->scale * x[j] - m);
            for (int j = 0; j < c->C; j++) y[j] = j < lim ? exp(c->scale * x[j] - m) / s : 0;
        }
        return;
    }
    real *x = to_real(d->x, n), *y = malloc(sizeof(real) * n);
    struct softmax_args a = {.R = c->R, .C = c->C, .causal_L = c->causal_L, .scale = (real)c->scale, .x = x, .y = y};
    O()->softmax(&a);
    to_double(y, d->y, n);
    free(x), free(y);
}
static double softmax_loss(void *p) {
    struct sm_data *d = p;
    run_softmax(d, FD_THROUGH_OP);
    return dot(d->w, d->y, (size_t)d->c->R * d->c->C);
}

static const struct sm_case sm_cases[] = {
    {1, 1, 0, 1.0}, {7, 13, 0, 0.5}, {3 * 31, 31, 31, 1 / sqrt(32.0)}, {2 * 5, 5, 5, 2.5}, {4, 40, 0, -1.0},
};
#define N_SM_CASES ((int)(sizeof sm_cases / sizeof sm_cases[0]))

START_TEST(test_softmax) {
    const struct sm_case *c = &sm_cases[_i];
    size_t n = (size_t)c->R * c->C;
    struct sm_data d = {c, dvec(n, -4, 4), dzeros(n), dvec(n, -1, 1)};
    double *want = dzeros(n), *fd = dzeros(n), *got = dzeros(n);
    run_softmax(&d, false);
    memcpy(want, d.y, sizeof(double) * n);
    run_softmax(&d, true);
    char what[96];
    snprintf(what, sizeof what, "softmax R%d C%d causal %d: y", c->R, c->C, c->causal_L);
    tu_assert_close(what, d.y, want, n, TOL_FWD);
    /* backward, from the op's own forward output */
    real *x = to_real(d.x, n), *y = to_real(d.y, n), *dy = to_real(d.w, n), *dx = malloc(sizeof(real) * n);
    struct softmax_bwd_args b = {
        .f = {.R = c->R, .C = c->C, .causal_L = c->causal_L, .scale = (real)c->scale, .x = x, .y = NULL},
        .y = y, .dy = dy, .dx = dx};
    O()->softmax_bwd(&b);
    to_double(dx, got, n);
    fd_grad(softmax_loss, &d, d.x, n, fd);
    snprintf(what, sizeof what, "softmax R%d C%d causal %d: dx vs FD", c->R, c->C, c->causal_L);
    assert_grad(what, got, fd, n);
    free(x), free(y), free(dy), free(dx), free(want), free(fd), free(got), free(d.x), free(d.y), free(d.w);
}
END_TEST

/* ---------- layernorm ---------- */

struct ln_data {
    int R, D;
    double eps;
    double *x, *w, *b, *y, *mean, *rstd, *wy;
};

static void run_layernorm(struct ln_data *d, bool use_op) {
    size_t n = (size_t)d->R * d->D;
    if (!use_op) {
        for (int r = 0; r < d->R; r++) {
            const double *x = d->x + (size_t)r * d->D;
            double mu = 0, var = 0;
            for (int i = 0; i < d->D; i++) mu += x[i] / d->D;
            for (int i = 0; i < d->D; i++) var += (x[i] - mu) * (x[i] - mu) / d->D;
            d->mean[r] = mu, d->rstd[r] = 1 / sqrt(var + d->eps);
            for (int i = 0; i < d->D; i++) d->y[(size_t)r * d->D + i] = (x[i] - mu) * d->rstd[r] * d->w[i] + d->b[i];
        }
        return;
    }
    real *x = to_real(d->x, n), *w = to_real(d->w, d->D), *b = to_real(d->b, d->D);
    real *y = malloc(sizeof(real) * n), *mean = malloc(sizeof(real) * d->R), *rstd = malloc(sizeof(real) * d->R);
    struct layernorm_args a = {.R = d->R, .D = d->D, .eps = (real)d->eps, .x = x, .w = w, .b = b,
                               .y = y, .mean = mean, .rstd = rstd};
    O()->layernorm(&a);
    to_double(y, d->y, n), to_double(mean, d->mean, d->R), to_double(rstd, d->rstd, d->R);
    free(x), free(w), free(b), free(y), free(mean), free(rstd);
}
static double ln_loss(void *p) {
    struct ln_data *d = p;
    run_layernorm(d, FD_THROUGH_OP);
    return dot(d->wy, d->y, (size_t)d->R * d->D);
}

START_TEST(test_layernorm) {
    /* {37, 32}, {24, 64}: whole VL-row blocks plus leftover rows (the blocked path) */
    static const int shapes[][2] = {{1, 1}, {37, 31}, {5, 3}, {64, 32}, {3, 128}, {37, 32}, {24, 64}};
    int R = shapes[_i][0], D = shapes[_i][1];
    size_t n = (size_t)R * D;
    struct ln_data d = {R, D, 1e-5, dvec(n, 4, 6), dvec(D, 0.5, 1.5), dvec(D, -1, 1), dzeros(n), dzeros(R),
                        dzeros(R), dvec(n, -1, 1)};
    double *y = dzeros(n), *mean = dzeros(R), *rstd = dzeros(R);
    run_layernorm(&d, false);
    memcpy(y, d.y, sizeof(double) * n), memcpy(mean, d.mean, sizeof(double) * R), memcpy(rstd, d.rstd, sizeof(double) * R);
    run_layernorm(&d, true);
    char what[96];
    snprintf(what, sizeof what, "layernorm R%d D%d: y", R, D);
    tu_assert_close(what, d.y, y, n, TOL_FWD);
    tu_assert_close("layernorm mean", d.mean, mean, R, TOL_FWD);
    tu_assert_close("layernorm rstd", d.rstd, rstd, R, TOL_FWD);
    /* backward against differences */
    real *x = to_real(d.x, n), *w = to_real(d.w, D), *b = to_real(d.b, D), *dy = to_real(d.wy, n);
    real *rmean = to_real(d.mean, R), *rrstd = to_real(d.rstd, R), *dx = malloc(sizeof(real) * n);
    real *dw = malloc(sizeof(real) * D), *db = malloc(sizeof(real) * D);
    for (int i = 0; i < D; i++) dw[i] = db[i] = 0;
    struct layernorm_bwd_args g = {
        .f = {.R = R, .D = D, .eps = (real)d.eps, .x = x, .w = w, .b = b, .mean = rmean, .rstd = rrstd},
        .dy = dy, .dx = dx, .dw = dw, .db = db};
    O()->layernorm_bwd(&g);
    double *gx = dzeros(n), *gw = dzeros(D), *gb = dzeros(D), *fx = dzeros(n), *fw = dzeros(D), *fb = dzeros(D);
    to_double(dx, gx, n);
    to_double(dw, gw, D);
    to_double(db, gb, D);
    g.dx = NULL; /* dx is optional */
    O()->layernorm_bwd(&g);
    check_accumulated("layernorm dw", dw, gw, D);
    check_accumulated("layernorm db", db, gb, D);
    fd_grad(ln_loss, &d, d.x, n, fx);
    fd_grad(ln_loss, &d, d.w, D, fw);
    fd_grad(ln_loss, &d, d.b, D, fb);
    /* D = 1: y = b whatever x is, so dx is 0 exactly and only w's FD is noise-level */
    snprintf(what, sizeof what, "layernorm R%d D%d: dx vs FD", R, D);
    if (D > 1) assert_grad(what, gx, fx, n);
    snprintf(what, sizeof what, "layernorm R%d D%d: dw vs FD", R, D);
    if (D > 1) assert_grad(what, gw, fw, D);
    snprintf(what, sizeof what, "layernorm R%d D%d: db vs FD", R, D);
    assert_grad(what, gb, fb, D);
    free(x), free(w), free(b), free(dy), free(rmean), free(rrstd), free(dx), free(dw), free(db);
    free(gx), free(gw), free(gb), free(fx), free(fw), free(fb), free(y), free(mean), free(rstd);
    free(d.x), free(d.w), free(d.b), free(d.y), free(d.mean), free(d.rstd), free(d.wy);
}
END_TEST

/* ---------- GELU ---------- */

static double ref_gelu(double x, enum gelu_kind k) {
    if (k == GELU_TANH) return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1 + erf(x / sqrt(2.0)));
}

static void run_gelu(const double *x, double *y, size_t n, enum gelu_kind k, bool use_op) {
    if (!use_op) {
        for (size_t i = 0; i < n; i++) y[i] = ref_gelu(x[i], k);
        return;
    }
    real *rx = to_real(x, n), *ry = malloc(sizeof(real) * n);
    struct gelu_args a = {.n = n, .kind = k, .x = rx, .y = ry};
    O()->gelu(&a);
    to_double(ry, y, n);
    free(rx), free(ry);
}

START_TEST(test_gelu) {
    enum gelu_kind k = _i ? GELU_ERF : GELU_TANH;
    size_t n = 1001;
    double *x = dvec(n, -6, 6), *y = dzeros(n), *want = dzeros(n), *yp = dzeros(n), *ym = dzeros(n), *fd = dzeros(n);
    x[0] = 1.0, x[1] = 0.0, x[2] = -30, x[3] = 30;
    x[4] = 1e-4, x[5] = -5e-4, x[6] = 2e-3, x[7] = -0.999e-3, x[8] = 1.001e-3; /* around the y/x cut-over */
    run_gelu(x, want, n, k, false);
    run_gelu(x, y, n, k, true);
    tu_assert_close(k ? "gelu erf" : "gelu tanh", y, want, n, TOL_FWD);
    /* published values at x = 1: 0.5(1 + erf(1/sqrt 2)) and the tanh form */
    double at1 = k ? 0.8413447460685429 : 0.8411919906082768;
    ck_assert_msg(fabs(y[0] - at1) < 2 * TOL_FWD, "gelu(1) = %.12g, want %.12g", y[0], at1);
    /* elementwise, so one pair of shifted evaluations gives every difference */
    double h = 1e-5, *xp = dzeros(n), *xm = dzeros(n);
    for (size_t i = 0; i < n; i++) xp[i] = x[i] + h, xm[i] = x[i] - h;
    run_gelu(xp, yp, n, k, FD_THROUGH_OP);
    run_gelu(xm, ym, n, k, FD_THROUGH_OP);
    double *dyd = dvec(n, -1, 1), *got = dzeros(n);
    for (size_t i = 0; i < n; i++) fd[i] = dyd[i] * (yp[i] - ym[i]) / (2 * h);
    real *rx = to_real(x, n), *dy = to_real(dyd, n), *dx = malloc(sizeof(real) * n);
    struct gelu_bwd_args g = {.f = {.n = n, .kind = k, .x = rx}, .dy = dy, .dx = dx};
    O()->gelu_bwd(&g);
    to_double(dx, got, n);
    assert_grad(k ? "gelu erf dx vs FD" : "gelu tanh dx vs FD", got, fd, n);
    /* the same backward given the forward's output (the tanh form then derives s = y / x) */
    real *ry = to_real(y, n);
    g.f.y = ry;
    O()->gelu_bwd(&g);
    to_double(dx, got, n);
    assert_grad(k ? "gelu erf dx from y vs FD" : "gelu tanh dx from y vs FD", got, fd, n);
    free(x), free(y), free(want), free(yp), free(ym), free(fd), free(xp), free(xm), free(dyd), free(got);
    free(rx), free(dy), free(dx), free(ry);
}
END_TEST

/* ---------- cross-entropy ---------- */

struct xent_data {
    int R, V;
    double *logits, *probs, scale;
    int32_t *t;
    double loss;
    int count;
};

static void run_xent(struct xent_data *d, bool use_op) {
    size_t n = (size_t)d->R * d->V;
    if (!use_op) {
        double tot = 0;
        d->count = 0;
        for (int r = 0; r < d->R; r++) {
            const double *x = d->logits + (size_t)r * d->V;
            double m = -INFINITY, s = 0;
            for (int v = 0; v < d->V; v++) m = fmax(m, x[v]);
            for (int v = 0; v < d->V; v++) s += exp(x[v] - m);
            for (int v = 0; v < d->V; v++) d->probs[(size_t)r * d->V + v] = exp(x[v] - m) / s;
            if (d->t[r] < 0) continue;
            tot += m + log(s) - x[d->t[r]];
            d->count++;
        }
        d->loss = d->count ? tot / d->count : 0;
        return;
    }
    real *x = to_real(d->logits, n), *p = malloc(sizeof(real) * n);
    struct xent_args a = {.R = d->R, .V = d->V, .logits = x, .targets = d->t, .loss = &d->loss,
                          .count = &d->count, .probs = p};
    O()->xent(&a);
    to_double(p, d->probs, n);
    free(x), free(p);
}
static double xent_loss(void *p) {
    struct xent_data *d = p;
    run_xent(d, FD_THROUGH_OP);
    return d->scale * d->loss;
}

START_TEST(test_xent) {
    /* V <= 32 runs padded to 32 lanes; 33 and 100 take the plain path */
    static const int shapes[][2] = {{1, 1}, {37, 20}, {31, 7}, {8, 3}, {4, 32}, {5, 33}, {3, 100}};
    int R = shapes[_i][0], V = shapes[_i][1];
    size_t n = (size_t)R * V;
    struct xent_data d = {R, V, dvec(n, -5, 5), dzeros(n), 0.7, malloc(sizeof(int32_t) * R), 0, 0};
    for (int r = 0; r < R; r++) d.t[r] = (r % 3 == 1) ? -1 : (int32_t)(urand() * V);
    if (R > 1) d.logits[V + 0] = 80; /* a large logit on an ignored row: must not matter */
    double *probs = dzeros(n);
    run_xent(&d, false);
    double loss = d.loss;
    int count = d.count;
    memcpy(probs, d.probs, sizeof(double) * n);
    run_xent(&d, true);
    ck_assert_int_eq(d.count, count);
    ck_assert_msg(fabs(d.loss - loss) <= TOL_FWD * fmax(1, fabs(loss)), "xent loss %.12g want %.12g", d.loss, loss);
    tu_assert_close("xent probs", d.probs, probs, n, TOL_FWD);
    real *x = to_real(d.logits, n), *p = to_real(d.probs, n), *dl = malloc(sizeof(real) * n);
    struct xent_bwd_args g = {.f = {.R = R, .V = V, .logits = x, .targets = d.t}, .probs = p,
                              .scale = (real)d.scale, .dlogits = dl};
    O()->xent_bwd(&g);
    double *got = dzeros(n), *fd = dzeros(n);
    to_double(dl, got, n);
    fd_grad(xent_loss, &d, d.logits, n, fd);
    char what[64];
    snprintf(what, sizeof what, "xent R%d V%d: dlogits vs FD", R, V);
    assert_grad(what, got, fd, n);
    for (int r = 0; r < R; r++)
        if (d.t[r] < 0)
            for (int v = 0; v < V; v++) ck_assert(dl[(size_t)r * V + v] == 0);
    free(x), free(p), free(dl), free(got), free(fd), free(probs), free(d.logits), free(d.probs), free(d.t);
}
END_TEST

START_TEST(test_xent_all_ignored) {
    real x[6] = {1, 2, 3, 4, 5, 6}, p[6], dl[6];
    int32_t t[2] = {-1, -1};
    double loss = 99;
    int count = 99;
    struct xent_args a = {.R = 2, .V = 3, .logits = x, .targets = t, .loss = &loss, .count = &count, .probs = p};
    O()->xent(&a);
    ck_assert_int_eq(count, 0);
    ck_assert(loss == 0);
    struct xent_bwd_args g = {.f = a, .probs = p, .scale = 1, .dlogits = dl};
    O()->xent_bwd(&g);
    for (int i = 0; i < 6; i++) ck_assert(dl[i] == 0);
}
END_TEST

static Suite *ops_dense_suite(void) {
    Suite *s = suite_create("ops_dense_" REAL_NAME);
    TCase *tc = tcase_create("ops_dense");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_gemm, 0, N_GEMM_CASES);
    tcase_add_test(tc, test_ops_gemm_wrapper);
    tcase_add_loop_test(tc, test_gemm_grad, 0, 4);
    tcase_add_loop_test(tc, test_softmax, 0, N_SM_CASES);
    tcase_add_loop_test(tc, test_layernorm, 0, 7);
    tcase_add_loop_test(tc, test_gelu, 0, 2);
    tcase_add_loop_test(tc, test_xent, 0, 7);
    tcase_add_test(tc, test_xent_all_ignored);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return tu_run_suite(ops_dense_suite());
}
