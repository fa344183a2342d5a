/* test_cuda_gen.c — the generic tensor ops of the CUDA backend (memory,
 * ewise, colsum, dropout, finite, adamw, sine, embed, H3's heads, the shift
 * SSM kernel) against the CPU backend on the device, the way
 * test_cuda_ops.c checks the others: the same inputs on both sides, guard
 * regions around every device buffer, (+=) outputs from the same start;
 * strided, broadcast, reversed and transposed views; dropout masks and the
 * embedding's ordered sums bit for bit. Built in every build; without a
 * device it prints one line and exits 0. */
#include "cuda_testutil.h"
#include "cuda_views.h"

/* A view of twin t at the host view's offset. */
static struct ew_in dev_in(const struct twin *t, struct ew_in h) {
    return (struct ew_in){t->d + (h.p - t->h), h.rs, h.cs};
}

START_TEST(test_memory) {
    const struct ops *o = ops_cuda();
    size_t n = 1000;
    real *d = o->alloc(n * sizeof(real)), *h = xmalloc(n * sizeof(real));
    o->download(h, d, n * sizeof(real));
    for (size_t i = 0; i < n; i++) ck_assert_msg(h[i] == 0, "alloc not zero-filled at %zu", i);
    for (size_t i = 0; i < n; i++) h[i] = (real)i;
    o->upload(d, h, n * sizeof(real));
    memset(h, 0, n * sizeof(real));
    o->download(h, d, n * sizeof(real));
    for (size_t i = 0; i < n; i++) ck_assert(h[i] == (real)i);
    o->upload(NULL, NULL, 0), o->download(NULL, NULL, 0); /* 0 bytes: nothing */
    o->free(d), o->free(NULL), free(h);
}
END_TEST

START_TEST(test_ewise) {
    QUICK_SKIP();
    const size_t R = 37, C = 129, n = view_buffer(R, C);
    int v = _i % N_VIEWS;
    bool acc = _i / N_VIEWS % 2;
    for (int kind = EW_FILL; kind <= EW_KEEP; kind++) {
        struct twin a = twin_new(n, 1, 1), b = twin_new(n, 1, 2), y = twin_new(n, 1, 3);
        for (size_t i = 0; i < n; i += 5) a.h[i] = 0; /* zeros for KEEP */
        cuda_upload(a.d, a.h, n * sizeof(real));
        struct ewise_args e = {.kind = (enum ew_kind)kind, .R = R, .C = C, .alpha = 0.7f, .acc = acc,
                               .a = view_of(v, a.h, R, C), .b = view_of((v + 1) % N_VIEWS, b.h, R, C)};
        struct ew_in yv = v == V_BROADCAST ? view_of(V_DENSE, y.h, R, C) : view_of(v, y.h, R, C);
        e.y = (struct ew_out){y.h + (yv.p - y.h), yv.rs, yv.cs};
        ops_cpu()->ewise(&e);
        e.a = dev_in(&a, e.a), e.b = dev_in(&b, e.b), e.y.p = y.d + (yv.p - y.h);
        ops_cuda()->ewise(&e);
        char what[64];
        snprintf(what, sizeof what, "ewise kind %d view %d%s", kind, v, acc ? " (+=)" : "");
        bool product = kind == EW_SCALE || kind == EW_MUL || kind == EW_KEEP;
        twin_check(what, &y, kind == EW_NEG_EXP ? 1e-7 : product && acc ? 1e-6 : 0);
        twin_check("ewise a unchanged", &a, 0);
        twin_free(&a), twin_free(&b), twin_free(&y);
    }
}
END_TEST

START_TEST(test_colsum) {
    size_t R = (size_t[]){1, 300, 70000}[_i], ld = 40;
    int C = 37;
    struct twin x = twin_new(R * ld, 1, 4), y = twin_new(C, 1, 5);
    struct colsum_args a = {R, C, x.h, ld, y.h};
    ops_cpu()->colsum(&a);
    a.x = x.d, a.y = y.d;
    ops_cuda()->colsum(&a);
    twin_check("colsum", &y, R > 1000 ? 1e-4 : 1e-5); /* float sums in row order vs double chunks */
    twin_free(&x), twin_free(&y);
}
END_TEST

START_TEST(test_dropout) {
    int L = (int[]){13, 1, 33}[_i], causal = _i == 1 ? 0 : L;
    size_t n = (size_t)3 * L * L + (_i == 1 ? 1000 : 0);
    struct twin x = twin_new(n, 1, 6), y = twin_new(n, 0, 0);
    struct dropout_args a = {n, causal, 0.3, 11, 5, x.h, y.h};
    ops_cpu()->dropout(&a);
    a.x = x.d, a.y = y.d;
    ops_cuda()->dropout(&a);
    twin_check("dropout: the CPU's masks", &y, 0);
    twin_free(&x), twin_free(&y);
}
END_TEST

START_TEST(test_finite) {
    size_t n = 100003;
    struct twin x = twin_new(n, 1, 7);
    bool ok = false;
    ops_cuda()->finite(&(struct finite_args){n, x.d, &ok});
    ck_assert_msg(ok, "finite values reported as not finite");
    real bad[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        cuda_upload(x.d + (n - 1) / (k + 1), &bad[k], sizeof(real));
        ops_cuda()->finite(&(struct finite_args){n, x.d, &ok});
        ck_assert_msg(!ok, "value %g not caught", bad[k]);
        cuda_upload(x.d + (n - 1) / (k + 1), x.h + (n - 1) / (k + 1), sizeof(real));
    }
    ops_cuda()->finite(&(struct finite_args){0, x.d, &ok});
    ck_assert(ok);
    twin_free(&x);
}
END_TEST

START_TEST(test_adamw) {
    size_t n = 100001;
    struct twin p = twin_new(n, 1, 8), m = twin_new(n, 1e-3, 9), v = twin_new(n, 1, 10), g = twin_new(n, 1e-2, 11);
    for (size_t i = 0; i < n; i++) v.h[i] *= v.h[i] * 1e-4f;
    cuda_upload(v.d, v.h, n * sizeof(real));
    struct adamw_args a = {n, 0.9999f, 0.9f, 0.999f, 1e-3f, 1.05f, 1e-8f, p.h, m.h, v.h, g.h};
    ops_cpu()->adamw(&a);
    a.p = p.d, a.m = m.d, a.v = v.d, a.g = g.d;
    ops_cuda()->adamw(&a);
    twin_check("adamw p", &p, 1e-6), twin_check("adamw m", &m, 1e-6), twin_check("adamw v", &v, 1e-6);
    twin_free(&p), twin_free(&m), twin_free(&v), twin_free(&g);
}
END_TEST

START_TEST(test_sine) {
    int R = (int[]){5, 3000}[_i], C = 65;
    size_t n = (size_t)R * C;
    struct twin x = twin_new(n, 1, 12), f = twin_new(C, 3, 13), dy = twin_new(n, 1, 14);
    struct twin y = twin_new(n, 0, 0), dx = twin_new(n, 0, 0), df = twin_new(C, 1, 15);
    struct sine_args a = {R, C, f.h, x.h, y.h};
    ops_cpu()->sine(&a);
    ops_cpu()->sine_bwd(&(struct sine_bwd_args){a, dy.h, dx.h, df.h});
    struct sine_args ad = {R, C, f.d, x.d, y.d};
    ops_cuda()->sine(&ad);
    ops_cuda()->sine_bwd(&(struct sine_bwd_args){ad, dy.d, dx.d, df.d});
    twin_check("sine y", &y, 1e-7), twin_check("sine dx", &dx, 1e-7), twin_check("sine dfreq", &df, 1e-6);
    struct twin *all[] = {&x, &f, &dy, &y, &dx, &df};
    for (int i = 0; i < 6; i++) twin_free(all[i]);
}
END_TEST

START_TEST(test_embed) {
    int L = (int[]){7, 40, 300}[_i], B = (int[]){3, 40, 1}[_i], D = (int[]){5, 33, 300}[_i], V = (int[]){11, 10, 7}[_i];
    int R = B * L;
    bool pos = _i != 1;
    int32_t *tok = xmalloc(sizeof(int32_t) * R), *dtok = cuda_malloc(sizeof(int32_t) * R);
    for (int r = 0; r < R; r++) tok[r] = (r * 7 + r / 3) % V;
    cuda_upload(dtok, tok, sizeof(int32_t) * R);
    struct twin E = twin_new((size_t)V * D, 1, 16), P = twin_new((size_t)L * D, 1, 17), dy = twin_new((size_t)R * D, 1, 18);
    struct twin y = twin_new((size_t)R * D, 0, 0), dE = twin_new((size_t)V * D, 1, 19), dP = twin_new((size_t)L * D, 1, 20);
    struct embed_args a = {R, L, D, V, tok, E.h, pos ? P.h : NULL, y.h};
    ops_cpu()->embed(&a);
    ops_cpu()->embed_bwd(&(struct embed_bwd_args){a, dy.h, dE.h, pos ? dP.h : NULL});
    struct embed_args ad = {R, L, D, V, dtok, E.d, pos ? P.d : NULL, y.d};
    ops_cuda()->embed(&ad);
    ops_cuda()->embed_bwd(&(struct embed_bwd_args){ad, dy.d, dE.d, pos ? dP.d : NULL});
    /* the same float sums in the same order: the same bits */
    twin_check("embed y", &y, 0), twin_check("embed dE", &dE, 0), twin_check("embed dP", &dP, 0);
    struct twin *all[] = {&E, &P, &dy, &y, &dE, &dP};
    for (int i = 0; i < 6; i++) twin_free(all[i]);
    free(tok), cuda_free(dtok);
}
END_TEST

START_TEST(test_heads) {
    int dh = _i + 1, R = 301, D = 6 * dh;
    size_t nD = (size_t)R * D, nE = nD * dh;
    struct twin kt = twin_new(nD, 1, 21), v = twin_new(nD, 1, 22), q = twin_new(nD, 1, 23), y = twin_new(nE, 1, 24);
    struct twin dkv = twin_new(nE, 1, 25), dout = twin_new(nD, 1, 26);
    struct twin kv = twin_new(nE, 0, 0), dkt = twin_new(nD, 0, 0), dv = twin_new(nD, 0, 0);
    struct twin o = twin_new(nD, 0, 0), dq = twin_new(nD, 0, 0), dyy = twin_new(nE, 0, 0);
    const struct ops *c = ops_cpu(), *g = ops_cuda();
    c->head_outer(&(struct head_outer_args){R, D, dh, kt.h, v.h, kv.h});
    c->head_outer_bwd(&(struct head_outer_bwd_args){{R, D, dh, kt.h, v.h, NULL}, dkv.h, dkt.h, dv.h});
    c->head_contract(&(struct head_contract_args){R, D, dh, q.h, y.h, o.h});
    c->head_contract_bwd(&(struct head_contract_bwd_args){{R, D, dh, q.h, y.h, NULL}, dout.h, dq.h, dyy.h});
    g->head_outer(&(struct head_outer_args){R, D, dh, kt.d, v.d, kv.d});
    g->head_outer_bwd(&(struct head_outer_bwd_args){{R, D, dh, kt.d, v.d, NULL}, dkv.d, dkt.d, dv.d});
    g->head_contract(&(struct head_contract_args){R, D, dh, q.d, y.d, o.d});
    g->head_contract_bwd(&(struct head_contract_bwd_args){{R, D, dh, q.d, y.d, NULL}, dout.d, dq.d, dyy.d});
    twin_check("heads kv", &kv, 1e-6), twin_check("heads dkt", &dkt, 1e-6), twin_check("heads dv", &dv, 1e-6);
    twin_check("heads o", &o, 1e-6), twin_check("heads dq", &dq, 1e-6), twin_check("heads dy", &dyy, 1e-6);
    struct twin *all[] = {&kt, &v, &q, &y, &dkv, &dout, &kv, &dkt, &dv, &o, &dq, &dyy};
    for (int i = 0; i < 12; i++) twin_free(all[i]);
}
END_TEST

START_TEST(test_shift_kernel) {
    int H = 67, N = (int[]){64, 5, 9}[_i], Lk = (int[]){31, 5, 1}[_i];
    struct twin B = twin_new((size_t)H * N, 1, 27), C = twin_new((size_t)H * N, 1, 28), dK = twin_new((size_t)H * Lk, 1, 29);
    struct twin K = twin_new((size_t)H * Lk, 0, 0), dB = twin_new((size_t)H * N, 1, 30), dC = twin_new((size_t)H * N, 1, 31);
    ops_cpu()->shift_kernel(&(struct shift_kernel_args){H, N, Lk, B.h, C.h, K.h});
    ops_cpu()->shift_kernel_bwd(&(struct shift_kernel_bwd_args){{H, N, Lk, B.h, C.h, NULL}, dK.h, dB.h, dC.h});
    ops_cuda()->shift_kernel(&(struct shift_kernel_args){H, N, Lk, B.d, C.d, K.d});
    ops_cuda()->shift_kernel_bwd(&(struct shift_kernel_bwd_args){{H, N, Lk, B.d, C.d, NULL}, dK.d, dB.d, dC.d});
    twin_check("shift K", &K, 1e-6), twin_check("shift dB", &dB, 1e-6), twin_check("shift dC", &dC, 1e-6);
    struct twin *all[] = {&B, &C, &dK, &K, &dB, &dC};
    for (int i = 0; i < 6; i++) twin_free(all[i]);
}
END_TEST

static Suite *cuda_gen_suite(void) {
    Suite *s = suite_create("cuda_gen");
    TCase *tc = tcase_create("cuda_gen");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_memory);
    tcase_add_loop_test(tc, test_ewise, 0, 2 * N_VIEWS);
    tcase_add_loop_test(tc, test_colsum, 0, 3);
    tcase_add_loop_test(tc, test_dropout, 0, 3);
    tcase_add_test(tc, test_finite);
    tcase_add_test(tc, test_adamw);
    tcase_add_loop_test(tc, test_sine, 0, 2);
    tcase_add_loop_test(tc, test_embed, 0, 3);
    tcase_add_loop_test(tc, test_heads, 0, 3);
    tcase_add_loop_test(tc, test_shift_kernel, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_cuda_main("test_cuda_gen", cuda_gen_suite); }
