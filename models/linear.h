/* linear.h — y = x Wᵀ + b over all rows, and its backward, through the ops table.
 * Shapes: x (R, I), W (O, I) stored (out, in) as PyTorch does, b (O), y (R, O). */
#ifndef HIPPO_LINEAR_H
#define HIPPO_LINEAR_H

#include "../kernels/ops.h"

struct linear_args {
    int R, I, O;
    const real *W; /* (O, I) */
    const real *b; /* (O) or NULL */
};

/* y (=) = x Wᵀ + b */
void linear_fwd(const struct ops *ops, const struct linear_args *a, const real *x, real *y);
/* dx (=) = dy W (skipped when dx is NULL); dW (+=) dyᵀ x; db (+=) column sums of dy. */
void linear_bwd(const struct ops *ops, const struct linear_args *a, const real *x, const real *dy, real *dx,
                real *dW, real *db);
/* db (+=) sum over rows of dy (R, O), in a fixed order (deterministic): ops->colsum. */
void colsum_acc(const struct ops *ops, const real *dy, int R, int O, real *db);

#endif
