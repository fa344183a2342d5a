/* bench_gemm.c — chooses the CPU gemm: checks every candidate against a naive
 * double loop, then times them (one thread, best of rounds, candidates
 * interleaved) on the shapes the models actually run, and writes
 * results/bench/gemm.json plus a table of GFLOP/s and ratios to the own kernel.
 *
 * Candidates: our own kernel (cpu_gemm_own), OpenBLAS through CBLAS as Debian
 * ships it (cpu_gemm_blas), BLIS through its typed API (single-threaded), and
 * a plain i-k-j loop. Then, separately, the default path with two threads
 * against one, and the cost of an empty parallel region. Build and run: make bench-ops (or see kernels/lab/README.md). */
#include <blis.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu/cpu.h"

struct shape {
    const char *what;
    enum op_trans ta, tb;
    int M, N, K, batch;
};

/* B*L = 992 (32 x 31) and 704 (32 x 22) rows; widths 32..128. */
static const struct shape shapes[] = {
    {"fwd x.W^T   qkv", OP_N, OP_T, 992, 96, 32, 1},
    {"fwd x.W^T   d->d", OP_N, OP_T, 992, 32, 32, 1},
    {"fwd x.W^T   mlp up", OP_N, OP_T, 992, 128, 32, 1},
    {"fwd x.W^T   mlp down", OP_N, OP_T, 992, 32, 128, 1},
    {"fwd x.W^T   704x64x64", OP_N, OP_T, 704, 64, 64, 1},
    {"bwd dX=dY.W d->d", OP_N, OP_N, 992, 32, 32, 1},
    {"bwd dX=dY.W qkv", OP_N, OP_N, 992, 32, 96, 1},
    {"bwd dX=dY.W mlp up", OP_N, OP_N, 992, 32, 128, 1},
    {"bwd dW=dY^T.X d->d", OP_T, OP_N, 32, 32, 992, 1},
    {"bwd dW=dY^T.X qkv", OP_T, OP_N, 96, 32, 992, 1},
    {"bwd dW=dY^T.X mlp up", OP_T, OP_N, 128, 32, 992, 1},
    {"bwd dW=dY^T.X mlp down", OP_T, OP_N, 32, 128, 992, 1},
    {"attn S=Q.K^T x32", OP_N, OP_T, 31, 31, 32, 32},
    {"attn O=P.V x32", OP_N, OP_N, 31, 32, 31, 32},
    {"attn dP=dO.V^T x32", OP_N, OP_T, 31, 31, 32, 32},
    {"attn dV=P^T.dO x32", OP_T, OP_N, 31, 32, 31, 32},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

/* ---- candidates ---- */

static void blis_gemm(const struct gemm_args *g) {
    for (int b = 0; b < g->batch; b++) {
        real *A = (real *)(g->A + b * g->stride_a), *B = (real *)(g->B + b * g->stride_b);
        real *C = g->C + b * g->stride_c, al = g->alpha, be = g->beta;
        trans_t ta = g->ta == OP_T ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE;
        trans_t tb = g->tb == OP_T ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE;
#ifdef HIPPO_F64
        bli_dgemm(ta, tb, g->M, g->N, g->K, &al, A, g->lda, 1, B, g->ldb, 1, &be, C, g->ldc, 1);
#else
        bli_sgemm(ta, tb, g->M, g->N, g->K, &al, A, g->lda, 1, B, g->ldb, 1, &be, C, g->ldc, 1);
#endif
    }
}

static void loop_gemm(const struct gemm_args *g) { /* plain i-k-j, what a C programmer writes first */
    for (int b = 0; b < g->batch; b++) {
        const real *A = g->A + b * g->stride_a, *B = g->B + b * g->stride_b;
        real *C = g->C + b * g->stride_c;
        for (int i = 0; i < g->M; i++) {
            real *c = C + (size_t)i * g->ldc;
            for (int j = 0; j < g->N; j++) c[j] *= g->beta;
            for (int k = 0; k < g->K; k++) {
                real a = g->alpha * (g->ta == OP_N ? A[(size_t)i * g->lda + k] : A[(size_t)k * g->lda + i]);
                if (g->tb == OP_N)
                    for (int j = 0; j < g->N; j++) c[j] += a * B[(size_t)k * g->ldb + j];
                else
                    for (int j = 0; j < g->N; j++) c[j] += a * B[(size_t)j * g->ldb + k];
            }
        }
    }
}

/* The default path as the layers call it, allowed two OpenMP threads
 * (shows whether splitting pays at these sizes). */
static void own_2t(const struct gemm_args *g) {
    omp_set_num_threads(2);
    cpu_gemm(g);
    omp_set_num_threads(1);
}

struct cand {
    const char *name;
    void (*fn)(const struct gemm_args *);
};
static const struct cand cands[] = {
    {"own", cpu_gemm_own},
    {"openblas", cpu_gemm_blas},
    {"blis", blis_gemm},
    {"loop", loop_gemm},
};
/* Measured apart from the rest: after a two-thread region the idle OpenMP
 * worker spins for a while and would slow whatever single-thread candidate
 * ran next. */
static const struct cand two_threads = {"own-2thr", own_2t};
#define N_CANDS ((int)(sizeof cands / sizeof cands[0]))

/* ---- one shape ---- */

struct bufs {
    struct gemm_args g;
    real *A, *B, *C;
};

static struct bufs make(const struct shape *s, real beta) {
    struct bufs b;
    int ra = s->ta ? s->K : s->M, ca = s->ta ? s->M : s->K, rb = s->tb ? s->N : s->K, cb = s->tb ? s->K : s->N;
    size_t na = (size_t)ra * ca, nb = (size_t)rb * cb, nc = (size_t)s->M * s->N;
    b.A = xmalloc(sizeof(real) * na * s->batch);
    b.B = xmalloc(sizeof(real) * nb * s->batch);
    b.C = xmalloc(sizeof(real) * nc * s->batch);
    for (size_t i = 0; i < na * s->batch; i++) b.A[i] = (real)((i * 7919 % 2001) / 1000.0 - 1.0);
    for (size_t i = 0; i < nb * s->batch; i++) b.B[i] = (real)((i * 104729 % 2003) / 1000.0 - 1.0);
    for (size_t i = 0; i < nc * s->batch; i++) b.C[i] = (real)((i * 31 % 17) / 8.0 - 1.0);
    struct gemm_args g = {.ta = s->ta, .tb = s->tb, .M = s->M, .N = s->N, .K = s->K, .alpha = 1, .beta = beta,
                          .A = b.A, .lda = ca, .stride_a = na, .B = b.B, .ldb = cb, .stride_b = nb,
                          .C = b.C, .ldc = s->N, .stride_c = nc, .batch = s->batch};
    b.g = g;
    return b;
}

/* max |C - naive| / max |naive| after one call with beta = 0.5 */
static double check(const struct cand *c, const struct shape *s) {
    struct bufs b = make(s, (real)0.5);
    size_t nc = (size_t)s->M * s->N * s->batch;
    double *ref = malloc(sizeof(double) * nc), maxr = 0, maxd = 0;
    for (int t = 0; t < s->batch; t++)
        for (int i = 0; i < s->M; i++)
            for (int j = 0; j < s->N; j++) {
                double acc = 0;
                const real *A = b.A + t * b.g.stride_a, *B = b.B + t * b.g.stride_b;
                for (int k = 0; k < s->K; k++)
                    acc += (double)(s->ta ? A[(size_t)k * b.g.lda + i] : A[(size_t)i * b.g.lda + k]) *
                           (s->tb ? B[(size_t)j * b.g.ldb + k] : B[(size_t)k * b.g.ldb + j]);
                size_t o = (size_t)t * b.g.stride_c + (size_t)i * s->N + j;
                ref[o] = acc + 0.5 * b.C[o];
            }
    c->fn(&b.g);
    for (size_t i = 0; i < nc; i++) {
        maxr = fmax(maxr, fabs(ref[i]));
        maxd = fmax(maxd, fabs(b.C[i] - ref[i]));
    }
    free(ref), free(b.A), free(b.B), free(b.C);
    return maxd / maxr;
}

/* seconds per call: best over rounds of enough calls to take ~5 ms */
static double time_call(const struct cand *c, struct bufs *b) {
    int reps = 1;
    for (;;) {
        double t0 = hp_now();
        for (int r = 0; r < reps; r++) c->fn(&b->g);
        double dt = hp_now() - t0;
        if (dt > 5e-3) return dt / reps;
        reps *= 2;
    }
}

/* microseconds for one empty two-thread parallel region (fork + join) */
static double region_us(void) {
    omp_set_num_threads(2);
    double best = INFINITY;
    for (int r = 0; r < 20; r++) {
        double t0 = hp_now();
        for (int i = 0; i < 1000; i++) {
#pragma omp parallel
            {
                __asm__ volatile("" ::: "memory");
            }
        }
        best = fmin(best, (hp_now() - t0) / 1000 * 1e6);
    }
    omp_set_num_threads(1);
    return best;
}

static double loadavg(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

static double gflops(const struct shape *s, double sec) { return 2.0 * s->M * s->N * s->K * s->batch / sec * 1e-9; }

int main(int argc, char **argv) {
    const char *out = argc > 1 ? argv[1] : "results/bench/gemm.json";
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    omp_set_num_threads(1); /* the candidates are compared on one core */
    bli_thread_set_num_threads(1);
    char *arch = bli_arch_string(bli_arch_query_id());
    double gf[N_SHAPES][N_CANDS], two[N_SHAPES], one[N_SHAPES];
    double load0 = loadavg();
    int bad = 0;
    for (int si = 0; si < N_SHAPES; si++)
        for (int ci = 0; ci <= N_CANDS; ci++) {
            const struct cand *c = ci < N_CANDS ? &cands[ci] : &two_threads;
            double e = check(c, &shapes[si]);
            double tol = sizeof(real) == 4 ? 1e-5 : 1e-13;
            if (!(e <= tol)) {
                fprintf(stderr, "FAIL %s on %s: scaled error %.3g\n", c->name, shapes[si].what, e);
                bad = 1;
            }
        }
    if (bad) return 1;
    for (int si = 0; si < N_SHAPES; si++) { /* phase 1: one thread, interleaved */
        const struct shape *s = &shapes[si];
        struct bufs b = make(s, 0);
        double best[N_CANDS];
        for (int ci = 0; ci < N_CANDS; ci++) best[ci] = INFINITY;
        for (int r = 0; r < rounds; r++)
            for (int ci = 0; ci < N_CANDS; ci++) best[ci] = fmin(best[ci], time_call(&cands[ci], &b));
        for (int ci = 0; ci < N_CANDS; ci++) gf[si][ci] = gflops(s, best[ci]);
        free(b.A), free(b.B), free(b.C);
    }
    for (int si = 0; si < N_SHAPES; si++) { /* phase 2: the default path, 2 threads vs 1 */
        const struct shape *s = &shapes[si];
        struct bufs b = make(s, 0);
        double b1 = INFINITY, b2 = INFINITY;
        for (int r = 0; r < rounds; r++) {
            b2 = fmin(b2, time_call(&two_threads, &b));
            b1 = fmin(b1, time_call(&cands[0], &b));
        }
        two[si] = gflops(s, b2), one[si] = gflops(s, b1);
        free(b.A), free(b.B), free(b.C);
    }
    double reg = region_us(), load1 = loadavg();
    printf("gemm, %s, one thread, GFLOP/s (BLIS arch: %s); x = own / candidate\n", REAL_NAME, arch);
    printf("%-26s %-4s %5s %5s %5s %3s", "shape", "op", "M", "N", "K", "bat");
    for (int ci = 0; ci < N_CANDS; ci++) printf(" %9s", cands[ci].name);
    for (int ci = 1; ci < N_CANDS; ci++) printf(" %9s", "x");
    printf(" | own 2thr  2thr/1thr\n");
    for (int si = 0; si < N_SHAPES; si++) {
        const struct shape *s = &shapes[si];
        printf("%-26s %c%c   %5d %5d %5d %3d", s->what, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N, s->K,
               s->batch);
        for (int ci = 0; ci < N_CANDS; ci++) printf(" %9.1f", gf[si][ci]);
        for (int ci = 1; ci < N_CANDS; ci++) printf(" %8.2fx", gf[si][0] / gf[si][ci]);
        printf(" | %8.1f %8.2fx\n", two[si], two[si] / one[si]);
    }
    printf("empty 2-thread parallel region: %.2f us; load average %.2f before, %.2f after\n", reg, load0, load1);
    FILE *f = fopen(out, "w");
    if (!f) {
        perror(out);
        return 1;
    }
    fprintf(f, "{\n  \"bench\": \"gemm\",\n  \"real\": \"%s\",\n  \"unit\": \"GFLOP/s\",\n", REAL_NAME);
    fprintf(f, "  \"blis_arch\": \"%s\",\n  \"rounds\": %d,\n", arch, rounds);
    fprintf(f, "  \"empty_parallel_region_us\": %.3f,\n  \"loadavg\": [%.2f, %.2f],\n", reg, load0, load1);
    fprintf(f, "  \"candidates_1thread\": [");
    for (int ci = 0; ci < N_CANDS; ci++) fprintf(f, "%s\"%s\"", ci ? ", " : "", cands[ci].name);
    fprintf(f, "],\n  \"shapes\": [\n");
    for (int si = 0; si < N_SHAPES; si++) {
        const struct shape *s = &shapes[si];
        fprintf(f, "    {\"what\": \"%s\", \"ta\": \"%c\", \"tb\": \"%c\", \"M\": %d, \"N\": %d, \"K\": %d, \"batch\": %d",
                s->what, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N, s->K, s->batch);
        for (int ci = 0; ci < N_CANDS; ci++) fprintf(f, ", \"%s\": %.2f", cands[ci].name, gf[si][ci]);
        fprintf(f, ", \"own_2thr\": %.2f, \"own_1thr_same_run\": %.2f}%s\n", two[si], one[si],
                si + 1 < N_SHAPES ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    fclose(f);
    printf("wrote %s\n", out);
    return 0;
}
