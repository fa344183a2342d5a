/* gemm.c — the CPU gemm entry point: batched, strided C = alpha op(A) op(B)
 * + beta C, row-major. Splits the work over OpenMP threads (batch entries,
 * or row blocks of one matrix) and runs one of two single-threaded engines
 * on each piece: our own register-blocked kernel (gemm_own.c, the default,
 * see kernels/cpu/GEMM.md for the measurements) or CBLAS (OpenBLAS, in
 * gemm_blas.c: a separate object, so a binary that never calls it does not
 * load OpenBLAS and its thread pool at all).
 * Every element of C is computed by one thread in a fixed order, so results
 * do not depend on the split. */
#include "cpu.h"

/* Pieces: `batch` whole matrices when there are at least as many as threads,
 * otherwise each matrix cut into `nt` row blocks (multiples of 6 = the own
 * kernel's tile height). */
void cpu_gemm_split(const struct gemm_args *g, cpu_gemm_rows_fn rows, size_t scratch_bytes) {
    HP_CHECK(g->batch >= 1 && g->M >= 0 && g->N >= 0 && g->K >= 0);
    if (g->M == 0 || g->N == 0) return;
    double work = 2.0 * g->M * g->N * (double)g->K * g->batch;
    int nt = cpu_par(work) ? omp_get_max_threads() : 1;
    int cuts = g->batch >= nt ? 1 : nt;
    int pieces = g->batch * cuts;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        void *scratch = scratch_bytes ? cpu_scratch(SCRATCH_GEMM_PACK, scratch_bytes) : NULL;
#pragma omp for schedule(static)
        for (int p = 0; p < pieces; p++) {
            int bi = p / cuts, c = p % cuts;
            int rows_per = ((g->M + cuts - 1) / cuts + 5) / 6 * 6;
            int m0 = c * rows_per, m1 = m0 + rows_per < g->M ? m0 + rows_per : g->M;
            if (m0 >= m1) continue;
            rows(g, bi, m0, m1, scratch);
        }
    }
}

void cpu_gemm_own(const struct gemm_args *g) { cpu_gemm_split(g, cpu_gemm_own_rows, cpu_gemm_own_scratch(g->N)); }

void cpu_gemm(const struct gemm_args *g) { cpu_gemm_own(g); }

#ifdef HIPPO_F64
const char *cpu_gemm_name(void) { return "own 6x16 register-blocked (64-byte vectors)"; }
#else
const char *cpu_gemm_name(void) { return "own 6x32 register-blocked (64-byte vectors)"; }
#endif
