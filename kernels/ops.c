/* ops.c — backend-independent helpers over the ops table. */
#include "ops.h"

#include <stdio.h>
#include <string.h>

const struct ops *ops_by_name(const char *name, char *err, size_t errlen) {
    if (strcmp(name, "cpu") == 0) return ops_cpu();
    if (strcmp(name, "cuda") != 0) {
        snprintf(err, errlen, "unknown backend '%s' (cpu or cuda)", name);
        return NULL;
    }
    const struct ops *o = ops_cuda();
    if (!o) snprintf(err, errlen, "the CUDA backend cannot run here: %s", ops_cuda_status());
    return o;
}

void ops_gemm(const struct ops *o, enum op_trans ta, enum op_trans tb, int M, int N, int K, real alpha,
              const real *A, int lda, const real *B, int ldb, real beta, real *C, int ldc) {
    struct gemm_args g = {
        .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .alpha = alpha, .beta = beta,
        .A = A, .lda = lda, .B = B, .ldb = ldb, .C = C, .ldc = ldc, .batch = 1,
    };
    o->gemm(&g);
}

struct ew_in ew_rows(const real *p, size_t ld) { return (struct ew_in){p, (ptrdiff_t)ld, 1}; }
struct ew_out ew_rows_out(real *p, size_t ld) { return (struct ew_out){p, (ptrdiff_t)ld, 1}; }

/* One contiguous row of n elements. */
static void flat(const struct ops *o, enum ew_kind k, real *y, const real *a, const real *b, real alpha, size_t n,
                 bool acc) {
    struct ewise_args e = {.kind = k, .R = 1, .C = n, .alpha = alpha, .a = ew_rows(a, n), .b = ew_rows(b, n),
                           .y = ew_rows_out(y, n), .acc = acc};
    if (n) o->ewise(&e);
}

void ops_fill(const struct ops *o, real *y, size_t n, real v) { flat(o, EW_FILL, y, NULL, NULL, v, n, false); }
void ops_copy(const struct ops *o, real *y, const real *a, size_t n) { flat(o, EW_COPY, y, a, NULL, 0, n, false); }
void ops_scale(const struct ops *o, real *y, const real *a, real alpha, size_t n) {
    flat(o, EW_SCALE, y, a, NULL, alpha, n, false);
}
void ops_add(const struct ops *o, real *y, const real *a, const real *b, size_t n) {
    flat(o, EW_ADD, y, a, b, 0, n, false);
}
void ops_mul(const struct ops *o, real *y, const real *a, const real *b, size_t n) {
    flat(o, EW_MUL, y, a, b, 0, n, false);
}
void ops_acc(const struct ops *o, real *y, const real *a, size_t n) { flat(o, EW_COPY, y, a, NULL, 0, n, true); }
void ops_acc_mul(const struct ops *o, real *y, const real *a, const real *b, size_t n) {
    flat(o, EW_MUL, y, a, b, 0, n, true);
}
