/* simd.h — the 64-byte vector type the CPU kernels are written in (internal).
 * GCC vector extensions: AVX-512 registers where -march allows (16 floats or
 * 8 doubles), split into narrower instructions elsewhere. Loads and stores go
 * through memcpy, so unaligned addresses are fine and aliasing stays legal. */
#ifndef HIPPO_SIMD_H
#define HIPPO_SIMD_H

#include <string.h>

#include "../../core/base.h"

#define VL ((int)(64 / sizeof(real))) /* lanes per vector */

typedef real vec __attribute__((vector_size(64)));

static inline vec vload(const real *p) {
    vec v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vstore(real *p, vec v) { memcpy(p, &v, sizeof v); }

#endif
