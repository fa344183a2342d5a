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

/* Integer lanes as wide as `real`, for shuffle masks. */
#ifdef HIPPO_F64
typedef long long vmask __attribute__((vector_size(64)));
#else
typedef int vmask __attribute__((vector_size(64)));
#endif

/* One level of vsum_rows at width w: lane j of the result sums lanes j and
 * j + w of a (j's bit for w clear) or lanes j - w and j of b (set). The masks
 * are constant expressions so each level is two vpermt2 and one add. */
#define VS_LO(j, w) (((j) % (2 * (w))) < (w) ? (j) : VL + (j) - (w))
#define VS_HI(j, w) (VS_LO(j, w) + (w))
#define VS_8(M, w) M(0, w), M(1, w), M(2, w), M(3, w), M(4, w), M(5, w), M(6, w), M(7, w)
#ifdef HIPPO_F64
#define VS_MASK(M, w) ((vmask){VS_8(M, w)})
#else
#define VS_8HI(M, w) M(8, w), M(9, w), M(10, w), M(11, w), M(12, w), M(13, w), M(14, w), M(15, w)
#define VS_MASK(M, w) ((vmask){VS_8(M, w), VS_8HI(M, w)})
#endif
#define VS_LEVEL(v, w)                                                                                \
    for (int i = 0; i < (w); i++)                                                                     \
        (v)[i] = __builtin_shuffle((v)[i], (v)[i + (w)], VS_MASK(VS_LO, w)) +                         \
                 __builtin_shuffle((v)[i], (v)[i + (w)], VS_MASK(VS_HI, w));

/* Lane i of the result = the sum of the lanes of v[i], for VL vectors (v is
 * overwritten): the row sums of a block of VL rows in log2(VL) levels of
 * VL - 1 shuffle pairs in all, instead of one horizontal sum per row. Rows i
 * and i + w are paired at each level, so lanes come out in row order. */
static inline vec vsum_rows(vec *v) {
#ifndef HIPPO_F64
    VS_LEVEL(v, 8)
#endif
    VS_LEVEL(v, 4)
    VS_LEVEL(v, 2)
    VS_LEVEL(v, 1)
    return v[0];
}

#endif
