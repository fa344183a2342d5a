/* base.c — error reporting, checked allocation, wall clock, whole-file reads. */
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

char *hp_read_text(const char *path, const char *what, char *err, size_t errlen) {
    const char *sp = what && *what ? " " : "";
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open%s%s '%s': %s", sp, what ? what : "", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 14, n = 0, got;
    char *buf = xmalloc(cap);
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 < cap) continue;
        char *bigger = xmalloc(cap * 2);
        memcpy(bigger, buf, n);
        free(buf);
        buf = bigger;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "cannot read%s%s '%s'", sp, what ? what : "", path);
        free(buf);
        return NULL;
    }
    /* A NUL would end the text early and hide everything after it from the parser. */
    const char *nul = memchr(buf, '\0', n);
    if (nul) {
        snprintf(err, errlen, "%s%s'%s' holds a NUL byte at offset %zu: not a text file", what ? what : "", sp, path,
                 (size_t)(nul - buf));
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}
