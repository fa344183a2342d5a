/* test_cuda_rows.c — the CUDA row ops (kernels/cuda/rows_math.cuh: softmax,
 * LayerNorm, cross-entropy as block programs; GELU's formulas) run on the CPU
 * with simulated thread blocks, the way kernels/cuda/rows.cu launches them,
 * against the CPU backend: causal and plain softmax and its backward, a row
 * longer than the block, LayerNorm with and without affine parameters and its
 * dx, dw, db (accumulated), cross-entropy with ignored targets, GELU in both
 * forms. Runs on every machine. */
#include "../kernels/cuda/rows_math.cuh"
#include "ops_testutil.h"

/* A simulated result against the CPU's, its guard region checked. */
static void assert_rows(const char *what, const real *got, const real *ref, size_t n, double tol) {
    double *want = tu_to_f64(ref, n);
    tu_assert_close_real(what, got, want, n, tol);
    tu_check_guard(got, n, what);
    free(want);
}

struct sm_case {
    int R, C, causal_L;
};
static const struct sm_case sm_cases[] = {{6, 7, 0}, {62, 31, 31}, {3, 300, 0}, {2, 1000, 0}};
#define N_SM ((int)(sizeof sm_cases / sizeof sm_cases[0]))

START_TEST(test_softmax) {
    const struct sm_case *c = &sm_cases[_i];
    size_t n = (size_t)c->R * c->C;
    real *x = xmalloc(sizeof(real) * n), *dy = xmalloc(sizeof(real) * n), *y = xmalloc(sizeof(real) * n);
    real *dx = xmalloc(sizeof(real) * n), *gy = tu_guarded(n), *gdx = tu_guarded(n);
    tu_fill_normal(x, n, 2.0, 51, _i), tu_fill_normal(dy, n, 1.0, 52, _i);
    struct softmax_args a = {c->R, c->C, c->causal_L, 0.37f, x, y};
    ops_cpu()->softmax(&a);
    struct softmax_bwd_args g = {a, y, dy, dx};
    ops_cpu()->softmax_bwd(&g);
    int nt = rows_threads(c->C);
    double *part = xmalloc(sizeof(double) * 2 * nt);
    struct rows_softmax s = {c->C, c->causal_L, 0.37f, x, NULL, NULL, gy};
    for (int r = 0; r < c->R; r++) rows_softmax_block(&s, r, part, nt);
    struct rows_softmax sb = {c->C, c->causal_L, 0.37f, x, y, dy, gdx};
    for (int r = 0; r < c->R; r++) rows_softmax_bwd_block(&sb, r, part, nt);
    assert_rows("softmax y", gy, y, n, 1e-6);
    assert_rows("softmax dx", gdx, dx, n, 1e-5);
    free(x), free(dy), free(y), free(dx), free(gy), free(gdx), free(part);
}
END_TEST

struct ln_case {
    int R, D;
    bool affine;
};
static const struct ln_case ln_cases[] = {{31, 32, true}, {5, 7, false}, {70, 33, true}, {3, 700, true}};
#define N_LN ((int)(sizeof ln_cases / sizeof ln_cases[0]))

START_TEST(test_layernorm) {
    const struct ln_case *c = &ln_cases[_i];
    size_t n = (size_t)c->R * c->D;
    real *x = xmalloc(sizeof(real) * n), *dy = xmalloc(sizeof(real) * n), *w = NULL, *b = NULL;
    tu_fill_normal(x, n, 3.0, 61, _i), tu_fill_normal(dy, n, 1.0, 62, _i);
    for (size_t i = 0; i < n; i++) x[i] += 5; /* a large mean */
    if (c->affine) {
        w = xmalloc(sizeof(real) * c->D), b = xmalloc(sizeof(real) * c->D);
        tu_fill_normal(w, c->D, 1.0, 63, _i), tu_fill_normal(b, c->D, 1.0, 64, _i);
    }
    real *ref[5], *got[5]; /* y mean rstd dx, then dw db in one buffer */
    size_t sz[5] = {n, (size_t)c->R, (size_t)c->R, n, 2 * (size_t)c->D};
    for (int i = 0; i < 5; i++) ref[i] = xcalloc(sz[i], sizeof(real)), got[i] = tu_guarded(sz[i]);
    for (size_t i = 0; i < sz[4]; i++) ref[4][i] = got[4][i] = (real)(0.1 * i); /* (+=) */
    struct layernorm_args a = {c->R, c->D, 1e-5f, x, w, b, ref[0], ref[1], ref[2]};
    ops_cpu()->layernorm(&a);
    struct layernorm_bwd_args g = {a, dy, ref[3], ref[4], ref[4] + c->D};
    ops_cpu()->layernorm_bwd(&g);
    struct rows_ln s = {c->R, c->D, 1e-5f, x, w, b, dy, got[0], got[1], got[2], got[3], got[4], got[4] + c->D};
    int nt = rows_threads(c->D), nc = 256;
    double *part = xmalloc(sizeof(double) * 2 * nc);
    for (int r = 0; r < c->R; r++) rows_ln_block(&s, r, part, nt);
    for (int r = 0; r < c->R; r++) rows_ln_dx_block(&s, r, part, nt);
    for (int blk = 0; blk < (c->D + ROWS_LN_COLS - 1) / ROWS_LN_COLS; blk++) rows_ln_dwb_block(&s, blk, part, nc);
    static const char *names[5] = {"ln y", "ln mean", "ln rstd", "ln dx", "ln dw, db"};
    for (int i = 0; i < 5; i++) assert_rows(names[i], got[i], ref[i], sz[i], 2e-5);
    for (int i = 0; i < 5; i++) free(ref[i]), free(got[i]);
    free(x), free(dy), free(w), free(b), free(part);
}
END_TEST

START_TEST(test_xent) {
    int R = (int[]){37, 5, 300}[_i], V = (int[]){20, 10, 1000}[_i];
    size_t n = (size_t)R * V;
    real *logits = xmalloc(sizeof(real) * n), *probs = xmalloc(sizeof(real) * n), *d = xmalloc(sizeof(real) * n);
    real *gp = tu_guarded(n), *gd = tu_guarded(n);
    int32_t *t = xmalloc(sizeof(int32_t) * R);
    tu_fill_normal(logits, n, 3.0, 71, _i);
    for (int r = 0; r < R; r++) t[r] = r % 4 == 1 ? -1 : (r * 7) % V;
    double loss;
    int count;
    struct xent_args a = {R, V, logits, t, &loss, &count, probs};
    ops_cpu()->xent(&a);
    struct xent_bwd_args g = {a, probs, 0.5f, d};
    ops_cpu()->xent_bwd(&g);
    double *rl = xmalloc(sizeof(double) * R), tot[2] = {0, 0};
    int nt = rows_threads(V);
    double *part = xmalloc(sizeof(double) * 2 * 256);
    struct rows_xent s = {R, V, logits, t, gp, rl, tot};
    for (int r = 0; r < R; r++) rows_xent_block(&s, r, part, nt);
    rows_xent_total_block(&s, part, 256);
    ck_assert_int_eq((int)tot[1], count);
    ck_assert_msg(fabs(tot[0] / tot[1] - loss) <= 1e-6 * fabs(loss), "xent loss %.9g, cpu %.9g", tot[0] / tot[1], loss);
    float gsc = tot[1] > 0 ? 0.5f / (float)tot[1] : 0.0f;
    for (size_t i = 0; i < n; i++) gd[i] = rows_xent_grad(t, gp, V, gsc, i);
    assert_rows("xent probs", gp, probs, n, 5e-6); /* expf vs the CPU's own exp (~2e-7 relative each) */
    assert_rows("xent dlogits", gd, d, n, 1e-5);
    free(logits), free(probs), free(d), free(gp), free(gd), free(t), free(rl), free(part);
}
END_TEST

START_TEST(test_gelu) {
    enum gelu_kind kind = _i ? GELU_ERF : GELU_TANH;
    size_t n = 2001;
    real *x = xmalloc(sizeof(real) * n), *dy = xmalloc(sizeof(real) * n), *y = xmalloc(sizeof(real) * n);
    real *dx = xmalloc(sizeof(real) * n), *gy = tu_guarded(n), *gdx = tu_guarded(n);
    for (size_t i = 0; i < n; i++) x[i] = (real)(-8 + 16.0 * i / (n - 1)), dy[i] = (real)(1 + 0.001 * i);
    struct gelu_args a = {n, kind, x, y};
    ops_cpu()->gelu(&a);
    struct gelu_bwd_args g = {{n, kind, x, NULL}, dy, dx};
    ops_cpu()->gelu_bwd(&g);
    for (size_t i = 0; i < n; i++) {
        gy[i] = kind == GELU_ERF ? gelu_erf_f(x[i]) : gelu_tanh_f(x[i]);
        gdx[i] = (kind == GELU_ERF ? gelu_erf_grad(x[i]) : gelu_tanh_grad(x[i])) * dy[i];
    }
    assert_rows("gelu y", gy, y, n, 1e-6);
    assert_rows("gelu dx", gdx, dx, n, 1e-6);
    free(x), free(dy), free(y), free(dx), free(gy), free(gdx);
}
END_TEST

static Suite *cuda_rows_suite(void) {
    Suite *s = suite_create("cuda_rows");
    TCase *tc = tcase_create("cuda_rows");
    tcase_add_loop_test(tc, test_softmax, 0, N_SM);
    tcase_add_loop_test(tc, test_layernorm, 0, N_LN);
    tcase_add_loop_test(tc, test_xent, 0, 3);
    tcase_add_loop_test(tc, test_gelu, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(cuda_rows_suite()); }
