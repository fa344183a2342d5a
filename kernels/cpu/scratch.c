/* scratch.c — per-thread scratch buffers for the CPU ops.
 *
 * Ops run thousands of times per second on tiny shapes; a malloc/free pair
 * per call (and per OpenMP thread) cost more than some of the arithmetic, and
 * blocks at glibc's mmap threshold (128 KiB: the gemm's packed panels for
 * N = 128) became an mmap, page faults and munmap on every call. Each thread
 * instead keeps one growing buffer per slot, reused across calls and never
 * freed (OpenMP's worker threads live as long as the process). */
#include "cpu.h"

#include <stdlib.h>

static _Thread_local struct {
    void *p;
    size_t cap;
} slots[CPU_SCRATCH_SLOTS];

void *cpu_scratch(enum cpu_scratch_slot slot, size_t bytes) {
    HP_CHECK(slot >= 0 && slot < CPU_SCRATCH_SLOTS);
    if (bytes > slots[slot].cap) {
        free(slots[slot].p);
        size_t cap = bytes < 4096 ? 4096 : bytes + bytes / 2;
        slots[slot].p = xmalloc(cap);
        slots[slot].cap = cap;
    }
    return slots[slot].p;
}
