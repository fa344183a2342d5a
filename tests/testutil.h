/* testutil.h — shared helpers for the Check suites: tensor comparison with
 * index and values in the message, fixture paths. Header-only (static) so each
 * test binary stays one file. Tolerances are scaled by the reference's largest
 * magnitude, as tests/fixtures/reference/README.md prescribes. */
#ifndef HIPPO_TESTUTIL_H
#define HIPPO_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures"
#endif

/* max |c - r| / max |r| over n elements; NaN anywhere gives +inf. *worst gets
 * the index of the largest difference. */
static inline double tu_scaled_err(const double *c, const double *r, size_t n, size_t *worst) {
    double maxr = 0, maxd = 0;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(c[i]) || isnan(r[i])) {
            if (worst) *worst = i;
            return INFINITY;
        }
        if (fabs(r[i]) > maxr) maxr = fabs(r[i]);
        double d = fabs(c[i] - r[i]);
        if (d > maxd) {
            maxd = d;
            w = i;
        }
    }
    if (worst) *worst = w;
    return maxr > 0 ? maxd / maxr : maxd;
}

/* Assert scaled error <= tol, naming the tensor, index and both values. */
#define tu_assert_close(what, c, r, n, tol)                                                        \
    do {                                                                                           \
        size_t tu_w_;                                                                              \
        double tu_e_ = tu_scaled_err((c), (r), (n), &tu_w_);                                       \
        ck_assert_msg(tu_e_ <= (tol), "%s: scaled error %.3g > %.3g at [%zu]: got %.10g want %.10g", \
                      (what), tu_e_, (double)(tol), tu_w_, (c)[tu_w_], (r)[tu_w_]);                \
    } while (0)

#endif
