/* linear.c — the linear map shared by the model and the layers. */
#include "linear.h"

#include <string.h>

void linear_fwd(const struct ops *ops, const struct linear_args *a, const real *x, real *y) {
    real beta = 0;
    if (a->b) {
        for (int r = 0; r < a->R; r++) memcpy(y + (size_t)r * a->O, a->b, (size_t)a->O * sizeof(real));
        beta = 1;
    }
    ops_gemm(ops, OP_N, OP_T, a->R, a->O, a->I, 1, x, a->I, a->W, a->I, beta, y, a->O);
}

void colsum_acc(const real *dy, int R, int O, real *db) {
    for (int r = 0; r < R; r++) {
        const real *row = dy + (size_t)r * O;
        for (int o = 0; o < O; o++) db[o] += row[o];
    }
}

void linear_bwd(const struct ops *ops, const struct linear_args *a, const real *x, const real *dy, real *dx,
                real *dW, real *db) {
    if (dx) ops_gemm(ops, OP_N, OP_N, a->R, a->I, a->O, 1, dy, a->O, a->W, a->I, 0, dx, a->I);
    if (dW) ops_gemm(ops, OP_T, OP_N, a->O, a->I, a->R, 1, dy, a->O, x, a->I, 1, dW, a->I);
    if (db) colsum_acc(dy, a->R, a->O, db);
}
