/* cuda_testutil.h — what the device suites (test_cuda_ops.c, test_cuda_gen.c,
 * test_cuda_layers.c, and test_cuda_emul.c on its emulated device) share:
 * tensors on both sides (a host copy for the CPU op, a copy inside guard
 * regions in the device's memory for the device's op), the comparison with
 * its guard check, the quick mode for compute-sanitizer, and main: one line
 * and exit 0 without a device, the suite in this process otherwise (a CUDA
 * context does not survive fork). */
#ifndef HIPPO_CUDA_TESTUTIL_H
#define HIPPO_CUDA_TESTUTIL_H

#include <stdio.h>

#include "../kernels/cuda/cuda.h"
#include "ops_testutil.h"

#define GUARD 64 /* floats each side of a device buffer */
static bool quick; /* HIPPO_CUDA_QUICK: the two smallest cases of each test */
#define QUICK_SKIP() \
    do {             \
        if (quick && _i >= 2) return; \
    } while (0)
static const uint32_t guard_bits = 0x7fc0beefu; /* a NaN no kernel writes */
/* The backend whose memory the twins' device copies live in: ops_cuda() in
 * the device suites (tu_cuda_main sets it). */
static const struct ops *tw_dev;

/* A tensor on both sides: host values h (the CPU op's operand) and a device
 * copy d inside guard regions (the CUDA op's). Outputs start equal on both
 * sides, so (+=) outputs are compared after both accumulated. */
struct twin {
    real *h, *d, *base;
    size_t n;
};

static inline struct twin twin_new(size_t n, double sd, uint64_t seed) {
    HP_CHECK(n < ((size_t)1 << 40));
    struct twin t = {xcalloc(n ? n : 1, sizeof(real)), NULL, NULL, n};
    if (sd > 0) tu_fill_normal(t.h, n, sd, seed, n);
    real *staged = xmalloc(sizeof(real) * (n + 2 * GUARD));
    for (size_t i = 0; i < n + 2 * GUARD; i++) memcpy(&staged[i], &guard_bits, sizeof(real));
    memcpy(staged + GUARD, t.h, sizeof(real) * n);
    t.base = tw_dev->alloc(sizeof(real) * (n + 2 * GUARD));
    tw_dev->upload(t.base, staged, sizeof(real) * (n + 2 * GUARD));
    t.d = t.base + GUARD;
    free(staged);
    return t;
}

static inline void twin_free(struct twin *t) {
    free(t->h);
    tw_dev->free(t->base);
}

/* The device result against the host one (scaled error <= tol; tol 0: the
 * same bits), and the guards intact. */
static inline void twin_check(const char *what, const struct twin *t, double tol) {
    real *got = xmalloc(sizeof(real) * (t->n + 2 * GUARD));
    tw_dev->download(got, t->base, sizeof(real) * (t->n + 2 * GUARD));
    for (size_t i = 0; i < 2 * GUARD; i++) {
        size_t at = i < GUARD ? i : t->n + i;
        ck_assert_msg(memcmp(&got[at], &guard_bits, sizeof(real)) == 0, "%s: guard overwritten at %td", what,
                      (ptrdiff_t)at - GUARD);
    }
    if (tol == 0) ck_assert_msg(memcmp(got + GUARD, t->h, sizeof(real) * t->n) == 0, "%s: not bit-identical", what);
    else {
        double *want = tu_to_f64(t->h, t->n);
        tu_assert_close_real(what, got + GUARD, want, t->n, tol);
        free(want);
    }
    free(got);
}

/* Run the suite make() builds on the device (exit status: its verdict), or
 * say in one line why there is none and exit 0. */
static inline int tu_cuda_main(const char *name, Suite *(*make)(void)) {
    if (!ops_cuda()) {
        printf("%s: skipped: %s\n", name, ops_cuda_status());
        return EXIT_SUCCESS;
    }
    tw_dev = ops_cuda();
    const char *q = getenv("HIPPO_CUDA_QUICK");
    quick = q && strcmp(q, "0") != 0;
    printf("%s: %s%s\n", name, ops_cuda_status(), quick ? " (quick: small cases only)" : "");
    SRunner *sr = srunner_create(make());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
