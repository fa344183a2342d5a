/* test_cuda_attn.c — the CUDA attention (kernels/cuda/attn_math.cuh: the
 * forward, dq and dk/dv block programs, 32 simulated threads per row) run on
 * the CPU against ops_cpu()->attention(_bwd): L not a multiple of the chunk,
 * head widths below and above it, several heads, dropout (the same masks:
 * core/rng.h's generator, compiled for host and device). Runs on every machine. */
#include "../core/rng.h"
#include "../kernels/cuda/attn_math.cuh"
#include "ops_testutil.h"

struct attn_case {
    int B, L, NH, dh;
    double p;
};
static const struct attn_case attn_cases[] = {{2, 7, 2, 4, 0}, {1, 70, 1, 33, 0.2}, {1, 100, 3, 8, 0.5}, {2, 33, 1, 64, 0}};
#define N_ATTN ((int)(sizeof attn_cases / sizeof attn_cases[0]))

START_TEST(test_attention) {
    const struct attn_case *c = &attn_cases[_i];
    int D = c->NH * c->dh, rows = c->B * c->NH * c->L;
    size_t nq = (size_t)c->B * c->L * 3 * D, no = (size_t)c->B * c->L * D;
    real *qkv = xmalloc(sizeof(real) * nq), *dO = xmalloc(sizeof(real) * no);
    tu_fill_normal(qkv, nq, 1.0, 81, _i), tu_fill_normal(dO, no, 1.0, 82, _i);
    real *o = xmalloc(sizeof(real) * no), *lse = xmalloc(sizeof(real) * rows), *dqkv = xmalloc(sizeof(real) * nq);
    real *go = tu_guarded(no), *glse = tu_guarded(rows), *gd = tu_guarded(nq), *Dr = xmalloc(sizeof(real) * rows);
    struct attention_args a = {c->B, c->L, c->NH, c->dh, (real)(1 / sqrt(c->dh)), qkv, o, lse, c->p, 7, 3};
    ops_cpu()->attention(&a);
    struct attention_bwd_args g = {a, dO, dqkv};
    ops_cpu()->attention_bwd(&g);
    struct attn s = {c->B, c->L, c->NH, c->dh, a.scale, qkv, go, glse, c->p, 7, 3, dO, Dr, gd};
    float *sm = xmalloc(attn_fwd_smem(c->dh) + attn_bwd_smem(c->dh));
    for (int r = 0; r < rows; r++) attn_fwd_block(&s, r, sm, ATTN_CHUNK); /* attn_fwd_k */
    s.o = go; /* the backward reads this forward's o, as the op's caller passes it */
    for (int r = 0; r < rows; r++) { /* attn_dr_k */
        int b, h, t;
        attn_row(&s, r, &b, &h, &t);
        Dr[attn_rowix(&s, b, h, t)] = attn_dr(&s, r);
    }
    for (int r = 0; r < rows; r++) attn_dq_block(&s, r, sm, ATTN_CHUNK), attn_dkv_block(&s, r, sm, ATTN_CHUNK);
    char what[96];
    snprintf(what, sizeof what, "attention B%d L%d NH%d dh%d p%.1f", c->B, c->L, c->NH, c->dh, c->p);
    double *w = tu_to_f64(o, no);
    tu_assert_close_real(what, go, w, no, 2e-5), free(w);
    w = tu_to_f64(lse, rows);
    tu_assert_close_real(what, glse, w, rows, 2e-6), free(w);
    w = tu_to_f64(dqkv, nq);
    tu_assert_close_real(what, gd, w, nq, 5e-5), free(w);
    tu_check_guard(go, no, what), tu_check_guard(gd, nq, what);
    free(qkv), free(dO), free(o), free(lse), free(dqkv), free(go), free(glse), free(gd), free(Dr), free(sm);
}
END_TEST

static Suite *cuda_attn_suite(void) {
    Suite *s = suite_create("cuda_attn");
    TCase *tc = tcase_create("cuda_attn");
    tcase_add_loop_test(tc, test_attention, 0, N_ATTN);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    /* The CPU op is the reference here: one thread is enough, and OpenMP's
     * worker threads keep per-thread scratch that LeakSanitizer reports at exit. */
    omp_set_num_threads(1);
    return tu_run_suite(cuda_attn_suite());
}
