/* linear.c — the linear map shared by the model and the layers. */
#include "linear.h"

void linear_fwd(const struct ops *ops, const struct linear_args *a, const real *x, real *y) {
    struct gemm_args g = {
        .ta = OP_N, .tb = OP_T, .M = a->R, .N = a->O, .K = a->I, .alpha = 1, .beta = 0,
        .A = x, .lda = a->I, .B = a->W, .ldb = a->I, .C = y, .ldc = a->O, .batch = 1, .bias = a->b,
    };
    ops->gemm(&g);
}

void colsum_acc(const struct ops *ops, const real *dy, int R, int O, real *db) {
    struct colsum_args c = {(size_t)R, O, dy, (size_t)O, db};
    ops->colsum(&c);
}

void linear_bwd(const struct ops *ops, const struct linear_args *a, const real *x, const real *dy, real *dx,
                real *dW, real *db) {
    if (dx) ops_gemm(ops, OP_N, OP_N, a->R, a->I, a->O, 1, dy, a->O, a->W, a->I, 0, dx, a->I);
    if (dW) ops_gemm(ops, OP_T, OP_N, a->O, a->I, a->R, 1, dy, a->O, x, a->I, 1, dW, a->I);
    if (db) colsum_acc(ops, dy, a->R, a->O, db);
}
