/* rng.c — SplitMix64-based counter hash; see rng.h for the algorithm. */
#include "rng.h"

#include <math.h>

struct hp_rng hp_rng_make(uint64_t seed, uint64_t stream) {
    struct hp_rng r = {seed, stream, 0};
    return r;
}

uint64_t hp_rng_u64(struct hp_rng *r) { return hp_hash(r->seed, r->stream, r->index++); }

double hp_rng_uniform(struct hp_rng *r) { return (double)(hp_rng_u64(r) >> 11) * 0x1.0p-53; }

double hp_rng_normal(struct hp_rng *r) {
    double u1 = hp_rng_uniform(r), u2 = hp_rng_uniform(r);
    /* 1 - u1 is in (0, 1], so the log is finite. */
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

uint64_t hp_rng_below(struct hp_rng *r, uint64_t n) {
    /* Rejection keeps the draw unbiased for any n. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = hp_rng_u64(r);
    while (x >= limit);
    return x % n;
}
