/* hash.c — FNV-1a 64 (see hash.h). */
#include "hash.h"

uint64_t fnv1a64_update(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t fnv1a64(const void *data, size_t n) { return fnv1a64_update(FNV1A64_INIT, data, n); }
