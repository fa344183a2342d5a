/* The H3 layer suite in double precision (see ../test_h3.c, included here for
 * the shared tests and main): adds a naive reference written from the
 * formulas, finite differences, accumulation and causality, for H3 and its
 * ablations (ssm, gate_kv, gate_q). */
#include "../test_h3.c"

#include <complex.h>

/* ---- naive double reference, straight from README §5.1 ------------------- */

/* Init, then noise on every tensor so that no path is trivial (dense shift B,
 * B != 1, varied Re A) and the output is O(1). Slot tensors by their kind:
 * shift B, C; diagonal B, inv_A_real, A_imag, log_dt. */
static void rig_randomize(struct rig *r, uint64_t seed) {
    static const struct { const char *name; double sd; } noise[] = {
        {"q_proj.weight", 0.3}, {"k_proj.weight", 0.3}, {"v_proj.weight", 0.3}, {"output_linear.weight", 0.3},
        {"q_proj.bias", 0.1}, {"k_proj.bias", 0.1}, {"v_proj.bias", 0.1}, {"output_linear.bias", 0.1},
        {"ssm_k_kernel.kernel.B", 0.5}, {"ssm_k_kernel.kernel.C", 0.3}, {"kernel.kernel.B", 0.2},
        {"kernel.kernel.inv_A_real", 0.3}, {"kernel.kernel.A_imag", 0.1}, {"kernel.kernel.log_dt", 0.5},
        {"ssm_k_kernel.kernel.inv_A_real", 0.3}, {"ssm_k_kernel.kernel.A_imag", 0.1},
        {"ssm_k_kernel.kernel.log_dt", 0.5}, {"kernel.kernel.C", 0.3},
    };
    static const double sd_shift_B = 0.5, sd_diag_B = 0.2;
    tu_layer_init(&r->l, seed);
    for (size_t k = 0; k < sizeof noise / sizeof noise[0]; k++) {
        char full[PARAM_NAME];
        snprintf(full, sizeof full, "%s%s", r->l.prefix, noise[k].name);
        int t = param_find(&r->l.pt, full);
        if (t < 0) continue; /* a tensor of the other SSM kind */
        const struct param_spec *ps = &r->l.pt.v[t];
        if (strstr(noise[k].name, "kernel.C") && ps->ndim == 4) continue; /* diagonal C: a random init already */
        double sd = strstr(noise[k].name, "kernel.B") ? (ps->ndim == 2 ? sd_shift_B : sd_diag_B) : noise[k].sd;
        struct hp_rng g = hp_rng_make(seed, 100 + k);
        for (size_t i = 0; i < ps->numel; i++) r->l.p[ps->offset + i] += (real)(sd * hp_rng_normal(&g));
        /* log_dt up to ~log 0.3 so that the diagonal kernel decays and rotates visibly. */
        if (strstr(noise[k].name, "log_dt"))
            for (size_t i = 0; i < ps->numel; i++) r->l.p[ps->offset + i] += (real)2.0;
    }
    tu_fill_normal(r->l.x, r->l.n, 1.0, seed + 1, 5);
}

static void ref_proj(const struct rig *r, const char *w, const char *b, double *out) {
    int R = r->c.B * r->c.L, D = r->c.D;
    const real *W = P(r, w), *bb = P(r, b);
    for (int t = 0; t < R; t++)
        for (int o = 0; o < D; o++) {
            double acc = bb[o];
            for (int i = 0; i < D; i++) acc += (double)r->l.x[(size_t)t * D + i] * W[o * D + i];
            out[(size_t)t * D + o] = acc;
        }
}

/* Slot tensor `leaf` under slot pre ("ssm_k_kernel.kernel." or "kernel.kernel."). */
static const real *PS(const struct rig *r, const char *pre, const char *leaf) {
    char name[48];
    snprintf(name, sizeof name, "%s%s", pre, leaf);
    return P(r, name);
}

/* A diagonal slot's kernel (H, L) with powers by repeated multiplication. */
static void ref_diag_kernel(const struct rig *r, const char *pre, int H, int L, double *K) {
    int N2 = r->c.N / 2;
    bool zoh = strcmp(r->c.disc, "zoh") == 0;
    const real *ld = PS(r, pre, "log_dt"), *ia = PS(r, pre, "inv_A_real");
    const real *ai = PS(r, pre, "A_imag"), *Bc = PS(r, pre, "B"), *Cc = PS(r, pre, "C");
    for (int h = 0; h < H; h++) {
        for (int l = 0; l < L; l++) K[h * L + l] = 0;
        double dt = exp((double)ld[h]);
        for (int n = 0; n < N2; n++) {
            int i = h * N2 + n;
            double complex A = -exp((double)ia[i]) + I * (double)ai[i], x = dt * A;
            double complex bc = (Bc[2 * i] + I * (double)Bc[2 * i + 1]) * (Cc[2 * i] + I * (double)Cc[2 * i + 1]);
            double complex z = zoh ? cexp(x) : (1 + x / 2) / (1 - x / 2);
            double complex ct = zoh ? bc * (z - 1) / A : bc * dt / (1 - x / 2), pw = 1;
            for (int l = 0; l < L; l++, pw *= z) K[h * L + l] += 2 * creal(ct * pw);
        }
    }
}

/* A shift slot's kernel (H, L), zero from tap N on. */
static void ref_shift_kernel(const struct rig *r, const char *pre, int H, int L, double *K) {
    int N = r->c.N;
    const real *Bs = PS(r, pre, "B"), *Cs = PS(r, pre, "C");
    for (int c = 0; c < H; c++)
        for (int j = 0; j < L; j++) {
            double acc = 0;
            for (int n = 0; j < N && n < N - j; n++) acc += (double)Bs[c * N + n] * Cs[c * N + n + j];
            K[c * L + j] = acc;
        }
}

static void ref_kernel(const struct rig *r, int slot, int H, int L, double *K) {
    const char *pre = slot ? "kernel.kernel." : "ssm_k_kernel.kernel.";
    if (slot_diag(cfg_ssm(&r->c), slot)) ref_diag_kernel(r, pre, H, L, K);
    else ref_shift_kernel(r, pre, H, L, K);
}

/* The two gates: a product, or a sum where the option turns it off. */
static double gate(bool off, double a, double b) { return off ? a + b : a * b; }

static void reference(const struct rig *r, double *out) {
    int B = r->c.B, L = r->c.L, D = r->c.D, dh = r->c.dh, H = D / dh;
    size_t n = r->l.n;
    double *q = xmalloc(n * sizeof(double)), *k = xmalloc(n * sizeof(double)), *v = xmalloc(n * sizeof(double));
    double *kt = xmalloc(n * sizeof(double)), *o = xcalloc(n, sizeof(double));
    double *Ks = xmalloc((size_t)D * L * sizeof(double)), *Kd = xmalloc((size_t)H * L * sizeof(double));
    ref_proj(r, "q_proj.weight", "q_proj.bias", q);
    ref_proj(r, "k_proj.weight", "k_proj.bias", k);
    ref_proj(r, "v_proj.weight", "v_proj.bias", v);
    ref_kernel(r, 0, D, L, Ks);
    ref_kernel(r, 1, H, L, Kd);
    const real *sD = P(r, "ssm_k_D"), *Dd = P(r, "D");
#define AT(a, b, t, c) a[((size_t)(b) * L + (t)) * D + (c)]
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            for (int c = 0; c < D; c++) {
                double acc = sD[c] * AT(k, b, t, c);
                for (int j = 0; j <= t; j++) acc += Ks[c * L + j] * AT(k, b, t - j, c);
                AT(kt, b, t, c) = acc;
            }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < dh; i++)
                    for (int j = 0; j < dh; j++) {
                        bool kv_off = r->c.kv_off;
                        double y = Dd[h] * gate(kv_off, AT(kt, b, t, h * dh + i), AT(v, b, t, h * dh + j));
                        for (int s = 0; s <= t; s++)
                            y += Kd[h * L + s] * gate(kv_off, AT(kt, b, t - s, h * dh + i), AT(v, b, t - s, h * dh + j));
                        AT(o, b, t, j * H + h) += gate(r->c.q_off, AT(q, b, t, h * dh + i), y);
                    }
#undef AT
    const real *Wo = P(r, "output_linear.weight"), *bo = P(r, "output_linear.bias");
    for (size_t t = 0; t < (size_t)B * L; t++)
        for (int e = 0; e < D; e++) {
            double acc = bo[e];
            for (int c = 0; c < D; c++) acc += o[t * D + c] * Wo[e * D + c];
            out[t * D + e] = acc;
        }
    free(q), free(k), free(v), free(kt), free(o), free(Ks), free(Kd);
}

/* ---- random configurations against the naive reference ------------------ */

static const struct cfg ref_cfgs[] = {
    {.D = 8, .N = 8, .dh = 1, .B = 2, .L = 7, .disc = "zoh", .measure = "diag-lin"},
    {.D = 8, .N = 4, .dh = 2, .B = 2, .L = 9, .disc = "bilinear", .measure = "diag-lin"},
    {.D = 8, .N = 6, .dh = 2, .B = 3, .L = 11, .disc = "zoh", .measure = "diag-inv"},
    {.D = 8, .N = 8, .dh = 4, .B = 1, .L = 13, .disc = "bilinear", .measure = "diag-inv"},
    {.D = 12, .N = 2, .dh = 3, .B = 2, .L = 5, .disc = "zoh", .measure = "diag-lin"},
    {.D = 16, .N = 16, .dh = 1, .B = 2, .L = 40, .disc = "bilinear", .measure = "diag-lin"},
    {.D = 8, .N = 8, .dh = 1, .B = 2, .L = 7, .disc = "zoh", .measure = "diag-lin", .ssm = "diag+diag"},
    {.D = 8, .N = 4, .dh = 2, .B = 2, .L = 9, .disc = "bilinear", .measure = "diag-inv", .ssm = "shift+shift"},
    {.D = 8, .N = 6, .dh = 1, .B = 2, .L = 11, .disc = "bilinear", .measure = "diag-lin", .kv_off = true},
    {.D = 8, .N = 8, .dh = 1, .B = 1, .L = 13, .disc = "zoh", .measure = "diag-inv", .ssm = "diag+diag", .q_off = true},
    {.D = 8, .N = 4, .dh = 1, .B = 2, .L = 9, .disc = "bilinear", .measure = "diag-lin", .ssm = "shift+shift",
     .kv_off = true, .q_off = true},
    {.D = 12, .N = 2, .dh = 3, .B = 2, .L = 5, .disc = "zoh", .measure = "diag-lin", .ssm = "diag+diag"},
};

START_TEST(test_reference) {
    struct rig r;
    rig_open(&r, &ref_cfgs[_i], 0);
    rig_randomize(&r, 11 + _i);
    tu_layer_forward(&r.l);
    double *want = xmalloc(r.l.n * sizeof(double));
    reference(&r, want);
    char what[96];
    snprintf(what, sizeof what, "config %d (dh %d, N %d, L %d, %s, %s, gates %d%d)", _i, r.c.dh, r.c.N, r.c.L,
             r.c.disc, cfg_ssm(&r.c), !r.c.kv_off, !r.c.q_off);
    tu_assert_close_real(what, r.l.y, want, r.l.n, 1e-12);
    free(want);
    tu_layer_close(&r.l);
}
END_TEST

/* ---- finite differences --------------------------------------------------- */

static const struct cfg fd_cfgs[] = {
    {.D = 8, .N = 8, .dh = 1, .B = 2, .L = 7, .disc = "bilinear", .measure = "diag-lin"},
    {.D = 8, .N = 4, .dh = 1, .B = 2, .L = 9, .disc = "zoh", .measure = "diag-lin"},
    {.D = 8, .N = 4, .dh = 2, .B = 2, .L = 9, .disc = "bilinear", .measure = "diag-lin"},
    {.D = 8, .N = 8, .dh = 2, .B = 2, .L = 7, .disc = "zoh", .measure = "diag-inv"},
    {.D = 8, .N = 8, .dh = 1, .B = 2, .L = 7, .disc = "bilinear", .measure = "diag-lin", .ssm = "diag+diag"},
    {.D = 8, .N = 4, .dh = 2, .B = 2, .L = 9, .disc = "zoh", .measure = "diag-lin", .ssm = "shift+shift"},
    {.D = 8, .N = 4, .dh = 1, .B = 2, .L = 9, .disc = "bilinear", .measure = "diag-inv", .kv_off = true, .q_off = true},
    {.D = 8, .N = 8, .dh = 2, .B = 2, .L = 7, .disc = "zoh", .measure = "diag-inv", .ssm = "diag+diag"},
};

/* loss = <dy, y>; central differences with step 1e-5 at the largest entry and
 * four random ones, error relative to max(|g_i|, 1e-2 max|g|) <= 1e-6. */
START_TEST(test_fd) {
    struct rig r;
    rig_open(&r, &fd_cfgs[_i], 1);
    rig_randomize(&r, 21 + _i);
    tu_fill_normal(r.l.dy, r.l.n, 1.0, 99 + _i, 5);
    tu_layer_forward(&r.l);
    tu_layer_backward(&r.l);
    struct tu_fd fd = {.loss = tu_layer_loss, .ctx = &r.l, .step = 1e-5, .n_random = 4, .seed = 1, .stream = 9,
                       .floor = 1e-2, .tol = 1e-6};
    char what[160];
    snprintf(what, sizeof what, "config %d dx", _i);
    tu_fd_check(&fd, what, r.l.x, r.l.dx, r.l.n);
    for (int t = 0; t < r.l.pt.n; t++) {
        const struct param_spec *ps = &r.l.pt.v[t];
        snprintf(what, sizeof what, "config %d %s", _i, ps->name);
        fd.seed = 2 + t;
        tu_fd_check(&fd, what, r.l.p + ps->offset, r.l.g + ps->offset, ps->numel);
    }
    tu_layer_close(&r.l);
}
END_TEST

/* Gradients accumulate (+=): a second backward doubles them; dx is overwritten. */
START_TEST(test_accumulate) {
    struct rig r;
    rig_open(&r, &fd_cfgs[2], 0);
    rig_randomize(&r, 5);
    tu_fill_normal(r.l.dy, r.l.n, 1.0, 6, 5);
    tu_layer_forward(&r.l);
    tu_layer_backward(&r.l);
    size_t np = r.l.pt.total, n = r.l.n;
    real *g1 = xmalloc(np * sizeof(real)), *dx1 = xmalloc(n * sizeof(real));
    memcpy(g1, r.l.g, np * sizeof(real));
    memcpy(dx1, r.l.dx, n * sizeof(real));
    for (size_t i = 0; i < n; i++) r.l.dx[i] = 1e3; /* must be overwritten */
    tu_layer_backward(&r.l);
    for (size_t i = 0; i < np; i++)
        ck_assert_msg(fabs(r.l.g[i] - 2 * g1[i]) <= 1e-12 * fmax(1, fabs(g1[i])), "g[%zu] did not accumulate", i);
    for (size_t i = 0; i < n; i++) ck_assert_msg(r.l.dx[i] == dx1[i], "dx[%zu] not overwritten", i);
    free(g1), free(dx1);
    tu_layer_close(&r.l);
}
END_TEST

/* ---- causality -------------------------------------------------------- */

START_TEST(test_causality) {
    struct cfg c = {.D = 8, .N = 8, .dh = _i ? 4 : 1, .B = 2, .L = 12, .disc = "bilinear", .measure = "diag-lin"};
    struct rig r;
    rig_open(&r, &c, 0);
    rig_randomize(&r, 31 + _i);
    size_t n = r.l.n;
    tu_layer_forward(&r.l);
    real *y0 = xmalloc(n * sizeof(real));
    memcpy(y0, r.l.y, n * sizeof(real));
    double ymax = 0;
    for (size_t i = 0; i < n; i++) ymax = fmax(ymax, fabs(y0[i]));
    int t0 = 6;
    for (int d = 0; d < c.D; d++) r.l.x[((size_t)1 * c.L + t0) * c.D + d] += 1;
    tu_layer_forward(&r.l);
    for (int b = 0; b < c.B; b++)
        for (int t = 0; t < c.L; t++) {
            double diff = 0;
            for (int d = 0; d < c.D; d++) {
                size_t i = ((size_t)b * c.L + t) * c.D + d;
                diff = fmax(diff, fabs(r.l.y[i] - y0[i]));
            }
            bool may_change = b == 1 && t >= t0;
            /* FFT convolutions leave round-off everywhere: allow 1e-13 of the output scale. */
            if (!may_change) ck_assert_msg(diff <= 1e-13 * ymax, "y[%d, %d] moved by %g after x[1, %d]", b, t, diff, t0);
            if (b == 1 && t == t0) ck_assert_msg(diff > 1e-3 * ymax, "y[1, %d] did not respond", t0);
        }
    free(y0);
    tu_layer_close(&r.l);
}
END_TEST

/* ---- the fused inner op against the separate passes ----------------------- */

/* The same layer (same knobs but `fused`, same init) forward and backward on
 * the same input and upstream gradient; its y, dx and every gradient. */
static void fused_run(const char *knobs, int L, int dh_seed, real **y, real **dx, real **g, size_t *n, size_t *np) {
    struct tu_layer l;
    tu_layer_open(&l, &(struct tu_layer_cfg){.k = &layer_h3, .knobs = knobs, .D = 8, .B = 2, .L = L});
    tu_layer_init(&l, 5);
    for (size_t i = 0; i < l.pt.total; i++) l.p[i] *= 4; /* a visible gated path */
    tu_fill_normal(l.x, l.n, 1.0, 11 + dh_seed, 1);
    tu_fill_normal(l.dy, l.n, 1.0, 12 + dh_seed, 2);
    tu_layer_forward(&l);
    tu_layer_backward(&l);
    *n = l.n, *np = l.pt.total;
    *y = xmalloc(l.n * sizeof(real)), *dx = xmalloc(l.n * sizeof(real)), *g = xmalloc(l.pt.total * sizeof(real));
    memcpy(*y, l.y, l.n * sizeof(real)), memcpy(*dx, l.dx, l.n * sizeof(real));
    memcpy(*g, l.g, l.pt.total * sizeof(real));
    tu_layer_close(&l);
}

static void expect_same(const char *what, const real *a, const real *b, size_t n) {
    double m = 0, d = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(b[i])), d = fmax(d, fabs(a[i] - b[i]));
    ck_assert_msg(d <= 1e-11 * (m > 0 ? m : 1), "%s: fused and separate differ by %g (scale %g)", what, d, m);
}

/* L 13, 70 and 200 (200 > N: shift taps end before L); and fused needs both gates. */
START_TEST(test_fused_matches) {
    static const char *const kn[] = {"", "head_dim=2", "ssm=diag+diag,disc=zoh", "ssm=shift+shift"};
    static const int Ls[] = {13, 70, 200};
    const char *base = kn[_i % 4];
    int L = Ls[_i / 4];
    char on[96], off[96];
    snprintf(on, sizeof on, "%s%sfused=true", base, *base ? "," : "");
    snprintf(off, sizeof off, "%s%sfused=false", base, *base ? "," : "");
    real *y[2], *dx[2], *g[2];
    size_t n, np;
    fused_run(on, L, _i, &y[0], &dx[0], &g[0], &n, &np);
    fused_run(off, L, _i, &y[1], &dx[1], &g[1], &n, &np);
    expect_same("y", y[0], y[1], n), expect_same("dx", dx[0], dx[1], n), expect_same("grads", g[0], g[1], np);
    for (int k = 0; k < 2; k++) free(y[k]), free(dx[k]), free(g[k]);
    char err[256];
    struct param_table pt;
    param_table_init(&pt);
    const void *bad = tu_layer_create(&(struct tu_layer_cfg){.k = &layer_h3, .knobs = "fused=true,gate_q=false", .D = 8,
                                                             .B = 1, .L = L},
                                      &pt, "m.", err, sizeof err);
    ck_assert_msg(bad == NULL && strstr(err, "key 'fused'"), "fused with a gate off: %s", bad ? "accepted" : err);
    param_table_free(&pt);
}
END_TEST

static void add_f64_tests(TCase *tc) {
    tcase_add_loop_test(tc, test_reference, 0, (int)(sizeof ref_cfgs / sizeof ref_cfgs[0]));
    tcase_add_loop_test(tc, test_fd, 0, (int)(sizeof fd_cfgs / sizeof fd_cfgs[0]));
    tcase_add_test(tc, test_accumulate);
    tcase_add_loop_test(tc, test_causality, 0, 2);
    tcase_add_loop_test(tc, test_fused_matches, 0, 12);
}
