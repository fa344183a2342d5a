/* base.h — the scalar type, error reporting and allocation every part shares.
 * Not a utility grab-bag: only what every translation unit needs.
 *
 * `real` is float in the normal build and double when compiled with
 * -DHIPPO_F64 (the build used by finite-difference tests and the float64
 * fixture checks). Kernels, layers and the model are written once against it. */
#ifndef HIPPO_BASE_H
#define HIPPO_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef HIPPO_F64
typedef double real;
#define REAL_NAME "f64"
#else
typedef float real;
#define REAL_NAME "f32"
#endif

/* Print "file:line: message" to stderr and exit(1). For environmental failures
 * (allocation, I/O) and broken invariants; never for user input (that returns
 * a status with a message naming the key). */
_Noreturn void hp_die_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define hp_die(...) hp_die_at(__FILE__, __LINE__, __VA_ARGS__)

/* Check a condition that must hold; reports the failed expression with file:line. */
#define HP_CHECK(cond)                                                         \
    do {                                                                       \
        if (!(cond)) hp_die_at(__FILE__, __LINE__, "check failed: %s", #cond); \
    } while (0)

void *hp_malloc_at(const char *file, int line, size_t n);
void *hp_calloc_at(const char *file, int line, size_t count, size_t size);
#define xmalloc(n) hp_malloc_at(__FILE__, __LINE__, (n))
#define xcalloc(c, s) hp_calloc_at(__FILE__, __LINE__, (c), (s))

/* Monotonic wall-clock seconds. */
double hp_now(void);

/* A whole text file as a NUL-terminated string (malloc'd), or NULL with a
 * message in err naming it ("cannot open <what> 'path': reason"; what may be
 * ""); a file holding a NUL byte is refused (it is not text). */
char *hp_read_text(const char *path, const char *what, char *err, size_t errlen);

#endif
