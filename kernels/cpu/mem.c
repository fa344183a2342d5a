/* mem.c — the CPU backend's memory: host memory, so uploads and downloads
 * are copies. */
#include <string.h>

#include "cpu.h"

void *cpu_alloc(size_t bytes) { return xcalloc(bytes ? bytes : 1, 1); }

void cpu_free(void *p) { free(p); }

void cpu_copy_bytes(void *dst, const void *src, size_t bytes) {
    if (bytes) memcpy(dst, src, bytes);
}
