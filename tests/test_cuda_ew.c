/* test_cuda_ew.c — the CUDA versions of the generic tensor ops
 * (kernels/cuda/ew_math.cuh, heads_math.cuh: ewise, colsum, dropout, adamw,
 * sine, embed, H3's heads, the shift SSM kernel) run on the CPU element by
 * element, and the embedding's dE as a block program with simulated threads,
 * the way ew.cu and heads.cu launch them, against the CPU backend: strided,
 * broadcast, reversed and transposed views with (=) and (+=), column sums
 * over several chunks, dropout masks draw for draw (plain and causal),
 * embeddings with and without positions (more tokens than a tile), head_dim
 * 1-3, the shift kernel with Lk < N and Lk = N. Outputs carry guard regions.
 * Runs on every machine. */
#include "../kernels/cuda/ew_math.cuh"
#include "../kernels/cuda/heads_math.cuh"
#include "cuda_views.h"
#include "ops_testutil.h"

/* got against the CPU's ref over n, guard intact; tol 0: the same bits. */
static void assert_same(const char *what, const real *got, const real *ref, size_t n, double tol) {
    if (tol == 0) {
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(memcmp(&got[i], &ref[i], sizeof(real)) == 0, "%s: [%zu] %.9g != %.9g", what, i, got[i],
                          ref[i]);
    } else {
        double *want = tu_to_f64(ref, n);
        tu_assert_close_real(what, got, want, n, tol);
        free(want);
    }
    tu_check_guard(got, n, what);
}

static real *randn(size_t n, uint64_t seed) {
    real *v = xmalloc(sizeof(real) * (n ? n : 1));
    tu_fill_normal(v, n, 1.0, seed, n);
    return v;
}

/* A guarded output holding start values (for (+=)), and a plain copy for the CPU. */
static real *twin_out(size_t n, uint64_t seed, real **cpu) {
    real *g = tu_guarded(n), *s = randn(n, seed);
    memcpy(g, s, sizeof(real) * n);
    *cpu = s;
    return g;
}

/* ---- ewise ----------------------------------------------------------------------- */

START_TEST(test_ewise) {
    const size_t R = 7, C = 33, n = view_buffer(R, C);
    int v = _i % N_VIEWS;
    bool acc = _i / N_VIEWS % 2;
    for (int kind = EW_FILL; kind <= EW_KEEP; kind++) {
        real *a = randn(n, 1), *b = randn(n, 2), *ycpu;
        for (size_t i = 0; i < n; i += 5) a[i] = 0; /* KEEP reads zeros as dropped */
        real *y = twin_out(n, 3, &ycpu);
        struct ewise_args e = {.kind = (enum ew_kind)kind, .R = R, .C = C, .alpha = 1.7f, .a = view_of(v, a, R, C),
                               .b = view_of((v + 1) % N_VIEWS, b, R, C), .acc = acc};
        e.y = (struct ew_out){ycpu + (e.a.p - a), e.a.rs ? e.a.rs : (ptrdiff_t)C, e.a.cs};
        if (v == V_BROADCAST) e.y = (struct ew_out){ycpu, (ptrdiff_t)C, 1};
        ops_cpu()->ewise(&e);
        struct ew_op d = {kind, R, C, e.alpha, {e.a.p, e.a.rs, e.a.cs}, {e.b.p, e.b.rs, e.b.cs},
                          y + (e.y.p - ycpu), e.y.rs, e.y.cs, acc};
        for (size_t i = 0; i < R * C; i++) ew_elem(&d, i);
        char what[96];
        snprintf(what, sizeof what, "ewise kind %d view %d%s", kind, v, acc ? " (+=)" : "");
        bool product = kind == EW_SCALE || kind == EW_MUL || kind == EW_KEEP;
        assert_same(what, y, ycpu, n, product && acc ? 1e-6 : 0); /* y + a b: fused or not */
        free(a), free(b), free(y), free(ycpu);
    }
}
END_TEST

/* ---- column sums, dropout, AdamW, sine --------------------------------------------- */

START_TEST(test_colsum) {
    size_t R = (size_t[]){1, 300, 1000}[_i], ld = 40;
    int C = 37;
    real *x = randn(R * ld, 4), *ycpu, *y = twin_out(C, 5, &ycpu);
    struct colsum_args a = {R, C, x, ld, ycpu};
    ops_cpu()->colsum(&a);
    size_t chunks = ew_chunks(R);
    double *part = xmalloc(sizeof(double) * chunks * C);
    for (size_t i = 0; i < chunks * C; i++) part[i] = colsum_part(x, ld, R, (int)(i % C), i / C);
    for (int c = 0; c < C; c++) y[c] += (float)ew_chunks_sum(part, chunks, C, c);
    assert_same("colsum", y, ycpu, C, 1e-6);
    free(x), free(y), free(ycpu), free(part);
}
END_TEST

START_TEST(test_dropout) {
    int L = 13, causal = _i ? L : 0;
    size_t n = (size_t)3 * L * L;
    real *x = randn(n, 6), *ycpu = xmalloc(sizeof(real) * n), *y = tu_guarded(n);
    struct dropout_args a = {n, causal, 0.3, 11, 5, x, ycpu};
    ops_cpu()->dropout(&a);
    struct ew_dropout d = {n, causal, 0.3, (float)(1.0 / 0.7), 11, 5, x, y};
    for (size_t i = 0; i < n; i++) dropout_elem(&d, i);
    assert_same(causal ? "dropout causal" : "dropout", y, ycpu, n, 0);
    free(x), free(y), free(ycpu);
}
END_TEST

START_TEST(test_adamw) {
    size_t n = 1001;
    real *g = randn(n, 7), *p, *m, *v, *pc, *mc, *vc;
    p = twin_out(n, 8, &pc), m = twin_out(n, 9, &mc), v = twin_out(n, 10, &vc);
    for (size_t i = 0; i < n; i++) v[i] = vc[i] = vc[i] * vc[i] * 1e-4f, g[i] *= 1e-2f;
    struct adamw_args a = {n, 0.9999f, 0.9f, 0.999f, 1e-3f, 1.05f, 1e-8f, pc, mc, vc, g};
    ops_cpu()->adamw(&a);
    struct ew_adamw d = {a.decay, a.b1, a.b2, a.step, a.inv_sqrt_c2, a.eps, p, m, v, g};
    for (size_t i = 0; i < n; i++) adamw_elem(&d, i);
    assert_same("adamw p", p, pc, n, 1e-6), assert_same("adamw m", m, mc, n, 1e-6);
    assert_same("adamw v", v, vc, n, 1e-6);
    free(g), free(p), free(m), free(v), free(pc), free(mc), free(vc);
}
END_TEST

START_TEST(test_sine) {
    int R = (int[]){5, 600}[_i], C = 7;
    size_t n = (size_t)R * C;
    real *x = randn(n, 12), *freq = randn(C, 13), *dy = randn(n, 14);
    real *ycpu = xmalloc(sizeof(real) * n), *dxcpu = xmalloc(sizeof(real) * n), *dfcpu, *df = twin_out(C, 15, &dfcpu);
    real *y = tu_guarded(n), *dx = tu_guarded(n);
    struct sine_args a = {R, C, freq, x, ycpu};
    ops_cpu()->sine(&a);
    struct sine_bwd_args g = {a, dy, dxcpu, dfcpu};
    ops_cpu()->sine_bwd(&g);
    for (size_t i = 0; i < n; i++) y[i] = sine_f(freq[i % C], x[i]), dx[i] = sine_dx(freq[i % C], x[i], dy[i]);
    size_t chunks = ew_chunks((size_t)R);
    double *part = xmalloc(sizeof(double) * chunks * C);
    for (size_t i = 0; i < chunks * C; i++) part[i] = sine_dfreq_part(x, dy, freq, R, C, (int)(i % C), i / C);
    for (int c = 0; c < C; c++) df[c] += (float)ew_chunks_sum(part, chunks, C, c);
    assert_same("sine y", y, ycpu, n, 0), assert_same("sine dx", dx, dxcpu, n, 0);
    assert_same("sine dfreq", df, dfcpu, C, 1e-6);
    free(x), free(freq), free(dy), free(ycpu), free(dxcpu), free(dfcpu), free(df), free(y), free(dx), free(part);
}
END_TEST

/* ---- embedding ------------------------------------------------------------------------ */

START_TEST(test_embed) {
    int L = (int[]){7, 40, 3}[_i], B = (int[]){3, 40, 1}[_i], D = (int[]){5, 33, 300}[_i], V = 11, R = B * L;
    bool pos = _i != 1;
    int32_t *tok = xmalloc(sizeof(int32_t) * R);
    for (int r = 0; r < R; r++) tok[r] = (r * 7 + r / 3) % V;
    real *E = randn((size_t)V * D, 16), *P = pos ? randn((size_t)L * D, 17) : NULL, *dy = randn((size_t)R * D, 18);
    real *ycpu = xmalloc(sizeof(real) * R * D), *y = tu_guarded((size_t)R * D), *dEc, *dPc = NULL;
    real *dE = twin_out((size_t)V * D, 19, &dEc), *dP = pos ? twin_out((size_t)L * D, 20, &dPc) : NULL;
    struct embed_args a = {R, L, D, V, tok, E, P, ycpu};
    ops_cpu()->embed(&a);
    struct embed_bwd_args g = {a, dy, dEc, dPc};
    ops_cpu()->embed_bwd(&g);
    struct hd_embed h = {R, L, D, tok, E, P, y, dy, dE, dP};
    for (size_t i = 0; i < (size_t)R * D; i++) embed_elem(&h, i);
    int *tile = xmalloc(sizeof(int) * EMBED_TILE);
    float *acc = xmalloc(sizeof(float) * D);
    for (int v = 0; v < V; v++) embed_dE_block(&h, v, tile, acc, 32 * (1 + v % 3));
    if (pos)
        for (size_t i = 0; i < (size_t)L * D; i++) embed_dP_elem(&h, i);
    assert_same("embed y", y, ycpu, (size_t)R * D, 0), assert_same("embed dE", dE, dEc, (size_t)V * D, 0);
    if (pos) assert_same("embed dP", dP, dPc, (size_t)L * D, 0);
    free(tok), free(E), free(P), free(dy), free(ycpu), free(y), free(dEc), free(dPc), free(dE), free(dP), free(tile);
    free(acc);
}
END_TEST

/* ---- H3's heads and the shift kernel ------------------------------------------------------ */

START_TEST(test_heads) {
    int dh = _i + 1, R = 13, D = 6 * dh, E = D * dh;
    size_t nD = (size_t)R * D, nE = (size_t)R * E;
    real *kt = randn(nD, 21), *v = randn(nD, 22), *q = randn(nD, 23), *y = randn(nE, 24);
    real *dkv = randn(nE, 25), *dout = randn(nD, 26);
    real *c[6], *g[6]; /* kv dkt dv o dq dy: the CPU's and the simulated */
    size_t sz[6] = {nE, nD, nD, nD, nD, nE};
    for (int i = 0; i < 6; i++) c[i] = xmalloc(sizeof(real) * sz[i]), g[i] = tu_guarded(sz[i]);
    ops_cpu()->head_outer(&(struct head_outer_args){R, D, dh, kt, v, c[0]});
    ops_cpu()->head_outer_bwd(&(struct head_outer_bwd_args){{R, D, dh, kt, v, NULL}, dkv, c[1], c[2]});
    ops_cpu()->head_contract(&(struct head_contract_args){R, D, dh, q, y, c[3]});
    ops_cpu()->head_contract_bwd(&(struct head_contract_bwd_args){{R, D, dh, q, y, NULL}, dout, c[4], c[5]});
    struct hd_heads ho = {R, D, dh, kt, v, NULL, NULL, dkv, g[0], g[1], g[2]};
    struct hd_heads hc = {R, D, dh, NULL, NULL, q, y, dout, g[3], g[4], g[5]};
    for (size_t i = 0; i < nE; i++) outer_elem(&ho, i), contract_dy_elem(&hc, i);
    for (size_t i = 0; i < nD; i++) outer_dkt_elem(&ho, i), outer_dv_elem(&ho, i);
    for (size_t i = 0; i < nD; i++) contract_elem(&hc, i), contract_dq_elem(&hc, i);
    static const char *names[6] = {"kv", "dkt", "dv", "o", "dq", "dy"};
    for (int i = 0; i < 6; i++) {
        char what[64];
        snprintf(what, sizeof what, "heads dh %d %s", dh, names[i]);
        assert_same(what, g[i], c[i], sz[i], 1e-6);
        free(c[i]), free(g[i]);
    }
    free(kt), free(v), free(q), free(y), free(dkv), free(dout);
}
END_TEST

START_TEST(test_shift_kernel) {
    int H = 5, N = (int[]){64, 5, 9}[_i], Lk = (int[]){31, 5, 1}[_i];
    real *B = randn((size_t)H * N, 27), *C = randn((size_t)H * N, 28), *dK = randn((size_t)H * Lk, 29);
    real *Kc = xmalloc(sizeof(real) * H * Lk), *K = tu_guarded((size_t)H * Lk), *dBc, *dCc;
    real *dB = twin_out((size_t)H * N, 30, &dBc), *dC = twin_out((size_t)H * N, 31, &dCc);
    ops_cpu()->shift_kernel(&(struct shift_kernel_args){H, N, Lk, B, C, Kc});
    ops_cpu()->shift_kernel_bwd(&(struct shift_kernel_bwd_args){{H, N, Lk, B, C, NULL}, dK, dBc, dCc});
    struct hd_shift s = {H, N, Lk, B, C, dK, K, dB, dC};
    for (size_t i = 0; i < (size_t)H * Lk; i++) shift_k_elem(&s, i);
    for (size_t i = 0; i < (size_t)H * N; i++) shift_grad_elem(&s, i);
    assert_same("shift K", K, Kc, (size_t)H * Lk, 1e-6);
    assert_same("shift dB", dB, dBc, (size_t)H * N, 1e-6), assert_same("shift dC", dC, dCc, (size_t)H * N, 1e-6);
    free(B), free(C), free(dK), free(Kc), free(K), free(dBc), free(dCc), free(dB), free(dC);
}
END_TEST

static Suite *cuda_ew_suite(void) {
    Suite *s = suite_create("cuda_ew");
    TCase *tc = tcase_create("ops");
    tcase_add_loop_test(tc, test_ewise, 0, 2 * N_VIEWS);
    tcase_add_loop_test(tc, test_colsum, 0, 3);
    tcase_add_loop_test(tc, test_dropout, 0, 2);
    tcase_add_test(tc, test_adamw);
    tcase_add_loop_test(tc, test_sine, 0, 2);
    tcase_add_loop_test(tc, test_embed, 0, 3);
    tcase_add_loop_test(tc, test_heads, 0, 3);
    tcase_add_loop_test(tc, test_shift_kernel, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(cuda_ew_suite()); }
