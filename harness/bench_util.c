/* bench_util.c — see bench_util.h. */
#include "bench_util.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

bool bench_all_finite(const real *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

int bench_parse_ints(const char *flag, const char *s, int *v, int max, long lo, long hi, char *err, size_t errlen) {
    int n = 0;
    for (const char *p = s; *p;) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < lo || x > hi || n == max || (*end && *end != ',')) {
            snprintf(err, errlen, "%s: '%s' must be up to %d comma-separated integers in [%ld, %ld]", flag, s, max, lo,
                     hi);
            return -1;
        }
        v[n++] = (int)x;
        p = *end ? end + 1 : end;
    }
    if (n == 0) snprintf(err, errlen, "%s: no values given", flag);
    return n ? n : -1;
}

/* Read fd to EOF into buf (NUL-terminated, truncated), draining the rest so
 * the child never blocks on a full stderr pipe. */
static void read_all(int fd, char *buf, size_t len) {
    size_t n = 0;
    ssize_t got;
    char sink[512];
    while (n < len - 1 && (got = read(fd, buf + n, len - 1 - n)) > 0) n += (size_t)got;
    while (read(fd, sink, sizeof sink) > 0) continue;
    buf[n] = '\0';
}

void bench_in_child(void (*fn)(void *arg, int fd), void *arg, double limit_mb, void *msg, size_t size,
                    struct bench_child *out) {
    int fds[2], efd[2];
    HP_CHECK(pipe(fds) == 0 && pipe(efd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    HP_CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]), close(efd[0]);
        HP_CHECK(dup2(efd[1], 2) == 2);
        rlim_t bytes = (rlim_t)(limit_mb * 1048576.0);
        struct rlimit lim = {bytes, bytes};
        HP_CHECK(setrlimit(RLIMIT_AS, &lim) == 0);
        fn(arg, fds[1]);
        _exit(1); /* fn must not return */
    }
    close(fds[1]), close(efd[1]);
    read_all(efd[0], out->text, sizeof out->text); /* EOF only when the child is gone: the result is in the pipe */
    ssize_t got = read(fds[0], msg, size);
    close(fds[0]), close(efd[0]);
    int st = 0;
    struct rusage ru;
    HP_CHECK(wait4(pid, &st, 0, &ru) == pid);
    out->peak_mb = ru.ru_maxrss / 1024.0;
    out->ran = got == (ssize_t)size && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    out->oom = !out->ran && (strstr(out->text, "out of memory") || (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL));
}
