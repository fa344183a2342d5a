/* rng.h — hippodrome's one random number generator, counter-based.
 *
 * Algorithm (documented so any machine, and the CUDA backend, can reproduce it):
 *   hash(seed, stream, index) = mix(mix(seed ^ mix(stream + G)) + index * G)
 * where G = 0x9E3779B97F4A7C15 and mix is SplitMix64's finaliser
 *   z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31.
 * Uniform doubles take the top 53 bits; normals use Box-Muller on two draws.
 * A draw depends only on (seed, stream, index), never on call order or thread
 * scheduling, so dropout masks, shuffles and inits are reproducible and a
 * resumed run continues bit-exactly. `struct hp_rng` is a convenience cursor
 * over one stream (index increments per draw). */
#ifndef HIPPO_RNG_H
#define HIPPO_RNG_H

#include <stdint.h>

/* Inline so per-element loops (dropout masks) vectorise; host and device
 * under nvcc, so the CUDA backend draws the very same masks. */
#ifdef __CUDACC__
#define HP_RNG_FN static __host__ __device__ __forceinline__
#else
#define HP_RNG_FN static inline
#endif

HP_RNG_FN uint64_t hp_mix64(uint64_t z) {
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ULL;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z;
}

HP_RNG_FN uint64_t hp_hash(uint64_t seed, uint64_t stream, uint64_t index) {
    return hp_mix64(hp_mix64(seed ^ hp_mix64(stream + 0x9E3779B97F4A7C15ULL)) + index * 0x9E3779B97F4A7C15ULL);
}

/* Uniform in [0, 1) with 53 bits. */
HP_RNG_FN double hp_uniform_at(uint64_t seed, uint64_t stream, uint64_t index) {
    return (double)(hp_hash(seed, stream, index) >> 11) * 0x1.0p-53;
}

struct hp_rng {
    uint64_t seed, stream, index;
};
struct hp_rng hp_rng_make(uint64_t seed, uint64_t stream);
uint64_t hp_rng_u64(struct hp_rng *r);
double hp_rng_uniform(struct hp_rng *r);           /* [0, 1) */
double hp_rng_normal(struct hp_rng *r);            /* N(0, 1), Box-Muller, one value per two draws */
uint64_t hp_rng_below(struct hp_rng *r, uint64_t n); /* uniform integer in [0, n), unbiased */

/* Named streams so that different uses of one seed never collide. */
enum hp_stream {
    HP_STREAM_TRAIN_DATA = 1,
    HP_STREAM_TEST_DATA = 2,
    HP_STREAM_INIT = 3,
    HP_STREAM_SHUFFLE = 4,
    HP_STREAM_DROPOUT = 5,
};

#endif
