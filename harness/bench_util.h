/* bench_util.h — what the bench verbs share: sorting and medians, finiteness
 * checks, comma-separated integer flags, and running one measurement in a
 * child process under an address-space limit (so a size that does not fit is
 * reported as out of memory instead of taking the machine down, and the peak
 * resident set is that child's alone). */
#ifndef HIPPO_BENCH_UTIL_H
#define HIPPO_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/base.h"

/* qsort comparator for doubles, ascending. */
int bench_cmp_double(const void *a, const void *b);
/* The median of n values (sorts v in place). */
double bench_median(double *v, int n);
/* No NaN or Inf in v. */
bool bench_all_finite(const real *v, size_t n);

/* "128,256" -> v (at most max), each in [lo, hi]; the count, or -1 with a
 * message naming the flag in err. */
int bench_parse_ints(const char *flag, const char *s, int *v, int max, long lo, long hi, char *err, size_t errlen);

struct bench_child {
    bool ran;        /* exited 0 after writing its whole message */
    bool oom;        /* did not run for lack of memory: our allocator's message, or killed by SIGKILL */
    double peak_mb;  /* the child's peak resident set */
    char text[4096]; /* its stderr (truncated) */
};

/* Fork; in the child, limit the address space to limit_mb, send stderr back
 * through a pipe and call fn(arg, fd), which writes `size` bytes of result to
 * fd and must not return (it calls _exit). The parent fills msg and out. */
void bench_in_child(void (*fn)(void *arg, int fd), void *arg, double limit_mb, void *msg, size_t size,
                    struct bench_child *out);

#endif
