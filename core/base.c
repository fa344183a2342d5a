/* base.c — error reporting, checked allocation, wall clock. */
#include "base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void hp_die_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void *hp_malloc_at(const char *file, int line, size_t n) {
    void *p = NULL;
    /* 64-byte alignment so AVX-512 loads of whole buffers never split lines. */
    if (posix_memalign(&p, 64, n ? n : 1) != 0)
        hp_die_at(file, line, "out of memory allocating %zu bytes", n);
    return p;
}

void *hp_calloc_at(const char *file, int line, size_t count, size_t size) {
    if (size && count > SIZE_MAX / size)
        hp_die_at(file, line, "allocation of %zu x %zu bytes overflows", count, size);
    void *p = hp_malloc_at(file, line, count * size);
    memset(p, 0, count * size);
    return p;
}

double hp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
