/* gemm.c — the CPU gemm entry point: batched, strided C = alpha op(A) op(B)
 * + beta C, row-major. Splits the work over OpenMP threads (batch entries,
 * or row blocks of one matrix) and runs one of two single-threaded engines
 * on each piece: our own register-blocked kernel (gemm_own.c, the default,
 * see kernels/cpu/GEMM.md for the measurements) or CBLAS (OpenBLAS).
 * Every element of C is computed by one thread in a fixed order, so results
 * do not depend on the split. */
#include "cpu.h"

#include <cblas.h>

/* OpenBLAS's own thread pool must stay out of our OpenMP regions. */
void openblas_set_num_threads(int n);

static void blas_rows(const struct gemm_args *g, int bi, int m0, int m1) {
    const real *A = g->A + bi * g->stride_a + (size_t)m0 * (g->ta == OP_N ? g->lda : 1);
    const real *B = g->B + bi * g->stride_b;
    real *C = g->C + bi * g->stride_c + (size_t)m0 * g->ldc;
    enum CBLAS_TRANSPOSE ta = g->ta == OP_T ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = g->tb == OP_T ? CblasTrans : CblasNoTrans;
#ifdef HIPPO_F64
    cblas_dgemm(CblasRowMajor, ta, tb, m1 - m0, g->N, g->K, g->alpha, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
#else
    cblas_sgemm(CblasRowMajor, ta, tb, m1 - m0, g->N, g->K, g->alpha, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
#endif
}

/* Pieces: `batch` whole matrices when there are at least as many as threads,
 * otherwise each matrix cut into `nt` row blocks (multiples of 6 = the own
 * kernel's tile height). */
static void gemm_split(const struct gemm_args *g, bool own) {
    HP_CHECK(g->batch >= 1 && g->M >= 0 && g->N >= 0 && g->K >= 0);
    if (g->M == 0 || g->N == 0) return;
    double work = 2.0 * g->M * g->N * (double)g->K * g->batch;
    int nt = cpu_par(work) ? omp_get_max_threads() : 1;
    int cuts = g->batch >= nt ? 1 : nt;
    int pieces = g->batch * cuts;
    size_t scratch_bytes = own ? cpu_gemm_own_scratch(g->N) : 0;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        void *scratch = own ? xmalloc(scratch_bytes) : NULL;
#pragma omp for schedule(static)
        for (int p = 0; p < pieces; p++) {
            int bi = p / cuts, c = p % cuts;
            int rows_per = ((g->M + cuts - 1) / cuts + 5) / 6 * 6;
            int m0 = c * rows_per, m1 = m0 + rows_per < g->M ? m0 + rows_per : g->M;
            if (m0 >= m1) continue;
            if (own) cpu_gemm_own_rows(g, bi, m0, m1, scratch);
            else blas_rows(g, bi, m0, m1);
        }
        free(scratch);
    }
}

void cpu_gemm_own(const struct gemm_args *g) { gemm_split(g, true); }

void cpu_gemm_blas(const struct gemm_args *g) {
    static bool once;
    if (!once) { /* benign race: every thread stores the same values */
        openblas_set_num_threads(1);
        once = true;
    }
    gemm_split(g, false);
}

void cpu_gemm(const struct gemm_args *g) { cpu_gemm_own(g); }

#ifdef HIPPO_F64
const char *cpu_gemm_name(void) { return "own 6x16 register-blocked (64-byte vectors)"; }
#else
const char *cpu_gemm_name(void) { return "own 6x32 register-blocked (64-byte vectors)"; }
#endif
